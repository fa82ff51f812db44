// SPDX-License-Identifier: MIT
#include <errno.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/clock.h"
#include "core/log.h"
#include "ident/proc.h"
#include "kernel/kmaps.h"
#include "llm/correlate.h"
#include "track/collector.h"
#include "track/tentative_write.h"

#define TABLE_SIZE    16384
#define ADOPT_ID_BASE (1ull << 62) /* kernel ids count up from 1 */

struct conn_entry {
	struct conn_entry *next;
	struct collector *c;
	struct conn_key key;
	struct conn_info info;
	char service[SERVICE_NAME_MAX];
	struct http_conn *http; /* only once the connection shows HTTP */
	struct conn_addr remote;
	/* server: the stream's series and its upstream provider */
	struct metrics_stream stream;
	struct correlation corr;
	/* client: the calls it carries, and whether the server's FIN came
	 * before the owner closed (the server ended it, not the caller) */
	struct upstream_call *up;
	bool peer_fin;
	/* the syscall whose records are arriving */
	int64_t sys_ret;
	uint64_t sys_fed;
	uint8_t sys_dir;
	bool sys_open;
	struct tentative_write tentative; /* a TLS write that may be retried */
	/* sweeps that found the fd gone after the kernel saw it closed */
	uint8_t sweeps_gone;
};

/* ---- http_conn callbacks: a connection's exchanges become metrics ---- */

static void on_response(void *ctx, const struct http_exchange *x)
{
	struct conn_entry *e = ctx;

	corr_init(&e->corr);
	metrics_response(e->c->m, e->service, x, &e->stream);
}

/* Each data event of an inbound stream looks for the same data read from
 * an upstream call of the process, else notes the calls that could have
 * fed it (correlate.h). */
static void correlate(struct conn_entry *e, const struct http_exchange *x,
		      const struct sse_event *ev, uint64_t ts)
{
	const char *provider = NULL;

	if (e->stream.provider || !x->has_request)
		return;
	if (ev->data_hash != SSE_DATA_HASH_EMPTY)
		provider = corr_index_find(&e->c->upstreams.events, e->key.tgid, ev->data_hash, ts);
	if (provider)
		corr_match(&e->corr, provider);
	provider = corr_decide(&e->corr, false);
	if (provider)
		metrics_stream_provider(e->c->m, e->service, &e->stream, provider);
}

static void on_event(void *ctx, const struct http_exchange *x, const struct sse_event *ev,
		     uint64_t ts, uint64_t prev)
{
	struct conn_entry *e = ctx;

	if (ev->kind == SSE_EVENT_DATA)
		correlate(e, x, ev, ts);
	metrics_event(e->c->m, e->service, x, &e->stream, ev, ts, prev);
}

/* A request for a stream ends, answered with events or not (an error
 * relayed from a failed call): without a match by content, the calls of
 * the process that were busy meanwhile name the provider (correlate.h). */
static const char *provider_at_end(struct conn_entry *e, const struct http_exchange *x)
{
	if (e->stream.provider)
		return e->stream.provider;
	if (!x->has_request || !(x->sse || x->req.wants_stream))
		return NULL;
	if (!e->corr.matched)
		upstream_note_since(&e->c->upstreams, e->key.tgid, x->req.t_first, &e->corr);
	return corr_decide(&e->corr, true);
}

static void on_end(void *ctx, const struct http_exchange *x, enum http_end why, uint64_t ts)
{
	struct conn_entry *e = ctx;
	const char *provider = provider_at_end(e, x);

	if (x->sse && provider)
		metrics_stream_provider(e->c->m, e->service, &e->stream, provider);
	metrics_end(e->c->m, e->service, x, &e->stream, provider, why, ts);
}

static const struct http_conn_ops http_ops = {
    .response = on_response,
    .event = on_event,
    .end = on_end,
};

/* ---- the table of tracked connections, by id ------------------------ */

