// SPDX-License-Identifier: MIT
/* Unit tests of the per-connection HTTP/1.x exchange state machine. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "proto/http_conn.h"
#include "compress.h"

#define REC_MAX 32

/* ---- a recorder of the callbacks ---- */

struct rec_event {
	enum sse_event_kind kind;
	uint64_t size;
	uint64_t ts;
	uint64_t prev;
	uint64_t data_events; /* x->data_events when reported */
	uint64_t heartbeats;
};

struct rec_end {
	struct http_exchange x;
	enum http_end why;
	uint64_t ts;
};

struct rec {
	struct http_exchange resp[REC_MAX];
	size_t nresp;
	struct rec_event ev[REC_MAX * 4];
	size_t nev;
	struct rec_end end[REC_MAX];
	size_t nend;
	char order[REC_MAX * 8]; /* 'R' response, 'E' event, 'X' end */
	size_t norder;
};

static void note(struct rec *r, char what)
{
	assert_true(r->norder + 1 < sizeof(r->order));
	r->order[r->norder++] = what;
	r->order[r->norder] = '\0';
}

static void on_response(void *ctx, const struct http_exchange *x)
{
	struct rec *r = ctx;

	assert_true(r->nresp < REC_MAX);
	r->resp[r->nresp++] = *x;
	note(r, 'R');
}

static void on_event(void *ctx, const struct http_exchange *x, const struct sse_event *ev,
		     uint64_t ts, uint64_t prev)
{
	struct rec *r = ctx;
	struct rec_event *e;

	assert_true(r->nev < REC_MAX * 4);
	e = &r->ev[r->nev++];
	e->kind = ev->kind;
	e->size = ev->size;
	e->ts = ts;
	e->prev = prev;
	e->data_events = x->data_events;
	e->heartbeats = x->heartbeats;
	note(r, 'E');
}

static void on_end(void *ctx, const struct http_exchange *x, enum http_end why, uint64_t ts)
{
	struct rec *r = ctx;

	assert_true(r->nend < REC_MAX);
	r->end[r->nend].x = *x;
	r->end[r->nend].why = why;
	r->end[r->nend].ts = ts;
	r->nend++;
	note(r, 'X');
}

static const struct http_conn_ops ops = {
    .response = on_response,
    .event = on_event,
    .end = on_end,
};

struct fixture {
	struct http_conn c;
	struct rec r;
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	if (!f)
		return -1;
	http_conn_init(&f->c, &ops, &f->r, 100);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	http_conn_release(&f->c);
	free(f);
	return 0;
}

static void in(struct fixture *f, const char *s, uint64_t ts)
{
	http_conn_request_bytes(&f->c, s, strlen(s), ts);
}

static void out(struct fixture *f, const char *s, uint64_t ts)
{
	http_conn_response_bytes(&f->c, s, strlen(s), ts);
}

/* The i-th event reported is of that kind and size, at ts. */
static void assert_event(const struct rec *r, size_t i, enum sse_event_kind kind, uint64_t size,
			 uint64_t ts)
{
	assert_true(i < r->nev);
	assert_int_equal(r->ev[i].kind, kind);
	assert_int_equal(r->ev[i].size, size);
	assert_int_equal(r->ev[i].ts, ts);
}

/* ---- messages ---- */

#define SSE_HEAD                                                                                   \
	"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nCache-Control: no-cache\r\n"        \
	"Transfer-Encoding: chunked\r\n\r\n"

static const char chat_body[] = "{\"model\":\"gpt-4o\",\"messages\":[],\"stream\":true}";

/* A POST with chat_body; returns its length. */
static size_t chat_request(char *buf, size_t size, const char *target)
{
	int n = snprintf(buf, size,
			 "POST %s HTTP/1.1\r\nHost: api.local\r\nContent-Type: application/json\r\n"
			 "Content-Length: %zu\r\n\r\n%s",
			 target, strlen(chat_body), chat_body);

	assert_true(n > 0 && (size_t)n < size);
	return n;
}

static void get(struct fixture *f, const char *path, uint64_t ts)
{
	char buf[256];

	snprintf(buf, sizeof(buf), "GET %s HTTP/1.1\r\nHost: x\r\n\r\n", path);
	in(f, buf, ts);
}

/* One chunk of chunked coding around data. */
static const char *chunk(const char *data)
{
	static char buf[4][512];
	static int k;
	char *b = buf[k++ % 4];

	snprintf(b, sizeof(buf[0]), "%zx\r\n%s\r\n", strlen(data), data);
	return b;
}

/* ---- a whole streamed chat completion ---- */

static void test_chunked_sse_exchange(void **state)
{
	struct fixture *f = *state;
	char req[512];
	size_t n = chat_request(req, sizeof(req), "/v1/chat/completions?trace=1");

	/* the request in three reads: inside the head, inside the body */
	http_conn_request_bytes(&f->c, req, 20, 1000);
	http_conn_request_bytes(&f->c, req + 20, n - 20 - 10, 1001);
	assert_int_equal(f->r.nresp, 0);
	http_conn_request_bytes(&f->c, req + n - 10, 10, 1002);
	assert_true(http_conn_busy(&f->c)); /* a request waits for its answer */

	out(f, SSE_HEAD, 2000);
	assert_int_equal(f->r.nresp, 1);
	/* one event split inside the chunk-size line and inside the data */
	out(f, "9\r", 3000);
	out(f, "\ndata: ", 3001);
	assert_int_equal(f->r.nev, 0);
	out(f, "a\n\n\r\n", 3002);
	out(f, chunk(": ping\n\n"), 4000);
	out(f, chunk("data: b\r\n\r\n"), 5000);
	assert_int_equal(f->r.nend, 0);
	out(f, "0\r\n\r\n", 6000);

	assert_string_equal(f->r.order, "REEEX");
	/* the response */
	assert_int_equal(f->r.resp[0].status, 200);
	assert_true(f->r.resp[0].sse);
	assert_true(f->r.resp[0].responded);
	assert_true(f->r.resp[0].has_request);
	assert_string_equal(f->r.resp[0].req.method, "POST");
	assert_string_equal(f->r.resp[0].req.path, "/v1/chat/completions");
	assert_string_equal(f->r.resp[0].req.model, "gpt-4o");
	assert_true(f->r.resp[0].req.wants_stream);
	assert_true(f->r.resp[0].req.first_of_conn);
	assert_true(f->r.resp[0].req.complete);
	assert_int_equal(f->r.resp[0].req.t_first, 1000);
	assert_int_equal(f->r.resp[0].req.t_last, 1002);
	assert_int_equal(f->r.resp[0].t_accept, 100);
	assert_int_equal(f->r.resp[0].t_headers, 2000);
	/* the events */
	assert_event(&f->r, 0, SSE_EVENT_DATA, 9, 3002);
	assert_int_equal(f->r.ev[0].prev, 0);
	assert_int_equal(f->r.ev[0].data_events, 1);
	assert_event(&f->r, 1, SSE_EVENT_HEARTBEAT, 8, 4000);
	assert_int_equal(f->r.ev[1].heartbeats, 1);
	assert_event(&f->r, 2, SSE_EVENT_DATA, 11, 5000);
	assert_int_equal(f->r.ev[2].prev, 3002);
	assert_int_equal(f->r.ev[2].data_events, 2);
	/* the end, at the final chunk's timestamp */
	assert_int_equal(f->r.end[0].why, HTTP_END_COMPLETE);
	assert_int_equal(f->r.end[0].ts, 6000);
	assert_int_equal(f->r.end[0].x.data_events, 2);
	assert_int_equal(f->r.end[0].x.heartbeats, 1);
	assert_int_equal(f->r.end[0].x.body_bytes, 28);
	assert_int_equal(f->r.end[0].x.event_bytes, 28);
	assert_int_equal(f->r.end[0].x.t_first_data, 3002);
	assert_int_equal(f->r.end[0].x.t_last_event, 5000);
	assert_int_equal(f->r.end[0].x.t_last_write, 6000);
	assert_false(http_conn_busy(&f->c));
}

