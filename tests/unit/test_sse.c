// SPDX-License-Identifier: MIT
/* Unit tests of the WHATWG Server-Sent-Events event splitter. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "proto/sse.h"
#include "split.h"

#define EVENTS_MAX 64
#define DATA_MAX   1024

struct rec_event {
	enum sse_event_kind kind;
	uint64_t size;
	size_t end; /* offset in the whole input, not in the piece */
	uint64_t data_hash;
	size_t data_end; /* the data callback's bytes so far */
	bool late;
};

/* Collects events and data; base is the offset of the piece being fed. */
struct rec {
	struct sse_splitter s;
	struct rec_event ev[EVENTS_MAX];
	size_t n;
	size_t base;
	size_t piece_len;
	char data[DATA_MAX];
	size_t data_len;
};

static void rec_data(void *ctx, const char *buf, size_t len)
{
	struct rec *r = ctx;

	assert_true(len > 0 && len <= DATA_MAX - r->data_len);
	memcpy(r->data + r->data_len, buf, len);
	r->data_len += len;
}

static void rec_cb(void *ctx, const struct sse_event *ev)
{
	struct rec *r = ctx;

	assert_true(r->n < EVENTS_MAX);
	assert_true(ev->end <= r->piece_len);
	r->ev[r->n].kind = ev->kind;
	r->ev[r->n].size = ev->size;
	r->ev[r->n].end = r->base + ev->end;
	r->ev[r->n].data_hash = ev->data_hash;
	r->ev[r->n].data_end = r->data_len;
	r->ev[r->n].late = ev->late;
	r->n++;
}

static void rec_start(void *run)
{
	struct rec *r = run;

	memset(r, 0, sizeof(*r));
	sse_splitter_init(&r->s, rec_data);
}

static bool rec_feed(void *run, const char *in, size_t off, size_t len)
{
	struct rec *r = run;

	r->piece_len = len;
	sse_feed(&r->s, in + off, len, rec_cb, r);
	r->base += len;
	return true;
}

/* The body ends. */
static void rec_finish(struct rec *r)
{
	r->piece_len = 0;
	sse_finish(&r->s, rec_cb, r);
}

static void assert_same(const struct rec *a, const struct rec *b)
{
	assert_int_equal(a->n, b->n);
	for (size_t i = 0; i < a->n; i++) {
		assert_int_equal(a->ev[i].kind, b->ev[i].kind);
		assert_int_equal(a->ev[i].size, b->ev[i].size);
		assert_int_equal(a->ev[i].end, b->ev[i].end);
		assert_int_equal(a->ev[i].data_hash, b->ev[i].data_hash);
		assert_int_equal(a->ev[i].data_end, b->ev[i].data_end);
		assert_int_equal(a->ev[i].late, b->ev[i].late);
	}
	assert_int_equal(a->data_len, b->data_len);
	assert_memory_equal(a->data, b->data, a->data_len);
}

/* Splits move where an event ends (see expected_for_split): the
 * callers compare, not split_all_ways. */
static const struct split_driver driver = {
    .start = rec_start,
    .feed = rec_feed,
};

/* Feeds a whole body in pieces cut at cuts[] (ascending offsets). */
static void feed_cuts(struct rec *r, const char *in, size_t len, const size_t *cuts, size_t ncuts)
{
	split_feed(&driver, r, in, len, cuts, ncuts);
	rec_finish(r);
}

static void feed_whole(struct rec *r, const char *in)
{
	feed_cuts(r, in, strlen(in), NULL, 0);
}

static void feed_bytewise(struct rec *r, const char *in)
{
	split_feed_bytewise(&driver, r, in, strlen(in));
	rec_finish(r);
}

static uint64_t size_sum(const struct rec *r)
{
	uint64_t sum = 0;

	for (size_t i = 0; i < r->n; i++)
		sum += r->ev[i].size;
	return sum;
}

