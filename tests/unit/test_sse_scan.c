// SPDX-License-Identifier: MIT
/*
 * The kernel's stream scanner (include/sse_scan.h) against the parsers user
 * space counts with (proto/chunked.c, proto/sse.c and the metrics'
 * histogram buckets): every case, fed as writes cut at every point and
 * every pair of points, must give the same counts, bytes, timestamps,
 * buckets and end of body on both sides.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "metrics/metrics.h"
#include "scan_twins.h"

#define PAIRS_MAX 160 /* inputs up to this long are also cut at every pair of points */

/* ---- both, cut the same way ---------------------------------------------- */

struct body_case {
	const char *name;
	__u8 framing;
	const char *in;
	size_t len; /* 0: strlen(in) */
};

static void same(const struct outcome *k, const struct outcome *r, const char *name,
		 const size_t *cuts, size_t ncuts)
{
	char where[96];

	snprintf(where, sizeof(where), "%s cut at %zu,%zu (%zu cuts)", name, ncuts ? cuts[0] : 0,
		 ncuts > 1 ? cuts[1] : 0, ncuts);
	if (!memcmp(k, r, sizeof(*k)))
		return;
	print_error("%s: kernel events %llu hb %llu body %llu ev %llu done %d broken %d rest %zu\n"
		    "%s: user   events %llu hb %llu body %llu ev %llu done %d broken %d rest %zu\n",
		    where, (unsigned long long)k->st.data_events,
		    (unsigned long long)k->st.heartbeats, (unsigned long long)k->st.body_bytes,
		    (unsigned long long)k->st.event_bytes, k->done, k->broken, k->rest, where,
		    (unsigned long long)r->st.data_events, (unsigned long long)r->st.heartbeats,
		    (unsigned long long)r->st.body_bytes, (unsigned long long)r->st.event_bytes,
		    r->done, r->broken, r->rest);
	fail_msg("%s: the kernel scanner and user space disagree", where);
}

/* Returns the kernel's outcome, the same as user space's. */
static struct outcome run_cut(const struct body_case *c, size_t len, const size_t *cuts,
			      size_t ncuts)
{
	struct scanner k;
	struct reference r;
	size_t start = 0;

	twins_start(&k, &r, c->framing);
	for (size_t i = 0; i <= ncuts && !r.o.done && !r.o.broken; i++) {
		size_t end = i < ncuts ? cuts[i] : len;
		/* writes 0, 1, 3, 6, ... ms apart: gaps fall in several buckets */
		uint64_t ts = 1000000000ull + (uint64_t)i * (i + 1) / 2 * 1000000ull;

		scan_write(&k, c->in, start, end - start, ts);
		ref_write(&r, c->in, start, end - start, ts);
		start = end;
	}
	twins_end(&k, &r);
	same(&k.o, &r.o, c->name, cuts, ncuts);
	return k.o;
}

static void run_case(const struct body_case *c)
{
	size_t len = c->len ? c->len : strlen(c->in);
	size_t cuts[2];

	run_cut(c, len, NULL, 0);
	for (cuts[0] = 1; cuts[0] < len; cuts[0]++) {
		run_cut(c, len, cuts, 1);
		if (len > PAIRS_MAX)
			continue;
		for (cuts[1] = cuts[0] + 1; cuts[1] < len; cuts[1]++)
			run_cut(c, len, cuts, 2);
	}
}

#define CASE(fr, text)                                                                             \
	{                                                                                          \
#fr ": " text, SCAN_##fr, text, sizeof(text) - 1                                   \
	}

#define X10 "xxxxxxxxxx"
/* data events of 50, 51, 100 and 101 bytes, blank lines' LFs included:
 * at the bound of a size bucket and past it */
#define BOUND_EVENTS                                                                               \
	"data: " X10 X10 X10 X10 "\r\n\r\n"                                                        \
	"data: " X10 X10 X10 X10 "x\r\n\r\n"                                                       \
	"data: " X10 X10 X10 X10 X10 X10 X10 X10 X10 "\r\n\r\n"                                    \
	"data: " X10 X10 X10 X10 X10 X10 X10 X10 X10 "x\r\n\r\n"
/* "data: one\r\n\r" in a chunk, its LF first in the next */
#define CHUNK_CUT_AT_EVENT_END "c\r\ndata: one\r\n\r\r\n"