int collector_init(struct collector *c, struct metrics *m, pthread_mutex_t *lock, struct kmaps *km,
		   const struct config *cfg)
{
	memset(c, 0, sizeof(*c));
	c->m = m;
	c->lock = lock;
	c->km = km;
	c->cfg = cfg;
	c->table_size = TABLE_SIZE;
	c->next_adopt_id = ADOPT_ID_BASE;
	provider_map_init(&c->providers);
	for (size_t i = 0; i < cfg->nprovider_maps; i++) {
		const char *why = "";

		if (provider_map_add(&c->providers, cfg->provider_maps[i], &why)) {
			log_error("--provider.map=%s: %s", cfg->provider_maps[i], why);
			return -1;
		}
	}
	upstream_index_init(&c->upstreams, &m->up, &c->providers);
	tls_held_init(&c->held);
	c->by_id = calloc(TABLE_SIZE, sizeof(*c->by_id));
	return c->by_id ? 0 : -1;
}

static struct conn_entry **slot_of(struct collector *c, uint64_t id)
{
	struct conn_entry **p = &c->by_id[(id * 0x9e3779b97f4a7c15ull) % c->table_size];

	while (*p && (*p)->info.id != id)
		p = &(*p)->next;
	return p;
}

static struct conn_entry *find(struct collector *c, uint64_t id)
{
	return *slot_of(c, id);
}

static void entry_free(struct conn_entry *e)
{
	if (e->up)
		upstream_call_release(e->up);
	free(e->up);
	free(e->http);
	tentative_write_drop(&e->tentative);
	free(e);
}

void collector_free(struct collector *c)
{
	for (size_t i = 0; c->by_id && i < c->table_size; i++) {
		struct conn_entry *e = c->by_id[i], *next;

		for (; e; e = next) {
			next = e->next;
			entry_free(e);
		}
	}
	free(c->by_id);
	c->by_id = NULL;
	tls_held_free(&c->held);
	free(c->execs);
	c->execs = NULL;
	c->nexecs = c->execs_cap = 0;
}

static struct conn_entry *entry_add(struct collector *c, const struct conn_key *key,
				    const struct conn_info *info)
{
	struct conn_entry **slot = slot_of(c, info->id);
	struct conn_entry *e;

	if (*slot) /* ids are unique: a duplicate is a bug upstream */
		return NULL;
	e = calloc(1, sizeof(*e));
	if (!e)
		return NULL;
	e->c = c;
	e->key = *key;
	e->info = *info;
	proc_service_name(key->tgid, e->service, sizeof(e->service));
	*slot = e;
	c->nconns++;
	if (info->role == ROLE_SERVER)
		metrics_conn_open(c->m, e->service);
	return e;
}

/* Removes the kernel's entries too, unless the key was reused since. */
static void kernel_forget(struct collector *c, const struct conn_entry *e)
{
	struct conn_info cur;

	if (kmaps_lookup(c->km, KMAP_CONNS, &e->key, &cur) == 0 && cur.id == e->info.id) {
		kmaps_delete(c->km, KMAP_CONNS, &e->key);
		if (e->info.sk)
			kmaps_delete(c->km, KMAP_SOCK_OWNER, &e->info.sk);
	}
}

static void entry_end(struct collector *c, struct conn_entry *e, enum http_end why, uint64_t ts)
{
	struct conn_entry **slot = slot_of(c, e->info.id);

	if (e->http)
		http_conn_close(e->http, why, ts);
	if (e->info.role == ROLE_SERVER)
		metrics_conn_close(c->m, e->service);
	*slot = e->next;
	c->nconns--;
	entry_free(e);
}

/* An adopted connection the kernel found to be TLS stays TLS when its
 * plaintext shows HTTP: its bytes come from the library hooks. */
static void set_kernel_proto(struct collector *c, struct conn_entry *e, enum conn_proto proto)
{
	struct conn_info cur;

	e->info.proto = proto;
	if (kmaps_lookup(c->km, KMAP_CONNS, &e->key, &cur) || cur.id != e->info.id)
		return;
	if (cur.proto == PROTO_TLS && proto == PROTO_HTTP) {
		e->info.proto = PROTO_TLS;
		return;
	}
	cur.proto = proto;
	kmaps_update(c->km, KMAP_CONNS, &e->key, &cur, KMAP_EXIST);
}

