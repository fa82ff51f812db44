// SPDX-License-Identifier: MIT
/*
 * proto/http_conn, a whole connection: the requests (the input up to its
 * first NUL byte), then the responses (the rest), then the close, fed
 * whole and in pieces, must report the same exchanges, events and ends
 * in the same order, with the same fields and counts. Requests come at
 * one time and responses at another, so that times agree too.
 *
 * A side that lost sync (not HTTP, a broken head or framing) waits for a
 * read or write that starts a message (include/http_classify.h): that is
 * where syscalls cut the bytes, so split feeding may resynchronise where
 * the whole does not, and pair what follows otherwise: a run that did is
 * not compared. Others must lose the same sides.
 */
#include <string.h>

#include "fuzz.h"
#include "proto/http_conn.h"

#define T_REQUESTS  1000
#define T_RESPONSES 2000

struct run {
	struct http_conn c;
	size_t calls;
	uint64_t log; /* hash of every callback and what it saw */
	bool responses;
	bool lost[2];  /* the requests', the responses' side lost sync */
	bool resynced; /* a side started again after a loss */
};

static void note(struct run *r, const void *what, size_t len)
{
	r->calls++;
	r->log = fuzz_hash(r->log, what, len);
}

static void note_request(struct run *r, const struct http_request *q)
{
	FUZZ_CHECK(fuzz_printable(q->method, sizeof(q->method)) &&
		       fuzz_printable(q->path, sizeof(q->path)) &&
		       fuzz_printable(q->model, sizeof(q->model)) &&
		       fuzz_printable(q->host, sizeof(q->host)),
		   "a request's label is not printable");
	r->log = fuzz_hash(r->log, q->method, strlen(q->method) + 1);
	r->log = fuzz_hash(r->log, q->path, strlen(q->path) + 1);
	r->log = fuzz_hash(r->log, q->model, strlen(q->model) + 1);
	r->log = fuzz_hash(r->log, q->host, strlen(q->host) + 1);
}

static void on_response(void *ctx, const struct http_exchange *x)
{
	struct run *r = ctx;
	uint64_t what[] = {'R', x->has_request, x->status, x->sse, x->coding, x->t_headers};

	note(r, what, sizeof(what));
	if (x->has_request)
		note_request(r, &x->req);
}

/* Body bytes at an event are the split's (a piece is counted before its
 * events), so they are not compared there; event bytes are. */
static void on_event(void *ctx, const struct http_exchange *x, const struct sse_event *ev,
		     uint64_t ts, uint64_t prev)
{
	struct run *r = ctx;
	uint64_t what[] = {'E',	 ev->kind,	 ev->size,	ev->data_hash, ts,
			   prev, x->data_events, x->heartbeats, x->event_bytes};

	FUZZ_CHECK(x->event_bytes <= x->body_bytes, "events of %llu bytes in a body of %llu",
		   (unsigned long long)x->event_bytes, (unsigned long long)x->body_bytes);
	note(r, what, sizeof(what));
}

static void on_end(void *ctx, const struct http_exchange *x, enum http_end why, uint64_t ts)
{
	struct run *r = ctx;
	uint64_t what[] = {'X',
			   why,
			   ts,
			   x->has_request,
			   x->responded,
			   x->status,
			   x->data_events,
			   x->heartbeats,
			   x->body_bytes,
			   x->event_bytes,
			   x->req.complete,
			   x->req.missed};

	note(r, what, sizeof(what));
	if (x->has_request)
		note_request(r, &x->req);
}

static const struct http_conn_ops ops = {
    .response = on_response,
    .event = on_event,
    .end = on_end,
};

static void feed(void *arg, const uint8_t *buf, size_t off, size_t len)
{
	struct run *r = arg;
	struct http_conn *c = &r->c;
	const char *p = (const char *)buf + off;

	if (r->responses) {
		r->resynced |=
		    c->resp_state == SIDE_DEAD && !c->upgraded && http_looks_like_response(p, len);
		http_conn_response_bytes(c, p, len, T_RESPONSES);
	} else {
		r->resynced |=
		    c->req_state == SIDE_DEAD && !c->upgraded && http_looks_like_request(p, len);
		http_conn_request_bytes(c, p, len, T_REQUESTS);
	}
	r->lost[0] |= c->req_state == SIDE_DEAD;
	r->lost[1] |= c->resp_state == SIDE_DEAD;
}

static void run(void *arg, struct fuzz_split *s, const uint8_t *buf, size_t len)
{
	struct run *r = arg;
	const uint8_t *nul = memchr(buf, 0, len);
	size_t req_len = nul ? (size_t)(nul - buf) : len;

	memset(r, 0, sizeof(*r));
	r->log = FUZZ_HASH_INIT;
	http_conn_init(&r->c, &ops, r, 1);
	fuzz_feed(s, buf, req_len, feed, r);
	r->responses = true;
	if (nul)
		fuzz_feed(s, nul + 1, len - req_len - 1, feed, r);
	http_conn_close(&r->c, HTTP_END_RESPONDER_CLOSED, 3000);
	http_conn_release(&r->c);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct run whole, split;

	if (!fuzz_whole_and_split(data, size, run, &whole, &split))
		return 0;
	if (split.resynced)
		return 0;
	FUZZ_CHECK(whole.lost[0] == split.lost[0] && whole.lost[1] == split.lost[1],
		   "sides lost: whole %d %d, split %d %d", whole.lost[0], whole.lost[1],
		   split.lost[0], split.lost[1]);
	FUZZ_CHECK(whole.calls == split.calls && whole.log == split.log,
		   "%zu callbacks whole, %zu split (or what they saw differs)", whole.calls,
		   split.calls);
	return 0;
}
