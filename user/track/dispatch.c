// SPDX-License-Identifier: MIT
#include <errno.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "core/array.h"
#include "core/log.h"
#include "ident/proc.h"
#include "llm/correlate.h"
#include "track/collector.h"
#include "track/conn_bytes.h"
#include "track/kernel_sync.h"
#include "track/kstreams.h"
#include "track/redis_track.h"

/* ---- http_conn callbacks: a connection's exchanges become metrics ---- */

static void on_response(void *ctx, const struct http_exchange *x)
{
	struct conn_entry *e = ctx;
	struct conn_served *s = e->srv;

	corr_init(&s->corr);
	metrics_response(e->c->m, e->target->key, x, &s->stream);
	kstream_on_response(e->c, e, x);
}

/* Each data event of an inbound stream looks for the same data read from
 * an upstream call of the process, else notes the calls that could have
 * fed it (correlate.h). */
static void correlate(struct conn_entry *e, const struct http_exchange *x,
		      const struct sse_event *ev, uint64_t ts)
{
	struct conn_served *s = e->srv;
	const char *provider = NULL;

	if (s->stream.provider || !x->has_request)
		return;
	if (ev->data_hash != SSE_DATA_HASH_EMPTY)
		provider = corr_index_find(&e->c->upstreams.events, e->key.tgid, ev->data_hash, ts);
	if (provider)
		corr_match(&s->corr, provider);
	provider = corr_decide(&s->corr, false);
	if (provider)
		metrics_stream_provider(e->c->m, e->target->key, &s->stream, provider);
}

static void on_event(void *ctx, const struct http_exchange *x, const struct sse_event *ev,
		     uint64_t ts, uint64_t prev)
{
	struct conn_entry *e = ctx;

	if (ev->kind == SSE_EVENT_DATA)
		correlate(e, x, ev, ts);
	if (!x->kernel) /* else the kernel counts it */
		metrics_event(e->c->m, e->target->key, x, &e->srv->stream, ev, ts, prev);
}

/* A request for a stream ends, answered with events or not (an error
 * relayed from a failed call): without a match by content, the calls of
 * the process that were busy meanwhile name the provider (correlate.h). */
static const char *provider_at_end(struct conn_entry *e, const struct http_exchange *x)
{
	struct conn_served *s = e->srv;

	if (s->stream.provider)
		return s->stream.provider;
	if (!x->has_request || !(x->sse || x->req.wants_stream))
		return NULL;
	if (!s->corr.matched)
		upstream_note_since(&e->c->upstreams, e->key.tgid, x->req.t_first, &s->corr);
	return corr_decide(&s->corr, true);
}

static void on_end(void *ctx, const struct http_exchange *x, enum http_end why, uint64_t ts)
{
	struct conn_entry *e = ctx;
	const char *provider = provider_at_end(e, x);

	if (x->sse && provider)
		metrics_stream_provider(e->c->m, e->target->key, &e->srv->stream, provider);
	metrics_end(e->c->m, e->target->key, x, &e->srv->stream, provider, why, ts);
}

static const struct http_conn_ops http_ops = {
    .response = on_response,
    .event = on_event,
    .end = on_end,
};

/* The first bytes of a connection: its HTTP state, and the state its
 * callbacks go to: a server's stream, a client's upstream call. */
static int http_start(struct collector *c, struct conn_entry *e)
{
	e->http = malloc(sizeof(*e->http));
	if (e->info.role == ROLE_SERVER)
		e->srv = calloc(1, sizeof(*e->srv));
	else
		e->up = malloc(sizeof(*e->up));
	if (!e->http || !(e->srv || e->up)) {
		conn_drop_http(e);
		return -1;
	}
	if (e->srv) {
		http_conn_init(e->http, &http_ops, e, e->info.open_ns);
	} else {
		upstream_call_init(e->up, &c->upstreams, e->key.tgid, e->target->key, &e->remote);
		http_conn_init(e->http, &upstream_ops, e->up, e->info.open_ns);
	}
	http_conn_count_inflations(e->http, &c->inflating);
	return 0;
}

/* The first record of a connection tells which parser reads it: a
 * client's Redis command, else HTTP. */
static int parser_start(struct collector *c, struct conn_entry *e, const struct data_event *ev)
{
	if (redis_track_claims(e, ev))
		return redis_track_start(e);
	return http_start(c, e);
}