/*
 * What a split at p must give, from the unsplit result: the same events,
 * sizes and ends (an LF after the CR that ended a piece is the CR's line's
 * even so); only an event whose blank line's CR ends the piece is late,
 * told when the next piece shows whether an LF follows.
 */
static void expected_for_split(const struct rec *whole, const char *in, size_t len, size_t p,
			       struct rec *exp)
{
	*exp = *whole;
	if (p == 0 || p >= len || in[p - 1] != '\r')
		return;
	for (size_t i = 0; i < exp->n; i++) {
		size_t end = exp->ev[i].end;

		if (end == p || (end == p + 1 && in[p] == '\n'))
			exp->ev[i].late = true;
	}
}

static void check_every_split(const char *in)
{
	size_t len = strlen(in);
	struct rec whole, split, exp;

	feed_whole(&whole, in);
	assert_true(whole.n > 0);
	for (size_t p = 0; p <= len; p++) {
		feed_cuts(&split, in, len, &p, 1);
		expected_for_split(&whole, in, len, p, &exp);
		assert_same(&split, &exp);
	}
}

/* Event i of r is of that kind and size, ends at end, late or not. */
static void assert_event(const struct rec *r, size_t i, enum sse_event_kind kind, uint64_t size,
			 size_t end, bool late)
{
	assert_true(i < r->n);
	assert_int_equal(r->ev[i].kind, kind);
	assert_int_equal(r->ev[i].size, size);
	assert_int_equal(r->ev[i].end, end);
	assert_int_equal(r->ev[i].late, late);
}

/* ---- line ends ---- */

static void test_lf_line_ends(void **state)
{
	struct rec r;

	(void)state;
	feed_whole(&r, "data: hello\n\n");
	assert_int_equal(r.n, 1);
	assert_int_equal(r.ev[0].kind, SSE_EVENT_DATA);
	assert_int_equal(r.ev[0].size, 13);
	assert_int_equal(r.ev[0].end, 13);
}

static void test_crlf_line_ends(void **state)
{
	struct rec r;

	(void)state;
	feed_whole(&r, "data: hello\r\n\r\n");
	assert_int_equal(r.n, 1);
	assert_int_equal(r.ev[0].kind, SSE_EVENT_DATA);
	assert_int_equal(r.ev[0].size, 15);
	assert_int_equal(r.ev[0].end, 15);
}

static void test_cr_line_ends(void **state)
{
	struct rec r;

	(void)state;
	feed_whole(&r, "data: a\r\rdata: b\r\r");
	assert_int_equal(r.n, 2);
	assert_int_equal(r.ev[0].kind, SSE_EVENT_DATA);
	assert_int_equal(r.ev[0].size, 9);
	assert_int_equal(r.ev[0].end, 9);
	assert_int_equal(r.ev[1].kind, SSE_EVENT_DATA);
	assert_int_equal(r.ev[1].size, 9);
	assert_int_equal(r.ev[1].end, 18);
}

static void test_mixed_line_ends(void **state)
{
	struct rec r;

	(void)state;
	/* CRLF ends the data line, LF is the blank line; then CR + CRLF */
	feed_whole(&r, "data: a\r\n\ndata: b\r\r\n");
	assert_int_equal(r.n, 2);
	assert_int_equal(r.ev[0].size, 10);
	assert_int_equal(r.ev[0].end, 10);
	assert_int_equal(r.ev[1].size, 10);
	assert_int_equal(r.ev[1].end, 20);
}

/* CR at the end of one piece, LF at the start of the next: one line end,
 * the ended event's. */
