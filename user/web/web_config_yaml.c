// SPDX-License-Identifier: MIT
/*
 * The web config's document walk. Keys of exporter-toolkit's format, by
 * what becomes of them here:
 *
 * - applied: tls_server_config cert_file, key_file, cert, key,
 *   client_ca_file, client_ca, client_auth_type, min_version, max_version;
 *   http_server_config.headers; basic_auth_users.
 * - accepted, checked as to type, not applied: cipher_suites (Go's suite
 *   names, which GnuTLS does not share), curve_preferences (names checked),
 *   prefer_server_cipher_suites (Go ignores it too), http2
 *   (libmicrohttpd speaks HTTP/1.1 only). The loader logs which were given.
 * - refused unless off: client_allowed_sans (SANs are not matched) and
 *   rate_limit (no limiter): serving without a check the operator asked
 *   for would be worse than not starting.
 */
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#include "web/web_config_yaml.h"

struct walk {
	yaml_document_t *d;
	struct web_config_doc *doc;
	char *err;
	size_t size;
};

struct rule;
typedef int (*apply_fn)(struct walk *w, const struct rule *r, yaml_node_t *v);

/* A key of a mapping: how its value is checked and where it goes. */
struct rule {
	const char *key;
	apply_fn apply;
	size_t off;		   /* of its field in struct web_config_doc */
	const struct rule *sub;	   /* a section's keys */
	const char *const *values; /* the values allowed, if a closed set */
};

__attribute__((format(printf, 3, 4))) static int fail(struct walk *w, const yaml_node_t *n,
						      const char *fmt, ...)
{
	int len = snprintf(w->err, w->size, "web config line %zu: ", n->start_mark.line + 1);
	va_list ap;

	if (len > 0 && (size_t)len < w->size) {
		va_start(ap, fmt);
		vsnprintf(w->err + len, w->size - len, fmt, ap);
		va_end(ap);
	}
	return -1;
}

static const char *text_of(const yaml_node_t *n)
{
	return (const char *)n->data.scalar.value;
}

