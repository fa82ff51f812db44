// SPDX-License-Identifier: MIT
#include <errno.h>
#include <gnutls/gnutls.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "core/strbuf.h"
#include "ident/kubelet.h"
#include "proto/chunked.h"
#include "proto/http_head.h"

#define TIMEOUT_S 5
#define TOKEN_MAX 16384

static void chunk_data(void *ctx, const char *data, size_t len)
{
	strbuf_add(ctx, data, len);
}

/* The body after a head: what framing it has, decoded into out. */
static bool decode_body(const struct http_head *h, const char *p, size_t n, struct strbuf *out)
{
	struct chunked_decoder d;
	size_t used;

	switch (http_body_mode(h, false)) {
	case HTTP_BODY_NONE:
		return true;
	case HTTP_BODY_LENGTH:
		if ((uint64_t)h->content_length > n)
			return false; /* cut short */
		strbuf_add(out, p, h->content_length);
		return true;
	case HTTP_BODY_CHUNKED:
		chunked_init(&d);
		return chunked_feed(&d, p, n, &used, chunk_data, out) == CHUNKED_DONE;
	case HTTP_BODY_UNTIL_CLOSE:
		strbuf_add(out, p, n);
		return true;
	}
	return false;
}

char *kubelet_response_body(const char *raw, size_t len, size_t *body_len, int *status)
{
	struct http_head h;
	struct strbuf out;
	size_t used;

	*status = 0;
	http_head_init(&h, HTTP_HEAD_RESPONSE);
	if (http_head_feed(&h, raw, len, &used) != HTTP_HEAD_DONE)
		return NULL;
	*status = h.status;
	if (h.status != 200)
		return NULL;
	strbuf_init(&out);
	if (!decode_body(&h, raw + used, len - used, &out) || out.oom) {
		strbuf_free(&out);
		return NULL;
	}
	*body_len = out.len;
	return strbuf_take(&out);
}

/* "https://HOST[:PORT][/]": host (brackets of an IPv6 literal removed)
 * and port; -1 when it is not such a URL. */
static int parse_url(const char *url, char *host, size_t host_size, char *port, size_t port_size)
{
	const char *p = url, *end, *colon;
	size_t n;

	if (strncmp(p, "https://", 8))
		return -1;
	p += 8;
	end = p + strcspn(p, "/");
	if (*p == '[') {
		colon = memchr(p, ']', end - p);
		if (!colon)
			return -1;
		n = colon - p - 1;
		p++;
		colon = colon[1] == ':' ? colon + 1 : NULL;
	} else {
		colon = memchr(p, ':', end - p);
		n = (colon ? colon : end) - p;
	}
	if (!n || n >= host_size)
		return -1;
	snprintf(host, host_size, "%.*s", (int)n, p);
	snprintf(port, port_size, "%.*s", colon ? (int)(end - colon - 1) : 5,
		 colon ? colon + 1 : "10250");
	return port[0] ? 0 : -1;
}

static int connect_to(const char *host, const char *port, char *why, size_t why_size)
{
	struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *res, *ai;
	struct timeval tv = {.tv_sec = TIMEOUT_S};
	int fd = -1, err = getaddrinfo(host, port, &hints, &res);

	if (err) {
		snprintf(why, why_size, "cannot resolve %s: %s", host, gai_strerror(err));
		return -1;
	}
	for (ai = res; ai && fd < 0; ai = ai->ai_next) {
		fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
		if (fd < 0)
			continue;
		setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
		setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
		if (connect(fd, ai->ai_addr, ai->ai_addrlen)) {
			snprintf(why, why_size, "cannot connect to %s:%s: %s", host, port,
				 strerror(errno));
			close(fd);
			fd = -1;
		}
	}
	freeaddrinfo(res);
	return fd;
}

/* The token file's content without surrounding blanks; "" when none. */
static int read_token(const char *path, char *out, size_t size, char *why, size_t why_size)
{
	FILE *f;
	size_t n;

	out[0] = '\0';
	if (!path || !path[0])
		return 0;
	f = fopen(path, "re");
	if (!f) {
		snprintf(why, why_size, "cannot read the token %s: %s", path, strerror(errno));
		return -1;
	}
	n = fread(out, 1, size - 1, f);
	fclose(f);
	out[n] = '\0';
	while (n && strchr(" \t\r\n", out[n - 1]))
		out[--n] = '\0';
	return 0;
}

static bool is_ip_literal(const char *host)
{
	return strspn(host, "0123456789.") == strlen(host) || strchr(host, ':');
}

