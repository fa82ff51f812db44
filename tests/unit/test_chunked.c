// SPDX-License-Identifier: MIT
/* Unit tests of the incremental chunked transfer decoder. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "proto/chunked.h"
#include "split.h"

#define SINK_MAX (1 << 20)

/* Collects the decoded data; checks the callback is never given 0 bytes. */
struct sink {
	char data[SINK_MAX];
	size_t len;
	size_t calls;
};

static void sink_cb(void *ctx, const char *data, size_t len)
{
	struct sink *s = ctx;

	assert_true(len > 0);
	assert_true(s->len + len <= SINK_MAX);
	memcpy(s->data + s->len, data, len);
	s->len += len;
	s->calls++;
}

struct run {
	struct chunked_decoder d;
	enum chunked_result res;
	size_t used; /* bytes of the whole input consumed */
	struct sink out;
};

static void run_start(void *vr)
{
	struct run *r = vr;

	chunked_init(&r->d);
	r->out.len = 0;
	r->out.calls = 0;
	r->res = CHUNKED_MORE;
	r->used = 0;
}

/* Feeds one piece; stops at the first final result, like a caller. */
static bool run_feed(void *vr, const char *in, size_t off, size_t len)
{
	struct run *r = vr;
	size_t used = 12345;

	r->res = chunked_feed(&r->d, in + off, len, &used, sink_cb, &r->out);
	if (r->res == CHUNKED_MORE)
		assert_int_equal(used, len);
	else
		assert_true(used <= len);
	r->used = off + used;
	return r->res == CHUNKED_MORE;
}

/* On ERROR only the outcome must agree: data before the error may differ. */
static void assert_same(const void *va, const void *vb)
{
	const struct run *a = va, *b = vb;

	assert_int_equal(a->res, b->res);
	assert_int_equal(a->used, b->used);
	if (a->res == CHUNKED_ERROR)
		return;
	assert_int_equal(a->out.len, b->out.len);
	assert_memory_equal(a->out.data, b->out.data, a->out.len);
}

static const struct split_driver driver = {
    .start = run_start,
    .feed = run_feed,
    .same = assert_same,
    .pairs_max = 200,
};

static struct run R, other;

/* Whole, every split point, every pair of split points (short), bytewise. */
static void decode_all_ways(const char *in, size_t len)
{
	split_all_ways(&driver, &R, &other, in, len);
}

static void decode_str(const char *in)
{
	decode_all_ways(in, strlen(in));
}

static void assert_data(const char *want)
{
	assert_int_equal(R.out.len, strlen(want));
	assert_memory_equal(R.out.data, want, R.out.len);
}

static void test_basic(void **state)
{
	const char *in = "5\r\nhello\r\n0\r\n\r\n";

	(void)state;
	decode_str(in);
	assert_int_equal(R.res, CHUNKED_DONE);
	assert_int_equal(R.used, strlen(in));
	assert_data("hello");
}

static void test_several_chunks_hex_case(void **state)
{
	(void)state;
	decode_str("3\r\nabc\r\nA\r\n0123456789\r\na\r\nABCDEFGHIJ\r\n"
		   "1b\r\n:::::::::::::::::::::::::::\r\n0\r\n\r\n");
	assert_int_equal(R.res, CHUNKED_DONE);
	assert_data("abc0123456789ABCDEFGHIJ:::::::::::::::::::::::::::");

	decode_str("1F\r\n0123456789012345678901234567890\r\n00\r\n\r\n");
	assert_int_equal(R.res, CHUNKED_DONE);
	assert_int_equal(R.out.len, 31);
}

static void test_bare_lf(void **state)
{
	(void)state;
	decode_str("5\nhello\n6\r\n world\n0\n\n");
	assert_int_equal(R.res, CHUNKED_DONE);
	assert_data("hello world");
	decode_str("2\nhi\r\n0\r\n\n");
	assert_int_equal(R.res, CHUNKED_DONE);
	assert_data("hi");
}

