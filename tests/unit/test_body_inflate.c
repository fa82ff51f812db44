// SPDX-License-Identifier: MIT
/* Unit tests of the incremental inflation of compressed response bodies.
 * The compressed inputs are made with zlib here, from known bodies. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "compress.h"
#include "llm/usage_scan.h"
#include "proto/body_inflate.h"
#include "split.h"

#define OUT_KEPT 8192 /* output bytes kept for comparison; the rest counted */

static const char body[] =
    "{\"id\":\"chatcmpl-1\",\"object\":\"chat.completion\",\"model\":\"gpt-4o\","
    "\"choices\":[{\"index\":0,\"message\":{\"role\":\"assistant\",\"content\":"
    "\"Compressed answers carry usage too, at the end of the body.\"},"
    "\"finish_reason\":\"stop\"}],"
    "\"usage\":{\"prompt_tokens\":940,\"completion_tokens\":803,\"total_tokens\":1743}}";

struct run {
	struct body_inflate b;
	enum body_inflate_status status;
	struct usage_scan scan;
	char out[OUT_KEPT];
	size_t out_len;	 /* every byte the sink got */
	size_t sink_max; /* largest piece */
};

static struct run R, other;
static bool deflate_coding; /* what start() gives body_inflate_init() */

static void sink(void *ctx, const char *buf, size_t len)
{
	struct run *r = ctx;
	size_t keep = r->out_len < OUT_KEPT ? OUT_KEPT - r->out_len : 0;

	assert_true(len > 0);
	memcpy(r->out + r->out_len, buf, len < keep ? len : keep);
	r->out_len += len;
	if (len > r->sink_max)
		r->sink_max = len;
	usage_scan_feed(&r->scan, buf, len);
}

static void run_start(void *vr)
{
	struct run *r = vr;

	body_inflate_end(&r->b); /* the previous run's */
	body_inflate_init(&r->b, deflate_coding);
	r->status = BODY_INFLATE_MORE;
	usage_scan_init(&r->scan, false);
	r->out_len = 0;
	r->sink_max = 0;
}

/* Feeds on after ERROR or CAP too: later input must change nothing. */
static bool run_feed(void *vr, const char *in, size_t off, size_t len)
{
	struct run *r = vr;
	enum body_inflate_status was = r->status;
	size_t out_before = r->out_len;

	r->status = body_inflate_feed(&r->b, in + off, len, sink, r);
	if (was != BODY_INFLATE_MORE) {
		assert_int_equal(r->status, was);
		assert_int_equal(r->out_len, out_before);
	}
	if (r->status != BODY_INFLATE_MORE)
		assert_false(r->b.z_live); /* zlib's state freed at once */
	return true;
}

static void assert_same(const void *va, const void *vb)
{
	const struct run *a = va, *b = vb;
	struct usage ua, ub;

	assert_int_equal(a->status, b->status);
	assert_int_equal(a->out_len, b->out_len);
	assert_memory_equal(a->out, b->out, a->out_len < OUT_KEPT ? a->out_len : OUT_KEPT);
	usage_scan_result(&a->scan, &ua);
	usage_scan_result(&b->scan, &ub);
	assert_memory_equal(&ua, &ub, sizeof(ua));
}

static const struct split_driver driver = {
    .start = run_start,
    .feed = run_feed,
    .same = assert_same,
    .pairs_max = 160,
};

static int teardown(void **state)
{
	(void)state;
	body_inflate_end(&R.b);
	body_inflate_end(&other.b);
	return 0;
}

static void inflate_all_ways(bool deflate, const unsigned char *in, size_t len)
{
	deflate_coding = deflate;
	split_all_ways(&driver, &R, &other, (const char *)in, len);
}

static void assert_body_and_usage(const struct run *r)
{
	struct usage u;

	assert_int_equal(r->out_len, strlen(body));
	assert_memory_equal(r->out, body, strlen(body));
	usage_scan_result(&r->scan, &u);
	assert_int_equal(u.prompt, 940);
	assert_int_equal(u.completion, 803);
	assert_int_equal(u.total, 1743);
}

/* ---- formats ---- */

static void test_gzip_any_split(void **state)
{
	unsigned char z[1024];
	size_t n = compress_as(GZIP_BITS, body, strlen(body), z, sizeof(z));

	(void)state;
	inflate_all_ways(false, z, n);
	assert_int_equal(R.status, BODY_INFLATE_MORE);
	assert_body_and_usage(&R);
}

