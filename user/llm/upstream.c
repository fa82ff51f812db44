// SPDX-License-Identifier: MIT
#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>

#include "llm/upstream.h"

static unsigned int bucket_of(uint32_t tgid)
{
	return (tgid * 2654435761u) % UPSTREAM_BUCKETS;
}

void upstream_index_init(struct upstream_index *idx, struct upstream_metrics *m,
			 const struct provider_map *providers)
{
	memset(idx, 0, sizeof(*idx));
	idx->m = m;
	idx->providers = providers;
	corr_index_init(&idx->events);
}

void upstream_call_init(struct upstream_call *u, struct upstream_index *idx, uint32_t tgid,
			const char *service, const struct conn_addr *remote)
{
	struct upstream_call **head = &idx->buckets[bucket_of(tgid)];

	memset(u, 0, sizeof(*u));
	u->idx = idx;
	u->tgid = tgid;
	u->service = service;
	u->remote = *remote;
	snprintf(u->provider, sizeof(u->provider), "unknown");
	u->next = *head;
	if (*head)
		(*head)->pprev = &u->next;
	u->pprev = head;
	*head = u;
}

void upstream_call_release(struct upstream_call *u)
{
	body_inflate_end(&u->inflate);
	if (!u->pprev)
		return;
	*u->pprev = u->next;
	if (u->next)
		u->next->pprev = u->pprev;
	u->pprev = NULL;
}

/* ---- provider by remote address, for connects that fail -------------- */

/* A unix socket's peer has no address (conn_event.h): it names no
 * provider, and teaches none. */
static bool has_addr(const struct conn_addr *a)
{
	return a->family == AF_INET || a->family == AF_INET6;
}

static bool same_addr(const struct conn_addr *a, const struct conn_addr *b)
{
	return a->family == b->family && a->port == b->port && !memcmp(a->addr, b->addr, 16);
}

static void learn(struct upstream_index *idx, const struct conn_addr *a, const char *provider)
{
	struct learned_addr *l = NULL;

	for (unsigned int i = 0; i < UPSTREAM_LEARNED && !l; i++)
		if (same_addr(&idx->learned[i].addr, a))
			l = &idx->learned[i];
	if (!l)
		l = &idx->learned[idx->learned_next++ % UPSTREAM_LEARNED];
	l->addr = *a;
	snprintf(l->provider, sizeof(l->provider), "%s", provider);
}

/* The provider last seen at this address, else the address itself put
 * through the mapping (users may map an IP). */
static void provider_by_addr(const struct upstream_index *idx, const struct conn_addr *a,
			     char out[PROVIDER_NAME_MAX])
{
	char ip[INET6_ADDRSTRLEN], host[INET6_ADDRSTRLEN + 8];

	if (!has_addr(a)) {
		snprintf(out, PROVIDER_NAME_MAX, "unknown");
		return;
	}
	for (unsigned int i = 0; i < UPSTREAM_LEARNED; i++) {
		if (idx->learned[i].provider[0] && same_addr(&idx->learned[i].addr, a)) {
			snprintf(out, PROVIDER_NAME_MAX, "%s", idx->learned[i].provider);
			return;
		}
	}
	if (!inet_ntop(a->family == AF_INET6 ? AF_INET6 : AF_INET, a->addr, ip, sizeof(ip))) {
		snprintf(out, PROVIDER_NAME_MAX, "unknown");
		return;
	}
	snprintf(host, sizeof(host), a->family == AF_INET6 ? "[%s]:%u" : "%s:%u", ip, a->port);
	provider_name(idx->providers, host, out);
}

static void remember_end(struct upstream_index *idx, uint32_t tgid, const char *provider,
			 uint64_t ts)
{
	struct ended_call *c = &idx->ended[idx->ended_next++ % UPSTREAM_ENDED];

	c->tgid = tgid;
	c->t_end = ts;
	snprintf(c->provider, sizeof(c->provider), "%s", provider);
}

void upstream_connect_failed(struct upstream_index *idx, uint32_t tgid, const char *service,
			     const struct conn_addr *remote, uint64_t ts)
{
	char provider[PROVIDER_NAME_MAX];

	provider_by_addr(idx, remote, provider);
	remember_end(idx, tgid, provider, ts);
	metrics_upstream_connect_failed(idx->m, service, provider, ts);
}

/* ---- http_conn callbacks: requests written, responses read ------------ */