static void test_data_with_crlf_inside(void **state)
{
	(void)state;
	/* framing bytes inside data are data */
	decode_str("6\r\n\r\n0\r\n\r\n0\r\n\r\n");
	assert_int_equal(R.res, CHUNKED_DONE);
	assert_data("\r\n0\r\n\r");
	assert_int_equal(R.used, 15);
}

static void test_extensions(void **state)
{
	(void)state;
	decode_str("5;foo=bar\r\nhello\r\n"
		   "1 ; name=\"quoted;\\\"value\"\r\nX\r\n"
		   "2\t;x\r\nyz\r\n"
		   "0;last=1\r\n\r\n");
	assert_int_equal(R.res, CHUNKED_DONE);
	assert_data("helloXyz");
	/* whitespace after the size without an extension */
	decode_str("3  \r\nabc\r\n0\r\n\r\n");
	assert_int_equal(R.res, CHUNKED_DONE);
	assert_data("abc");
}

static void test_trailers(void **state)
{
	const char *in = "4\r\nwxyz\r\n0\r\nX-Checksum: abc\r\nServer-Timing: a;dur=1\n\r\n";

	(void)state;
	decode_str(in);
	assert_int_equal(R.res, CHUNKED_DONE);
	assert_int_equal(R.used, strlen(in));
	assert_data("wxyz");
	/* bare CR inside an ignored trailer line */
	decode_str("0\r\nX: a\rb\r\n\r\n");
	assert_int_equal(R.res, CHUNKED_DONE);
}

static void test_pipelined_next_message(void **state)
{
	const char *in = "2\r\nok\r\n0\r\n\r\nHTTP/1.1 200 OK\r\n\r\n";

	(void)state;
	decode_str(in);
	assert_int_equal(R.res, CHUNKED_DONE);
	assert_int_equal(R.used, strlen("2\r\nok\r\n0\r\n\r\n"));
	assert_data("ok");

	decode_str("0\n\nGET");
	assert_int_equal(R.res, CHUNKED_DONE);
	assert_int_equal(R.used, 3);
}

/* The final CR and LF in different buffers. */
static void test_final_crlf_split(void **state)
{
	struct chunked_decoder d;
	struct sink *s = &R.out;
	size_t used;

	(void)state;
	s->len = 0;
	chunked_init(&d);
	assert_int_equal(chunked_feed(&d, "1\r\nx\r\n0\r\n\r", 10, &used, sink_cb, s),
			 CHUNKED_MORE);
	assert_int_equal(used, 10);
	assert_int_equal(chunked_feed(&d, "", 0, &used, sink_cb, s), CHUNKED_MORE);
	assert_int_equal(used, 0);
	assert_int_equal(chunked_feed(&d, "\nNEXT", 5, &used, sink_cb, s), CHUNKED_DONE);
	assert_int_equal(used, 1);
	assert_int_equal(s->len, 1);

	/* after DONE nothing more is consumed */
	assert_int_equal(chunked_feed(&d, "5\r\n", 3, &used, sink_cb, s), CHUNKED_DONE);
	assert_int_equal(used, 0);
}

static void test_size_limits(void **state)
{
	struct chunked_decoder d;
	size_t used;

	(void)state;
	/* 15 hex digits are accepted (the data just has not come yet) */
	chunked_init(&d);
	assert_int_equal(chunked_feed(&d, "fffffffffffffff\r\nab", 19, &used, NULL, NULL),
			 CHUNKED_MORE);
	assert_int_equal(d.f.remaining, 0xfffffffffffffffULL - 2);
	/* 16 digits are not, even with leading zeros */
	decode_str("1000000000000000\r\n");
	assert_int_equal(R.res, CHUNKED_ERROR);
	decode_str("0000000000000005\r\nhello\r\n0\r\n\r\n");
	assert_int_equal(R.res, CHUNKED_ERROR);
	decode_str("ffffffffffffffffffffffff\r\n");
	assert_int_equal(R.res, CHUNKED_ERROR);
	assert_int_equal(R.used, 16);
	decode_str("000000000000005\r\nhello\r\n0\r\n\r\n");
	assert_int_equal(R.res, CHUNKED_DONE);
	assert_data("hello");
}