/* "deflate" is zlib-wrapped by the RFC; some servers send raw deflate. */
static void test_deflate_wrapped_and_raw(void **state)
{
	unsigned char z[1024];
	size_t n;

	(void)state;
	n = compress_as(ZLIB_BITS, body, strlen(body), z, sizeof(z));
	inflate_all_ways(true, z, n);
	assert_int_equal(R.status, BODY_INFLATE_MORE);
	assert_body_and_usage(&R);
	n = compress_as(RAW_BITS, body, strlen(body), z, sizeof(z));
	inflate_all_ways(true, z, n);
	assert_int_equal(R.status, BODY_INFLATE_MORE);
	assert_body_and_usage(&R);
}

/* The header decides: gzip sent as "deflate" and zlib sent as "gzip" are
 * read, raw deflate sent as "gzip" is not. */
static void test_header_decides(void **state)
{
	unsigned char z[1024];
	size_t n;

	(void)state;
	n = compress_as(GZIP_BITS, body, strlen(body), z, sizeof(z));
	inflate_all_ways(true, z, n);
	assert_body_and_usage(&R);
	n = compress_as(ZLIB_BITS, body, strlen(body), z, sizeof(z));
	inflate_all_ways(false, z, n);
	assert_body_and_usage(&R);
	n = compress_as(RAW_BITS, body, strlen(body), z, sizeof(z));
	inflate_all_ways(false, z, n);
	assert_int_equal(R.status, BODY_INFLATE_ERROR);
	assert_int_equal(R.out_len, 0);
}

/* RFC 1952: members in a row are one body. */
static void test_gzip_members(void **state)
{
	size_t half = strlen(body) / 2;
	unsigned char z[2048];
	size_t n;

	(void)state;
	n = compress_as(GZIP_BITS, body, half, z, sizeof(z));
	n += compress_as(GZIP_BITS, body + half, strlen(body) - half, z + n, sizeof(z) - n);
	inflate_all_ways(false, z, n);
	assert_int_equal(R.status, BODY_INFLATE_MORE);
	assert_body_and_usage(&R);
}

/* ---- failures ---- */

/* Bytes after the stream that are no gzip member stop decoding; what came
 * before is kept. */
static void test_trailing_garbage(void **state)
{
	unsigned char z[1024];
	size_t n = compress_as(GZIP_BITS, body, strlen(body), z, sizeof(z));

	(void)state;
	memcpy(z + n, "junk", 4);
	inflate_all_ways(false, z, n + 4);
	assert_int_equal(R.status, BODY_INFLATE_ERROR);
	assert_body_and_usage(&R);
}

static void test_not_compressed(void **state)
{
	(void)state;
	inflate_all_ways(false, (const unsigned char *)body, strlen(body));
	assert_int_equal(R.status, BODY_INFLATE_ERROR);
	assert_int_equal(R.out_len, 0);
	/* '{' '"' is no zlib header either: raw deflate is tried, and fails */
	inflate_all_ways(true, (const unsigned char *)body, strlen(body));
	assert_int_equal(R.status, BODY_INFLATE_ERROR);
}

/* A changed byte in the data, or in the CRC, is an error. */
static void test_corrupt(void **state)
{
	unsigned char z[1024];
	size_t n = compress_as(GZIP_BITS, body, strlen(body), z, sizeof(z));

	(void)state;
	z[n - 6] ^= 0x55; /* in the CRC32 of the trailer */
	inflate_all_ways(false, z, n);
	assert_int_equal(R.status, BODY_INFLATE_ERROR);
	assert_int_equal(R.out_len, strlen(body));
	z[n - 6] ^= 0x55;
	z[3] = 0xff; /* reserved flag bits of the gzip header */
	inflate_all_ways(false, z, n);
	assert_int_equal(R.status, BODY_INFLATE_ERROR);
	assert_int_equal(R.out_len, 0);
}

/* A truncated body is no error (the call's end tells), only incomplete. */
static void test_truncated(void **state)
{
	unsigned char z[1024];
	size_t n = compress_as(GZIP_BITS, body, strlen(body), z, sizeof(z));

	(void)state;
	inflate_all_ways(false, z, n - 20);
	assert_int_equal(R.status, BODY_INFLATE_MORE);
	assert_true(R.out_len < strlen(body));
	assert_memory_equal(R.out, body, R.out_len);
}

/* ---- the cap ---- */

static unsigned char big_z[BODY_INFLATE_CAP_BYTES / 64];