/* Fed one byte at a time, with a timestamp per byte: same story. */
static void test_chunked_sse_bytewise(void **state)
{
	struct fixture *f = *state;
	char req[512], resp[512];
	size_t n = chat_request(req, sizeof(req), "/v1/chat/completions");
	uint64_t ts = 1000;
	size_t m;

	m = (size_t)snprintf(resp, sizeof(resp), "%s%s%s%s0\r\n\r\n", SSE_HEAD,
			     chunk("data: a\r\n\r\n"), chunk(":hb\r\n\r\n"),
			     chunk("event: x\r\ndata: b\r\n\r\n"));
	for (size_t i = 0; i < n; i++)
		http_conn_request_bytes(&f->c, req + i, 1, ts++);
	for (size_t i = 0; i < m; i++)
		http_conn_response_bytes(&f->c, resp + i, 1, ts++);
	assert_string_equal(f->r.order, "REEEX");
	assert_int_equal(f->r.resp[0].req.t_first, 1000);
	assert_int_equal(f->r.resp[0].req.t_last, 1000 + n - 1);
	assert_string_equal(f->r.resp[0].req.model, "gpt-4o");
	assert_int_equal(f->r.ev[0].kind, SSE_EVENT_DATA);
	assert_int_equal(f->r.ev[1].kind, SSE_EVENT_HEARTBEAT);
	assert_int_equal(f->r.ev[2].kind, SSE_EVENT_DATA);
	assert_int_equal(f->r.ev[2].prev, f->r.ev[0].ts);
	assert_int_equal(f->r.end[0].why, HTTP_END_COMPLETE);
	assert_int_equal(f->r.end[0].ts, ts - 1);
	assert_int_equal(f->r.end[0].x.body_bytes, 11 + 7 + 21);
	assert_int_equal(f->r.end[0].x.data_events, 2);
}

/* The whole response in one write. */
static void test_chunked_sse_one_write(void **state)
{
	struct fixture *f = *state;
	char resp[512];

	get(f, "/events", 1000);
	snprintf(resp, sizeof(resp), "%s%s%s0\r\n\r\n", SSE_HEAD, chunk("data: 1\n\ndata: 2\n\n"),
		 chunk("data: 3\n\n"));
	out(f, resp, 2000);
	assert_string_equal(f->r.order, "REEEX");
	for (size_t i = 0; i < 3; i++) {
		assert_int_equal(f->r.ev[i].kind, SSE_EVENT_DATA);
		assert_int_equal(f->r.ev[i].ts, 2000);
	}
	assert_int_equal(f->r.ev[0].prev, 0);
	assert_int_equal(f->r.ev[1].prev, 2000);
	assert_int_equal(f->r.end[0].ts, 2000);
	assert_string_equal(f->r.end[0].x.req.path, "/events");
	assert_string_equal(f->r.end[0].x.req.method, "GET");
}

/* ---- compressed event streams ---- */

#define CODED_HEAD(coding)                                                                         \
	"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nContent-Encoding: " coding          \
	"\r\nTransfer-Encoding: chunked\r\n\r\n"

static const char *const coded_events[] = {"data: a\n\n", ":hb\n\n", "data: b\r\n\r\n"};

#define CODED_EVENTS (sizeof(coded_events) / sizeof(coded_events[0]))

/* The events compressed as a server that flushes each one does
 * (Z_SYNC_FLUSH; the last Z_FINISH), each piece a chunk of its own in
 * out[] (piece_end[i]: where piece i's chunk ends; *coded: the
 * compressed bytes in all); returns the bytes of the whole body, the
 * last chunk included. */
static size_t coded_body(int bits, unsigned char *out, size_t size, size_t piece_end[],
			 size_t *coded)
{
	unsigned char z_out[256];
	size_t used = 0;
	z_stream z;

	memset(&z, 0, sizeof(z));
	assert_int_equal(deflateInit2(&z, 9, Z_DEFLATED, bits, 8, Z_DEFAULT_STRATEGY), Z_OK);
	for (size_t i = 0; i < CODED_EVENTS; i++) {
		size_t n;
		int last = i + 1 == CODED_EVENTS;

		z.next_in = (Bytef *)coded_events[i];
		z.avail_in = (uInt)strlen(coded_events[i]);
		z.next_out = z_out;
		z.avail_out = sizeof(z_out);
		assert_true(deflate(&z, last ? Z_FINISH : Z_SYNC_FLUSH) >= Z_OK);
		n = sizeof(z_out) - z.avail_out;
		used += (size_t)snprintf((char *)out + used, size - used, "%zx\r\n", n);
		assert_true(used + n + 2 < size);
		memcpy(out + used, z_out, n);
		used += n;
		*coded += n;
		memcpy(out + used, "\r\n", 2);
		piece_end[i] = used += 2;
	}
	deflateEnd(&z);
	assert_true(used + 5 < size);
	memcpy(out + used, "0\r\n\r\n", 5);
	return used + 5;
}

/* A gzip or deflate stream's events are counted from its inflated
 * bytes, whatever the split of the writes, with the events' own sizes;
 * written a byte at a time, each at the time of the piece that brought
 * it (a longer write may bring two). */
static void check_coded_stream(struct fixture *f, const char *head, int bits, size_t step)
{
	unsigned char body[1024];
	size_t piece_end[CODED_EVENTS], coded = 0;
	size_t n = coded_body(bits, body, sizeof(body), piece_end, &coded);
	uint64_t ts = 2000;

	get(f, "/events", 1000);
	out(f, head, ts);
	for (size_t at = 0, p = 0; at < n; at += step) {
		size_t len = n - at < step ? n - at : step;

		while (p < CODED_EVENTS && at >= piece_end[p])
			p++;
		http_conn_response_bytes(&f->c, (const char *)body + at, len, ts + p);
	}
	assert_string_equal(f->r.order, "REEEX");
	for (size_t i = 0; i < CODED_EVENTS; i++) {
		const struct rec_event *e = &f->r.ev[i];

		assert_int_equal(e->kind, i == 1 ? SSE_EVENT_HEARTBEAT : SSE_EVENT_DATA);
		assert_int_equal(e->size, strlen(coded_events[i]));
		/* a write that brings a piece began in it or before it */
		assert_true(step == 1 ? e->ts == ts + i : e->ts <= ts + i);
		assert_true(e->ts >= (i ? f->r.ev[i - 1].ts : ts));
	}
	assert_int_equal(f->r.end[0].why, HTTP_END_COMPLETE);
	assert_int_equal(f->r.end[0].x.data_events, 2);
	/* the body's bytes as written; none counted by the events' sizes */
	assert_int_equal(f->r.end[0].x.body_bytes, coded);
	assert_int_equal(f->r.end[0].x.event_bytes, 0);
	assert_null(f->c.inflate);
}

static void test_gzip_stream_split_everywhere(void **state)
{
	struct fixture *f = *state;

	for (size_t step = 1; step <= 64; step++) {
		check_coded_stream(f, CODED_HEAD("gzip"), GZIP_BITS, step);
		teardown(state);
		setup(state);
		f = *state;
	}
}

static void test_deflate_stream(void **state)
{
	check_coded_stream(*state, CODED_HEAD("deflate"), ZLIB_BITS, 1000);
}

static void test_raw_deflate_stream(void **state)
{
	check_coded_stream(*state, CODED_HEAD("deflate"), RAW_BITS, 7);
}

/* Brotli is not decoded: the stream is counted, its events are not (its
 * bytes are no events to split). */
static void test_brotli_stream_not_split(void **state)
{
	struct fixture *f = *state;
	char resp[512];

	get(f, "/events", 1000);
	snprintf(resp, sizeof(resp), "%s%s0\r\n\r\n", CODED_HEAD("br"),
		 chunk("data: x\n\ndata: y\n\n"));
	out(f, resp, 2000);
	assert_string_equal(f->r.order, "RX");
	assert_int_equal(f->r.end[0].why, HTTP_END_COMPLETE);
	assert_int_equal(f->r.end[0].x.data_events, 0);
	assert_int_equal(f->r.end[0].x.undecoded, HTTP_UNDECODED_BR);
}

/* Bytes that are no gzip: no events from there on, the inflation freed,
 * the stream counted with the reason. */
static void test_gzip_stream_not_gzip(void **state)
{
	struct fixture *f = *state;
	char resp[512];

	get(f, "/events", 1000);
	snprintf(resp, sizeof(resp), "%s%s", CODED_HEAD("gzip"), chunk("data: x\n\n"));
	out(f, resp, 2000);
	assert_null(f->c.inflate);
	out(f, "0\r\n\r\n", 2001);
	assert_string_equal(f->r.order, "RX");
	assert_int_equal(f->r.end[0].x.undecoded, HTTP_UNDECODED_INFLATE);
}