static void on_response(void *ctx, const struct http_exchange *x)
{
	struct upstream_call *u = ctx;
	char host[HTTP_HOST_MAX + 8];

	if (x->has_request && x->req.host[0]) {
		/* with the port, so that user entries for host:port match;
		 * a unix socket has none */
		if (has_addr(&u->remote))
			snprintf(host, sizeof(host), "%s:%u", x->req.host, u->remote.port);
		else
			snprintf(host, sizeof(host), "%s", x->req.host);
		provider_name(u->idx->providers, host, u->provider);
	} else {
		provider_by_addr(u->idx, &u->remote, u->provider);
	}
	usage_scan_init(&u->usage, x->sse);
	u->usage_on = true;
	u->undecoded = false;
	body_inflate_end(&u->inflate); /* a previous body cut short */
	body_inflate_init(&u->inflate, x->coding == HTTP_CODING_DEFLATE);
	u->call = ++u->idx->calls;
}

static void scan_inflated(void *ctx, const char *buf, size_t len)
{
	usage_scan_feed(ctx, buf, len);
}

static void note_undecoded(struct upstream_call *u, enum body_undecoded why)
{
	u->undecoded = true;
	metrics_upstream_undecoded(u->idx->m, why);
}

/*
 * Compressed bodies are inflated for the scan. A body that cannot be is
 * counted once, at its first byte or where decoding stopped; what was
 * read before still counts.
 */
static void scan_body(struct upstream_call *u, const struct http_exchange *x, const char *buf,
		      size_t len)
{
	enum body_inflate_status st;

	if (u->undecoded)
		return;
	switch (x->coding) {
	case HTTP_CODING_IDENTITY:
		usage_scan_feed(&u->usage, buf, len);
		break;
	case HTTP_CODING_GZIP:
	case HTTP_CODING_DEFLATE:
		st = body_inflate_feed(&u->inflate, buf, len, scan_inflated, &u->usage);
		if (st != BODY_INFLATE_MORE)
			note_undecoded(u, st == BODY_INFLATE_CAP ? UNDECODED_CAP
								 : UNDECODED_INFLATE_ERROR);
		break;
	case HTTP_CODING_BR:
		note_undecoded(u, UNDECODED_BR);
		break;
	default:
		note_undecoded(u, UNDECODED_UNSUPPORTED);
		break;
	}
}

static void on_body(void *ctx, const struct http_exchange *x, const char *buf, size_t len)
{
	struct upstream_call *u = ctx;

	if (u->usage_on)
		scan_body(u, x, buf, len);
	if (!x->sse)
		u->t_last_data = x->t_last_write;
}

static void on_event(void *ctx, const struct http_exchange *x, const struct sse_event *ev,
		     uint64_t ts, uint64_t prev)
{
	struct upstream_call *u = ctx;

	if (ev->kind != SSE_EVENT_DATA)
		return;
	u->t_last_data = ts;
	if (ev->data_hash != SSE_DATA_HASH_EMPTY)
		corr_index_learn(&u->idx->events, u->tgid, u->call, ev->data_hash, u->provider, ts);
	if (!prev)
		metrics_upstream_first_chunk(u->idx->m, u->service, u->provider, x, ts);
}

static void on_end(void *ctx, const struct http_exchange *x, enum http_end why, uint64_t ts)
{
	struct upstream_call *u = ctx;
	struct usage usage;

	if (!x->responded)
		provider_by_addr(u->idx, &u->remote, u->provider);
	else if (x->has_request && x->req.host[0] && has_addr(&u->remote))
		learn(u->idx, &u->remote, u->provider);
	if (u->usage_on)
		usage_scan_result(&u->usage, &usage);
	remember_end(u->idx, u->tgid, u->provider, ts);
	metrics_upstream_end(u->idx->m, u->service, u->provider, x, why, ts,
			     u->usage_on ? &usage : NULL);
	u->usage_on = false;
	body_inflate_end(&u->inflate);
}

const struct http_conn_ops upstream_ops = {
    .response = on_response,
    .event = on_event,
    .end = on_end,
    .body = on_body,
};

/* ---- correlation -------------------------------------------------------- */

const struct upstream_call *upstream_first(const struct upstream_index *idx, uint32_t tgid)
{
	return idx->buckets[bucket_of(tgid)];
}

void upstream_note_since(const struct upstream_index *idx, uint32_t tgid, uint64_t since,
			 struct correlation *k)
{
	for (const struct upstream_call *u = upstream_first(idx, tgid); u && !k->mixed; u = u->next)
		if (u->tgid == tgid && u->t_last_data >= since)
			corr_note(k, u->provider);
	for (unsigned int i = 0; i < UPSTREAM_ENDED && !k->mixed; i++)
		if (idx->ended[i].tgid == tgid && idx->ended[i].t_end >= since)
			corr_note(k, idx->ended[i].provider);
}
