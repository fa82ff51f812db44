// SPDX-License-Identifier: MIT
/*
 * Provider label from the upstream host (see provider.h). Hosts are
 * compared as spans of the caller's string, so that a lookup copies
 * nothing but the label it writes.
 */
#include "llm/provider.h"

#include <stdbool.h>
#include <stddef.h>
#include <string.h>

#include "core/ascii.h"

/* The built-in table (docs/metrics.md, labels). */
static const struct {
	const char *host;
	const char *name;
} builtins[] = {
    {"api.openai.com", "openai"},
    {"api.anthropic.com", "anthropic"},
    {"api.cohere.com", "cohere"},
    {"api.cohere.ai", "cohere"},
    {"generativelanguage.googleapis.com", "gemini"},
    {"api.deepseek.com", "deepseek"},
    {"api.groq.com", "groq"},
    {"api.mistral.ai", "mistral"},
};

/* A host and port, split out of "name[:port]" or "[v6][:port]". */
struct host_port {
	const char *host;
	size_t len;
	int32_t port; /* -1: none */
	bool port_bad;
};

static char lower(char c)
{
	return (c >= 'A' && c <= 'Z') ? (char)(c - 'A' + 'a') : c;
}

/* Case-insensitive: does the span equal the lower-case string s? */
static bool host_is(const struct host_port *hp, const char *s)
{
	size_t i;

	if (strlen(s) != hp->len)
		return false;
	for (i = 0; i < hp->len; i++) {
		if (lower(hp->host[i]) != s[i])
			return false;
	}
	return true;
}

/* 1 to 65535, decimal digits only; -1 otherwise. */
static int32_t parse_port(const char *p, size_t n)
{
	int32_t v = 0;
	size_t i;

	if (n == 0 || n > 5)
		return -1;
	for (i = 0; i < n; i++) {
		if (p[i] < '0' || p[i] > '9')
			return -1;
		v = v * 10 + (p[i] - '0');
	}
	return v >= 1 && v <= 65535 ? v : -1;
}

/*
 * Splits s[0..n). A bare IPv6 address (several colons, no brackets) is
 * kept whole, as http_head does; one trailing dot is dropped.
 */
static void split_host(const char *s, size_t n, struct host_port *hp)
{
	const char *colon = NULL, *close;

	hp->host = s;
	hp->len = n;
	hp->port = -1;
	hp->port_bad = false;
	if (n > 0 && s[0] == '[') {
		close = memchr(s, ']', n);
		if (close) {
			hp->len = (size_t)(close - s) + 1;
			if (hp->len < n && s[hp->len] == ':')
				colon = s + hp->len;
			else if (hp->len < n)
				hp->port_bad = true; /* bytes after ']' that are no port */
		}
	} else if ((colon = memchr(s, ':', n)) != NULL &&
		   memchr(colon + 1, ':', n - (size_t)(colon - s) - 1) != NULL) {
		colon = NULL;
	}
	if (colon) {
		hp->len = (size_t)(colon - s);
		hp->port = parse_port(colon + 1, n - hp->len - 1);
		hp->port_bad = hp->port < 0;
	}
	if (hp->len > 0 && hp->host[hp->len - 1] == '.')
		hp->len--;
}

/* ---- user entries ---- */

void provider_map_init(struct provider_map *m)
{
	memset(m, 0, sizeof(*m));
}

/* A DNS name or IPv4 address, or an IPv6 address in brackets. */
static bool host_chars_ok(const struct host_port *hp)
{
	bool v6 = hp->host[0] == '[';
	size_t i;

	for (i = 0; i < hp->len; i++) {
		char c = hp->host[i];

		if (v6 && (i == 0 || i == hp->len - 1))
			continue; /* the brackets */
		if (!is_alnum(c) && c != '.' && c != '-' && c != '_' && !(v6 && c == ':'))
			return false;
	}
	return !v6 || (hp->len > 2 && hp->host[hp->len - 1] == ']');
}

