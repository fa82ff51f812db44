// SPDX-License-Identifier: MIT
#include <crypt.h>
#include <ctype.h>
#include <gnutls/gnutls.h>
#include <microhttpd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "web/web_config.h"

#define USERS_MAX 32

struct web_config {
	char *cert_file, *key_file;
	char *cert_pem, *key_pem;
	size_t nusers;
	char *users[USERS_MAX];
	char *hashes[USERS_MAX];
};

void web_config_free(struct web_config *w)
{
	if (!w)
		return;
	for (size_t i = 0; i < w->nusers; i++) {
		free(w->users[i]);
		free(w->hashes[i]);
	}
	free(w->cert_file);
	free(w->key_file);
	free(w->cert_pem);
	free(w->key_pem);
	free(w);
}

/* Value after "key:", unquoted and trimmed, or NULL. */
static char *value_of(char *line)
{
	char *v = strchr(line, ':'), *end;

	if (!v)
		return NULL;
	for (v++; *v == ' ' || *v == '\t'; v++)
		;
	if (*v == '"' || *v == '\'') { /* quoted: up to the closing quote */
		end = strchr(v + 1, *v);
		if (!end)
			return NULL;
		*end = '\0';
		return v + 1;
	}
	end = strstr(v, " #"); /* YAML: a comment starts at " #" */
	if (end || (end = strstr(v, "\t#")))
		*end = '\0';
	end = v + strlen(v);
	while (end > v && (end[-1] == ' ' || end[-1] == '\t' || end[-1] == '\r'))
		*--end = '\0';
	return v;
}

static int replace_str(char **dst, const char *v)
{
	free(*dst);
	*dst = strdup(v);
	return *dst ? 0 : -1;
}

static bool in_list(const char *key, const char *const *list)
{
	for (; *list; list++)
		if (!strcmp(key, *list))
			return true;
	return false;
}

enum section { NONE, TLS, USERS, HTTP };

/* A key the parser does not know or cannot apply: an error. */
static int unknown_key(const char *key, char *err, size_t size, int lineno)
{
	snprintf(err, size, "web config line %d: unknown or unsupported key \"%s\"", lineno, key);
	return -1;
}

/* Keys of tls_server_config that only tune the handshake: accepted, not applied. */
static const char *const tls_tuning_keys[] = {"cipher_suites",
					      "curve_preferences",
					      "min_version",
					      "max_version",
					      "prefer_server_cipher_suites",
					      "client_auth_type",
					      NULL};
/* Client certificate checks: never serve without a check the operator asked for. */
static const char *const client_auth_keys[] = {"client_ca_file", "client_ca", "client_allowed_sans",
					       NULL};

static int tls_key(struct web_config *w, const char *key, const char *v, char *err, size_t size,
		   int lineno)
{
	if (!strcmp(key, "cert_file"))
		return replace_str(&w->cert_file, v);
	if (!strcmp(key, "key_file"))
		return replace_str(&w->key_file, v);
	if (in_list(key, client_auth_keys) ||
	    (!strcmp(key, "client_auth_type") && strcmp(v, "NoClientCert"))) {
		snprintf(err, size,
			 "web config line %d: client certificate authentication is not supported",
			 lineno);
		return -1;
	}
	return in_list(key, tls_tuning_keys) ? 0 : unknown_key(key, err, size, lineno);
}

/*
 * 0, or -1 with err set (left empty: out of memory). Unknown keys are
 * errors, as in exporter-toolkit: a misspelt "basic_auth_users" or
 * "tls_server_config" must not quietly serve without the password or the
 * TLS the operator asked for.
 */