/* The connections of one owner inflate HTTP_INFLATING_MAX streams at
 * once: one more is counted without its events, and says so. */
static void test_inflations_bounded(void **state)
{
	struct fixture *f = *state;
	unsigned char body[1024];
	size_t piece_end[CODED_EVENTS], coded = 0;
	size_t n = coded_body(GZIP_BITS, body, sizeof(body), piece_end, &coded);
	unsigned int inflating = 0;

	http_conn_count_inflations(&f->c, &inflating);
	get(f, "/events", 1000);
	out(f, CODED_HEAD("gzip"), 2000);
	assert_int_equal(inflating, 1);
	http_conn_response_bytes(&f->c, (const char *)body, n, 2001);
	assert_int_equal(inflating, 0);
	assert_int_equal(f->r.end[0].x.data_events, 2);
	assert_int_equal(f->r.end[0].x.undecoded, HTTP_DECODED);

	inflating = HTTP_INFLATING_MAX;
	get(f, "/events", 3000);
	out(f, CODED_HEAD("gzip"), 4000);
	http_conn_response_bytes(&f->c, (const char *)body, n, 4001);
	assert_int_equal(inflating, HTTP_INFLATING_MAX);
	assert_int_equal(f->r.nend, 2);
	assert_int_equal(f->r.end[1].x.data_events, 0);
	assert_int_equal(f->r.end[1].x.undecoded, HTTP_UNDECODED_LIMIT);
}

/* A compressed stream cut short: its inflation is freed with it. */
static void test_gzip_stream_lost_frees_inflation(void **state)
{
	struct fixture *f = *state;
	unsigned char body[1024];
	size_t piece_end[CODED_EVENTS], coded = 0;

	coded_body(GZIP_BITS, body, sizeof(body), piece_end, &coded);
	get(f, "/events", 1000);
	out(f, CODED_HEAD("gzip"), 2000);
	http_conn_response_bytes(&f->c, (const char *)body, piece_end[0], 2001);
	assert_non_null(f->c.inflate);
	assert_string_equal(f->r.order, "RE");
	http_conn_response_gap(&f->c, 10, 2002);
	assert_null(f->c.inflate);
	assert_int_equal(f->r.end[0].x.data_events, 1);
}

/* The CRLF of a blank line cut between chunks of writes of their own:
 * the LF is the ended event's, its time the CR's write; the body's last
 * chunk ends an event that was waiting for an LF. */
static void test_event_end_crlf_cut(void **state)
{
	struct fixture *f = *state;

	get(f, "/events", 1000);
	out(f, SSE_HEAD, 2000);
	out(f, chunk("data: a\r\n\r"), 3000);
	assert_int_equal(f->r.nev, 0); /* an LF may follow */
	out(f, chunk("\n: hb\r\n\r"), 4000);
	out(f, chunk("\ndata: b\r\n\r"), 5000);
	assert_int_equal(f->r.nev, 2);
	out(f, "0\r\n\r\n", 6000);
	assert_string_equal(f->r.order, "REEEX");
	assert_event(&f->r, 0, SSE_EVENT_DATA, 11, 3000);
	assert_event(&f->r, 1, SSE_EVENT_HEARTBEAT, 8, 4000);
	assert_event(&f->r, 2, SSE_EVENT_DATA, 10, 5000);
	assert_int_equal(f->r.ev[2].prev, 3000);
	assert_int_equal(f->r.end[0].why, HTTP_END_COMPLETE);
	assert_int_equal(f->r.end[0].x.data_events, 2);
	assert_int_equal(f->r.end[0].x.heartbeats, 1);
	assert_int_equal(f->r.end[0].x.event_bytes, 29);
	assert_int_equal(f->r.end[0].x.body_bytes, 29);
	assert_int_equal(f->r.end[0].x.t_first_data, 3000);
	assert_int_equal(f->r.end[0].x.t_last_event, 5000);
}

/* A body the close delimits ends right after a blank line's CR: the
 * close ends the event, at the CR's time. */
static void test_close_ends_event_after_cr(void **state)
{
	struct fixture *f = *state;
	static const char body[] = "data: a\r\r";

	http_conn_adopt(&f->c, body, strlen(body), 1000);
	out(f, body, 1000);
	assert_int_equal(f->r.nev, 0);
	http_conn_close(&f->c, HTTP_END_RESPONDER_CLOSED, 2000);
	assert_string_equal(f->r.order, "REX");
	assert_event(&f->r, 0, SSE_EVENT_DATA, 9, 1000);
	assert_int_equal(f->r.end[0].why, HTTP_END_COMPLETE);
	assert_int_equal(f->r.end[0].x.data_events, 1);
	assert_int_equal(f->r.end[0].x.t_last_event, 1000);
}

/* Chunk extensions and a trailer section do not disturb the events. */
static void test_chunk_extension_and_trailer(void **state)
{
	struct fixture *f = *state;

	get(f, "/e", 1000);
	out(f, SSE_HEAD, 2000);
	out(f, "9;name=val\r\ndata: a\n\n\r\n", 3000);
	out(f, "0\r\nX-Trailer: 1\r\n", 4000);
	assert_int_equal(f->r.nend, 0);
	out(f, "\r\n", 5000);
	assert_string_equal(f->r.order, "REX");
	assert_int_equal(f->r.end[0].why, HTTP_END_COMPLETE);
	assert_int_equal(f->r.end[0].ts, 5000);
}

/* ---- keep-alive and pipelining ---- */

