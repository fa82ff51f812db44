// SPDX-License-Identifier: MIT
#include "track/conn_bytes.h"
#include "track/redis_track.h"

bool conn_carries_requests(const struct conn_entry *e, uint8_t dir)
{
	return (dir == DIR_IN) == (e->info.role == ROLE_SERVER);
}

/* Bytes of one direction to the parser. */
static void feed(struct conn_entry *e, uint8_t dir, const char *buf, size_t len, uint64_t ts)
{
	if (e->redis)
		redis_track_bytes(e, conn_carries_requests(e, dir), buf, len, ts);
	else if (conn_carries_requests(e, dir))
		http_conn_request_bytes(e->http, buf, len, ts);
	else
		http_conn_response_bytes(e->http, buf, len, ts);
}

void conn_skip(struct conn_entry *e, uint8_t dir, uint64_t n, uint64_t ts)
{
	if (e->redis)
		redis_track_skip(e, conn_carries_requests(e, dir), n, ts);
	else if (conn_carries_requests(e, dir))
		http_conn_request_gap(e->http, n, ts);
	else
		http_conn_response_gap(e->http, n, ts);
}

/* Bytes of the previous syscall that never arrived: lost records or the
 * per-syscall cap. */
void conn_finish_syscall(struct conn_entry *e, uint64_t ts)
{
	if (e->sys_open && e->sys_ret > 0 && e->sys_fed < (uint64_t)e->sys_ret)
		conn_skip(e, e->sys_dir, e->sys_ret - e->sys_fed, ts);
	e->sys_open = false;
}

void conn_feed_bytes(struct conn_entry *e, const struct data_event *ev)
{
	uint64_t ts = ev->h.ts_ns;

	uint64_t from;

	if (ev->seg == 0) {
		conn_finish_syscall(e, ts);
		e->sys_open = true;
		e->sys_ret = ev->ret;
		e->sys_fed = 0;
		e->sys_dir = ev->dir;
		if (e->srv && !conn_carries_requests(e, ev->dir)) {
			e->sys_fed = e->srv->kskip; /* the end of a body the kernel counted */
			e->srv->kskip = 0;
		}
	}
	if (!e->sys_open || e->sys_dir != ev->dir || ev->offset + ev->len <= e->sys_fed)
		return;
	if (ev->offset > e->sys_fed)
		conn_skip(e, ev->dir, ev->offset - e->sys_fed, ts);
	from = ev->offset < e->sys_fed ? e->sys_fed - ev->offset : 0;
	feed(e, ev->dir, ev->data + from, ev->len - from, ts);
	e->sys_fed = ev->offset + ev->len;
	if (e->sys_fed >= (uint64_t)ev->ret)
		e->sys_open = false;
}

/* A tentative write went out: its bytes are parsed as the call they were. */
static void commit_tentative(struct conn_entry *e)
{
	struct tentative_write *h = &e->tentative;

	conn_finish_syscall(e, h->ts);
	feed(e, h->dir, h->buf, h->len, h->ts);
	if (h->ret > (int64_t)h->len)
		conn_skip(e, h->dir, h->ret - h->len, h->ts);
	tentative_write_drop(h);
}

/* A held write settles by the record after it: repeated by it, it
 * failed; a connection that ends before it settles never sent it;
 * anything else shows it went out. */
static void settle_tentative(struct conn_entry *e, const struct data_event *ev)
{
	struct tentative_write *h = &e->tentative;

	if (!h->buf)
		return;
	if (tentative_write_retried_by(h, ev) ||
	    (ev->flags & (DATA_F_EOF | DATA_F_ERROR | DATA_F_CLOSING)))
		tentative_write_drop(h);
	else
		commit_tentative(e);
}

bool conn_hold_tentative(struct conn_entry *e, const struct data_event *ev)
{
	struct tentative_write *h = &e->tentative;

	if (tentative_write_continue(h, ev))
		return true;
	settle_tentative(e, ev);
	return tentative_write_is(ev) && tentative_write_start(h, ev) == 0;
}

void conn_gap(struct conn_entry *e, const struct data_event *ev, uint64_t ts)
{
	if (ev) /* a held write came before the lost records */
		settle_tentative(e, ev);
	conn_finish_syscall(e, ts);
	if (e->redis)
		redis_track_gap(e, ts);
	else
		http_conn_gap(e->http, ts);
}