static void test_crlf_split_between_feeds_no_extra_event(void **state)
{
	static const char in[] = "data: a\r\n\r\ndata: b\r\n\r\n";
	size_t len = sizeof(in) - 1;
	struct rec whole, split;
	size_t cut_in_data_line = 8;   /* "data: a\r" | "\n\r\n..." */
	size_t cut_in_blank_line = 10; /* "data: a\r\n\r" | "\n..." */

	(void)state;
	feed_whole(&whole, in);
	assert_int_equal(whole.n, 2);
	assert_false(whole.ev[0].late);

	feed_cuts(&split, in, len, &cut_in_data_line, 1);
	assert_same(&split, &whole);

	feed_cuts(&split, in, len, &cut_in_blank_line, 1);
	assert_int_equal(split.n, 2);
	/* the event ends with the LF, told by the next piece */
	assert_event(&split, 0, SSE_EVENT_DATA, 11, 11, true);
	assert_event(&split, 1, SSE_EVENT_DATA, 11, 22, false);
}

/* The LF after a piece ending in CR may come after an empty piece. */
static void test_crlf_split_with_empty_feed_between(void **state)
{
	static const char in[] = "data: a\r\n\r\n";
	size_t in_data_line[] = {8, 8}, in_blank_line[] = {10, 10};
	struct rec whole, split;

	(void)state;
	feed_whole(&whole, in);
	feed_cuts(&split, in, sizeof(in) - 1, in_data_line, 2);
	assert_same(&split, &whole);
	feed_cuts(&split, in, sizeof(in) - 1, in_blank_line, 2);
	assert_int_equal(split.n, 1);
	assert_event(&split, 0, SSE_EVENT_DATA, 11, 11, true);
}

/* Events whose blank line's CRLF is cut, a heartbeat and a data event
 * after them: each counts its own LF. */
static void test_event_end_crlf_cut_then_heartbeat_and_data(void **state)
{
	static const char in[] = "data: a\r\n\r\n: hb\r\n\r\ndata: b\r\n\r\n";
	size_t cuts[] = {10, 18};
	struct rec r;

	(void)state;
	feed_cuts(&r, in, sizeof(in) - 1, cuts, 2);
	assert_int_equal(r.n, 3);
	assert_event(&r, 0, SSE_EVENT_DATA, 11, 11, true);
	assert_event(&r, 1, SSE_EVENT_HEARTBEAT, 8, 19, true);
	assert_event(&r, 2, SSE_EVENT_DATA, 11, 30, false);
	assert_int_equal(size_sum(&r), sizeof(in) - 1);
}

/* A piece ends with a blank line's CR, the next begins with no LF: the
 * event ends at the CR, told by that first byte. */
static void test_event_end_cr_then_other_byte(void **state)
{
	static const char in[] = "data: a\r\r: hb\n\n";
	size_t cut = 9;
	struct rec r;

	(void)state;
	feed_cuts(&r, in, sizeof(in) - 1, &cut, 1);
	assert_int_equal(r.n, 2);
	assert_event(&r, 0, SSE_EVENT_DATA, 9, 9, true);
	assert_event(&r, 1, SSE_EVENT_HEARTBEAT, 6, 15, false);
}

/* The body ends right after a blank line's CR: the event waits for what
 * follows, then the end tells it; once. */
static void test_body_ends_after_event_cr(void **state)
{
	struct rec r;

	(void)state;
	rec_start(&r);
	rec_feed(&r, "data: a\r\n\r", 0, 10);
	assert_int_equal(r.n, 0);
	rec_finish(&r);
	assert_int_equal(r.n, 1);
	assert_event(&r, 0, SSE_EVENT_DATA, 10, 10, true);
	rec_finish(&r);
	assert_int_equal(r.n, 1);
}

/* CR at the end of a piece followed by something else than LF. */
static void test_cr_at_piece_end_then_cr(void **state)
{
	static const char in[] = "data: a\r\rdata: b\r\r";
	struct rec whole, split;
	size_t cut = 8;

	(void)state;
	feed_whole(&whole, in);
	feed_cuts(&split, in, sizeof(in) - 1, &cut, 1);
	assert_same(&split, &whole);
	assert_int_equal(split.n, 2);
}

/* ---- event kinds ---- */