/* ---- records ----------------------------------------------------------- */

/* The process's name, from the event when the process is gone already. */
static void service_of(const struct open_event *ev, char service[SERVICE_NAME_MAX])
{
	proc_service_name(ev->key.tgid, service, SERVICE_NAME_MAX);
	if (!strcmp(service, "unknown") && ev->comm[0])
		snprintf(service, SERVICE_NAME_MAX, "%.15s", ev->comm);
}

static void on_open(struct collector *c, const struct open_event *ev)
{
	struct conn_entry *e = entry_add(c, &ev->key, &ev->info);

	if (!e) {
		log_debug("connection %llu not followed: out of memory or duplicate id",
			  (unsigned long long)ev->info.id);
		return;
	}
	e->remote = ev->remote;
	/* a server's name is in the connection gauge already: keep it */
	if (e->info.role == ROLE_CLIENT && !strcmp(e->service, "unknown"))
		service_of(ev, e->service);
}

static void on_connect_failed(struct collector *c, const struct open_event *ev)
{
	char service[SERVICE_NAME_MAX];

	service_of(ev, service);
	upstream_connect_failed(&c->upstreams, ev->key.tgid, service, &ev->remote, ev->h.ts_ns);
}

static bool looks_like_sse(const char *d, size_t n)
{
	return (n && d[0] == ':') || memmem(d, n, "data:", 5);
}

/* Requests are what a server reads and what a client writes. */
static bool carries_requests(const struct conn_entry *e, uint8_t dir)
{
	return (dir == DIR_IN) == (e->info.role == ROLE_SERVER);
}

/* A connection found in /proc shows what it is with its first bytes: a
 * request, a response, SSE events of a stream under way, or none. */
static bool adopt_decide(struct collector *c, struct conn_entry *e, const struct data_event *ev)
{
	bool requests = carries_requests(e, ev->dir);

	if (!requests && looks_like_sse(ev->data, ev->len) &&
	    !http_looks_like_response(ev->data, ev->len)) {
		set_kernel_proto(c, e, PROTO_HTTP);
		http_conn_adopt(e->http, ev->data, ev->len, ev->h.ts_ns);
		return true;
	}
	if ((requests && http_looks_like_request(ev->data, ev->len)) ||
	    (!requests && http_looks_like_response(ev->data, ev->len))) {
		set_kernel_proto(c, e, PROTO_HTTP);
		return true;
	}
	set_kernel_proto(c, e, PROTO_OTHER);
	return false;
}

/* Bytes of one direction to the parser. */
static void feed(struct conn_entry *e, uint8_t dir, const char *buf, size_t len, uint64_t ts)
{
	if (carries_requests(e, dir))
		http_conn_in(e->http, buf, len, ts);
	else
		http_conn_out(e->http, buf, len, ts);
}

static void skip(struct conn_entry *e, uint8_t dir, uint64_t n, uint64_t ts)
{
	if (carries_requests(e, dir))
		http_conn_in_skip(e->http, n, ts);
	else
		http_conn_out_skip(e->http, n, ts);
}

/* Bytes of the previous syscall that never arrived: lost records or the
 * per-syscall cap. */
static void finish_syscall(struct conn_entry *e, uint64_t ts)
{
	if (e->sys_open && e->sys_ret > 0 && e->sys_fed < (uint64_t)e->sys_ret)
		skip(e, e->sys_dir, e->sys_ret - e->sys_fed, ts);
	e->sys_open = false;
}

static void feed_bytes(struct conn_entry *e, const struct data_event *ev)
{
	uint64_t ts = ev->h.ts_ns;

	if (ev->seg == 0) {
		finish_syscall(e, ts);
		e->sys_open = true;
		e->sys_ret = ev->ret;
		e->sys_fed = 0;
		e->sys_dir = ev->dir;
	}
	if (!e->sys_open || e->sys_dir != ev->dir || ev->offset < e->sys_fed)
		return;
	if (ev->offset > e->sys_fed)
		skip(e, ev->dir, ev->offset - e->sys_fed, ts);
	feed(e, ev->dir, ev->data, ev->len, ts);
	e->sys_fed = ev->offset + ev->len;
	if (e->sys_fed >= (uint64_t)ev->ret)
		e->sys_open = false;
}

