// SPDX-License-Identifier: MIT
#include <arpa/inet.h>
#include <microhttpd.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/clock.h"
#include "core/log.h"
#include "core/version.h"
#include "kernel/kfeatures.h"
#include "metrics/expo.h"
#include "web/http_server.h"
#include "web/live_page.h"
#include "web/web_config.h"

/* The live page runs its own inline script and style, and reaches nothing
 * but this server: the browser holds it to that. */
#define PAGE_POLICY                                                                                \
	"default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; "              \
	"connect-src 'self'; img-src data:; base-uri 'none'; form-action 'none'; "                 \
	"frame-ancestors 'none'"

static double family_sum(const struct family *f, const char *label, const char *skip_value)
{
	size_t idx = 0;
	double sum = 0;

	while (label && idx < f->nlabels && strcmp(f->label_names[idx], label))
		idx++;
	for (const struct series *s = f->first; s; s = s->list_next)
		if (!label || strcmp(s->labels[idx], skip_value))
			sum += s->value;
	return sum;
}

void http_server_sample(struct http_server *s, double now)
{
	struct health_sample smp = {
	    .t = now,
	    .requests = family_sum(s->m->sse_requests, NULL, NULL),
	    .failed = family_sum(s->m->sse_requests, "status", "success"),
	};

	if (s->nsamples == HEALTH_WINDOW) {
		memmove(s->window, s->window + 1, sizeof(smp) * (HEALTH_WINDOW - 1));
		s->nsamples--;
	}
	s->window[s->nsamples++] = smp;
}

/* policy: the Content-Security-Policy of a page, NULL for data */
static enum MHD_Result reply(const struct http_server *s, struct MHD_Connection *conn,
			     unsigned int status, const char *type, const char *policy,
			     struct strbuf *body)
{
	struct MHD_Response *r;
	enum MHD_Result ret;

	if (body->oom) {
		strbuf_free(body);
		return MHD_NO;
	}
	r = MHD_create_response_from_buffer(body->len, body->buf, MHD_RESPMEM_MUST_FREE);
	if (!r) {
		strbuf_free(body);
		return MHD_NO;
	}
	MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, type);
	MHD_add_response_header(r, MHD_HTTP_HEADER_X_CONTENT_TYPE_OPTIONS, "nosniff");
	if (policy)
		MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_SECURITY_POLICY, policy);
	if (s->web)
		web_config_add_headers(s->web, r);
	ret = MHD_queue_response(conn, status, r);
	MHD_destroy_response(r);
	return ret;
}

static enum MHD_Result metrics_page(struct http_server *s, struct MHD_Connection *conn, bool json)
{
	struct strbuf body;
	double t0 = mono_seconds();

	strbuf_init(&body);
	pthread_mutex_lock(s->lock);
	if (json)
		expo_json(&s->m->reg, &body);
	else
		expo_text(&s->m->reg, &body);
	metric_set(s->m->scrape_duration, NULL, mono_seconds() - t0);
	pthread_mutex_unlock(s->lock);
	return reply(s, conn, MHD_HTTP_OK, json ? "application/json" : EXPO_TEXT_CONTENT_TYPE, NULL,
		     &body);
}

/* Which BPF build runs, and the kernel features whose lack chose it. */
static void kernel_json(struct strbuf *b, const struct loader *l)
{
	const char *sep = "";

	strbuf_printf(b, "\"bpf_build\":\"%s\",\"kernel_features_missing\":[",
		      l->compat ? "compat" : "default");
	for (int f = 0; f < KF_COUNT; f++) {
		if (!(l->kfeatures_missing & (1u << f)))
			continue;
		strbuf_printf(b, "%s\"%s\"", sep, kfeature_name(f));
		sep = ",";
	}
	strbuf_printf(b, "]}\n");
}

static enum MHD_Result health_page(struct http_server *s, struct MHD_Connection *conn)
{
	/* asked of the kernel now, not remembered from the start */
	size_t attached = loader_links_alive(s->loader);
	bool healthy = attached == s->programs_required && s->programs_required;
	double rps = 0, err = 0;
	struct strbuf body;
	double active;

	strbuf_init(&body);
	pthread_mutex_lock(s->lock);
	active = family_sum(s->m->sse_active, NULL, NULL);
	if (s->nsamples >= 2) {
		const struct health_sample *a = &s->window[0], *b = &s->window[s->nsamples - 1];
		double n = b->requests - a->requests;

		rps = b->t > a->t ? n / (b->t - a->t) : 0;
		err = n > 0 ? 100.0 * (b->failed - a->failed) / n : 0;
	}
	pthread_mutex_unlock(s->lock);
	strbuf_printf(&body,
		      "{\"status\":\"%s\",\"version\":\"%s\",\"programs\":%zu,"
		      "\"programs_required\":%zu,\"active_connections\":%.0f,"
		      "\"requests_per_second\":%.3f,\"error_rate_percent\":%.2f,",
		      healthy ? "healthy" : "degraded", sse_exporter_version, attached,
		      s->programs_required, active, rps, err);
	kernel_json(&body, s->loader);
	return reply(s, conn, healthy ? MHD_HTTP_OK : MHD_HTTP_SERVICE_UNAVAILABLE,
		     "application/json", NULL, &body);
}

