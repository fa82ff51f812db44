// SPDX-License-Identifier: MIT
#include <crypt.h>
#include <ctype.h>
#include <gnutls/gnutls.h>
#include <gnutls/x509.h>
#include <microhttpd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "web/web_config.h"
#include "web/web_config_yaml.h"

struct web_config {
	struct web_config_doc doc;
	char *cert_pem, *key_pem, *ca_pem;
	char priorities[96]; /* GnuTLS's, min_version to max_version */
};

void web_config_free(struct web_config *w)
{
	if (!w)
		return;
	web_config_doc_free(&w->doc);
	free(w->cert_pem);
	free(w->key_pem);
	free(w->ca_pem);
	free(w);
}

/*
 * What the keys mean together, as exporter-toolkit has it (cert or
 * cert_file with key or key_file; a client CA only with a client_auth_type
 * that uses it), and one rule of ours: a client_auth_type other than
 * NoClientCert needs the CA, since libmicrohttpd asks clients for a
 * certificate only when it has a CA to trust.
 */
static const char *semantics_error(const struct web_config_doc *d)
{
	bool cert = d->cert_file || d->cert, key = d->key_file || d->key;
	bool ca = d->client_ca_file || d->client_ca;

	if ((d->cert_file && d->cert) || (d->key_file && d->key) ||
	    (d->client_ca_file && d->client_ca))
		return "tls_server_config: give cert or cert_file, key or key_file, client_ca or "
		       "client_ca_file, not both of a pair";
	if (cert != key)
		return cert ? "tls_server_config needs key_file (or key) with cert_file"
			    : "tls_server_config needs cert_file (or cert) with key_file";
	if ((ca || d->client_auth != CLIENT_AUTH_NONE) && !cert)
		return "tls_server_config: client certificates need cert_file and key_file (TLS)";
	if (ca && d->client_auth == CLIENT_AUTH_NONE)
		return "tls_server_config: client_ca_file without a client_auth_type that uses it";
	if (!ca && d->client_auth != CLIENT_AUTH_NONE)
		return "tls_server_config: client_auth_type needs client_ca_file (or client_ca)";
	if (d->min_version > d->max_version)
		return "tls_server_config: min_version is above max_version";
	return NULL;
}

struct web_config *web_config_parse(const char *text, char *err, size_t size)
{
	struct web_config *w = calloc(1, sizeof(*w));
	const char *why;