static void test_multiline_data_is_one_event(void **state)
{
	struct rec r;

	(void)state;
	feed_whole(&r, "data: line 1\ndata: line 2\ndata: line 3\n\n");
	assert_int_equal(r.n, 1);
	assert_int_equal(r.ev[0].kind, SSE_EVENT_DATA);
	assert_int_equal(r.ev[0].size, 40);
}

static void test_comment_only_is_heartbeat(void **state)
{
	struct rec r;

	(void)state;
	feed_whole(&r, ": ping\n\n:\n\n:a\n:b\n\n");
	assert_int_equal(r.n, 3);
	for (size_t i = 0; i < r.n; i++)
		assert_int_equal(r.ev[i].kind, SSE_EVENT_HEARTBEAT);
	assert_int_equal(r.ev[0].size, 8);
	assert_int_equal(r.ev[1].size, 3);
	assert_int_equal(r.ev[2].size, 7);
}

static void test_event_id_retry_only_is_empty(void **state)
{
	struct rec r;

	(void)state;
	feed_whole(&r, "event: ping\n\nid: 7\n\nretry: 1000\n\nevent: x\nid: 1\nretry: 5\n\n");
	assert_int_equal(r.n, 4);
	for (size_t i = 0; i < r.n; i++)
		assert_int_equal(r.ev[i].kind, SSE_EVENT_EMPTY);
}

static void test_comment_with_field_is_empty(void **state)
{
	struct rec r;

	(void)state;
	feed_whole(&r, ": note\nevent: x\n\n");
	assert_int_equal(r.n, 1);
	assert_int_equal(r.ev[0].kind, SSE_EVENT_EMPTY);
}

static void test_comment_with_data_is_data(void **state)
{
	struct rec r;

	(void)state;
	feed_whole(&r, ": note\ndata: x\n\n");
	assert_int_equal(r.n, 1);
	assert_int_equal(r.ev[0].kind, SSE_EVENT_DATA);
}

static void test_data_without_colon_is_data(void **state)
{
	struct rec r;

	(void)state;
	feed_whole(&r, "data\n\ndata:\n\n");
	assert_int_equal(r.n, 2);
	assert_int_equal(r.ev[0].kind, SSE_EVENT_DATA);
	assert_int_equal(r.ev[0].size, 6);
	assert_int_equal(r.ev[1].kind, SSE_EVENT_DATA);
	assert_int_equal(r.ev[1].size, 7);
}

static void test_names_like_data_are_not_data(void **state)
{
	struct rec r;

	(void)state;
	feed_whole(&r, "dat: x\n\ndatum: x\n\ndatadata: x\n\nDATA: x\n\n data: x\n\n");
	assert_int_equal(r.n, 5);
	for (size_t i = 0; i < r.n; i++)
		assert_int_equal(r.ev[i].kind, SSE_EVENT_EMPTY);
}

static void test_event_field_with_data_is_data(void **state)
{
	struct rec r;

	(void)state;
	feed_whole(&r, "event: delta\nid: 3\ndata: {\"x\":1}\n\n");
	assert_int_equal(r.n, 1);
	assert_int_equal(r.ev[0].kind, SSE_EVENT_DATA);
}

static void test_colon_in_value_does_not_change_name(void **state)
{
	struct rec r;

	(void)state;
	feed_whole(&r, "event: data:\n\n");
	assert_int_equal(r.n, 1);
	assert_int_equal(r.ev[0].kind, SSE_EVENT_EMPTY);
}

/*
 * WHATWG decodes the stream as UTF-8, which strips one leading byte order
 * mark: "\xEF\xBB\xBFdata: x" is a data field, and the stream's first
 * event counts (with its TTFC).
 */