/* A tentative write went out: its bytes are parsed as the call they were. */
static void commit_tentative(struct conn_entry *e)
{
	struct tentative_write *h = &e->tentative;

	finish_syscall(e, h->ts);
	feed(e, h->dir, h->buf, h->len, h->ts);
	if (h->ret > (int64_t)h->len)
		skip(e, h->dir, h->ret - h->len, h->ts);
	tentative_write_drop(h);
}

/* TLS writes made before the handshake finished wait for what follows
 * (tentative_write.h); a connection that ends first never sent them. Returns
 * true when ev was taken. */
static bool hold_tentative(struct conn_entry *e, const struct data_event *ev)
{
	struct tentative_write *h = &e->tentative;

	if (tentative_write_continue(h, ev))
		return true;
	if (h->buf) {
		if (tentative_write_retried_by(h, ev) ||
		    (ev->flags & (DATA_F_EOF | DATA_F_ERROR | DATA_F_CLOSING)))
			tentative_write_drop(h);
		else
			commit_tentative(e);
	}
	return tentative_write_is(ev) && tentative_write_start(h, ev) == 0;
}

/* http_conn's ends are named from the server's side: for a client
 * connection the peer that went away is the server. */
static enum http_end peer_closed(const struct conn_entry *e)
{
	return e->info.role == ROLE_SERVER ? HTTP_END_PEER_CLOSED : HTTP_END_SERVER_CLOSE;
}

static enum http_end owner_closed(const struct conn_entry *e)
{
	if (e->info.role == ROLE_SERVER)
		return HTTP_END_SERVER_CLOSE;
	return e->peer_fin ? HTTP_END_SERVER_CLOSE : HTTP_END_PEER_CLOSED;
}

/* EOF, EPIPE, ECONNRESET: the peer is gone; what was under way ends. */
static void peer_gone(struct conn_entry *e, const struct data_event *ev)
{
	enum http_end why = peer_closed(e);

	if ((ev->flags & DATA_F_ERROR) && ev->ret != -EPIPE)
		why = HTTP_END_RESET;
	finish_syscall(e, ev->h.ts_ns);
	if (http_conn_busy(e->http))
		http_conn_close(e->http, why, ev->h.ts_ns);
}

/* The owner ends a TLS session: an exchange under way ends as at close(). */
static void owner_closing(struct conn_entry *e, uint64_t ts)
{
	finish_syscall(e, ts);
	if (http_conn_busy(e->http))
		http_conn_close(e->http, owner_closed(e), ts);
}

/* The first bytes of a connection: its HTTP state, and for a client the
 * upstream call state its callbacks go to. */
static int http_start(struct collector *c, struct conn_entry *e)
{
	e->http = malloc(sizeof(*e->http));
	if (!e->http)
		return -1;
	if (e->info.role == ROLE_SERVER) {
		http_conn_init(e->http, &http_ops, e, e->info.open_ns);
		return 0;
	}
	e->up = malloc(sizeof(*e->up));
	if (!e->up) {
		free(e->http);
		e->http = NULL;
		return -1;
	}
	upstream_call_init(e->up, &c->upstreams, e->key.tgid, e->service, &e->remote);
	http_conn_init(e->http, &upstream_ops, e->up, e->info.open_ns);
	return 0;
}