static int tls_setup(gnutls_session_t s, gnutls_certificate_credentials_t cred,
		     const struct kubelet_config *k, const char *host)
{
	if (k->ca_file && k->ca_file[0] &&
	    gnutls_certificate_set_x509_trust_file(cred, k->ca_file, GNUTLS_X509_FMT_PEM) <= 0)
		return -1;
	if (gnutls_credentials_set(s, GNUTLS_CRD_CERTIFICATE, cred) ||
	    gnutls_set_default_priority(s))
		return -1;
	if (!is_ip_literal(host))
		gnutls_server_name_set(s, GNUTLS_NAME_DNS, host, strlen(host));
	if (!k->insecure)
		gnutls_session_set_verify_cert(s, host, 0);
	return 0;
}

/* Sends the request and reads the answer up to the end or the cap. */
static bool exchange(gnutls_session_t s, const char *request, struct strbuf *raw)
{
	char buf[16384];
	size_t sent = 0, n = strlen(request);
	ssize_t got;

	while (sent < n) {
		got = gnutls_record_send(s, request + sent, n - sent);
		if (got < 0 && got != GNUTLS_E_AGAIN && got != GNUTLS_E_INTERRUPTED)
			return false;
		sent += got > 0 ? got : 0;
	}
	while ((got = gnutls_record_recv(s, buf, sizeof(buf))) != 0) {
		if (got == GNUTLS_E_AGAIN || got == GNUTLS_E_INTERRUPTED)
			continue;
		if (got == GNUTLS_E_PREMATURE_TERMINATION)
			break; /* closed without close_notify: the framing tells */
		if (got < 0 || raw->len + got > KUBELET_BODY_MAX)
			return false;
		strbuf_add(raw, buf, got);
	}
	return !raw->oom;
}

static bool fetch(int fd, const struct kubelet_config *k, const char *host, const char *request,
		  struct strbuf *raw, char *why, size_t why_size)
{
	gnutls_certificate_credentials_t cred;
	gnutls_session_t s;
	bool ok = false;
	int err;

	if (gnutls_certificate_allocate_credentials(&cred))
		return false;
	if (gnutls_init(&s, GNUTLS_CLIENT)) {
		gnutls_certificate_free_credentials(cred);
		return false;
	}
	if (tls_setup(s, cred, k, host)) {
		snprintf(why, why_size, "cannot set up TLS (CA file %s)", k->ca_file);
		goto out;
	}
	gnutls_transport_set_int(s, fd);
	gnutls_handshake_set_timeout(s, TIMEOUT_S * 1000);
	do
		err = gnutls_handshake(s);
	while (err < 0 && !gnutls_error_is_fatal(err));
	if (err < 0) {
		snprintf(why, why_size, "TLS handshake with %s: %s", k->url, gnutls_strerror(err));
		goto out;
	}
	ok = exchange(s, request, raw);
	if (!ok)
		snprintf(why, why_size, "reading %s/pods failed or exceeded %u MiB", k->url,
			 KUBELET_BODY_MAX >> 20);
	gnutls_bye(s, GNUTLS_SHUT_WR);
out:
	gnutls_deinit(s);
	gnutls_certificate_free_credentials(cred);
	return ok;
}

char *kubelet_get_pods(const struct kubelet_config *k, size_t *len, char *why, size_t why_size)
{
	char host[256], port[16], *token = malloc(TOKEN_MAX), *request = NULL, *body = NULL;
	struct strbuf raw;
	int fd, status;

	strbuf_init(&raw);
	if (!token)
		return NULL;
	if (parse_url(k->url, host, sizeof(host), port, sizeof(port))) {
		snprintf(why, why_size, "--kubelet.url=%s is not https://HOST[:PORT]", k->url);
		goto out;
	}
	if (read_token(k->token_file, token, TOKEN_MAX, why, why_size))
		goto out;
	if (asprintf(&request,
		     "GET /pods HTTP/1.1\r\nHost: %s:%s\r\n%s%s%sAccept: application/json\r\n"
		     "Connection: close\r\n\r\n",
		     host, port, token[0] ? "Authorization: Bearer " : "", token,
		     token[0] ? "\r\n" : "") < 0) {
		request = NULL;
		goto out;
	}
	fd = connect_to(host, port, why, why_size);
	if (fd < 0)
		goto out;
	if (fetch(fd, k, host, request, &raw, why, why_size)) {
		body = kubelet_response_body(raw.buf, raw.len, len, &status);
		if (!body)
			snprintf(why, why_size, "%s/pods answered %s %d", k->url,
				 status ? "HTTP" : "not HTTP:", status);
	}
	close(fd);
out:
	strbuf_free(&raw);
	free(request);
	free(token);
	return body;
}