static const struct body_case cases[] = {
    CASE(CLOSE, "data: hello\n\n"),
    CASE(CLOSE, "data: a\r\n\r\ndata: b\r\rdata:c\n\n: ping\n\nevent: x\nid: 1\n\n"),
    CASE(CLOSE, "data\n\ndata\r\n\r\n: only a comment\r\n\r\n:\n\n\n\n\ndata: late\n\n"),
    CASE(CLOSE, "datax: not data\n\ndat: no\n\n: c\nevent: e\n\nretry: 5\n\n"),
    CASE(CLOSE, "datax\n\ndata \n\nd\n\ndat\r\n\r\ndata\r\r"),
    CASE(CLOSE, "data: {\"choices\":[{\"delta\":{\"content\":\"Hello\"}}]}\n\n"
		"data: {\"choices\":[{\"delta\":{\"content\":\" world\"}}]}\n\ndata: [DONE]\n\n"),
    CASE(CLOSE, "\xef\xbb\xbf"
		"data: bom\n\n"),
    CASE(CLOSE, "\xef\xbb"
		"data: half a bom\n\n: hb\n\n"),
    CASE(CLOSE, "\xef"
		"x\n\ndata: y\n\n"),
    CASE(CLOSE, "data: multi\ndata: line\n\ndata: tail without end"),
    CASE(CLOSE, "data: a\rdata: b\r\r\r\n: x\r\n\r\n"),
    CASE(CHUNKED, "d\r\ndata: hello\n\n\r\n0\r\n\r\n"),
    CASE(CHUNKED,
	 "6\r\ndata: \r\n7\r\nhello\n\n\r\n8\r\n: ping\n\n\r\n0\r\n\r\nGET / HTTP/1.1\r\n"),
    CASE(CHUNKED, "1a;ext=1\r\ndata: a\r\n\r\ndata: b\r\n\r\n\r\n0\r\nX-T: 1\r\n\r\n"),
    CASE(CHUNKED, "3 \r\nda\r\r\n4\r\n\nta:\r\n2\r\nx\n\r\n1\r\n\n\r\n0\r\n\r\n"),
    CASE(CHUNKED, "5\r\ndata:\r\nzz\r\n"),
    CASE(CHUNKED, "5\r\ndata:x\r\n0\r\n\r\n"),
    CASE(CHUNKED, "A\r\n\xef\xbb\xbf"
		  "data:\n\n\r\n0\n\n"),
    /* the CRLF of a blank line ending an event, cut by writes (each cut
     * point) and by chunks, a heartbeat and a data event after it; a body
     * ending right after such a CR */
    CASE(CLOSE, "data: a\r\n\r\n: hb\r\n\r\ndata: b\r\n\r\n"),
    CASE(CLOSE, BOUND_EVENTS),
    CASE(CLOSE, "data: end\r\n\r"),
    CASE(CHUNKED,
	 CHUNK_CUT_AT_EVENT_END "8\r\n\n: hb\r\n\r\r\ne\r\n\ndata: two\r\n\r\n\r\n0\r\n\r\n"),
    CASE(CHUNKED, CHUNK_CUT_AT_EVENT_END "0\r\n\r\n"),
};

static void test_cases(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		run_case(&cases[i]);
	}
}

/* Each blank line's CRLF cut between writes: its LF is the ended event's,
 * whose size is then at a bucket's bound or past it, and whose time is
 * its CR's write (writes 0, 1, 3, 6 and 10 ms in), not its LF's. */
static void test_event_end_crlf_cut(void **state)
{
	struct body_case c = {"bound", SCAN_CLOSE, BOUND_EVENTS, sizeof(BOUND_EVENTS) - 1};
	struct outcome o = run_cut(&c, c.len, (size_t[]){49, 100, 200, 301}, 4);

	(void)state;
	assert_int_equal(c.len, 302);
	assert_int_equal(o.st.data_events, 4);
	assert_int_equal(o.st.event_bytes, 302);
	assert_int_equal(o.st.size_sum, 302);
	assert_int_equal(o.st.size[0], 0);
	assert_int_equal(o.st.size[1], 1); /* 50 */
	assert_int_equal(o.st.size[2], 2); /* 51, 100 */
	assert_int_equal(o.st.size[3], 1); /* 101 */
	assert_int_equal(o.st.t_first_data, 1000000000);
	assert_int_equal(o.st.t_last_event, 1006000000);
	assert_int_equal(o.st.gap_sum_ns, 6000000);
	assert_int_equal(o.st.gap[0], 1); /* 1 ms */
	assert_int_equal(o.st.gap[1], 2); /* 2 and 3 ms */
}