static void test_keep_alive_two_exchanges(void **state)
{
	struct fixture *f = *state;

	get(f, "/first", 1000);
	out(f, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok", 2000);
	assert_string_equal(f->r.order, "RX");
	get(f, "/second", 3000);
	out(f, SSE_HEAD, 4000);
	out(f, chunk("data: x\n\n"), 5000);
	out(f, "0\r\n\r\n", 6000);
	assert_string_equal(f->r.order, "RXREX");
	assert_string_equal(f->r.resp[0].req.path, "/first");
	assert_true(f->r.resp[0].req.first_of_conn);
	assert_false(f->r.resp[0].sse);
	assert_int_equal(f->r.end[0].ts, 2000);
	assert_int_equal(f->r.end[0].x.body_bytes, 2);
	assert_string_equal(f->r.resp[1].req.path, "/second");
	assert_false(f->r.resp[1].req.first_of_conn);
	assert_int_equal(f->r.resp[1].req.t_first, 3000);
	assert_true(f->r.resp[1].sse);
	assert_int_equal(f->r.end[1].why, HTTP_END_COMPLETE);
	assert_int_equal(f->r.end[1].ts, 6000);
	assert_int_equal(f->r.end[1].x.data_events, 1);
}

static void test_pipelined_requests_matched_in_order(void **state)
{
	struct fixture *f = *state;

	in(f, "GET /one HTTP/1.1\r\nHost: x\r\n\r\nGET /two HTTP/1.1\r\nHost: x\r\n\r\n", 1000);
	out(f,
	    "HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\none"
	    "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n",
	    2000);
	assert_string_equal(f->r.order, "RXRX");
	assert_string_equal(f->r.resp[0].req.path, "/one");
	assert_int_equal(f->r.resp[0].status, 200);
	assert_true(f->r.resp[0].req.first_of_conn);
	assert_string_equal(f->r.resp[1].req.path, "/two");
	assert_int_equal(f->r.resp[1].status, 404);
	assert_false(f->r.resp[1].req.first_of_conn);
	assert_string_equal(f->r.end[0].x.req.path, "/one");
	assert_string_equal(f->r.end[1].x.req.path, "/two");
	assert_int_equal(f->r.end[0].why, HTTP_END_COMPLETE);
	assert_int_equal(f->r.end[1].why, HTTP_END_COMPLETE);
	assert_false(http_conn_busy(&f->c));
}

/* Pipelined POSTs with bodies, the second one streamed. */
static void test_pipelined_posts_with_bodies(void **state)
{
	struct fixture *f = *state;
	char two[1024];
	size_t n = chat_request(two, sizeof(two), "/v1/a");

	n += chat_request(two + n, sizeof(two) - n, "/v1/b");
	http_conn_request_bytes(&f->c, two, n, 1000);
	out(f, "HTTP/1.1 429 Too Many Requests\r\nContent-Length: 2\r\n\r\n{}" SSE_HEAD, 2000);
	out(f, chunk("data: x\n\n"), 3000);
	out(f, "0\r\n\r\n", 4000);
	assert_string_equal(f->r.order, "RXREX");
	assert_string_equal(f->r.resp[0].req.path, "/v1/a");
	assert_int_equal(f->r.resp[0].status, 429);
	assert_true(f->r.resp[0].req.wants_stream);
	assert_string_equal(f->r.resp[1].req.path, "/v1/b");
	assert_string_equal(f->r.resp[1].req.model, "gpt-4o");
	assert_true(f->r.resp[1].sse);
}

#define EMPTY_OK "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"

/* The queue of requests waiting grows while answers are taken from its
 * front (its slots wrap around), and keeps them in order. */
static void test_pipeline_queue_grows_in_order(void **state)
{
	struct fixture *f = *state;
	const char *paths[] = {"/a", "/b", "/c", "/d", "/e", "/f", "/g", "/h", "/i"};
	size_t i;

	for (i = 0; i < 3; i++)
		get(f, paths[i], 1000 + i);
	out(f, EMPTY_OK EMPTY_OK, 2000);
	for (i = 3; i < 9; i++)
		get(f, paths[i], 3000 + i);
	for (i = 2; i < 9; i++)
		out(f, EMPTY_OK, 4000 + i);
	assert_int_equal(f->r.nresp, 9);
	for (i = 0; i < 9; i++)
		assert_string_equal(f->r.resp[i].req.path, paths[i]);
	assert_false(http_conn_busy(&f->c));
}

/* Pipelined deeper than HTTP_PIPELINE_MAX: the oldest request is let go
 * unanswered, the newest are answered in order. */
static void test_pipeline_overflow_drops_oldest(void **state)
{
	struct fixture *f = *state;
	char path[16];
	size_t i;

	for (i = 0; i < HTTP_PIPELINE_MAX + 2; i++) {
		snprintf(path, sizeof(path), "/%c", (char)('a' + i));
		get(f, path, 1000 + i);
	}
	for (i = 0; i < HTTP_PIPELINE_MAX; i++)
		out(f, EMPTY_OK, 2000 + i);
	assert_int_equal(f->r.nresp, HTTP_PIPELINE_MAX);
	for (i = 0; i < HTTP_PIPELINE_MAX; i++) {
		snprintf(path, sizeof(path), "/%c", (char)('a' + i + 2));
		assert_string_equal(f->r.resp[i].req.path, path);
	}
	assert_false(http_conn_busy(&f->c));
}

/* A request pipelined behind a stream waits for the stream to end. */
static void test_request_read_during_stream(void **state)
{
	struct fixture *f = *state;

	get(f, "/stream", 1000);
	out(f, SSE_HEAD, 2000);
	out(f, chunk("data: a\n\n"), 3000);
	get(f, "/after", 3500);
	out(f, chunk("data: b\n\n"), 4000);
	out(f, "0\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", 5000);
	assert_string_equal(f->r.order, "REEXRX");
	assert_string_equal(f->r.end[0].x.req.path, "/stream");
	assert_string_equal(f->r.end[1].x.req.path, "/after");
	assert_int_equal(f->r.end[1].x.req.t_first, 3500);
}

static void test_chunked_request_then_pipelined_request(void **state)
{
	struct fixture *f = *state;

	in(f,
	   "POST /a HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
	   "3\r\nabc\r\n0\r\n\r\n"
	   "GET /b HTTP/1.1\r\n\r\n",
	   1000);
	out(f, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", 2000);
	out(f, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", 2001);
	assert_string_equal(f->r.order, "RXRX");
	assert_string_equal(f->r.resp[0].req.path, "/a");
	assert_string_equal(f->r.resp[1].req.path, "/b");
	assert_string_equal(f->r.resp[1].req.method, "GET");
}

/* The response callback comes when the head is complete. */
static void test_response_head_split_across_writes(void **state)
{
	struct fixture *f = *state;

	get(f, "/s", 1000);
	out(f, "HTTP/1.1 200 OK\r\nContent-Type: text/eve", 2000);
	assert_int_equal(f->r.nresp, 0);
	out(f, "nt-stream\r\nTransfer-Encoding: chunked\r\n", 2001);
	assert_int_equal(f->r.nresp, 0);
	out(f, "\r\n", 2002);
	assert_string_equal(f->r.order, "R");
	assert_true(f->r.resp[0].sse);
	assert_int_equal(f->r.resp[0].t_headers, 2002);
}

static void test_head_and_get_responses_in_one_write(void **state)
{
	struct fixture *f = *state;

	in(f, "HEAD /h HTTP/1.1\r\n\r\nGET /g HTTP/1.1\r\n\r\n", 1000);
	out(f,
	    "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
	    "HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nabc",
	    2000);
	assert_string_equal(f->r.order, "RXRX");
	assert_string_equal(f->r.end[0].x.req.path, "/h");
	assert_int_equal(f->r.end[0].x.body_bytes, 0);
	assert_string_equal(f->r.end[1].x.req.path, "/g");
	assert_int_equal(f->r.end[1].x.body_bytes, 3);
}

/* ---- body framing ---- */

static void test_content_length_response(void **state)
{
	struct fixture *f = *state;

	get(f, "/x", 1000);
	out(f, "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 5\r\n\r\nhe",
	    2000);
	assert_string_equal(f->r.order, "R");
	assert_true(http_conn_busy(&f->c));
	out(f, "llo", 3000);
	assert_string_equal(f->r.order, "RX");
	assert_false(f->r.end[0].x.sse);
	assert_int_equal(f->r.end[0].why, HTTP_END_COMPLETE);
	assert_int_equal(f->r.end[0].ts, 3000);
	assert_int_equal(f->r.end[0].x.body_bytes, 5);
	assert_int_equal(f->r.end[0].x.t_headers, 2000);
}

static void test_content_length_sse_response(void **state)
{
	struct fixture *f = *state;

	get(f, "/s", 1000);
	out(f,
	    "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream; charset=utf-8\r\n"
	    "Content-Length: 18\r\n\r\ndata: a\n\n",
	    2000);
	out(f, "data: b\n\n", 3000);
	assert_string_equal(f->r.order, "REEX");
	assert_int_equal(f->r.ev[1].prev, 2000);
	assert_int_equal(f->r.end[0].why, HTTP_END_COMPLETE);
	assert_int_equal(f->r.end[0].ts, 3000);
	assert_int_equal(f->r.end[0].x.body_bytes, 18);
}

/* A head over HTTP_HEAD_MAX: the request line is kept, the answer counted,
 * and the next request line on the connection parses again. */
static void test_oversized_head_still_answered(void **state)
{
	struct fixture *f = *state;
	static char big[HTTP_HEAD_MAX + 64];

	in(f, "GET /huge/7?x=1 HTTP/1.1\r\nHost: a\r\nX-Big: ", 1000);
	memset(big, 'a', sizeof(big) - 1);
	in(f, big, 1500);
	out(f, "HTTP/1.1 431 Too Large\r\nContent-Length: 0\r\n\r\n", 2000);
	assert_string_equal(f->r.order, "RX");
	assert_true(f->r.end[0].x.has_request);
	assert_int_equal(f->r.end[0].x.status, 431);
	assert_string_equal(f->r.end[0].x.req.method, "GET");
	assert_string_equal(f->r.end[0].x.req.path, "/huge/:id");
	get(f, "/next", 3000);
	out(f, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", 4000);
	assert_string_equal(f->r.order, "RXRX");
	assert_string_equal(f->r.end[1].x.req.path, "/next");
}

static void test_head_response_has_no_body(void **state)
{
	struct fixture *f = *state;

	in(f, "HEAD /h HTTP/1.1\r\nHost: x\r\n\r\nGET /g HTTP/1.1\r\nHost: x\r\n\r\n", 1000);
	out(f, "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n", 2000);
	assert_string_equal(f->r.order, "RX");
	assert_int_equal(f->r.end[0].ts, 2000);
	assert_int_equal(f->r.end[0].x.body_bytes, 0);
	assert_string_equal(f->r.end[0].x.req.method, "HEAD");
	/* the next response is parsed as a response, not as HEAD's body */
	out(f, "HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nz", 3000);
	assert_string_equal(f->r.order, "RXRX");
	assert_string_equal(f->r.resp[1].req.path, "/g");
	assert_int_equal(f->r.end[1].x.body_bytes, 1);
}

static void test_204_and_304_have_no_body(void **state)
{
	struct fixture *f = *state;

	get(f, "/a", 1000);
	get(f, "/b", 1001);
	out(f, "HTTP/1.1 204 No Content\r\n\r\n", 2000);
	out(f, "HTTP/1.1 304 Not Modified\r\nContent-Length: 10\r\n\r\n", 3000);
	assert_string_equal(f->r.order, "RXRX");
	assert_int_equal(f->r.end[0].x.status, 204);
	assert_int_equal(f->r.end[1].x.status, 304);
	assert_int_equal(f->r.end[1].ts, 3000);
}

static void test_100_continue_is_ignored(void **state)
{
	struct fixture *f = *state;

	in(f, "POST /up HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 4\r\n\r\n",
	   1000);
	out(f, "HTTP/1.1 100 Continue\r\n\r\n", 1500);
	assert_int_equal(f->r.norder, 0);
	in(f, "abcd", 1600);
	out(f, "HTTP/1.1 201 Created\r\nContent-Length: 2\r\n\r\nok", 2000);
	assert_string_equal(f->r.order, "RX");
	assert_int_equal(f->r.resp[0].status, 201);
	assert_true(f->r.resp[0].has_request);
	assert_string_equal(f->r.resp[0].req.path, "/up");
	assert_int_equal(f->r.resp[0].req.t_last, 1600);
	assert_int_equal(f->r.resp[0].t_headers, 2000);
}

static void test_interim_and_final_in_one_write(void **state)
{
	struct fixture *f = *state;

	get(f, "/x", 1000);
	out(f,
	    "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n" SSE_HEAD,
	    2000);
	assert_string_equal(f->r.order, "R");
	assert_int_equal(f->r.resp[0].status, 200);
	assert_true(f->r.resp[0].sse);
	assert_string_equal(f->r.resp[0].req.path, "/x");
}

/*
 * A 101 hands the connection to another protocol: nothing after it is
 * parsed as HTTP on either side, even bytes that look like HTTP (a
 * regression test: the status was once tested after the response head was
 * re-initialised, so both sides kept parsing the upgraded bytes).
 */
static void test_101_upgrade_stops_parsing(void **state)
{
	struct fixture *f = *state;
	static const char frame[] = "\x81\x05hello";

	in(f, "GET /ws HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n",
	   1000);
	out(f,
	    "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n",
	    2000);
	assert_string_equal(f->r.order, "RX");
	assert_int_equal(f->r.resp[0].status, 101);
	assert_int_equal(f->r.end[0].why, HTTP_END_COMPLETE);
	/* anything after is another protocol, even if it looks like HTTP */
	out(f, frame, 3000);
	in(f, "GET /again HTTP/1.1\r\nHost: x\r\n\r\n", 4000);
	out(f, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", 5000);
	http_conn_close(&f->c, HTTP_END_REQUESTER_CLOSED, 6000);
	assert_string_equal(f->r.order, "RX");
}

/* ---- request contents ---- */

static void test_json_model_and_stream(void **state)
{
	struct fixture *f = *state;
	char req[512];
	size_t n = chat_request(req, sizeof(req), "/v1/chat/completions");

	http_conn_request_bytes(&f->c, req, n, 1000);
	out(f, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", 2000);
	assert_string_equal(f->r.resp[0].req.model, "gpt-4o");
	assert_true(f->r.resp[0].req.wants_stream);
}

static void test_json_stream_false_and_nested_model(void **state)
{
	struct fixture *f = *state;
	static const char body[] = "{\"meta\":{\"model\":\"x\"},\"stream\":false}";
	char req[512];

	snprintf(req, sizeof(req), "POST /v1 HTTP/1.1\r\nContent-Length: %zu\r\n\r\n%s",
		 strlen(body), body);
	in(f, req, 1000);
	out(f, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", 2000);
	assert_string_equal(f->r.resp[0].req.model, "");
	assert_false(f->r.resp[0].req.wants_stream);
}

static void test_chunked_request_body_scanned(void **state)
{
	struct fixture *f = *state;

	in(f, "POST /v1 HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n", 1000);
	in(f, "9\r\n{\"model\":\r\n", 1001);
	in(f, "b\r\n\"m1\",\"strea\r\n", 1002);
	in(f, "9\r\nm\": true}\r\n0\r\n\r\n", 1003);
	out(f, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", 2000);
	assert_string_equal(f->r.order, "RX");
	assert_string_equal(f->r.resp[0].req.model, "m1");
	assert_true(f->r.resp[0].req.wants_stream);
	assert_int_equal(f->r.resp[0].req.t_last, 1003);
}

static void test_accept_event_stream_wants_stream(void **state)
{
	struct fixture *f = *state;

	in(f, "GET /events HTTP/1.1\r\nHost: x\r\nAccept: text/event-stream\r\n\r\n", 1000);
	in(f, "GET /plain HTTP/1.1\r\nHost: x\r\nAccept: application/json\r\n\r\n", 1001);
	out(f, "HTTP/1.1 503 Unavailable\r\nContent-Length: 0\r\n\r\n", 2000);
	out(f, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", 2001);
	assert_true(f->r.resp[0].req.wants_stream);
	assert_string_equal(f->r.resp[0].req.model, "");
	assert_false(f->r.resp[1].req.wants_stream);
}

static void test_path_is_normalised(void **state)
{
	struct fixture *f = *state;

	get(f, "/users/12345/items?x=1#frag", 1000);
	out(f, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", 2000);
	assert_string_equal(f->r.resp[0].req.path, "/users/:id/items");
}

/* ---- closes ---- */

static void test_server_close_ends_close_delimited_response(void **state)
{
	struct fixture *f = *state;

	get(f, "/s", 1000);
	out(f, "HTTP/1.0 200 OK\r\nContent-Type: text/event-stream\r\n\r\ndata: a\n\n", 2000);
	out(f, "data: b\n\n", 3000);
	assert_string_equal(f->r.order, "REE");
	assert_true(http_conn_busy(&f->c));
	http_conn_close(&f->c, HTTP_END_RESPONDER_CLOSED, 4000);
	assert_string_equal(f->r.order, "REEX");
	assert_int_equal(f->r.end[0].why, HTTP_END_COMPLETE);
	assert_int_equal(f->r.end[0].ts, 4000);
	assert_int_equal(f->r.end[0].x.data_events, 2);
}

static void test_server_close_mid_chunked_stream(void **state)
{
	struct fixture *f = *state;

	get(f, "/s", 1000);
	out(f, SSE_HEAD, 2000);
	out(f, chunk("data: a\n\n"), 3000);
	http_conn_close(&f->c, HTTP_END_RESPONDER_CLOSED, 4000);
	assert_string_equal(f->r.order, "REX");
	assert_int_equal(f->r.end[0].why, HTTP_END_RESPONDER_CLOSED);
	assert_int_equal(f->r.end[0].ts, 4000);
	assert_int_equal(f->r.end[0].x.t_last_write, 3000);
}

static void test_server_close_mid_content_length_body(void **state)
{
	struct fixture *f = *state;

	get(f, "/s", 1000);
	out(f, "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc", 2000);
	http_conn_close(&f->c, HTTP_END_RESPONDER_CLOSED, 3000);
	assert_string_equal(f->r.order, "RX");
	assert_int_equal(f->r.end[0].why, HTTP_END_RESPONDER_CLOSED);
}

static void test_peer_closed_mid_stream(void **state)
{
	struct fixture *f = *state;

	get(f, "/s", 1000);
	out(f, SSE_HEAD, 2000);
	out(f, chunk("data: a\n\n"), 3000);
	out(f, chunk("data: b\n\n"), 3500);
	http_conn_close(&f->c, HTTP_END_REQUESTER_CLOSED, 4000);
	assert_string_equal(f->r.order, "REEX");
	assert_int_equal(f->r.end[0].why, HTTP_END_REQUESTER_CLOSED);
	assert_int_equal(f->r.end[0].ts, 4000);
	assert_int_equal(f->r.end[0].x.data_events, 2);
	assert_true(f->r.end[0].x.sse);
	/* nothing after the end */
	out(f, chunk("data: c\n\n"), 5000);
	http_conn_close(&f->c, HTTP_END_REQUESTER_CLOSED, 6000);
	assert_string_equal(f->r.order, "REEX");
}

static void test_reset_mid_stream(void **state)
{
	struct fixture *f = *state;

	get(f, "/s", 1000);
	out(f, SSE_HEAD, 2000);
	http_conn_close(&f->c, HTTP_END_RESET, 2500);
	assert_string_equal(f->r.order, "RX");
	assert_int_equal(f->r.end[0].why, HTTP_END_RESET);
	assert_int_equal(f->r.end[0].x.data_events, 0);
}

static void test_queued_requests_end_with_close_reason(void **state)
{
	struct fixture *f = *state;

	get(f, "/a", 1000);
	get(f, "/b", 1001);
	assert_true(http_conn_busy(&f->c));
	http_conn_close(&f->c, HTTP_END_REQUESTER_CLOSED, 5000);
	assert_string_equal(f->r.order, "XX");
	for (size_t i = 0; i < 2; i++) {
		assert_int_equal(f->r.end[i].why, HTTP_END_REQUESTER_CLOSED);
		assert_int_equal(f->r.end[i].ts, 5000);
		assert_true(f->r.end[i].x.has_request);
		assert_false(f->r.end[i].x.responded);
		assert_true(f->r.end[i].x.req.complete);
	}
	assert_string_equal(f->r.end[0].x.req.path, "/a");
	assert_string_equal(f->r.end[1].x.req.path, "/b");
	assert_false(http_conn_busy(&f->c));
}

/* The stream in progress ends first, then the requests queued behind it. */
static void test_close_ends_stream_then_queue(void **state)
{
	struct fixture *f = *state;

	get(f, "/a", 1000);
	out(f, SSE_HEAD, 2000);
	get(f, "/b", 2500);
	http_conn_close(&f->c, HTTP_END_RESET, 3000);
	assert_string_equal(f->r.order, "RXX");
	assert_string_equal(f->r.end[0].x.req.path, "/a");
	assert_true(f->r.end[0].x.responded);
	assert_string_equal(f->r.end[1].x.req.path, "/b");
	assert_false(f->r.end[1].x.responded);
	assert_int_equal(f->r.end[1].why, HTTP_END_RESET);
}

static void test_close_during_request_body(void **state)
{
	struct fixture *f = *state;
	char req[512];
	size_t n = chat_request(req, sizeof(req), "/v1/chat");

	http_conn_request_bytes(&f->c, req, n - 5, 1000);
	assert_true(http_conn_busy(&f->c)); /* a FIN now leaves mid-request */
	http_conn_close(&f->c, HTTP_END_REQUESTER_CLOSED, 2000);
	assert_string_equal(f->r.order, "X");
	assert_true(f->r.end[0].x.has_request);
	assert_int_equal(f->r.end[0].x.t_accept, 100); /* its queue stage */
	assert_false(f->r.end[0].x.req.complete);
	assert_false(f->r.end[0].x.responded);
	assert_string_equal(f->r.end[0].x.req.path, "/v1/chat");
	assert_int_equal(f->r.end[0].x.req.t_first, 1000);
	assert_int_equal(f->r.end[0].why, HTTP_END_REQUESTER_CLOSED);
}

static void test_close_idle_connection_reports_nothing(void **state)
{
	struct fixture *f = *state;

	get(f, "/a", 1000);
	out(f, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", 2000);
	http_conn_close(&f->c, HTTP_END_REQUESTER_CLOSED, 3000);
	assert_string_equal(f->r.order, "RX");
	assert_int_equal(f->r.end[0].why, HTTP_END_COMPLETE);
}

/* ---- garbage and resynchronisation ---- */

static void test_garbage_no_callbacks(void **state)
{
	struct fixture *f = *state;
	char junk[300];

	for (size_t i = 0; i < sizeof(junk); i++)
		junk[i] = (char)(i * 37 + 11);
	http_conn_request_bytes(&f->c, "\x16\x03\x01\x02\x00\x01", 6, 1000);
	http_conn_request_bytes(&f->c, junk, sizeof(junk), 1001);
	http_conn_response_bytes(&f->c, junk, sizeof(junk), 1002);
	http_conn_response_bytes(&f->c, "\x00\x01\x02", 3, 1003);
	http_conn_request_bytes(&f->c, "", 0, 1004);
	http_conn_response_bytes(&f->c, "", 0, 1005);
	http_conn_response_gap(&f->c, 100, 1006);
	http_conn_request_gap(&f->c, 100, 1007);
	assert_false(http_conn_busy(&f->c));
	http_conn_close(&f->c, HTTP_END_REQUESTER_CLOSED, 2000);
	assert_int_equal(f->r.norder, 0);
}

static void test_garbage_request_line_no_callbacks(void **state)
{
	struct fixture *f = *state;

	in(f, "GET /x HTTP/9.9\r\n\r\n", 1000);
	in(f, "NOT HTTP AT ALL\r\n\r\n", 1001);
	out(f, "SSH-2.0-OpenSSH_9.2\r\n", 1002);
	http_conn_close(&f->c, HTTP_END_REQUESTER_CLOSED, 2000);
	assert_int_equal(f->r.norder, 0);
}

static void test_resync_after_garbage(void **state)
{
	struct fixture *f = *state;

	http_conn_request_bytes(&f->c, "\x16\x03\x01\x02\x00", 5, 1000);
	http_conn_response_bytes(&f->c, "\x16\x03\x03\x00\x31", 5, 1001);
	assert_int_equal(f->r.norder, 0);
	get(f, "/after", 2000);
	out(f, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi", 3000);
	assert_string_equal(f->r.order, "RX");
	assert_true(f->r.resp[0].has_request);
	assert_string_equal(f->r.resp[0].req.path, "/after");
	assert_int_equal(f->r.resp[0].req.t_first, 2000);
	assert_int_equal(f->r.end[0].why, HTTP_END_COMPLETE);
}

/* A read that does not start a request does not resynchronise. */
static void test_no_resync_mid_garbage(void **state)
{
	struct fixture *f = *state;

	in(f, "\x01\x02garbage", 1000);
	in(f, "xx GET /nope HTTP/1.1\r\n\r\n", 1001);
	out(f, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", 2000);
	assert_string_equal(f->r.order, "RX");
	assert_false(f->r.resp[0].has_request);
}

/* ---- lost bytes ---- */

static void test_out_skip_inside_content_length_body(void **state)
{
	struct fixture *f = *state;

	get(f, "/file", 1000);
	out(f, "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nab", 2000);
	http_conn_response_gap(&f->c, 5, 3000);
	assert_string_equal(f->r.order, "R");
	out(f, "cde", 4000);
	assert_string_equal(f->r.order, "RX");
	assert_int_equal(f->r.end[0].why, HTTP_END_COMPLETE);
	assert_int_equal(f->r.end[0].ts, 4000);
	assert_int_equal(f->r.end[0].x.body_bytes, 10);
	/* the next exchange is still followed */
	get(f, "/next", 5000);
	out(f, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", 6000);
	assert_string_equal(f->r.order, "RXRX");
	assert_string_equal(f->r.resp[1].req.path, "/next");
}

static void test_out_skip_ending_the_body(void **state)
{
	struct fixture *f = *state;

	get(f, "/file", 1000);
	out(f, "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n", 2000);
	http_conn_response_gap(&f->c, 10, 3000);
	assert_string_equal(f->r.order, "RX");
	assert_int_equal(f->r.end[0].why, HTTP_END_COMPLETE);
	assert_int_equal(f->r.end[0].ts, 3000);
	assert_int_equal(f->r.end[0].x.body_bytes, 10);
}

static void test_out_skip_beyond_body_loses_sync(void **state)
{
	struct fixture *f = *state;

	get(f, "/file", 1000);
	out(f, "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n", 2000);
	http_conn_response_gap(&f->c, 11, 3000);
	assert_string_equal(f->r.order, "RX");
	assert_int_equal(f->r.end[0].why, HTTP_END_LOST_BYTES);
	/* a write starting a response resynchronises */
	get(f, "/next", 4000);
	out(f, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", 5000);
	assert_string_equal(f->r.order, "RXRX");
	assert_string_equal(f->r.resp[1].req.path, "/next");
}

static void test_out_skip_in_sse_stream_is_lost(void **state)
{
	struct fixture *f = *state;

	get(f, "/s", 1000);
	out(f, SSE_HEAD, 2000);
	out(f, chunk("data: a\n\n"), 3000);
	http_conn_response_gap(&f->c, 50, 4000);
	assert_string_equal(f->r.order, "REX");
	assert_int_equal(f->r.end[0].why, HTTP_END_LOST_BYTES);
	assert_int_equal(f->r.end[0].ts, 4000);
}

static void test_broken_chunk_framing_is_lost(void **state)
{
	struct fixture *f = *state;

	get(f, "/s", 1000);
	out(f, SSE_HEAD, 2000);
	out(f, chunk("data: a\n\n"), 3000);
	out(f, "zz\r\ndata: b\n\n\r\n", 4000); /* not a chunk size */
	assert_string_equal(f->r.order, "REX");
	assert_int_equal(f->r.end[0].why, HTTP_END_LOST_FRAMING);
	assert_int_equal(f->r.end[0].ts, 4000);
}

static void test_in_skip_inside_request_body(void **state)
{
	struct fixture *f = *state;

	in(f, "POST /up HTTP/1.1\r\nContent-Length: 1000\r\n\r\n{", 1000);
	http_conn_request_gap(&f->c, 998, 1001);
	in(f, "}", 1002);
	out(f, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", 2000);
	assert_string_equal(f->r.order, "RX");
	assert_true(f->r.resp[0].req.complete);
	assert_int_equal(f->r.resp[0].req.t_last, 1002);
}

/* ---- records lost whole: bytes of either side, how many unknown ---- */

static void answer(struct fixture *f, uint64_t ts)
{
	out(f, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", ts);
}

/* The stream under way is lost; what follows of it is not read as its
 * own; the next exchange is read as usual. */
static void test_gap_loses_stream_then_resync(void **state)
{
	struct fixture *f = *state;

	get(f, "/s", 1000);
	out(f, SSE_HEAD, 2000);
	out(f, chunk("data: a\n\n"), 3000);
	http_conn_gap(&f->c, 4000);
	out(f, chunk("data: c\n\n"), 4000);
	get(f, "/next", 5000);
	answer(f, 6000);
	assert_string_equal(f->r.order, "REXRX");
	assert_int_equal(f->r.end[0].why, HTTP_END_LOST_BYTES);
	assert_int_equal(f->r.end[0].x.data_events, 1);
	assert_string_equal(f->r.resp[1].req.path, "/next");
	assert_int_equal(f->r.end[1].why, HTTP_END_COMPLETE);
}

/* A request being read when bytes went missing pairs with the answer
 * that comes next, and is lost. */
static void test_gap_in_request_pairs_its_answer(void **state)
{
	struct fixture *f = *state;
	char req[512];
	size_t n = chat_request(req, sizeof(req), "/v1/chat");

	http_conn_request_bytes(&f->c, req, n - 5, 1000); /* the body's end goes missing */
	http_conn_gap(&f->c, 2000);
	answer(f, 3000);
	get(f, "/next", 4000);
	answer(f, 5000);
	assert_string_equal(f->r.order, "RXRX");
	assert_string_equal(f->r.end[0].x.req.path, "/v1/chat");
	assert_int_equal(f->r.end[0].why, HTTP_END_LOST_BYTES);
	assert_string_equal(f->r.end[1].x.req.path, "/next");
	assert_int_equal(f->r.end[1].why, HTTP_END_COMPLETE);
}

/* Request /a (its bytes a), bytes missing, then the rest of an answer
 * and request /b: /a ends lost, the next answer is /b's. */
static void answer_lost_with(struct fixture *f, const char *a)
{
	in(f, a, 1000);
	http_conn_gap(&f->c, 2000);
	out(f, "ok", 2000);
	get(f, "/b", 3000);
	answer(f, 4000);
	assert_string_equal(f->r.order, "XRX");
	assert_string_equal(f->r.end[0].x.req.path, "/a");
	assert_int_equal(f->r.end[0].why, HTTP_END_LOST_BYTES);
	assert_string_equal(f->r.resp[0].req.path, "/b");
	assert_int_equal(f->r.end[1].why, HTTP_END_COMPLETE);
}

/* The next request read first: the lost request's answer went with the
 * missing bytes. */
static void test_gap_in_request_answer_lost_too(void **state)
{
	answer_lost_with(*state, "GET /a HTTP/1.1\r\nHo");
}

/* Nothing answered when bytes went missing: the oldest request's answer
 * began in them, and the next answer is not taken for it. */
static void test_gap_loses_waiting_request(void **state)
{
	answer_lost_with(*state, "GET /a HTTP/1.1\r\nHost: x\r\n\r\n");
}

/* A body the kernel counts is its to end: the bytes lost were others'. */
static void test_gap_leaves_kernel_stream(void **state)
{
	struct fixture *f = *state;

	get(f, "/s", 1000);
	http_conn_kernel_expect(&f->c, SCAN_CHUNKED);
	out(f, SSE_HEAD, 2000);
	http_conn_gap(&f->c, 3000);
	assert_true(http_conn_kernel_active(&f->c));
	assert_true(http_conn_kernel_end(&f->c, &(struct sse_stats){.data_events = 2},
					 HTTP_END_COMPLETE, 4000));
	assert_string_equal(f->r.order, "RX");
	assert_int_equal(f->r.end[0].why, HTTP_END_COMPLETE);
}

/* ---- streams under way when the exporter started ---- */

static void test_adopt_chunked_stream(void **state)
{
	struct fixture *f = *state;
	const char *first = chunk("data: a\n\n");

	http_conn_adopt(&f->c, first, strlen(first), 1000);
	assert_true(http_conn_busy(&f->c));
	out(f, first, 1000);
	out(f, chunk(": hb\n\n"), 2000);
	out(f, chunk("data: b\n\n"), 3000);
	out(f, "0\r\n\r\n", 4000);
	assert_int_equal(f->r.nev, 3);
	assert_int_equal(f->r.ev[0].kind, SSE_EVENT_DATA);
	assert_int_equal(f->r.ev[0].ts, 1000);
	assert_int_equal(f->r.ev[1].kind, SSE_EVENT_HEARTBEAT);
	assert_int_equal(f->r.ev[2].kind, SSE_EVENT_DATA);
	assert_int_equal(f->r.ev[2].prev, 1000);
	assert_int_equal(f->r.nend, 1);
	assert_int_equal(f->r.end[0].why, HTTP_END_COMPLETE);
	assert_int_equal(f->r.end[0].ts, 4000);
	assert_false(f->r.end[0].x.has_request);
	assert_true(f->r.end[0].x.sse);
	assert_true(f->r.end[0].x.responded);
	assert_int_equal(f->r.end[0].x.status, 200);
	assert_int_equal(f->r.end[0].x.body_bytes, 9 + 6 + 9);
	/* the next request on the connection is followed */
	get(f, "/next", 5000);
	out(f, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", 6000);
	assert_int_equal(f->r.nend, 2);
	assert_string_equal(f->r.end[1].x.req.path, "/next");
}

static void test_adopt_raw_stream(void **state)
{
	struct fixture *f = *state;
	static const char first[] = "data: {\"x\":1}\n\n";

	http_conn_adopt(&f->c, first, strlen(first), 1000);
	out(f, first, 1000);
	out(f, "data: 2\n\n", 2000);
	assert_int_equal(f->r.nev, 2);
	assert_int_equal(f->r.ev[0].kind, SSE_EVENT_DATA);
	assert_int_equal(f->r.ev[1].kind, SSE_EVENT_DATA);
	assert_int_equal(f->r.ev[1].prev, 1000);
	assert_int_equal(f->r.nend, 0);
	http_conn_close(&f->c, HTTP_END_REQUESTER_CLOSED, 3000);
	assert_int_equal(f->r.nend, 1);
	assert_int_equal(f->r.end[0].why, HTTP_END_REQUESTER_CLOSED);
	assert_int_equal(f->r.end[0].x.data_events, 2);
	assert_int_equal(f->r.end[0].x.body_bytes, strlen(first) + 9);
}

static void test_adopt_raw_stream_server_close_is_complete(void **state)
{
	struct fixture *f = *state;

	http_conn_adopt(&f->c, ": hb\n\n", 6, 1000);
	out(f, ": hb\n\n", 1000);
	http_conn_close(&f->c, HTTP_END_RESPONDER_CLOSED, 2000);
	assert_int_equal(f->r.nend, 1);
	assert_int_equal(f->r.end[0].why, HTTP_END_COMPLETE);
	assert_int_equal(f->r.end[0].x.heartbeats, 1);
}

/* ---- streams without Content-Type ---- */

#define UNTYPED_HEAD                                                                               \
	"HTTP/1.1 200 OK\r\nCache-Control: no-cache\r\nTransfer-Encoding: chunked\r\n\r\n"

static void chat(struct fixture *f, uint64_t ts)
{
	char req[512];
	size_t n = chat_request(req, sizeof(req), "/v1/chat/completions");

	http_conn_request_bytes(&f->c, req, n, ts);
}

/* Asked for a stream, answered with an event-stream body and no
 * Content-Type: followed as a stream, its head's time kept. */
static void test_untyped_stream_followed(void **state)
{
	struct fixture *f = *state;

	chat(f, 1000);
	out(f, UNTYPED_HEAD, 2000);
	assert_int_equal(f->r.nresp, 0); /* the body decides */
	out(f, chunk("data: {\"a\":1}\n\n"), 3000);
	out(f, chunk("data: [DONE]\n\n"), 4000);
	out(f, "0\r\n\r\n", 5000);
	assert_string_equal(f->r.order, "REEX");
	assert_true(f->r.resp[0].sse);
	assert_int_equal(f->r.resp[0].t_headers, 2000);
	assert_int_equal(f->r.end[0].x.data_events, 2);
	assert_int_equal(f->r.end[0].why, HTTP_END_COMPLETE);
}

/* The field name may be cut by the first write. */
static void test_untyped_stream_first_byte_alone(void **state)
{
	struct fixture *f = *state;

	chat(f, 1000);
	out(f, UNTYPED_HEAD "1\r\nd\r\n", 2000);
	out(f, chunk("ata: x\n\n"), 3000);
	assert_string_equal(f->r.order, "RE");
	assert_true(f->r.resp[0].sse);
}

/* A first write that is a field's name cut short does not decide: the
 * next tells that this body is none (fuzz_http_conn, kept in
 * tests/fuzz/corpus/http_conn/untyped_prefix). */
static void test_untyped_prefix_then_other(void **state)
{
	struct fixture *f = *state;

	chat(f, 1000);
	out(f, UNTYPED_HEAD "3\r\ndat\r\n", 2000);
	assert_int_equal(f->r.nresp, 0);
	out(f, chunk("c: x\n\n"), 3000);
	out(f, "0\r\n\r\n", 4000);
	assert_string_equal(f->r.order, "RX");
	assert_false(f->r.resp[0].sse);
}

/* A body that ends inside a field's name: a stream, as it began. */
static void test_untyped_body_ends_in_a_name(void **state)
{
	struct fixture *f = *state;

	chat(f, 1000);
	out(f, UNTYPED_HEAD "3\r\ndat\r\n0\r\n\r\n", 2000);
	assert_string_equal(f->r.order, "RX");
	assert_true(f->r.resp[0].sse);
}

static void test_untyped_json_answer_is_not_a_stream(void **state)
{
	struct fixture *f = *state;

	chat(f, 1000);
	out(f, "HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\n{\"data\":1", 2000);
	assert_string_equal(f->r.order, "RX");
	assert_false(f->r.resp[0].sse);
}

/* Not asked for a stream, or typed otherwise: the header is believed. */
static void test_untyped_body_needs_a_stream_request(void **state)
{
	struct fixture *f = *state;

	get(f, "/plain", 1000);
	out(f, UNTYPED_HEAD, 2000);
	assert_string_equal(f->r.order, "R");
	out(f, chunk("data: x\n\n"), 3000);
	assert_false(f->r.resp[0].sse);
	assert_int_equal(f->r.nev, 0);
	chat(f, 4000);
	out(f,
	    "0\r\n\r\nHTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 9\r\n\r\n"
	    "data: x\n\n",
	    5000);
	assert_false(f->r.resp[1].sse);
	assert_int_equal(f->r.nev, 0);
}

/* An empty body ends the exchange: the response is reported first. */
static void test_untyped_empty_body(void **state)
{
	struct fixture *f = *state;

	chat(f, 1000);
	out(f, UNTYPED_HEAD "0\r\n\r\n", 2000);
	assert_string_equal(f->r.order, "RX");
	assert_false(f->r.resp[0].sse);
}

int main(void)
{
#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)
	const struct CMUnitTest tests[] = {
	    T(test_chunked_sse_exchange),
	    T(test_chunked_sse_bytewise),
	    T(test_chunked_sse_one_write),
	    T(test_gzip_stream_split_everywhere),
	    T(test_deflate_stream),
	    T(test_raw_deflate_stream),
	    T(test_brotli_stream_not_split),
	    T(test_gzip_stream_not_gzip),
	    T(test_inflations_bounded),
	    T(test_gzip_stream_lost_frees_inflation),
	    T(test_event_end_crlf_cut),
	    T(test_close_ends_event_after_cr),
	    T(test_chunk_extension_and_trailer),
	    T(test_keep_alive_two_exchanges),
	    T(test_pipelined_requests_matched_in_order),
	    T(test_pipelined_posts_with_bodies),
	    T(test_pipeline_queue_grows_in_order),
	    T(test_pipeline_overflow_drops_oldest),
	    T(test_request_read_during_stream),
	    T(test_chunked_request_then_pipelined_request),
	    T(test_response_head_split_across_writes),
	    T(test_head_and_get_responses_in_one_write),
	    T(test_content_length_response),
	    T(test_content_length_sse_response),
	    T(test_oversized_head_still_answered),
	    T(test_head_response_has_no_body),
	    T(test_204_and_304_have_no_body),
	    T(test_100_continue_is_ignored),
	    T(test_interim_and_final_in_one_write),
	    T(test_101_upgrade_stops_parsing),
	    T(test_json_model_and_stream),
	    T(test_json_stream_false_and_nested_model),
	    T(test_chunked_request_body_scanned),
	    T(test_accept_event_stream_wants_stream),
	    T(test_path_is_normalised),
	    T(test_server_close_ends_close_delimited_response),
	    T(test_server_close_mid_chunked_stream),
	    T(test_server_close_mid_content_length_body),
	    T(test_peer_closed_mid_stream),
	    T(test_reset_mid_stream),
	    T(test_queued_requests_end_with_close_reason),
	    T(test_close_ends_stream_then_queue),
	    T(test_close_during_request_body),
	    T(test_close_idle_connection_reports_nothing),
	    T(test_garbage_no_callbacks),
	    T(test_garbage_request_line_no_callbacks),
	    T(test_resync_after_garbage),
	    T(test_no_resync_mid_garbage),
	    T(test_out_skip_inside_content_length_body),
	    T(test_out_skip_ending_the_body),
	    T(test_out_skip_beyond_body_loses_sync),
	    T(test_out_skip_in_sse_stream_is_lost),
	    T(test_broken_chunk_framing_is_lost),
	    T(test_in_skip_inside_request_body),
	    T(test_gap_loses_stream_then_resync),
	    T(test_gap_in_request_pairs_its_answer),
	    T(test_gap_in_request_answer_lost_too),
	    T(test_gap_loses_waiting_request),
	    T(test_gap_leaves_kernel_stream),
	    T(test_adopt_chunked_stream),
	    T(test_adopt_raw_stream),
	    T(test_adopt_raw_stream_server_close_is_complete),
	    T(test_untyped_stream_followed),
	    T(test_untyped_stream_first_byte_alone),
	    T(test_untyped_prefix_then_other),
	    T(test_untyped_body_ends_in_a_name),
	    T(test_untyped_json_answer_is_not_a_stream),
	    T(test_untyped_body_needs_a_stream_request),
	    T(test_untyped_empty_body),
	};
#undef T

	return cmocka_run_group_tests(tests, NULL, NULL);
}