static void on_data(struct collector *c, const struct data_event *ev, size_t size)
{
	struct conn_entry *e;
	bool adopting;

	if (size < offsetof(struct data_event, data) + ev->len)
		return;
	if (ev->flags & DATA_F_HELD) {
		tls_held_add(&c->held, ev, offsetof(struct data_event, data) + ev->len);
		return;
	}
	e = find(c, ev->h.conn_id);
	if (!e)
		return;
	adopting = !e->http && e->info.proto == PROTO_ADOPT;
	if (!e->http && http_start(c, e))
		return;
	if (adopting && ev->len && !adopt_decide(c, e, ev)) {
		free(e->http);
		e->http = NULL;
		return;
	}
	if (hold_tentative(e, ev))
		return;
	if (ev->flags & DATA_F_CLOSING)
		owner_closing(e, ev->h.ts_ns);
	else if (ev->flags & (DATA_F_EOF | DATA_F_ERROR))
		peer_gone(e, ev);
	else if (ev->flags & DATA_F_NOCOPY)
		skip(e, DIR_OUT, ev->ret, ev->h.ts_ns);
	else
		feed_bytes(e, ev);
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
	struct conn_entry *e = find(c, ev->h.conn_id);

	if (!e)
		return;
	if (e->http)
		finish_syscall(e, ev->h.ts_ns);
	entry_end(c, e, owner_closed(e), ev->h.ts_ns);
}

static void end_process(struct collector *c, uint32_t tgid, enum http_end why, uint64_t ts)
{
	for (size_t i = 0; i < c->table_size; i++) {
		struct conn_entry *e = c->by_id[i], *next;

		for (; e; e = next) {
			next = e->next;
			if (e->key.tgid != tgid)
				continue;
			kernel_forget(c, e);
			entry_end(c, e, why, ts);
		}
	}
}

/* CLOSE_WAIT: the client sent FIN. CLOSE straight from ESTABLISHED or
 * CLOSE_WAIT, before the owner closed: a reset. */
static void on_sock_state(struct collector *c, const struct sock_state_event *ev)
{
	struct conn_entry *e = find(c, ev->h.conn_id);
	enum http_end why;

	if (e && e->info.role == ROLE_CLIENT && ev->oldstate == TCP_SYN_SENT) {
		upstream_connect_failed(&c->upstreams, e->key.tgid, e->service, &e->remote,
					ev->h.ts_ns);
		return;
	}
	if (!e || !e->http || !http_conn_busy(e->http))
		return;
	/* A provider's FIN may come before its last bytes are read: for a
	 * client the read of EOF tells, not the FIN. */
	if (ev->newstate == TCP_CLOSE_WAIT && e->info.role == ROLE_CLIENT) {
		e->peer_fin = true;
		return;
	}
	if (ev->newstate == TCP_CLOSE_WAIT)
		why = HTTP_END_PEER_CLOSED;
	else if (ev->oldstate == TCP_ESTABLISHED || ev->oldstate == TCP_CLOSE_WAIT)
		why = HTTP_END_RESET;
	else
		return;
	finish_syscall(e, ev->h.ts_ns);
	http_conn_close(e->http, why, ev->h.ts_ns);
}

static bool selected_by_rules(const struct config *cfg, pid_t tgid)
{
	for (size_t i = 0; i < cfg->npids; i++)
		if (cfg->pids[i] == tgid)
			return true;
	return (cfg->nexes && proc_exe_matches(tgid, cfg->exes, cfg->nexes)) ||
	       (cfg->ncgroups && proc_cgroup_matches(tgid, cfg->cgroups, cfg->ncgroups));
}

static void select_tgid(struct collector *c, pid_t tgid)
{
	uint32_t key = tgid;
	uint8_t one = 1;

	if (selected_by_rules(c->cfg, tgid))
		kmaps_update(c->km, KMAP_ALLOWED_TGIDS, &key, &one, KMAP_ANY);
	else
		kmaps_delete(c->km, KMAP_ALLOWED_TGIDS, &key);
}

/* An executable to check for OpenSSL after the batch. Without memory it
 * waits for the next TLS scan. */