/* An empty value ("key:" alone, ~, null): the key left at its default. */
static bool is_null(const yaml_node_t *n)
{
	static const char *const nulls[] = {"", "~", "null", "Null", "NULL"};

	if (n->type != YAML_SCALAR_NODE || n->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
		return false;
	for (size_t i = 0; i < sizeof(nulls) / sizeof(nulls[0]); i++)
		if (!strcmp(text_of(n), nulls[i]))
			return true;
	return false;
}

static const char *kind_of(const yaml_node_t *n)
{
	return n->type == YAML_MAPPING_NODE    ? "a mapping"
	       : n->type == YAML_SEQUENCE_NODE ? "a list"
					       : "a single value";
}

static int need(struct walk *w, const struct rule *r, const yaml_node_t *n, yaml_node_type_t type)
{
	static const char *const wanted[] = {
	    [YAML_SCALAR_NODE] = "a single value",
	    [YAML_SEQUENCE_NODE] = "a list",
	    [YAML_MAPPING_NODE] = "a mapping",
	};

	if (n->type != type)
		return fail(w, n, "%s must be %s, not %s", r->key, wanted[type], kind_of(n));
	/* "\0" in a quoted value: C strings would end there */
	if (type == YAML_SCALAR_NODE && strlen(text_of(n)) != n->data.scalar.length)
		return fail(w, n, "%s has a NUL character", r->key);
	return 0;
}

/* 1 if v is given and of type, 0 if left empty, -1 (err set) if neither. */
static int given(struct walk *w, const struct rule *r, const yaml_node_t *v, yaml_node_type_t type)
{
	if (is_null(v))
		return 0;
	return need(w, r, v, type) ? -1 : 1;
}

/* The index of v's value among r->values, or -1 with err set. */
static int value_index(struct walk *w, const struct rule *r, const yaml_node_t *v)
{
	char list[192] = "";
	size_t len = 0;

	if (need(w, r, v, YAML_SCALAR_NODE))
		return -1;
	for (int i = 0; r->values[i]; i++)
		if (!strcmp(text_of(v), r->values[i]))
			return i;
	for (int i = 0; r->values[i] && len < sizeof(list); i++)
		len +=
		    snprintf(list + len, sizeof(list) - len, "%s%s", i ? ", " : "", r->values[i]);
	return fail(w, v, "%s \"%s\" is none of %s", r->key, text_of(v), list);
}

static void *field(struct walk *w, const struct rule *r)
{
	return (char *)w->doc + r->off;
}

typedef int (*pair_fn)(struct walk *w, const struct rule *r, yaml_node_t *k, yaml_node_t *v);

/*
 * fn on each pair of map, whose keys must be single values, each once: a
 * key given twice is refused (as by Go's strict YAML), not settled by
 * which one wins.
 */
static int each_pair(struct walk *w, const struct rule *r, yaml_node_t *map, pair_fn fn)
{
	yaml_node_pair_t *p, *q;
	int rc;

	rc = given(w, r, map, YAML_MAPPING_NODE);
	if (rc <= 0)
		return rc;
	for (p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top; p++) {
		yaml_node_t *k = yaml_document_get_node(w->d, p->key);

		if (k->type != YAML_SCALAR_NODE)
			return fail(w, k, "a key of %s is %s", r->key, kind_of(k));
		for (q = map->data.mapping.pairs.start; q < p; q++) {
			yaml_node_t *prev = yaml_document_get_node(w->d, q->key);

			if (prev->type == YAML_SCALAR_NODE && !strcmp(text_of(prev), text_of(k)))
				return fail(w, k, "\"%s\" is given twice in %s", text_of(k),
					    r->key);
		}
		if (fn(w, r, k, yaml_document_get_node(w->d, p->value)))
			return -1;
	}
	return 0;
}

static int section_key(struct walk *w, const struct rule *r, yaml_node_t *k, yaml_node_t *v)
{
	const struct rule *sub;

	for (sub = r->sub; sub->key && strcmp(sub->key, text_of(k)); sub++)
		;
	if (!sub->key)
		return fail(w, k, "unknown key \"%s\" in %s", text_of(k), r->key);
	return sub->apply(w, sub, v);
}

static int apply_section(struct walk *w, const struct rule *r, yaml_node_t *v)
{
	return each_pair(w, r, v, section_key);
}

static int apply_string(struct walk *w, const struct rule *r, yaml_node_t *v)
{
	char **dst = field(w, r);
	int rc;

	rc = given(w, r, v, YAML_SCALAR_NODE);
	if (rc <= 0)
		return rc;
	*dst = strdup(text_of(v));
	return *dst ? 0 : -1;
}

static int apply_choice(struct walk *w, const struct rule *r, yaml_node_t *v)
{
	int i;

	if (is_null(v))
		return 0;
	i = value_index(w, r, v);
	if (i < 0)
		return -1;
	*(int *)field(w, r) = i;
	return 0;
}

/* Go's crypto/tls names, in enum client_auth's order; then the old name
 * exporter-toolkit still takes for RequireAnyClientCert. */
static const char *const client_auths[] = {"NoClientCert",
					   "RequestClientCert",
					   "RequireAnyClientCert",
					   "VerifyClientCertIfGiven",
					   "RequireAndVerifyClientCert",
					   "RequireClientCert",
					   NULL};

static int apply_client_auth(struct walk *w, const struct rule *r, yaml_node_t *v)
{
	int *dst = field(w, r);

	if (apply_choice(w, r, v))
		return -1;
	if (*dst == CLIENT_AUTH_REQUIRE_VERIFY + 1)
		*dst = CLIENT_AUTH_REQUIRE_ANY;
	return 0;
}

static void not_applied(struct walk *w, const struct rule *r)
{
	struct web_config_doc *doc = w->doc;

	if (doc->nnot_applied < WEB_NOT_APPLIED_MAX)
		doc->not_applied[doc->nnot_applied++] = r->key;
}

static int apply_bool_not_applied(struct walk *w, const struct rule *r, yaml_node_t *v)
{
	if (is_null(v))
		return 0;
	if (v->type != YAML_SCALAR_NODE || v->data.scalar.style != YAML_PLAIN_SCALAR_STYLE ||
	    value_index(w, r, v) < 0)
		return fail(w, v, "%s must be true or false", r->key);
	not_applied(w, r);
	return 0;
}

/* A list of single values, each one of r->values if those are given. */
static int apply_list_not_applied(struct walk *w, const struct rule *r, yaml_node_t *v)
{
	yaml_node_item_t *i;
	int rc;

	rc = given(w, r, v, YAML_SEQUENCE_NODE);
	if (rc <= 0)
		return rc;
	for (i = v->data.sequence.items.start; i < v->data.sequence.items.top; i++) {
		yaml_node_t *item = yaml_document_get_node(w->d, *i);

		if (r->values ? value_index(w, r, item) < 0 : need(w, r, item, YAML_SCALAR_NODE))
			return -1;
	}
	not_applied(w, r);
	return 0;
}

static int apply_sans(struct walk *w, const struct rule *r, yaml_node_t *v)
{
	int rc;

	rc = given(w, r, v, YAML_SEQUENCE_NODE);
	if (rc <= 0)
		return rc;
	if (v->data.sequence.items.top == v->data.sequence.items.start)
		return 0;
	return fail(w, v,
		    "client_allowed_sans is not supported: a client certificate's "
		    "subject alternative names are not matched");
}

/* A Go duration of 0 ("0", "0s", "0ms", ...): the limiter off. */
static int apply_rate_interval(struct walk *w, const struct rule *r, yaml_node_t *v)
{
	const char *s;
	int rc;

	rc = given(w, r, v, YAML_SCALAR_NODE);
	if (rc <= 0)
		return rc;
	s = text_of(v) + strspn(text_of(v), "0.");
	if (s > text_of(v) && strspn(s, "nuµmsh") == strlen(s))
		return 0;
	return fail(w, v, "rate_limit is not supported: its interval must be 0 (the limiter off)");
}

static int apply_int(struct walk *w, const struct rule *r, yaml_node_t *v)
{
	char *end;
	int rc;

	rc = given(w, r, v, YAML_SCALAR_NODE);
	if (rc <= 0)
		return rc;
	(void)strtol(text_of(v), &end, 10);
	if (end == text_of(v) || *end)
		return fail(w, v, "%s must be an integer", r->key);
	return 0;
}

static int user_pair(struct walk *w, const struct rule *r, yaml_node_t *k, yaml_node_t *v)
{
	struct web_config_doc *doc = w->doc;

	if (doc->nusers == WEB_USERS_MAX)
		return fail(w, k, "more than %d basic_auth_users", WEB_USERS_MAX);
	if (strlen(text_of(k)) != k->data.scalar.length)
		return fail(w, k, "a user name has a NUL character");
	/* a null password stays "": the bcrypt check refuses it by name */
	if (!is_null(v) && v->type != YAML_SCALAR_NODE)
		return fail(w, v, "%s: the hash of %s must be a single value, not %s", r->key,
			    text_of(k), kind_of(v));
	doc->users[doc->nusers] = strdup(text_of(k));
	doc->hashes[doc->nusers] = strdup(is_null(v) ? "" : text_of(v));
	doc->nusers++;
	return doc->users[doc->nusers - 1] && doc->hashes[doc->nusers - 1] ? 0 : -1;
}

static int apply_users(struct walk *w, const struct rule *r, yaml_node_t *v)
{
	return each_pair(w, r, v, user_pair);
}

/* One of the headers exporter-toolkit lets one set (others, Authorization
 * or Content-Type, refused); blank leaves it unset. */
static int apply_header(struct walk *w, const struct rule *r, yaml_node_t *v)
{
	struct web_config_doc *doc = w->doc;
	const char *s;

	if (is_null(v))
		return 0;
	if ((r->values ? value_index(w, r, v) < 0 : need(w, r, v, YAML_SCALAR_NODE)))
		return -1;
	for (s = text_of(v); *s; s++)
		if ((unsigned char)*s < ' ' && *s != '\t')
			return fail(w, v, "header %s has a control character", r->key);
	if (!*text_of(v))
		return 0;
	doc->header_names[doc->nheaders] = r->key;
	doc->header_values[doc->nheaders] = strdup(text_of(v));
	return doc->header_values[doc->nheaders++] ? 0 : -1;
}

#define STRING(name)                                                                               \
	{                                                                                          \
#name, apply_string, offsetof(struct web_config_doc, name), NULL, NULL             \
	}

static const char *const tls_versions[] = {"TLS10", "TLS11", "TLS12", "TLS13", NULL};
static const char *const bools[] = {"true", "false", "True", "False", "TRUE", "FALSE", NULL};
static const char *const curves[] = {"CurveP256", "CurveP384", "CurveP521", "X25519", NULL};
static const char *const nosniff[] = {"nosniff", NULL};
static const char *const frame_options[] = {"deny", "sameorigin", NULL};

static const struct rule tls_rules[] = {
    STRING(cert_file),
    STRING(key_file),
    STRING(cert),
    STRING(key),
    STRING(client_ca_file),
    STRING(client_ca),
    {"client_auth_type", apply_client_auth, offsetof(struct web_config_doc, client_auth), NULL,
     client_auths},
    {"min_version", apply_choice, offsetof(struct web_config_doc, min_version), NULL, tls_versions},
    {"max_version", apply_choice, offsetof(struct web_config_doc, max_version), NULL, tls_versions},
    {"cipher_suites", apply_list_not_applied, 0, NULL, NULL},
    {"curve_preferences", apply_list_not_applied, 0, NULL, curves},
    {"prefer_server_cipher_suites", apply_bool_not_applied, 0, NULL, bools},
    {"client_allowed_sans", apply_sans, 0, NULL, NULL},
    {NULL, NULL, 0, NULL, NULL},
};

static const struct rule header_rules[WEB_HEADERS_MAX + 1] = {
    {"Content-Security-Policy", apply_header, 0, NULL, NULL},
    {"Strict-Transport-Security", apply_header, 0, NULL, NULL},
    {"X-Content-Type-Options", apply_header, 0, NULL, nosniff},
    {"X-Frame-Options", apply_header, 0, NULL, frame_options},
    {"X-XSS-Protection", apply_header, 0, NULL, NULL},
    {NULL, NULL, 0, NULL, NULL},
};

static const struct rule http_rules[] = {
    {"http2", apply_bool_not_applied, 0, NULL, bools},
    {"headers", apply_section, 0, header_rules, NULL},
    {NULL, NULL, 0, NULL, NULL},
};

static const struct rule rate_rules[] = {
    {"interval", apply_rate_interval, 0, NULL, NULL},
    {"burst", apply_int, 0, NULL, NULL},
    {NULL, NULL, 0, NULL, NULL},
};

static const struct rule top_rules[] = {
    {"tls_server_config", apply_section, 0, tls_rules, NULL},
    {"http_server_config", apply_section, 0, http_rules, NULL},
    {"basic_auth_users", apply_users, 0, NULL, NULL},
    {"rate_limit", apply_section, 0, rate_rules, NULL},
    {NULL, NULL, 0, NULL, NULL},
};

static const struct rule top = {"the web config", apply_section, 0, top_rules, NULL};

/* libyaml's complaint at the line of what it was reading (a key, a quoted
 * value), and the line where it gave up if another. */
static int parse_error(const yaml_parser_t *p, char *err, size_t size)
{
	size_t at = p->problem_mark.line + 1;
	size_t line = p->context ? p->context_mark.line + 1 : at;
	int len;

	if (p->error == YAML_MEMORY_ERROR)
		return -1; /* err left empty: out of memory */
	len = snprintf(err, size, "web config line %zu: %s%s%s", line, p->context ? p->context : "",
		       p->context ? ", " : "", p->problem ? p->problem : "not YAML");
	if (at != line && len > 0 && (size_t)len < size)
		snprintf(err + len, size - len, " (line %zu)", at);
	return -1;
}

/* The document after the first, which must be none: settings in a second
 * one would be silently ignored. */
static int single_document(yaml_parser_t *p, char *err, size_t size)
{
	yaml_document_t d;
	yaml_node_t *root;
	size_t line;

	if (!yaml_parser_load(p, &d))
		return parse_error(p, err, size);
	root = yaml_document_get_root_node(&d);
	line = root ? root->start_mark.line + 1 : 0;
	yaml_document_delete(&d);
	if (!root)
		return 0;
	snprintf(err, size, "web config line %zu: a second YAML document", line);
	return -1;
}

static int walk_document(yaml_parser_t *p, struct web_config_doc *doc, char *err, size_t size)
{
	yaml_document_t d;
	struct walk w = {&d, doc, err, size};
	yaml_node_t *root;
	int rc;

	if (!yaml_parser_load(p, &d))
		return parse_error(p, err, size);
	root = yaml_document_get_root_node(&d);
	rc = root ? apply_section(&w, &top, root) : 0;
	yaml_document_delete(&d);
	return rc ? rc : single_document(p, err, size);
}

int web_config_yaml_parse(const char *text, struct web_config_doc *doc, char *err, size_t size)
{
	yaml_parser_t p;
	int rc;

	err[0] = '\0';
	doc->min_version = 2; /* exporter-toolkit's defaults: TLS 1.2 to 1.3 */
	doc->max_version = 3;
	if (!yaml_parser_initialize(&p))
		return -1;
	yaml_parser_set_input_string(&p, (const unsigned char *)text, strlen(text));
	rc = walk_document(&p, doc, err, size);
	yaml_parser_delete(&p);
	return rc;
}

void web_config_doc_free(struct web_config_doc *doc)
{
	for (size_t i = 0; i < doc->nusers; i++) {
		free(doc->users[i]);
		free(doc->hashes[i]);
	}
	for (size_t i = 0; i < doc->nheaders; i++)
		free(doc->header_values[i]);
	free(doc->cert_file);
	free(doc->key_file);
	free(doc->client_ca_file);
	free(doc->cert);
	free(doc->key);
	free(doc->client_ca);
}