static int parse_line(struct web_config *w, char *line, enum section *section, char *err,
		      size_t size, int lineno)
{
	bool indented = line[0] == ' ' || line[0] == '\t';
	char *key = line + strspn(line, " \t");
	char *v;

	if (!*key || *key == '#' || *key == '\r' || *key == '-')
		return 0; /* blank, comment, or an item of a list we do not use */
	v = value_of(key);
	if (!v) {
		snprintf(err, size, "web config: cannot parse line %d", lineno);
		return -1;
	}
	*strchr(key, ':') = '\0';
	if (!indented) {
		*section = !strcmp(key, "tls_server_config")	? TLS
			   : !strcmp(key, "basic_auth_users")	? USERS
			   : !strcmp(key, "http_server_config") ? HTTP
								: NONE;
		return *section == NONE ? unknown_key(key, err, size, lineno) : 0;
	}
	if (*section == TLS)
		return tls_key(w, key, v, err, size, lineno);
	if (*section == HTTP)
		return 0; /* http2, headers (and their entries): not applied */
	if (*section == USERS) {
		if (w->nusers == USERS_MAX) {
			snprintf(err, size, "line %d: more than %d basic_auth_users", lineno,
				 USERS_MAX);
			return -1;
		}
		w->users[w->nusers] = strdup(key);
		w->hashes[w->nusers] = strdup(v);
		w->nusers++;
		return w->users[w->nusers - 1] && w->hashes[w->nusers - 1] ? 0 : -1;
	}
	return unknown_key(key, err, size, lineno);
}

struct web_config *web_config_parse(const char *text, char *err, size_t size)
{
	struct web_config *w = calloc(1, sizeof(*w));
	char *copy = strdup(text), *rest = copy, *line;
	enum section section = NONE;
	int lineno = 0;

	err[0] = '\0';
	if (!w || !copy)
		goto fail;
	while ((line = strsep(&rest, "\n"))) /* blank lines too: true line numbers */
		if (parse_line(w, line, &section, err, size, ++lineno))
			goto fail;
	if (!w->cert_file != !w->key_file) {
		snprintf(err, size, "web config: tls_server_config needs cert_file and key_file");
		goto fail;
	}
	free(copy);
	return w;
fail:
	if (!err[0])
		snprintf(err, size, "web config: out of memory");
	free(copy);
	web_config_free(w);
	return NULL;
}

static char *read_file(const char *path)
{
	FILE *f = fopen(path, "re");
	char *buf = NULL;
	long n;

	if (!f)
		return NULL;
	if (fseek(f, 0, SEEK_END) == 0 && (n = ftell(f)) >= 0 && n < (1 << 20) &&
	    fseek(f, 0, SEEK_SET) == 0 && (buf = calloc(1, n + 1)) &&
	    fread(buf, 1, n, f) != (size_t)n) {
		free(buf);
		buf = NULL;
	}
	fclose(f);
	return buf;
}

/*
 * "$2a$", "$2b$" or "$2y$" (htpasswd -B), a cost of 04 to 31, then 53
 * characters of bcrypt's base64: exporter-toolkit refuses to start on
 * anything else, and so do we rather than answer 401 to everyone, or
 * accept another crypt(3) scheme than the format allows.
 */
static bool is_bcrypt(const char *h)
{
	static const char b64[] =
	    "./ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
	int cost;

	if (strlen(h) != 60 || strncmp(h, "$2", 2) || !strchr("aby", h[2]) || h[3] != '$' ||
	    h[6] != '$' || !isdigit((unsigned char)h[4]) || !isdigit((unsigned char)h[5]))
		return false;
	cost = (h[4] - '0') * 10 + (h[5] - '0');
	return cost >= 4 && cost <= 31 && strspn(h + 7, b64) == 53;
}

static bool hashes_ok(const struct web_config *w, char *err, size_t size)
{
	for (size_t i = 0; i < w->nusers; i++)
		if (!is_bcrypt(w->hashes[i])) {
			snprintf(err, size,
				 "web config: basic_auth_users: the password of %s is not a "
				 "bcrypt hash (make one with htpasswd -nbB USER PASSWORD)",
				 w->users[i]);
			return false;
		}
	return true;
}

/* The pair GnuTLS will serve, checked before anything listens:
 * libmicrohttpd opens its socket first and fails on a bad pair only after,
 * so a port would open for a moment on a configuration that is refused. */