static void test_leading_bom_stripped(void **state)
{
	struct rec r;

	(void)state;
	feed_whole(&r, "\xEF\xBB\xBF"
		       "data: x\n\ndata: y\n\n");
	assert_int_equal(r.n, 2);
	assert_int_equal(r.ev[1].kind, SSE_EVENT_DATA);
	assert_int_equal(r.ev[0].size, 12); /* the BOM is bytes on the wire */
	assert_int_equal(r.ev[0].kind, SSE_EVENT_DATA);
}

/* ---- several events, sizes, offsets ---- */

static void test_several_events_in_one_buffer(void **state)
{
	static const char in[] = "data: a\n\n: hb\n\nevent: e\n\ndata: bb\n\n";
	struct rec r;

	(void)state;
	feed_whole(&r, in);
	assert_int_equal(r.n, 4);
	assert_int_equal(r.ev[0].kind, SSE_EVENT_DATA);
	assert_int_equal(r.ev[1].kind, SSE_EVENT_HEARTBEAT);
	assert_int_equal(r.ev[2].kind, SSE_EVENT_EMPTY);
	assert_int_equal(r.ev[3].kind, SSE_EVENT_DATA);
	assert_int_equal(r.ev[0].end, 9);
	assert_int_equal(r.ev[1].end, 15);
	assert_int_equal(r.ev[2].end, 25);
	assert_int_equal(r.ev[3].end, 35);
	assert_int_equal(r.ev[0].size, 9);
	assert_int_equal(r.ev[1].size, 6);
	assert_int_equal(r.ev[2].size, 10);
	assert_int_equal(r.ev[3].size, 10);
	assert_int_equal(size_sum(&r), sizeof(in) - 1);
}

static void test_end_offsets_are_per_piece(void **state)
{
	struct rec r;

	(void)state;
	rec_start(&r);
	rec_feed(&r, "data: a\n", 0, 8);
	assert_int_equal(r.n, 0);
	rec_feed(&r, "\ndata: b\n\nxx", 0, 12);
	assert_int_equal(r.n, 2);
	/* rec adds the piece's base (8): ends 1 and 10 within the piece */
	assert_int_equal(r.ev[0].end, 9);
	assert_int_equal(r.ev[0].size, 9);
	assert_int_equal(r.ev[1].end, 18);
	assert_int_equal(r.ev[1].size, 9);
}

static void test_extra_blank_lines_make_no_events(void **state)
{
	static const char in[] = "\n\ndata: a\n\n\n\n\r\n\rdata: b\n\n\n";
	struct rec r;

	(void)state;
	feed_whole(&r, in);
	assert_int_equal(r.n, 2);
	assert_int_equal(r.ev[0].kind, SSE_EVENT_DATA);
	assert_int_equal(r.ev[1].kind, SSE_EVENT_DATA);
	/* line ends before an event are counted in it (sse.h) */
	assert_int_equal(r.ev[0].size, 11);
	assert_int_equal(r.ev[0].end, 11);
	assert_int_equal(r.ev[1].size, 14);
	assert_int_equal(r.ev[1].end, 25);
}

static void test_only_blank_lines_make_no_events(void **state)
{
	struct rec r;

	(void)state;
	feed_whole(&r, "\n\n\r\n\r\r\n\n");
	assert_int_equal(r.n, 0);
}

static void test_unterminated_event_not_dispatched(void **state)
{
	struct rec r;

	(void)state;
	feed_whole(&r, "data: a\ndata: b\n");
	assert_int_equal(r.n, 0);
	feed_whole(&r, "data: a");
	assert_int_equal(r.n, 0);
}

static void test_null_callback_is_allowed(void **state)
{
	struct rec r;

	(void)state;
	rec_start(&r);
	sse_splitter_init(&r.s, NULL); /* nor a data callback */
	sse_feed(&r.s, "data: a\n\n", 9, NULL, NULL);
	rec_feed(&r, "data: b\n\n", 0, 9);
	assert_int_equal(r.n, 1);
	assert_int_equal(r.ev[0].size, 9); /* state was reset by the first */
}