/* ---- records ----------------------------------------------------------- */

static uint64_t owner_start(const struct open_event *ev)
{
	return proc_ticks_of_ns(ev->proc_start_ns);
}

/* comm: the event's, as the owner may be gone before /proc is read */
static void on_open(struct collector *c, const struct open_event *ev)
{
	char comm[sizeof(ev->comm) + 1];
	struct conn_entry *e;

	snprintf(comm, sizeof(comm), "%.*s", (int)sizeof(ev->comm), ev->comm);
	e = entry_add(c, &ev->key, &ev->info, owner_start(ev), comm);
	if (!e) {
		log_debug("connection %llu not followed: out of memory or duplicate id",
			  (unsigned long long)ev->info.id);
		return;
	}
	e->remote = ev->remote;
	if (ev->info.role == ROLE_SERVER && ev->info.sk) {
		e->out_seq0 = ev->out_seq;
		e->out_known = true;
	}
}

static void on_connect_failed(struct collector *c, const struct open_event *ev)
{
	char comm[sizeof(ev->comm) + 1];
	struct target *tg;

	snprintf(comm, sizeof(comm), "%.*s", (int)sizeof(ev->comm), ev->comm);
	tg = target_get(&c->targets, ev->key.tgid, owner_start(ev), comm);
	if (!tg)
		return;
	upstream_connect_failed(&c->upstreams, ev->key.tgid, tg->key, &ev->remote, ev->h.ts_ns);
	target_put(&c->targets, tg);
}

static bool looks_like_sse(const char *d, size_t n)
{
	return (n && d[0] == ':') || memmem(d, n, "data:", 5);
}

/* A connection found in /proc shows what it is with its first bytes: a
 * request, a response, SSE events of a stream under way, a Redis command
 * (parser_start took it), or none. A unix socket found so is a Redis
 * client's or nothing: the first bytes seen of a service's stdout stream
 * to journald, a log line, may well begin "GET ". */
static bool adopt_decide(struct collector *c, struct conn_entry *e, const struct data_event *ev)
{
	bool requests = conn_carries_requests(e, ev->dir);

	if (e->redis) {
		kernel_set_proto(c, e, PROTO_RESP);
		return true;
	}
	if (e->remote.family == AF_UNIX) {
		kernel_set_proto(c, e, PROTO_OTHER);
		return false;
	}
	if (!requests && looks_like_sse(ev->data, ev->len) &&
	    !http_looks_like_response(ev->data, ev->len)) {
		kernel_set_proto(c, e, PROTO_HTTP);
		http_conn_adopt(e->http, ev->data, ev->len, ev->h.ts_ns);
		return true;
	}
	if ((requests && http_looks_like_request(ev->data, ev->len)) ||
	    (!requests && http_looks_like_response(ev->data, ev->len))) {
		kernel_set_proto(c, e, PROTO_HTTP);
		return true;
	}
	kernel_set_proto(c, e, PROTO_OTHER);
	return false;
}

/* http_conn's ends are named by role in the exchange: for a client
 * connection the peer that went away is the responder. */
static enum http_end peer_closed(const struct conn_entry *e)
{
	return e->info.role == ROLE_SERVER ? HTTP_END_REQUESTER_CLOSED : HTTP_END_RESPONDER_CLOSED;
}

static enum http_end owner_closed(const struct conn_entry *e)
{
	if (e->info.role == ROLE_SERVER)
		return HTTP_END_RESPONDER_CLOSED;
	return e->peer_fin ? HTTP_END_RESPONDER_CLOSED : HTTP_END_REQUESTER_CLOSED;
}

/* EOF, EPIPE, ECONNRESET: the peer is gone; what was under way ends. A
 * failed write is the owner's own: no write of its is under way. */
static void peer_gone(struct conn_entry *e, const struct data_event *ev)
{
	enum http_end why = peer_closed(e);
	bool closes;

	if ((ev->flags & DATA_F_ERROR) && ev->ret != -EPIPE)
		why = HTTP_END_RESET;
	conn_finish_syscall(e, ev->h.ts_ns);
	if ((ev->flags & DATA_F_ERROR) && ev->dir == DIR_OUT)
		closes = kstream_settle(e->c, e, why, ev->h.ts_ns);
	else
		closes = kstream_client_left(e, why, ev->h.ts_ns);
	if (!closes)
		return;
	if (e->redis)
		redis_track_close(e, ev->h.ts_ns);
	else if (http_conn_busy(e->http))
		http_conn_close(e->http, why, ev->h.ts_ns);
}