static bool tls_pair_ok(const struct web_config *w, char *err, size_t size)
{
	gnutls_datum_t cert = {(unsigned char *)w->cert_pem, strlen(w->cert_pem)};
	gnutls_datum_t key = {(unsigned char *)w->key_pem, strlen(w->key_pem)};
	gnutls_certificate_credentials_t cred;
	int rc = gnutls_certificate_allocate_credentials(&cred);

	if (rc == GNUTLS_E_SUCCESS) {
		rc = gnutls_certificate_set_x509_key_mem(cred, &cert, &key, GNUTLS_X509_FMT_PEM);
		gnutls_certificate_free_credentials(cred);
	}
	if (rc < 0)
		snprintf(err, size,
			 "TLS cert_file %s and key_file %s: %s (not a matching PEM pair?)",
			 w->cert_file, w->key_file, gnutls_strerror(rc));
	return rc >= 0;
}

/* The TLS half, if the file asks for it: the PEM files read into memory
 * (libmicrohttpd takes them so) and checked as a pair. */
static bool tls_ok(struct web_config *w, char *err, size_t size)
{
	if (!w->cert_file)
		return true;
	if (!MHD_is_feature_supported(MHD_FEATURE_TLS)) {
		snprintf(err, size, "web config asks for TLS but libmicrohttpd has no TLS support");
		return false;
	}
	w->cert_pem = read_file(w->cert_file);
	w->key_pem = read_file(w->key_file);
	if (!w->cert_pem || !w->key_pem) {
		snprintf(err, size, "cannot read TLS cert_file %s or key_file %s", w->cert_file,
			 w->key_file);
		return false;
	}
	return tls_pair_ok(w, err, size);
}

struct web_config *web_config_load(const char *path, char *err, size_t size)
{
	char *text = read_file(path);
	struct web_config *w;

	if (!text) {
		snprintf(err, size, "cannot read --web.config.file %s", path);
		return NULL;
	}
	w = web_config_parse(text, err, size);
	free(text);
	if (w && (!hashes_ok(w, err, size) || !tls_ok(w, err, size))) {
		web_config_free(w);
		return NULL;
	}
	return w;
}

bool web_config_tls_options(struct web_config *w, struct MHD_OptionItem *opts, size_t n)
{
	if (!w->cert_pem || n < 3)
		return false;
	opts[0] = (struct MHD_OptionItem){MHD_OPTION_HTTPS_MEM_CERT, 0, w->cert_pem};
	opts[1] = (struct MHD_OptionItem){MHD_OPTION_HTTPS_MEM_KEY, 0, w->key_pem};
	opts[2] = (struct MHD_OptionItem){MHD_OPTION_END, 0, NULL};
	return true;
}

const char *web_config_user_hash(const struct web_config *w, const char *user)
{
	for (size_t i = 0; i < w->nusers; i++)
		if (!strcmp(w->users[i], user))
			return w->hashes[i];
	return NULL;
}

bool web_config_authorized(struct web_config *w, struct MHD_Connection *conn)
{
	struct crypt_data data;
	const char *hash, *out;
	char *pass = NULL;
	char *user;
	bool ok;

	if (!w->nusers)
		return true;
	user = MHD_basic_auth_get_username_password(conn, &pass);
	hash = user && pass ? web_config_user_hash(w, user) : NULL;
	memset(&data, 0, sizeof(data));
	/* an unknown user costs a bcrypt round too, so that answer times do
	 * not tell which user names exist */
	out = crypt_r(pass ? pass : "", hash ? hash : w->hashes[0], &data);
	ok = hash && out && out[0] != '*' && !strcmp(out, hash);
	MHD_free(user);
	MHD_free(pass);
	return ok;
}

int web_config_deny(struct MHD_Connection *conn)
{
	static const char body[] = "unauthorized\n";
	struct MHD_Response *r;
	int ret;

	r = MHD_create_response_from_buffer(sizeof(body) - 1, (void *)body, MHD_RESPMEM_PERSISTENT);
	if (!r)
		return MHD_NO;
	ret = MHD_queue_basic_auth_fail_response(conn, "sse_exporter", r);
	MHD_destroy_response(r);
	return ret;
}