	err[0] = '\0';
	if (!w || web_config_yaml_parse(text, &w->doc, err, size))
		goto fail;
	why = semantics_error(&w->doc);
	if (why) {
		snprintf(err, size, "web config: %s", why);
		goto fail;
	}
	return w;
fail:
	if (!err[0])
		snprintf(err, size, "web config: out of memory");
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

static bool hashes_ok(const struct web_config_doc *d, char *err, size_t size)
{
	for (size_t i = 0; i < d->nusers; i++)
		if (!is_bcrypt(d->hashes[i])) {
			snprintf(err, size,
				 "web config: basic_auth_users: the password of %s is not a "
				 "bcrypt hash (make one with htpasswd -nbB USER PASSWORD)",
				 d->users[i]);
			return false;
		}
	return true;
}

/* A relative file name is taken from the web config's directory, as
 * exporter-toolkit does. 0, or -1 out of memory. */
static int resolve(char **file, const char *config_path)
{
	const char *slash = strrchr(config_path, '/');
	char *joined;

	if (!*file || (*file)[0] == '/' || !slash)
		return 0;
	if (asprintf(&joined, "%.*s/%s", (int)(slash - config_path), config_path, *file) < 0)
		return -1;
	free(*file);
	*file = joined;
	return 0;
}

/* The PEM of a file, or of the key's inline text; NULL with err set. */
static char *pem_of(const char *file, const char *text, const char *key, char *err, size_t size)
{
	char *pem = file ? read_file(file) : strdup(text);

	if (!pem)
		snprintf(err, size, "cannot read TLS %s %s", key, file ? file : "(out of memory)");
	return pem;
}

/* The pair GnuTLS will serve and the CA it will trust, checked before
 * anything listens: libmicrohttpd opens its socket first and fails on bad
 * ones only after, so a port would open for a moment on a configuration
 * that is refused. */
static bool credentials_ok(const struct web_config *w, char *err, size_t size)
{
	gnutls_datum_t cert = {(unsigned char *)w->cert_pem, strlen(w->cert_pem)};
	gnutls_datum_t key = {(unsigned char *)w->key_pem, strlen(w->key_pem)};
	gnutls_certificate_credentials_t cred;
	int rc = gnutls_certificate_allocate_credentials(&cred);

	if (rc < 0) {
		snprintf(err, size, "TLS: %s", gnutls_strerror(rc));
		return false;
	}
	rc = gnutls_certificate_set_x509_key_mem(cred, &cert, &key, GNUTLS_X509_FMT_PEM);
	if (rc < 0)
		snprintf(err, size,
			 "TLS cert_file %s and key_file %s: %s (not a matching PEM pair?)",
			 w->doc.cert_file ? w->doc.cert_file : "(inline cert)",
			 w->doc.key_file ? w->doc.key_file : "(inline key)", gnutls_strerror(rc));
	if (rc >= 0 && w->ca_pem) {
		gnutls_datum_t ca = {(unsigned char *)w->ca_pem, strlen(w->ca_pem)};

		rc = gnutls_certificate_set_x509_trust_mem(cred, &ca, GNUTLS_X509_FMT_PEM);
		if (rc <= 0) {
			snprintf(err, size, "TLS client_ca_file %s: no PEM certificate (%s)",
				 w->doc.client_ca_file ? w->doc.client_ca_file
						       : "(inline client_ca)",
				 rc < 0 ? gnutls_strerror(rc) : "none found");
			rc = -1;
		}
	}
	gnutls_certificate_free_credentials(cred);
	return rc >= 0;
}

/* min_version to max_version as a GnuTLS priority string, checked. */
static bool priorities_ok(struct web_config *w, char *err, size_t size)
{
	gnutls_priority_t prio;
	const char *at = NULL;
	size_t len;
	int rc;

	len = snprintf(w->priorities, sizeof(w->priorities), "NORMAL:-VERS-ALL");
	for (int v = w->doc.min_version; v <= w->doc.max_version; v++)
		len +=
		    snprintf(w->priorities + len, sizeof(w->priorities) - len, ":+VERS-TLS1.%d", v);
	rc = gnutls_priority_init(&prio, w->priorities, &at);
	if (rc < 0) {
		snprintf(err, size, "TLS versions %s: %s at \"%s\"", w->priorities,
			 gnutls_strerror(rc), at ? at : "");
		return false;
	}
	gnutls_priority_deinit(prio);
	return true;
}

/* The TLS half, if the file asks for it: the PEM read into memory
 * (libmicrohttpd takes it so) and checked. */
static bool tls_ok(struct web_config *w, char *err, size_t size)
{
	const struct web_config_doc *d = &w->doc;

	if (!d->cert_file && !d->cert)
		return true;
	if (!MHD_is_feature_supported(MHD_FEATURE_TLS)) {
		snprintf(err, size, "web config asks for TLS but libmicrohttpd has no TLS support");
		return false;
	}
	w->cert_pem = pem_of(d->cert_file, d->cert, "cert_file", err, size);
	w->key_pem = w->cert_pem ? pem_of(d->key_file, d->key, "key_file", err, size) : NULL;
	if (!w->key_pem)
		return false;
	if (d->client_ca_file || d->client_ca) {
		w->ca_pem = pem_of(d->client_ca_file, d->client_ca, "client_ca_file", err, size);
		if (!w->ca_pem)
			return false;
	}
	return credentials_ok(w, err, size) && priorities_ok(w, err, size);
}

/* The keys given that this exporter takes but cannot apply, said once. */
static void warn_not_applied(const struct web_config_doc *d)
{
	char names[160] = "";
	size_t len = 0;

	for (size_t i = 0; i < d->nnot_applied && len < sizeof(names); i++)
		len += snprintf(names + len, sizeof(names) - len, "%s%s", i ? ", " : "",
				d->not_applied[i]);
	if (d->nnot_applied)
		log_warn("web config: %s accepted but not applied (see README, web config)", names);
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
	if (!w)
		return NULL;
	if (resolve(&w->doc.cert_file, path) || resolve(&w->doc.key_file, path) ||
	    resolve(&w->doc.client_ca_file, path)) {
		snprintf(err, size, "web config: out of memory");
		goto fail;
	}
	if (!hashes_ok(&w->doc, err, size) || !tls_ok(w, err, size))
		goto fail;
	warn_not_applied(&w->doc);
	return w;
fail:
	web_config_free(w);
	return NULL;
}

size_t web_config_tls_options(const struct web_config *w, struct MHD_OptionItem *opts, size_t n)
{
	size_t i = 0;

	if (!w->cert_pem || n < WEB_TLS_OPTIONS_MAX)
		return 0;
	opts[i++] = (struct MHD_OptionItem){MHD_OPTION_HTTPS_MEM_CERT, 0, w->cert_pem};
	opts[i++] = (struct MHD_OptionItem){MHD_OPTION_HTTPS_MEM_KEY, 0, w->key_pem};
	opts[i++] = (struct MHD_OptionItem){MHD_OPTION_HTTPS_PRIORITIES, 0, (void *)w->priorities};
	/* a CA to trust: libmicrohttpd then asks each client for a certificate */
	if (w->ca_pem)
		opts[i++] = (struct MHD_OptionItem){MHD_OPTION_HTTPS_MEM_TRUST, 0, w->ca_pem};
	opts[i] = (struct MHD_OptionItem){MHD_OPTION_END, 0, NULL};
	return i;
}

const char *web_config_user_hash(const struct web_config *w, const char *user)
{
	for (size_t i = 0; i < w->doc.nusers; i++)
		if (!strcmp(w->doc.users[i], user))
			return w->doc.hashes[i];
	return NULL;
}

/*
 * The client certificate against client_auth_type, once per request (a
 * keep-alive connection's certificate does not change, but this costs
 * one signature check). GnuTLS under libmicrohttpd asks for a certificate
 * but does not check it in the handshake, so the check is here; the
 * purpose checked is TLS client (a certificate for servers only is
 * refused, as Go's crypto/tls does).
 */
bool web_config_client_ok(const struct web_config *w, struct MHD_Connection *conn)
{
	gnutls_typed_vdata_st purpose = {GNUTLS_DT_KEY_PURPOSE_OID,
					 (unsigned char *)GNUTLS_KP_TLS_WWW_CLIENT, 0};
	int mode = w->doc.client_auth;
	const union MHD_ConnectionInfo *ci;
	unsigned int n = 0, status = 0;

	if (mode == CLIENT_AUTH_NONE || mode == CLIENT_AUTH_REQUEST)
		return true;
	ci = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_GNUTLS_SESSION);
	if (!ci || !ci->tls_session)
		return false;
	if (!gnutls_certificate_get_peers(ci->tls_session, &n) || !n)
		return mode == CLIENT_AUTH_VERIFY_IF_GIVEN;
	if (mode == CLIENT_AUTH_REQUIRE_ANY)
		return true;
	return gnutls_certificate_verify_peers(ci->tls_session, &purpose, 1, &status) ==
		   GNUTLS_E_SUCCESS &&
	       !status;
}