static void queue_exec(struct collector *c, pid_t tgid)
{
	if (c->nexecs == c->execs_cap) {
		size_t cap = c->execs_cap ? 2 * c->execs_cap : 64;
		pid_t *p = realloc(c->execs, cap * sizeof(*p));

		if (!p)
			return;
		c->execs = p;
		c->execs_cap = cap;
	}
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
		on_close(c, data);
		break;
	case EV_TLS_LINK:
		if (size >= sizeof(struct tls_link_event))
			on_tls_link(c, data);
		break;
	case EV_EXIT:
		end_process(c, h->tgid, HTTP_END_PROCESS_EXIT, h->ts_ns);
		break;
	case EV_SOCK_STATE:
		if (size >= sizeof(struct sock_state_event))
			on_sock_state(c, data);
		break;
	case EV_EXEC:
		if (config_selective(c->cfg))
			select_tgid(c, h->tgid);
		if (c->cfg->tls && c->cfg->tls_scan_interval_s)
			queue_exec(c, h->tgid);
		break;
	}
	return 0;
}

/* ---- start-up and housekeeping ----------------------------------------- */

static void select_cb(void *ctx, pid_t tgid)
{
	select_tgid(ctx, tgid);
}

void collector_select_initial(struct collector *c)
{
	uint8_t one = 1;

	for (size_t i = 0; i < c->cfg->nports; i++)
		kmaps_update(c->km, KMAP_ALLOWED_PORTS, &c->cfg->ports[i], &one, KMAP_ANY);
	if (c->cfg->npids || c->cfg->nexes || c->cfg->ncgroups)
		proc_for_each_tgid(select_cb, c);
}

static bool existing_selected(struct collector *c, pid_t tgid, uint16_t lport)
{
	uint32_t key = tgid;
	uint8_t v;

	if (tgid == getpid())
		return false;
	if (!config_selective(c->cfg))
		return true;
	return kmaps_lookup(c->km, KMAP_ALLOWED_TGIDS, &key, &v) == 0 ||
	       kmaps_lookup(c->km, KMAP_ALLOWED_PORTS, &lport, &v) == 0;
}

/* Sets bits of the kernel's gate in front of every read and write (this
 * process owns tracked connections) without clearing any: the word is
 * written only if bits are missing. A kernel accept setting another bit
 * of the word in between can be lost; the sweep re-asserts every owner. */
static void mark_bits(struct collector *c, uint32_t word, uint64_t want)
{
	uint64_t bits;

	if (kmaps_lookup(c->km, KMAP_PROCS, &word, &bits) || (bits & want) == want)
		return;
	bits |= want;
	kmaps_update(c->km, KMAP_PROCS, &word, &bits, KMAP_ANY);
}

static void mark_process(struct collector *c, uint32_t tgid)
{
	mark_bits(c, tgid / 64, 1ull << (tgid % 64));
}

/* Every process with connections in the table has its bit. */
static void remark_processes(struct collector *c)
{
	uint64_t *words = calloc(PID_BITMAP_WORDS, sizeof(*words));

	if (!words)
		return;
	for (size_t i = 0; i < c->table_size; i++)
		for (struct conn_entry *e = c->by_id[i]; e; e = e->next)
			if (e->key.tgid / 64 < PID_BITMAP_WORDS)
				words[e->key.tgid / 64] |= 1ull << (e->key.tgid % 64);
	for (uint32_t w = 0; w < PID_BITMAP_WORDS; w++)
		if (words[w])
			mark_bits(c, w, words[w]);
	free(words);
}

static void adopt_existing(void *ctx, pid_t tgid, int fd, const struct tcp_entry *t, bool accepted)
{
	struct collector *c = ctx;
	struct conn_key key = {.tgid = tgid, .fd = fd};
	struct conn_info info = {
	    .id = c->next_adopt_id,
	    .ino = t->inode,
	    .open_ns = mono_ns(),
	    .lport = t->lport,
	    .rport = t->rport,
	    .role = accepted ? ROLE_SERVER : ROLE_CLIENT,
	    .proto = PROTO_ADOPT,
	};
	struct conn_entry *e;
	uint64_t one = 1;

	if (!existing_selected(c, tgid, t->lport))
		return;
	/* BPF_NOEXIST: a connection accepted since we attached is the
	 * kernel's already, with better information */
	if (kmaps_update(c->km, KMAP_CONNS, &key, &info, KMAP_NOEXIST))
		return;
	c->next_adopt_id++;
	kmaps_update(c->km, KMAP_TRACKED_PROCS, &key.tgid, &one, KMAP_NOEXIST);
	mark_process(c, key.tgid);
	e = entry_add(c, &key, &info);
	if (e) /* a provider by address when a call fails before its head */
		e->remote = t->remote;
}