/* Records of e were lost whole before this point (conn_event.h,
 * DATA_F_GAP; ev: the record that tells, NULL at the end): what was under
 * way is lost, the stream the kernel counted too if its end record was one
 * of them. */
static void records_lost(struct collector *c, struct conn_entry *e, const struct data_event *ev,
			 uint64_t ts)
{
	conn_gap(e, ev, ts);
	kstream_check_gap(c, e, ts);
}

/* The owner ends a TLS session: an exchange under way ends as at close(). */
static void owner_closing(struct conn_entry *e, uint64_t ts)
{
	conn_finish_syscall(e, ts);
	if (!kstream_settle(e->c, e, owner_closed(e), ts))
		return;
	if (e->redis)
		redis_track_close(e, ts);
	else if (http_conn_busy(e->http))
		http_conn_close(e->http, owner_closed(e), ts);
}

static void on_data(struct collector *c, const struct data_event *ev, size_t size)
{
	struct conn_entry *e;
	bool adopting;

	if (size < offsetof(struct data_event, data) + ev->len)
		return;
	e = ev->flags & DATA_F_HELD ? NULL : conn_table_find(&c->conns, ev->h.conn_id);
	/* PROTO_OTHER: found in /proc and not HTTP, or Redis out of sync;
	 * records of it from before the kernel was told are still coming */
	if (e && e->info.proto == PROTO_OTHER)
		e = NULL;
	/* before the start of a stream, which stops telling the bytes the
	 * copies owe: a head the client read before it left is owed */
	if (e)
		kstream_copy_arrives(e, ev);
	if (ev->kstart)
		kstream_on_start(c, ev);
	if (ev->flags & DATA_F_HELD) {
		tls_held_add(&c->held, ev, offsetof(struct data_event, data) + ev->len);
		return;
	}
	if (!e)
		return;
	adopting = !conn_followed(e) && e->info.proto == PROTO_ADOPT;
	if (!conn_followed(e) && parser_start(c, e, ev))
		return;
	if (ev->flags & DATA_F_GAP)
		records_lost(c, e, ev, ev->h.ts_ns);
	if (adopting && ev->len && !adopt_decide(c, e, ev)) {
		conn_drop_http(e);
		return;
	}
	if (conn_hold_tentative(e, ev))
		return;
	kstream_check_copy(c, e, ev);
	if (ev->flags & DATA_F_CLOSING)
		owner_closing(e, ev->h.ts_ns);
	else if (ev->flags & (DATA_F_EOF | DATA_F_ERROR))
		peer_gone(e, ev);
	else if (ev->flags & DATA_F_NOCOPY)
		conn_skip(e, DIR_OUT, ev->ret, ev->h.ts_ns);
	else
		conn_feed_bytes(e, ev);
}

static void replay_held(void *ctx, struct data_event *ev, size_t size)
{
	on_data(ctx, ev, size);
}

static void on_tls_link(struct collector *c, const struct tls_link_event *ev)
{
	tls_held_take(&c->held, ev->h.tgid, ev->ssl, ev->h.conn_id, ev->fd, replay_held, c);
}

static void on_close(struct collector *c, const struct close_event *ev)
{
	struct conn_entry *e = conn_table_find(&c->conns, ev->h.conn_id);

	if (!e)
		return;
	if (conn_followed(e) && ev->gap) /* e.g. its EOF record: the client left, or not */
		records_lost(c, e, NULL, ev->h.ts_ns);
	if (conn_followed(e))
		conn_finish_syscall(e, ev->h.ts_ns);
	if (!ev->detached)
		entry_end(c, e, owner_closed(e), ev->h.ts_ns);
	else if (e->key.tgid == ev->key.tgid && e->key.fd == ev->key.fd)
		entry_detach(c, e, ev->h.ts_ns);
	/* else another fd took it over before this record went out */
}

static void on_handoff(struct collector *c, const struct handoff_event *ev)
{
	struct conn_entry *e = conn_table_find(&c->conns, ev->h.conn_id);

	if (e)
		entry_attach(c, e, &ev->key);
}