static void test_long_field_name_and_line(void **state)
{
	char in[2048];
	struct rec r;
	size_t n = 0;

	(void)state;
	memset(in, 'x', 600);
	n = 600;
	memcpy(in + n, ": v\n\n", 5);
	n += 5;
	in[n] = '\0';
	feed_whole(&r, in);
	assert_int_equal(r.n, 1);
	assert_int_equal(r.ev[0].kind, SSE_EVENT_EMPTY);
	assert_int_equal(r.ev[0].size, n);

	memcpy(in, "data: ", 6);
	memset(in + 6, 'y', 1000);
	memcpy(in + 1006, "\n\n", 3);
	feed_whole(&r, in);
	assert_int_equal(r.n, 1);
	assert_int_equal(r.ev[0].kind, SSE_EVENT_DATA);
	assert_int_equal(r.ev[0].size, 1008);
}

/* ---- data hash: what a client's onmessage gets, not the framing ---- */

static uint64_t hash_of(const char *in)
{
	struct rec r;

	feed_whole(&r, in);
	assert_int_equal(r.n, 1);
	return r.ev[0].data_hash;
}

static void test_data_hash_ignores_framing(void **state)
{
	uint64_t h = hash_of("data: a\ndata: b\n\n");

	(void)state;
	assert_int_not_equal(h, SSE_DATA_HASH_EMPTY);
	assert_int_equal(hash_of("data:a\r\ndata:b\r\n\r\n"), h);
	assert_int_equal(hash_of("event: x\ndata: a\nid: 7\ndata: b\n\n"), h);
	assert_int_equal(hash_of(": note\ndata: a\rdata: b\r\r"), h);
}

static void test_data_hash_follows_the_data(void **state)
{
	uint64_t h = hash_of("data: a\ndata: b\n\n");

	(void)state;
	assert_int_not_equal(hash_of("data: ab\n\n"), h);
	assert_int_not_equal(hash_of("data: a\n\n"), h);
	assert_int_not_equal(hash_of("data: b\ndata: a\n\n"), h);
	/* only one leading space belongs to the framing */
	assert_int_not_equal(hash_of("data:  a\ndata: b\n\n"), h);
	/* "data: a:b" keeps its colon */
	assert_int_not_equal(hash_of("data: a:b\n\n"), hash_of("data: ab\n\n"));
}

static void test_data_hash_empty_without_data(void **state)
{
	(void)state;
	assert_int_equal(hash_of(": heartbeat\n\n"), SSE_DATA_HASH_EMPTY);
	assert_int_equal(hash_of("event: e\nid: 1\n\n"), SSE_DATA_HASH_EMPTY);
	assert_int_equal(hash_of("data\n\n"), SSE_DATA_HASH_EMPTY);
	assert_int_not_equal(hash_of("data\ndata\n\n"), SSE_DATA_HASH_EMPTY);
}

static uint64_t fnv1a(const char *p, size_t n)
{
	uint64_t h = SSE_DATA_HASH_EMPTY;

	for (size_t i = 0; i < n; i++)
		h = (h ^ (uint8_t)p[i]) * 0x100000001b3ull;
	return h;
}

/* The data callback gets what the hash covers, before the event. */
static void test_data_callback_gets_the_data(void **state)
{
	static const char want[] = "a\n b\n\nc:d";
	struct rec r;

	(void)state;
	feed_whole(&r, "event: x\ndata: a\n: c\ndata:  b\rdata\r\ndata:c:d\n\n"
		       ": hb\n\ndata: e\n\n");
	assert_int_equal(r.n, 3);
	assert_int_equal(r.ev[0].data_end, sizeof(want) - 1);
	assert_memory_equal(r.data, want, sizeof(want) - 1);
	assert_int_equal(r.ev[0].data_hash, fnv1a(want, sizeof(want) - 1));
	assert_int_equal(r.ev[1].data_end, r.ev[0].data_end);
	assert_int_equal(r.ev[2].data_end, r.ev[1].data_end + 1);
	assert_memory_equal(r.data + r.ev[1].data_end, "e", 1);
	assert_int_equal(r.ev[2].data_hash, fnv1a("e", 1));
}