void collector_scan_existing(struct collector *c)
{
	size_t before;

	pthread_mutex_lock(c->lock);
	before = c->nconns;
	/* clients too: the kernel follows connects only from now on */
	proc_scan_established(adopt_existing, c);
	log_info("found %zu connections opened before start", c->nconns - before);
	pthread_mutex_unlock(c->lock);
}

/* The fd no longer holds the connection's socket. While the kernel still
 * maps the fd to this connection, no close() was seen: it went unseen
 * (dup2, close_range, a process gone). Otherwise the kernel saw the close,
 * and its event is still in the ring buffer behind the connection's last
 * records (user space lags under load): ending it now would lose the
 * exchange those records finish. A sweep later it is over, unless the
 * event was lost (counted as such). */
static bool closed_unseen(struct collector *c, struct conn_entry *e)
{
	struct conn_info cur;

	if (proc_socket_inode(e->key.tgid, e->key.fd) == e->info.ino)
		return false;
	if (kmaps_lookup(c->km, KMAP_CONNS, &e->key, &cur) == 0 && cur.id == e->info.id)
		return true;
	return ++e->sweeps_gone > 1;
}

void collector_sweep(struct collector *c)
{
	uint64_t ts = mono_ns();

	pthread_mutex_lock(c->lock);
	for (size_t i = 0; i < c->table_size; i++) {
		struct conn_entry *e = c->by_id[i], *next;

		for (; e; e = next) {
			next = e->next;
			if (!closed_unseen(c, e))
				continue;
			log_debug("connection %d/%d closed unseen", e->key.tgid, e->key.fd);
			kernel_forget(c, e);
			entry_end(c, e, HTTP_END_LOST_CLOSE, ts);
		}
	}
	remark_processes(c);
	tls_held_expire(&c->held, ts);
	pthread_mutex_unlock(c->lock);
}

/* The maps whose fill is exported. */
static const enum kmap filled[] = {
    KMAP_CONNS,	     KMAP_SOCK_OWNER,	 KMAP_TRACKED_PROCS,
    KMAP_CONNECTING, KMAP_ALLOWED_TGIDS, KMAP_ALLOWED_PORTS,
};

static void refresh_maps(struct collector *c)
{
	for (size_t i = 0; i < sizeof(filled) / sizeof(filled[0]); i++) {
		const char *const name[] = {c->km->name[filled[i]]};
		uint32_t entries = kmaps_entries(c->km, filled[i]);

		metric_set(c->m->map_entries, name, entries);
		metric_set(c->m->map_max, name, c->km->max_entries[filled[i]]);
		if (filled[i] == KMAP_TRACKED_PROCS)
			metric_set(c->m->tracked_procs, NULL, entries);
	}
}

void collector_refresh_self(struct collector *c)
{
	uint64_t cnt[CNT_MAX];

	if (kmaps_counters(c->km, cnt))
		return;
	pthread_mutex_lock(c->lock);
	metric_set(c->m->events_lost, NULL, cnt[CNT_EVENTS_LOST] + cnt[CNT_INFLIGHT_FULL]);
	metric_set(c->m->bytes_uncopied, NULL, cnt[CNT_BYTES_UNCOPIED]);
	metric_set(c->m->conns_untracked, NULL, cnt[CNT_CONNS_FULL]);
	metric_set(c->m->tls_unmapped, NULL, cnt[CNT_TLS_UNMAPPED] + c->held.dropped);
	refresh_maps(c);
	metrics_sync_caps(c->m);
	metrics_breakers_refresh(&c->m->up, mono_ns());
	pthread_mutex_unlock(c->lock);
}