static void test_malformed(void **state)
{
	static const char *const bad[] = {
	    "x\r\n",		      /* not hex */
	    "\r\n",		      /* empty size */
	    ";ext\r\n",		      /* extension without size */
	    " 5\r\nhello\r\n",	      /* leading space */
	    "-5\r\n",		      /* sign */
	    "0x5\r\nhello\r\n",	      /* C prefix */
	    "5 x\r\nhello\r\n",	      /* junk after size */
	    "5\rX",		      /* bare CR in size line */
	    "5\r\nhelloX\r\n",	      /* data longer than size */
	    "5\r\nhello\r\r\n",	      /* CR CR after data */
	    "5\r\nhello\rX",	      /* bare CR after data */
	    "5\r\nhello\r\n0\r\n\rX", /* bare CR at a trailer line start */
	    "g\r\n",
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		decode_str(bad[i]);
		if (R.res != CHUNKED_ERROR)
			fail_msg("accepted: %s", bad[i]);
	}
}

static void test_error_is_sticky(void **state)
{
	struct chunked_decoder d;
	size_t used;

	(void)state;
	chunked_init(&d);
	assert_int_equal(chunked_feed(&d, "zz", 2, &used, NULL, NULL), CHUNKED_ERROR);
	assert_int_equal(used, 1);
	assert_int_equal(chunked_feed(&d, "0\r\n\r\n", 5, &used, NULL, NULL), CHUNKED_ERROR);
	assert_int_equal(used, 0);
}

static void test_null_callback(void **state)
{
	struct chunked_decoder d;
	size_t used;

	(void)state;
	chunked_init(&d);
	assert_int_equal(chunked_feed(&d, "3\r\nabc\r\n0\r\n\r\n", 13, &used, NULL, NULL),
			 CHUNKED_DONE);
	assert_int_equal(used, 13);
}

static void test_long_lines(void **state)
{
	static char in[80000];
	size_t n;

	(void)state;
	/* a long but bounded extension is skipped */
	n = (size_t)snprintf(in, sizeof(in), "2;");
	memset(in + n, 'e', 3000);
	n += 3000;
	n += (size_t)snprintf(in + n, sizeof(in) - n, "\r\nab\r\n0\r\n\r\n");
	split_feed_whole(&driver, &R, in, n);
	assert_int_equal(R.res, CHUNKED_DONE);
	assert_data("ab");

	/* an endless one is not */
	n = (size_t)snprintf(in, sizeof(in), "2;");
	memset(in + n, 'e', 5000);
	n += 5000;
	split_feed_whole(&driver, &R, in, n);
	assert_int_equal(R.res, CHUNKED_ERROR);
	split_feed_bytewise(&driver, &other, in, n);
	assert_same(&R, &other);

	/* nor an endless trailer section, even in short lines */
	n = (size_t)snprintf(in, sizeof(in), "0\r\n");
	while (n < 70000)
		n += (size_t)snprintf(in + n, sizeof(in) - n, "X-T: 123456789\r\n");
	split_feed_whole(&driver, &R, in, n);
	assert_int_equal(R.res, CHUNKED_ERROR);
	split_feed_bytewise(&driver, &other, in, n);
	assert_same(&R, &other);
}