static const char *check_name(const char *name)
{
	size_t i, n = strlen(name);

	if (n == 0)
		return "empty NAME (want HOST=NAME)";
	if (n >= PROVIDER_NAME_MAX)
		return "NAME is longer than 63 bytes";
	for (i = 0; i < n; i++) {
		if (name[i] <= ' ' || name[i] > '~')
			return "NAME must be printable ASCII without spaces";
	}
	return NULL;
}

static const char *check_host(const struct host_port *hp)
{
	if (hp->len == 0)
		return "empty HOST (want HOST=NAME)";
	if (hp->len >= PROVIDER_HOST_MAX)
		return "HOST is longer than 253 bytes";
	if (hp->port_bad)
		return "bad port in HOST (want HOST:1-65535)";
	if (!host_chars_ok(hp))
		return "HOST must be a host name, an IPv4 address or an IPv6 address in brackets";
	return NULL;
}

static struct provider_entry *find_entry(struct provider_map *m, const struct host_port *hp)
{
	unsigned int i;

	for (i = 0; i < m->count; i++) {
		if (m->entries[i].port == hp->port && host_is(hp, m->entries[i].host))
			return &m->entries[i];
	}
	return NULL;
}

static int reject(const char **why, const char *reason)
{
	if (why)
		*why = reason;
	return -1;
}

int provider_map_add(struct provider_map *m, const char *spec, const char **why)
{
	const char *eq = strchr(spec, '='), *err;
	struct provider_entry *e;
	struct host_port hp;
	size_t i;

	if (!eq)
		return reject(why, "missing '=' (want HOST=NAME)");
	split_host(spec, (size_t)(eq - spec), &hp);
	err = check_host(&hp);
	if (!err)
		err = check_name(eq + 1);
	if (err)
		return reject(why, err);
	e = find_entry(m, &hp);
	if (!e) {
		if (m->count == PROVIDER_MAP_MAX)
			return reject(why, "too many provider mappings (at most 64)");
		e = &m->entries[m->count++];
	}
	for (i = 0; i < hp.len; i++)
		e->host[i] = lower(hp.host[i]);
	e->host[hp.len] = '\0';
	e->port = hp.port;
	strcpy(e->name, eq + 1); /* length checked */
	return 0;
}

/* ---- lookup ---- */

/* An entry for this host and port, else one for this host and any port. */
static const char *user_name(const struct provider_map *m, const struct host_port *hp)
{
	const char *any = NULL;
	unsigned int i;

	for (i = 0; m && i < m->count; i++) {
		const struct provider_entry *e = &m->entries[i];

		if (!host_is(hp, e->host))
			continue;
		if (e->port >= 0 && e->port == hp->port)
			return e->name;
		if (e->port < 0)
			any = e->name;
	}
	return any;
}

static const char *builtin_name(const struct host_port *hp)
{
	size_t i;

	for (i = 0; i < sizeof(builtins) / sizeof(builtins[0]); i++) {
		if (host_is(hp, builtins[i].host))
			return builtins[i].name;
	}
	return NULL;
}

/* The host itself as a label: [a-z0-9.-], anything else '_'. */
static void host_label(const struct host_port *hp, char out[PROVIDER_NAME_MAX])
{
	size_t i;

	for (i = 0; i < hp->len && i < PROVIDER_NAME_MAX - 1; i++) {
		char c = lower(hp->host[i]);

		out[i] = (is_alnum(c) || c == '.' || c == '-') ? c : '_';
	}
	out[i] = '\0';
}

char *provider_name(const struct provider_map *m, const char *host, char out[PROVIDER_NAME_MAX])
{
	const char *name;
	struct host_port hp;

	split_host(host ? host : "", host ? strlen(host) : 0, &hp);
	if (hp.len == 0) {
		strcpy(out, "unknown");
		return out;
	}
	name = user_name(m, &hp);
	if (!name)
		name = builtin_name(&hp);
	if (name)
		strcpy(out, name); /* shorter than PROVIDER_NAME_MAX */
	else
		host_label(&hp, out);
	return out;
}