static enum MHD_Result live_page(struct http_server *s, struct MHD_Connection *conn)
{
	struct strbuf body;

	strbuf_init(&body);
	live_page_render(&body, s->cfg->telemetry_path);
	return reply(s, conn, MHD_HTTP_OK, "text/html; charset=utf-8", PAGE_POLICY, &body);
}

static enum MHD_Result not_found(const struct http_server *s, struct MHD_Connection *conn)
{
	struct strbuf body;

	strbuf_init(&body);
	strbuf_puts(&body,
		    "not found: try / (the live page), /metrics, /metrics/json or /health\n");
	return reply(s, conn, MHD_HTTP_NOT_FOUND, "text/plain; charset=utf-8", NULL, &body);
}

static enum MHD_Result handle(void *cls, struct MHD_Connection *conn, const char *url,
			      const char *method, const char *version, const char *upload,
			      size_t *upload_size, void **state)
{
	struct http_server *s = cls;
	char json_path[512];

	(void)version;
	(void)upload;
	(void)upload_size;
	(void)state;
	/* credentials first: nothing, not even which methods exist, is told
	 * to a client without them */
	if (s->web && !web_config_client_ok(s->web, conn))
		return web_config_refuse(s->web, conn, true);
	if (s->web && !web_config_authorized(s->web, conn))
		return web_config_refuse(s->web, conn, false);
	if (strcmp(method, "GET") && strcmp(method, "HEAD"))
		return not_found(s, conn);
	snprintf(json_path, sizeof(json_path), "%s/json", s->cfg->telemetry_path);
	if (!strcmp(url, s->cfg->telemetry_path))
		return metrics_page(s, conn, false);
	if (!strcmp(url, json_path))
		return metrics_page(s, conn, true);
	if (!strcmp(url, "/health"))
		return health_page(s, conn);
	if (!strcmp(url, "/"))
		return live_page(s, conn);
	return not_found(s, conn);
}

static int listen_addr(const struct config *cfg, struct sockaddr_storage *ss, char *err,
		       size_t size)
{
	struct addrinfo hints = {.ai_flags = AI_PASSIVE | AI_NUMERICSERV,
				 .ai_socktype = SOCK_STREAM};
	struct addrinfo *res;
	char port[8];
	int rc;

	snprintf(port, sizeof(port), "%u", cfg->listen_port);
	hints.ai_family = cfg->listen_host[0] ? AF_UNSPEC : AF_INET6;
	rc = getaddrinfo(cfg->listen_host[0] ? cfg->listen_host : NULL, port, &hints, &res);
	if (rc) {
		snprintf(err, size, "cannot resolve listen address %s: %s", cfg->listen_host,
			 gai_strerror(rc));
		return -1;
	}
	memcpy(ss, res->ai_addr, res->ai_addrlen);
	freeaddrinfo(res);
	return 0;
}

int http_server_start(struct http_server *s, char *err, size_t size)
{
	unsigned int flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG;
	struct sockaddr_storage ss = {0};
	struct MHD_OptionItem tls[WEB_TLS_OPTIONS_MAX] = {{MHD_OPTION_END, 0, NULL}};

	if (listen_addr(s->cfg, &ss, err, size))
		return -1;
	if (ss.ss_family == AF_INET6)
		flags |= MHD_USE_DUAL_STACK;
	if (s->cfg->web_config_file) {
		s->web = web_config_load(s->cfg->web_config_file, err, size);
		if (!s->web)
			return -1;
		if (web_config_tls_options(s->web, tls, WEB_TLS_OPTIONS_MAX))
			flags |= MHD_USE_TLS;
	}
	s->daemon = MHD_start_daemon(flags, s->cfg->listen_port, NULL, NULL, handle, s,
				     MHD_OPTION_SOCK_ADDR, &ss, MHD_OPTION_CONNECTION_TIMEOUT,
				     (unsigned int)30, MHD_OPTION_CONNECTION_LIMIT,
				     (unsigned int)64, MHD_OPTION_ARRAY, tls, MHD_OPTION_END);
	if (!s->daemon) {
		snprintf(err, size, "cannot listen on %s:%u (in use, or not allowed)",
			 s->cfg->listen_host, s->cfg->listen_port);
		web_config_free(s->web);
		s->web = NULL;
		return -1;
	}
	return 0;
}

void http_server_stop(struct http_server *s)
{
	if (s->daemon)
		MHD_stop_daemon(s->daemon);
	s->daemon = NULL;
	web_config_free(s->web);
	s->web = NULL;
}