static void end_process(struct collector *c, uint32_t tgid, enum http_end why, uint64_t ts)
{
	struct conn_entry *e, *next;
	size_t b;

	conn_table_for_each(&c->conns, b, e, next) {
		if (e->key.tgid != tgid)
			continue;
		if (conn_followed(e) && kernel_lost_records(c, e))
			records_lost(c, e, NULL, ts);
		kernel_forget(c, e);
		entry_end(c, e, why, ts);
	}
}

/* CLOSE_WAIT: the client sent FIN. CLOSE straight from ESTABLISHED or
 * CLOSE_WAIT, before the owner closed: a reset. */
static void on_sock_state(struct collector *c, const struct sock_state_event *ev)
{
	struct conn_entry *e = conn_table_find(&c->conns, ev->h.conn_id);
	enum http_end why;

	if (e && e->info.role == ROLE_CLIENT && ev->oldstate == TCP_SYN_SENT) {
		upstream_connect_failed(&c->upstreams, e->key.tgid, e->target->key, &e->remote,
					ev->h.ts_ns);
		return;
	}
	/* records lost before it: how the exchange under way went is unknown
	 * (e.g. the end of a stream, then the client's FIN) */
	if (e && ev->gap && conn_followed(e))
		records_lost(c, e, NULL, ev->h.ts_ns);
	if (!e || !e->http || !http_conn_busy(e->http))
		return;
	/* A provider's FIN may come before its last bytes are read: for a
	 * client the read of EOF tells, not the FIN. */
	if (ev->newstate == TCP_CLOSE_WAIT && e->info.role == ROLE_CLIENT) {
		e->peer_fin = true;
		return;
	}
	if (ev->newstate == TCP_CLOSE_WAIT)
		why = HTTP_END_REQUESTER_CLOSED;
	else if (ev->oldstate == TCP_ESTABLISHED || ev->oldstate == TCP_CLOSE_WAIT)
		why = HTTP_END_RESET;
	else
		return;
	conn_finish_syscall(e, ev->h.ts_ns);
	if (ev->out_valid)
		kstream_fin_seen(e, ev->out_seq);
	if (kstream_client_left(e, why, ev->h.ts_ns))
		http_conn_close(e->http, why, ev->h.ts_ns);
}

/* An executable to check for OpenSSL after the batch. Without memory it
 * waits for the next TLS scan. */
static void queue_exec(struct collector *c, pid_t tgid)
{
	if (array_reserve((void **)&c->execs, &c->execs_cap, c->nexecs + 1, sizeof(*c->execs)))
		return;
	c->execs[c->nexecs++] = tgid;
}

const pid_t *collector_take_execs(struct collector *c, size_t *n)
{
	*n = c->nexecs;
	c->nexecs = 0;
	return c->execs;
}

int collector_handle(void *ctx, void *data, size_t size)
{
	struct collector *c = ctx;
	const struct event_hdr *h = data;

	if (size < sizeof(*h))
		return 0;
	switch (h->type) {
	case EV_OPEN:
		if (size >= sizeof(struct open_event))
			on_open(c, data);
		break;
	case EV_CONNECT_FAIL:
		if (size >= sizeof(struct open_event))
			on_connect_failed(c, data);
		break;
	case EV_DATA:
		on_data(c, data, size);
		break;
	case EV_CLOSE:
		if (size >= sizeof(struct close_event))
			on_close(c, data);
		break;
	case EV_KSTREAM_END:
		if (size >= sizeof(struct kstream_end_event))
			kstream_on_end(c, data);
		break;
	case EV_HANDOFF:
		if (size >= sizeof(struct handoff_event))
			on_handoff(c, data);
		break;
	case EV_TLS_LINK:
		if (size >= sizeof(struct tls_link_event))
			on_tls_link(c, data);
		break;
	case EV_EXIT:
		end_process(c, h->tgid, HTTP_END_PROCESS_EXIT, h->ts_ns);
		targets_exit(&c->targets, h->tgid);
		break;
	case EV_SOCK_STATE:
		if (size >= sizeof(struct sock_state_event))
			on_sock_state(c, data);
		break;
	case EV_EXEC: /* another program: another name, maybe another environment */
		targets_exit(&c->targets, h->tgid);
		if (config_selective(c->cfg))
			kernel_select(c, h->tgid);
		if (c->cfg->tls && c->cfg->tls_scan_interval_s)
			queue_exec(c, h->tgid);
		break;
	}
	return 0;
}