/* ---- any split gives the same result ---- */

static const char split_lf[] = ": hb\n\ndata: {\"a\":1}\ndata: x\n\nevent: e\nid: 9\n\n"
			       "\n\ndata\n\n";
static const char split_crlf[] = ": hb\r\n\r\ndata: {\"a\":1}\r\ndata: x\r\n\r\n"
				 "event: e\r\nid: 9\r\n\r\n\r\ndata\r\n\r\n";
static const char split_cr[] = ": hb\r\rdata: {\"a\":1}\rdata: x\r\revent: e\rid: 9\r\r\rdata\r\r";
static const char split_mixed[] = "data: a\r\n\ndata: b\r\r\n: c\n\r\nevent: d\r\rdata\r\n\r\n";

static void test_every_split_point_lf(void **state)
{
	(void)state;
	check_every_split(split_lf);
}

static void test_every_split_point_crlf(void **state)
{
	(void)state;
	check_every_split(split_crlf);
}

static void test_every_split_point_cr(void **state)
{
	(void)state;
	check_every_split(split_cr);
}

static void test_every_split_point_mixed(void **state)
{
	(void)state;
	check_every_split(split_mixed);
}

static void test_every_two_split_points(void **state)
{
	const char *inputs[] = {split_lf, split_crlf, split_cr, split_mixed};

	(void)state;
	for (size_t k = 0; k < 4; k++) {
		const char *in = inputs[k];
		size_t len = strlen(in);
		struct rec whole, split, exp1, exp2;

		feed_whole(&whole, in);
		for (size_t i = 0; i <= len; i++) {
			expected_for_split(&whole, in, len, i, &exp1);
			for (size_t j = i; j <= len; j++) {
				size_t cuts[] = {i, j};

				if (j == i)
					exp2 = exp1;
				else
					expected_for_split(&exp1, in, len, j, &exp2);
				feed_cuts(&split, in, len, cuts, 2);
				assert_same(&split, &exp2);
			}
		}
	}
}

/* Byte by byte, every CR ends a piece: the same events as whole, late if
 * their blank lines end with CR. */
static void check_bytewise(const char *in, bool late)
{
	struct rec whole, bytes;

	feed_whole(&whole, in);
	feed_bytewise(&bytes, in);
	for (size_t i = 0; i < whole.n; i++)
		whole.ev[i].late |= late;
	assert_same(&bytes, &whole);
}

static void test_bytewise_lf_same_as_whole(void **state)
{
	(void)state;
	check_bytewise(split_lf, false);
}

static void test_bytewise_cr_same_but_late(void **state)
{
	(void)state;
	check_bytewise(split_cr, true);
}

static void test_bytewise_crlf_same_but_late(void **state)
{
	(void)state;
	check_bytewise(split_crlf, true);
}

/* ---- recognising an event-stream body by its first bytes ---- */

#define BOM "\xef\xbb\xbf"

/* Each of the bodies begins so. */
static void assert_starts(const char *const *bodies, size_t n, enum sse_start want)
{
	for (size_t i = 0; i < n; i++)
		if (sse_body_start(bodies[i], strlen(bodies[i])) != want)
			fail_msg("[%s] is not %d", bodies[i], want);
}

#define ASSERT_STARTS(bodies, want) assert_starts(bodies, sizeof(bodies) / sizeof(bodies[0]), want)

/* The last, SSE_START_MAX bytes, as any so many: they always tell. */
static void test_body_start_fields_and_comments(void **state)
{
	static const char *const yes[] = {
	    "data: {}\n\n",	"data\n\n",	   "event: ping\r\n", "id:7\n", "retry: 100\n", ":",
	    ": keep-alive\n\n", BOM "data: x\n\n", BOM "retry:",
	};

	(void)state;
	ASSERT_STARTS(yes, SSE_START_YES);
}