/* An event held for an LF is not in the figures yet; they grow when the
 * next byte comes, or the body ends: by its last chunk or by a close. */
static void test_held_event(void **state)
{
	static const char in[] = "data: a\r\n\r\n";
	struct body_case chunked = {"last chunk", SCAN_CHUNKED, CHUNK_CUT_AT_EVENT_END "0\r\n\r\n",
				    0};
	struct body_case close = {"close", SCAN_CLOSE, "data: end\r\n\r", 0};
	struct scanner k;
	struct outcome o;

	(void)state;
	memset(&k, 0, sizeof(k));
	sse_scan_init(&k.s, SCAN_CLOSE);
	scan_write(&k, in, 0, 10, 1000);
	assert_int_equal(k.o.st.body_bytes, 10);
	assert_int_equal(k.o.st.data_events, 0);
	assert_int_equal(k.o.st.event_bytes, 0);
	scan_write(&k, in, 10, 1, 2000);
	assert_int_equal(k.o.st.data_events, 1);
	assert_int_equal(k.o.st.event_bytes, 11);
	assert_int_equal(k.o.st.t_first_data, 1000);
	sse_scan_release(&k.s, &k.o.st); /* none held now */
	assert_int_equal(k.o.st.data_events, 1);

	o = run_cut(&chunked, strlen(chunked.in), NULL, 0);
	assert_true(o.done);
	assert_int_equal(o.st.data_events, 1);
	assert_int_equal(o.st.event_bytes, 12);
	o = run_cut(&close, strlen(close.in), NULL, 0);
	assert_int_equal(o.st.data_events, 1);
	assert_int_equal(o.st.event_bytes, 12);
}

/* Writes longer than a piece, lines longer than a step's look. */
static void test_long(void **state)
{
	static char in[3 * SCAN_PIECE + 200];
	size_t n = 0;
	struct body_case c = {"long", SCAN_CLOSE, in, 0};

	(void)state;
	while (n + 700 < sizeof(in)) {
		n += sprintf(in + n, "data: ");
		memset(in + n, 'x', 600 + n % 37);
		n += 600 + n % 37;
		n += sprintf(in + n, n % 2 ? "\r\n\r\n" : "\n\n");
	}
	c.len = n;
	for (size_t cut = 1; cut < n; cut += 97)
		run_cut(&c, n, (size_t[]){cut}, 1);
	run_cut(&c, n, NULL, 0);
}

/* The buckets the kernel fills are those of the metrics. */
static void test_bounds(void **state)
{
	static const __u64 gap_ns[] = SSE_GAP_BOUNDS_NS;
	static const __u64 sizes[] = SSE_SIZE_BOUNDS;
	struct metrics *m = *state;

	assert_int_equal(sizeof(gap_ns) / sizeof(gap_ns[0]), SSE_GAP_BUCKETS);
	assert_int_equal(m->sse_gap->nbounds, SSE_GAP_BUCKETS);
	assert_int_equal(sizeof(sizes) / sizeof(sizes[0]), SSE_SIZE_BUCKETS);
	assert_int_equal(m->sse_chunk_size->nbounds, SSE_SIZE_BUCKETS);
	for (size_t i = 0; i < SSE_GAP_BUCKETS; i++)
		assert_true(gap_ns[i] / 1e9 == gap_bounds[i]);
	for (size_t i = 0; i < SSE_SIZE_BUCKETS; i++)
		assert_true((double)sizes[i] == size_bounds[i]);
}

static int setup(void **state)
{
	static struct metrics m;
	struct metrics_config cfg = {.max_paths = 10, .max_models = 10, .idle_ns = 1};

	if (metrics_init(&m, &cfg))
		return -1;
	gap_bounds = m.sse_gap->bounds;
	size_bounds = m.sse_chunk_size->bounds;
	*state = &m;
	return 0;
}

static int teardown(void **state)
{
	metrics_free(*state);
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_cases),      cmocka_unit_test(test_event_end_crlf_cut),
	    cmocka_unit_test(test_held_event), cmocka_unit_test(test_long),
	    cmocka_unit_test(test_bounds),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
