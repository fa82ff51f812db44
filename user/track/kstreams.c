// SPDX-License-Identifier: MIT
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "kernel/klines.h"
#include "track/conn_bytes.h"
#include "track/kstreams.h"

/* What the kernel counted since e's figures were last added. */
static void add_figures(struct collector *c, struct conn_entry *e, const struct sse_stats *now)
{
	struct conn_served *s = e->srv;

	http_conn_kernel_figures(e->http, now);
	metrics_stream_figures(c->m, e->target->key, &e->http->x, &s->stream, &s->kseen, now);
	s->kseen = *now;
}

/* Only a server's stream is (srv comes with its http). */
static bool counted_in_kernel(const struct conn_entry *e)
{
	return e->srv && http_conn_kernel_active(e->http);
}

/* The kernel stops counting e's stream (its mark goes with the entry:
 * the next write finds none and is copied). */
static void forget(struct collector *c, const struct conn_entry *e)
{
	klines_forget(c->km, e->info.id);
}

/* A close put off for the kernel's last figures (put_off) happens. */
static void close_put_off(struct conn_entry *e)
{
	struct conn_served *s = e->srv;

	if (!s || !s->kleft_ts)
		return;
	http_conn_close(e->http, s->kleft, s->kleft_ts);
	s->kleft_ts = 0;
}

/* e's stream ended in the kernel, its end record lost: the exchange is
 * lost, with the figures added so far. */
static void end_lost(struct collector *c, struct conn_entry *e, uint64_t ts)
{
	metrics_kstream_fallback(c->m, KSTREAM_FELL_END_LOST, 1);
	http_conn_kernel_end(e->http, &e->srv->kseen, HTTP_END_LOST_BYTES, ts);
	close_put_off(e);
}

void kstream_on_start(struct collector *c, const struct data_event *ev)
{
	struct conn_entry *e = conn_table_find(&c->conns, ev->h.conn_id);

	if (!e || !e->srv) { /* not a server's HTTP connection */
		klines_forget(c->km, ev->h.conn_id);
		return;
	}
	/* the kernel arms only a connection it no longer counts: the last
	 * stream ended; the entry is the new stream's, to keep */
	if (counted_in_kernel(e))
		end_lost(c, e, ev->h.ts_ns);
	http_conn_kernel_expect(e->http, ev->kstart);
	memset(&e->srv->kseen, 0, sizeof(e->srv->kseen));
	e->srv->kt_armed = ev->h.ts_ns; /* the kstreams entry's t_armed */
	e->srv->kpending = true;
	e->srv->kout_known = e->out_known;
	e->out_known = false; /* its writes leave no record until its end's */
}

void kstream_on_response(struct collector *c, struct conn_entry *e, const struct http_exchange *x)
{
	if (!e->srv->kpending)
		return;
	e->srv->kpending = false;
	if (x->kernel) {
		metric_add(c->m->kstreams, NULL, 1);
		return;
	}
	forget(c, e);
	metrics_kstream_fallback(c->m, KSTREAM_FELL_DISAGREEMENT, 1);
}

static enum http_end end_why(uint8_t reason)
{
	switch (reason) {
	case KSTREAM_COMPLETE:
		return HTTP_END_COMPLETE;
	case KSTREAM_FRAMING:
		return HTTP_END_LOST_FRAMING;
	default:
		return HTTP_END_LOST_BYTES;
	}
}

void kstream_on_end(struct collector *c, const struct kstream_end_event *ev)
{
	struct conn_entry *e = conn_table_find(&c->conns, ev->h.conn_id);
	struct conn_served *s;

	if (!e || !counted_in_kernel(e))
		return;
	s = e->srv;
	add_figures(c, e, &ev->stats);
	if (ev->reason == KSTREAM_FRAMING)
		metrics_kstream_fallback(c->m, KSTREAM_FELL_FRAMING, 1);
	else if (ev->reason != KSTREAM_COMPLETE)
		metrics_kstream_fallback(c->m, KSTREAM_FELL_UNFOLLOWED, 1);
	/* a body that ended after the client left ends as its leaving did
	 * (the owner closes after its own last write); one the client had
	 * whole when it left (it acknowledged every byte) is complete */
	if (s->kleft_ts && s->kleft != HTTP_END_RESPONDER_CLOSED &&
	    ev->reason == KSTREAM_COMPLETE && !ev->peer_had_all)
		http_conn_kernel_figures(e->http, &ev->stats);
	else
		http_conn_kernel_end(e->http, &ev->stats, end_why(ev->reason), ev->h.ts_ns);
	close_put_off(e);
	e->out_bytes += ev->wire_out;
	e->out_known = s->kout_known;
	/* the write the body ended in is copied when more followed it */
	s->kskip = ev->reason == KSTREAM_COMPLETE ? ev->rest_off : 0;
}