/* A first write may end inside the field name or the byte order mark:
 * the bytes after it tell (a prefix said yes at once, and "dat" then
 * "c: x" made a stream of what whole is none: fuzz_http_conn). */
static void test_body_start_prefixes(void **state)
{
	static const char *const maybe[] = {
	    "d", "dat", "ev", "data", "retry", "\xef", "\xef\xbb", BOM, BOM "da",
	};

	(void)state;
	ASSERT_STARTS(maybe, SSE_START_MAYBE);
}

static void test_body_start_other_bodies(void **state)
{
	static const char *const no[] = {
	    "{\"data\": 1}",
	    "[1]",
	    "<html>",
	    "database ready\n",
	    " data: x\n",
	    "\n",
	    "",
	    "dx",
	    "datc: x\n\n",
	    BOM "retryx",
	    "\xef"
	    "d",
	};

	(void)state;
	ASSERT_STARTS(no, SSE_START_NO);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_lf_line_ends),
	    cmocka_unit_test(test_crlf_line_ends),
	    cmocka_unit_test(test_cr_line_ends),
	    cmocka_unit_test(test_mixed_line_ends),
	    cmocka_unit_test(test_crlf_split_between_feeds_no_extra_event),
	    cmocka_unit_test(test_crlf_split_with_empty_feed_between),
	    cmocka_unit_test(test_event_end_crlf_cut_then_heartbeat_and_data),
	    cmocka_unit_test(test_event_end_cr_then_other_byte),
	    cmocka_unit_test(test_body_ends_after_event_cr),
	    cmocka_unit_test(test_cr_at_piece_end_then_cr),
	    cmocka_unit_test(test_multiline_data_is_one_event),
	    cmocka_unit_test(test_comment_only_is_heartbeat),
	    cmocka_unit_test(test_event_id_retry_only_is_empty),
	    cmocka_unit_test(test_comment_with_field_is_empty),
	    cmocka_unit_test(test_comment_with_data_is_data),
	    cmocka_unit_test(test_data_without_colon_is_data),
	    cmocka_unit_test(test_names_like_data_are_not_data),
	    cmocka_unit_test(test_event_field_with_data_is_data),
	    cmocka_unit_test(test_colon_in_value_does_not_change_name),
	    cmocka_unit_test(test_leading_bom_stripped),
	    cmocka_unit_test(test_several_events_in_one_buffer),
	    cmocka_unit_test(test_end_offsets_are_per_piece),
	    cmocka_unit_test(test_extra_blank_lines_make_no_events),
	    cmocka_unit_test(test_only_blank_lines_make_no_events),
	    cmocka_unit_test(test_unterminated_event_not_dispatched),
	    cmocka_unit_test(test_null_callback_is_allowed),
	    cmocka_unit_test(test_long_field_name_and_line),
	    cmocka_unit_test(test_data_hash_ignores_framing),
	    cmocka_unit_test(test_data_hash_follows_the_data),
	    cmocka_unit_test(test_data_hash_empty_without_data),
	    cmocka_unit_test(test_data_callback_gets_the_data),
	    cmocka_unit_test(test_every_split_point_lf),
	    cmocka_unit_test(test_every_split_point_crlf),
	    cmocka_unit_test(test_every_split_point_cr),
	    cmocka_unit_test(test_every_split_point_mixed),
	    cmocka_unit_test(test_every_two_split_points),
	    cmocka_unit_test(test_bytewise_lf_same_as_whole),
	    cmocka_unit_test(test_bytewise_cr_same_but_late),
	    cmocka_unit_test(test_bytewise_crlf_same_but_late),
	    cmocka_unit_test(test_body_start_fields_and_comments),
	    cmocka_unit_test(test_body_start_prefixes),
	    cmocka_unit_test(test_body_start_other_bodies),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