bool web_config_authorized(const struct web_config *w, struct MHD_Connection *conn)
{
	struct crypt_data data;
	const char *hash, *out;
	char *pass = NULL;
	char *user;
	bool ok;

	if (!w->doc.nusers)
		return true;
	user = MHD_basic_auth_get_username_password(conn, &pass);
	hash = user && pass ? web_config_user_hash(w, user) : NULL;
	memset(&data, 0, sizeof(data));
	/* an unknown user costs a bcrypt round too, so that answer times do
	 * not tell which user names exist */
	out = crypt_r(pass ? pass : "", hash ? hash : w->doc.hashes[0], &data);
	ok = hash && out && out[0] != '*' && !strcmp(out, hash);
	MHD_free(user);
	MHD_free(pass);
	return ok;
}

/*
 * http_server_config.headers on r. A header r has already with the same
 * value is not repeated; with another value both are sent (two
 * Content-Security-Policy headers are both enforced: the stricter wins).
 */
void web_config_add_headers(const struct web_config *w, struct MHD_Response *r)
{
	for (size_t i = 0; i < w->doc.nheaders; i++) {
		const char *has = MHD_get_response_header(r, w->doc.header_names[i]);

		if (!has || strcmp(has, w->doc.header_values[i]))
			MHD_add_response_header(r, w->doc.header_names[i], w->doc.header_values[i]);
	}
}

/*
 * 401 with a Basic challenge (credentials missing or wrong) or 403 (a
 * client certificate missing or not trusted). The 403 is an answer, not a
 * closed connection: libmicrohttpd gives no hook to fail GnuTLS's
 * handshake on the certificate, so the TLS session exists by the time it
 * is checked, and a status tells the operator what failed while it tells
 * the client nothing of the metrics.
 */
int web_config_refuse(const struct web_config *w, struct MHD_Connection *conn, bool forbidden)
{
	static const char unauthorized[] = "unauthorized\n";
	static const char no_cert[] = "forbidden: client certificate missing or not trusted\n";
	const char *body = forbidden ? no_cert : unauthorized;
	struct MHD_Response *r;
	int ret;

	r = MHD_create_response_from_buffer(strlen(body), (void *)body, MHD_RESPMEM_PERSISTENT);
	if (!r)
		return MHD_NO;
	web_config_add_headers(w, r);
	ret = forbidden ? MHD_queue_response(conn, MHD_HTTP_FORBIDDEN, r)
			: MHD_queue_basic_auth_fail_response(conn, "sse_exporter", r);
	MHD_destroy_response(r);
	return ret;
}