void kstream_check_copy(struct collector *c, struct conn_entry *e, const struct data_event *ev)
{
	uint8_t not_a_copy =
	    DATA_F_KCOUNTED | DATA_F_NOCOPY | DATA_F_ERROR | DATA_F_EOF | DATA_F_CLOSING;

	if (!counted_in_kernel(e) || (ev->flags & not_a_copy) || ev->ret <= 0 || ev->seg ||
	    conn_carries_requests(e, ev->dir))
		return;
	forget(c, e);
	end_lost(c, e, ev->h.ts_ns);
}

/* The kernel's figures of e's stream, if it still has them. */
static bool read_figures(struct collector *c, const struct conn_entry *e, struct kstream *ks)
{
	return klines_find(c->km, e->info.id, ks) != KLINE_NOWHERE;
}

void kstream_check_gap(struct collector *c, struct conn_entry *e, uint64_t ts)
{
	struct kstream ks;

	if (counted_in_kernel(e) && !read_figures(c, e, &ks))
		end_lost(c, e, ts);
}

/* The kernel's last figures of e's stream added and its counting
 * stopped; false if the kernel ended the stream, its end record still to
 * come. */
static bool settle_now(struct collector *c, struct conn_entry *e)
{
	struct kstream ks;

	if (!counted_in_kernel(e))
		return true;
	/* no entry, or a pipelined next response's: the kernel ended the
	 * stream, its end record is still to come */
	if (!read_figures(c, e, &ks) || ks.t_armed != e->srv->kt_armed)
		return false;
	/* the body ends here: an event the kernel holds for an LF counts as
	 * it is */
	sse_scan_release(&ks.scan, &ks.stats);
	add_figures(c, e, &ks.stats);
	forget(c, e);
	return true;
}

/* e's exchange is to end as why at ts once the kernel's figures are in
 * (the first such end is kept). */
static void put_off(struct conn_entry *e, enum http_end why, uint64_t ts)
{
	struct conn_served *s = e->srv;

	if (s->kleft_ts)
		return;
	s->kleft = why;
	s->kleft_ts = ts;
}

/* Whether writes the client had when it left are still to be copied. */
static bool copies_owed(const struct conn_entry *e)
{
	return e->srv && e->srv->fin_known && e->out_known &&
	       (int32_t)(e->srv->fin_out - e->out_bytes) > 0;
}

void kstream_fin_seen(struct conn_entry *e, uint32_t out_seq)
{
	if (!e->srv || e->srv->fin_known)
		return;
	e->srv->fin_out = out_seq - e->out_seq0;
	e->srv->fin_known = true;
}

void kstream_copy_arrives(struct conn_entry *e, const struct data_event *ev)
{
	if (ev->seg)
		return; /* a record of a call already counted */
	if (e->srv && e->srv->kleft_ts && !counted_in_kernel(e) && !copies_owed(e))
		close_put_off(e); /* this call came after the client left */
	if (ev->flags & DATA_F_GAP) {
		e->out_known = false;
		if (e->srv)
			e->srv->kout_known = false;
	} else if (ev->dir == DIR_OUT && ev->ret > 0)
		e->out_bytes += (uint32_t)ev->ret;
}

bool kstream_client_left(struct conn_entry *e, enum http_end why, uint64_t ts)
{
	if (!counted_in_kernel(e) && !copies_owed(e))
		return true;
	put_off(e, why, ts);
	return false;
}

bool kstream_settle(struct collector *c, struct conn_entry *e, enum http_end why, uint64_t ts)
{
	if (!settle_now(c, e)) {
		put_off(e, why, ts);
		return false;
	}
	close_put_off(e); /* the client left first */
	return true;
}