/* Many small chunks, like an SSE stream: data arrives in order. */
static void test_sse_like_stream(void **state)
{
	static char in[60000], want[40000];
	size_t n = 0, w = 0, i;

	(void)state;
	for (i = 0; i < 500; i++) {
		char ev[64];
		int len = snprintf(ev, sizeof(ev), "data: {\"i\":%zu}\n\n", i);

		n += (size_t)snprintf(in + n, sizeof(in) - n, "%x\r\n%s\r\n", len, ev);
		memcpy(want + w, ev, (size_t)len);
		w += (size_t)len;
	}
	n += (size_t)snprintf(in + n, sizeof(in) - n, "0\r\n\r\n");
	want[w] = '\0';
	decode_all_ways(in, n);
	assert_int_equal(R.res, CHUNKED_DONE);
	assert_int_equal(R.used, n);
	assert_data(want);
}

/* One big chunk in 1000-byte reads: data in many callbacks, none lost. */
static void test_big_chunk(void **state)
{
	static char in[120000];
	struct chunked_decoder d;
	size_t n, off = 0, used, i;
	enum chunked_result res = CHUNKED_MORE;

	(void)state;
	n = (size_t)snprintf(in, sizeof(in), "186A0\r\n"); /* 100000 */
	for (i = 0; i < 100000; i++)
		in[n + i] = (char)('a' + i % 26);
	n += 100000;
	n += (size_t)snprintf(in + n, sizeof(in) - n, "\r\n0\r\n\r\n");

	chunked_init(&d);
	R.out.len = 0;
	R.out.calls = 0;
	while (off < n && res == CHUNKED_MORE) {
		size_t piece = n - off < 1000 ? n - off : 1000;

		res = chunked_feed(&d, in + off, piece, &used, sink_cb, &R.out);
		off += used;
	}
	assert_int_equal(res, CHUNKED_DONE);
	assert_int_equal(off, n);
	assert_int_equal(R.out.len, 100000);
	assert_memory_equal(R.out.data, in + 7, 100000);
	assert_true(R.out.calls >= 100);
}

/* ---- robustness ---- */

static void check_random(char *buf, size_t len, unsigned int iter)
{
	(void)iter;
	split_feed_whole(&driver, &R, buf, len);
	assert_true(R.res == CHUNKED_MORE || R.res == CHUNKED_DONE || R.res == CHUNKED_ERROR);
	assert_true(R.used <= len);
	assert_true(R.out.len <= R.used);
	split_check_random(&driver, &R, &other, buf, len);
}

static void test_random_bytes(void **state)
{
	/* mostly framing characters, so that framing gets exercised */
	static const char alphabet[] = "0123456789abcdefABCDEF\r\n;\t =x";
	static char buf[400];

	(void)state;
	split_random_inputs(buf, sizeof(buf), alphabet, sizeof(alphabet) - 1, 20000, check_random);
}

static void test_mutated_streams(void **state)
{
	static const char seed[] = "5;a=b\r\nhello\r\nA\r\n0123456789\n3 \r\nxyz\r\n"
				   "0\r\nT: v\r\n\r\nGET / HTTP/1.1\r\n\r\n";
	static const char alphabet[] = "\r\n;0aF \t";
	static char buf[sizeof(seed)];

	(void)state;
	split_mutations(buf, seed, sizeof(seed) - 1, alphabet, sizeof(alphabet) - 1, 3, 20000,
			check_random);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_basic),
	    cmocka_unit_test(test_several_chunks_hex_case),
	    cmocka_unit_test(test_bare_lf),
	    cmocka_unit_test(test_data_with_crlf_inside),
	    cmocka_unit_test(test_extensions),
	    cmocka_unit_test(test_trailers),
	    cmocka_unit_test(test_pipelined_next_message),
	    cmocka_unit_test(test_final_crlf_split),
	    cmocka_unit_test(test_size_limits),
	    cmocka_unit_test(test_malformed),
	    cmocka_unit_test(test_error_is_sticky),
	    cmocka_unit_test(test_null_callback),
	    cmocka_unit_test(test_long_lines),
	    cmocka_unit_test(test_sse_like_stream),
	    cmocka_unit_test(test_big_chunk),
	    cmocka_unit_test(test_random_bytes),
	    cmocka_unit_test(test_mutated_streams),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