/* zeros of the given size, then the usage: what the cap cuts off */
static size_t big_body(size_t zeros)
{
	static char plain[BODY_INFLATE_CAP_BYTES + 64];
	static const char tail[] = "{\"usage\":{\"prompt_tokens\":7}}";

	memset(plain, ' ', zeros);
	memcpy(plain + zeros, tail, sizeof(tail) - 1);
	return compress_as(GZIP_BITS, plain, zeros + sizeof(tail) - 1, big_z, sizeof(big_z));
}

static void feed_big(size_t n)
{
	size_t cuts[SPLIT_RANDOM_CUTS], nc = split_random_cuts(n, cuts);

	deflate_coding = false;
	split_feed_whole(&driver, &R, (const char *)big_z, n);
	split_feed(&driver, &other, (const char *)big_z, n, cuts, nc);
	assert_same(&R, &other);
	assert_true(R.sink_max <= BODY_INFLATE_CHUNK);
}

static void test_cap(void **state)
{
	const size_t tail = strlen("{\"usage\":{\"prompt_tokens\":7}}");
	struct usage u;

	(void)state;
	/* exactly the cap: all of it */
	feed_big(big_body(BODY_INFLATE_CAP_BYTES - tail));
	assert_int_equal(R.status, BODY_INFLATE_MORE);
	assert_int_equal(R.out_len, BODY_INFLATE_CAP_BYTES);
	usage_scan_result(&R.scan, &u);
	assert_int_equal(u.prompt, 7);
	/* one byte more: stopped at the cap */
	feed_big(big_body(BODY_INFLATE_CAP_BYTES - tail + 1));
	assert_int_equal(R.status, BODY_INFLATE_CAP);
	assert_int_equal(R.out_len, BODY_INFLATE_CAP_BYTES);
	/* the usage after the cap is not read */
	feed_big(big_body(BODY_INFLATE_CAP_BYTES));
	assert_int_equal(R.status, BODY_INFLATE_CAP);
	assert_int_equal(R.out_len, BODY_INFLATE_CAP_BYTES);
	usage_scan_result(&R.scan, &u);
	assert_int_equal(u.prompt, -1);
}

/* ---- random input never crashes, and does not depend on the split ---- */

static void check_random(char *buf, size_t len, unsigned int iter)
{
	deflate_coding = iter & 1;
	split_feed_whole(&driver, &R, buf, len);
	split_check_random(&driver, &R, &other, buf, len);
}

static void test_mutated(void **state)
{
	static const char alphabet[] = {0x1f, (char)0x8b, 0x08, 0x78, (char)0x9c, 0, 1, (char)0xff};
	unsigned char z[1024];
	char buf[1024];
	size_t n = compress_as(GZIP_BITS, body, strlen(body), z, sizeof(z));

	(void)state;
	split_mutations(buf, (const char *)z, n, alphabet, sizeof(alphabet), 4, 300, check_random);
	n = compress_as(RAW_BITS, body, strlen(body), z, sizeof(z));
	split_mutations(buf, (const char *)z, n, alphabet, sizeof(alphabet), 4, 300, check_random);
	split_random_inputs(buf, sizeof(buf), alphabet, sizeof(alphabet), 300, check_random);
}

static void test_end_is_idempotent(void **state)
{
	struct body_inflate b;

	(void)state;
	memset(&b, 0, sizeof(b));
	body_inflate_end(&b); /* zeroed */
	body_inflate_init(&b, false);
	body_inflate_end(&b); /* nothing allocated yet */
	assert_int_equal(body_inflate_feed(&b, "\x1f\x8b\x08", 3, sink, &R), BODY_INFLATE_MORE);
	assert_true(b.z_live);
	body_inflate_end(&b);
	body_inflate_end(&b);
	assert_false(b.z_live);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_gzip_any_split),
	    cmocka_unit_test(test_deflate_wrapped_and_raw),
	    cmocka_unit_test(test_header_decides),
	    cmocka_unit_test(test_gzip_members),
	    cmocka_unit_test(test_trailing_garbage),
	    cmocka_unit_test(test_not_compressed),
	    cmocka_unit_test(test_corrupt),
	    cmocka_unit_test(test_truncated),
	    cmocka_unit_test(test_cap),
	    cmocka_unit_test(test_mutated),
	    cmocka_unit_test(test_end_is_idempotent),
	};

	return cmocka_run_group_tests(tests, NULL, teardown);
}