void kstream_close(struct collector *c, struct conn_entry *e, uint64_t ts)
{
	if (!settle_now(c, e)) {
		end_lost(c, e, ts);
		return;
	}
	close_put_off(e);
	if (e->srv && e->srv->kpending) /* armed, its head never read */
		forget(c, e);
}

/* Room for one more id in k. */
static bool ids_room(struct kstream_figures *k)
{
	size_t cap = k->cap ? 2 * k->cap : FIGURES_ROOM0;
	uint64_t *ids;

	if (k->nids < k->cap)
		return true;
	ids = realloc(k->ids, cap * sizeof(*ids));
	if (!ids)
		return false;
	k->ids = ids;
	k->cap = cap;
	return true;
}

/* The ids of the streams the kernel counts, as far as user space knows
 * (their start records read), under the lock. With no memory for more,
 * the others' figures wait for their ends or the next refresh. */
static void list_streams(struct collector *c)
{
	struct kstream_figures *k = &c->kread;
	struct conn_entry *e, *next;
	size_t b;

	k->nids = k->in_lines = 0;
	pthread_mutex_lock(c->lock);
	conn_table_for_each(&c->conns, b, e, next)
		if (counted_in_kernel(e) && ids_room(k))
			k->ids[k->nids++] = e->info.id;
	pthread_mutex_unlock(c->lock);
}

/* Lines are mapped: a stream that holds its line is read with no
 * syscall; one whose line another holds, with a lookup. */
size_t kstreams_read(struct collector *c, size_t from)
{
	struct kstream_figures *k = &c->kread;
	size_t n = 0;

	if (from == 0)
		list_streams(c);
	for (size_t i = from; i < k->nids && i < from + k->batch; i++) {
		enum kline_where at = klines_find(c->km, k->ids[i], &k->ks[n]);

		if (at == KLINE_NOWHERE)
			continue; /* ended: its end record tells */
		k->in_lines += at == KLINE_LINE;
		k->found[n++] = k->ids[i];
	}
	return n;
}

/* Whether figures read unlocked are of e's stream and newer than those
 * added already: its start and end records and a settle may have come
 * in between, and figures must never go backwards. */
static bool fresh_for(const struct conn_entry *e, const struct kstream *ks)
{
	return counted_in_kernel(e) && ks->t_armed == e->srv->kt_armed &&
	       ks->stats.t_last_write > e->srv->kseen.t_last_write;
}

/* Whether a close e put off has waited KLEFT_GRACE_NS by now. */
static bool grace_over(const struct conn_entry *e, uint64_t now)
{
	return e->srv && e->srv->kleft_ts && now >= e->srv->kleft_ts + KLEFT_GRACE_NS;
}

void kstreams_apply(struct collector *c, size_t n, uint64_t now)
{
	const uint64_t *ids = c->kread.found;
	const struct kstream *ks = c->kread.ks;

	for (size_t i = 0; i < n; i++) {
		struct conn_entry *e = conn_table_find(&c->conns, ids[i]);

		if (!e)
			continue;
		if (fresh_for(e, &ks[i]))
			add_figures(c, e, &ks[i].stats);
		if (grace_over(e, now))
			kstream_settle(c, e, e->srv->kleft, e->srv->kleft_ts);
	}
}

/* Closes put off for copies: each happens at the server's first call
 * after the copies it waited for, or here when the server makes none. */
static void copies_settle(struct collector *c, uint64_t now)
{
	struct conn_entry *e, *next;
	size_t b;

	conn_table_for_each(&c->conns, b, e, next)
		if (grace_over(e, now) && !counted_in_kernel(e))
			close_put_off(e);
}

/* A stream that ends between the read and the adding has its figures
 * from its end record, and one armed meanwhile waits for the next
 * refresh: figures read before newer ones were added are not added
 * again (fresh_for). */
size_t kstreams_refresh(struct collector *c, uint64_t now)
{
	size_t from = 0;

	do {
		size_t n = kstreams_read(c, from);

		pthread_mutex_lock(c->lock);
		kstreams_apply(c, n, now);
		pthread_mutex_unlock(c->lock);
		from += c->kread.batch;
	} while (from < c->kread.nids);
	pthread_mutex_lock(c->lock);
	copies_settle(c, now);
	pthread_mutex_unlock(c->lock);
	return c->kread.in_lines;
}
