// SPDX-License-Identifier: MIT
/*
 * proto/body_inflate: a body fed whole and in pieces gives the same
 * status and the same output, within the cap. The input's first byte
 * after the split says how: the bytes as the body, with the coding gzip
 * or deflate; or the bytes compressed here as gzip, zlib or raw deflate,
 * which must inflate back to themselves, whole and in pieces.
 */
#include <string.h>
#include <zlib.h>

#include "fuzz.h"
#include "proto/body_inflate.h"

struct run {
	struct body_inflate b;
	enum body_inflate_status status;
	size_t out_len;
	uint64_t out_hash;
};

static void on_out(void *arg, const char *buf, size_t len)
{
	struct run *r = arg;

	FUZZ_CHECK(len > 0 && len <= BODY_INFLATE_CHUNK, "a piece of %zu bytes", len);
	r->out_len += len;
	r->out_hash = fuzz_hash(r->out_hash, buf, len);
}

static void feed(void *arg, const uint8_t *buf, size_t off, size_t len)
{
	struct run *r = arg;

	r->status = body_inflate_feed(&r->b, (const char *)buf + off, len, on_out, r);
}

static void run(struct run *r, bool deflate, struct fuzz_split *s, const uint8_t *buf, size_t len)
{
	memset(r, 0, sizeof(*r));
	r->out_hash = FUZZ_HASH_INIT;
	body_inflate_init(&r->b, deflate);
	fuzz_feed(s, buf, len, feed, r);
	body_inflate_end(&r->b);
	FUZZ_CHECK(r->out_len <= BODY_INFLATE_CAP_BYTES && r->out_len == r->b.out_total,
		   "%zu bytes out, %llu counted", r->out_len, (unsigned long long)r->b.out_total);
}

/* in[0..len) compressed with zlib's window bits into a new buffer. */
static uint8_t *compress_as(int bits, const uint8_t *in, size_t len, size_t *out_len)
{
	size_t size = len + len / 8 + 64;
	uint8_t *out = malloc(size);
	z_stream z;

	memset(&z, 0, sizeof(z));
	if (!out || deflateInit2(&z, 6, Z_DEFLATED, bits, 8, Z_DEFAULT_STRATEGY) != Z_OK) {
		free(out);
		return NULL;
	}
	z.next_in = (Bytef *)in;
	z.avail_in = (uInt)len;
	z.next_out = out;
	z.avail_out = (uInt)size;
	FUZZ_CHECK(deflate(&z, Z_FINISH) == Z_STREAM_END, "zlib could not compress");
	*out_len = z.total_out;
	deflateEnd(&z);
	return out;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const int bits[] = {15 + 16, 15, -15}; /* gzip, zlib, raw deflate */
	static struct run whole, split;
	const uint8_t *body;
	struct fuzz_split s;
	size_t body_len;
	uint8_t *packed = NULL, mode;
	bool deflate;

	if (!fuzz_split_take_mode(&s, &data, &size, &mode))
		return 0;
	mode %= 5;
	deflate = mode != 0 && mode != 2;
	body = data;
	body_len = size;
	if (mode >= 2) {
		packed = compress_as(bits[mode - 2], data, size, &body_len);
		if (!packed)
			return 0;
		body = packed;
	}
	run(&whole, deflate, NULL, body, body_len);
	run(&split, deflate, &s, body, body_len);
	FUZZ_CHECK(whole.status == split.status && whole.out_len == split.out_len &&
		       whole.out_hash == split.out_hash,
		   "whole: status %d, %zu bytes; split: %d, %zu", whole.status, whole.out_len,
		   split.status, split.out_len);
	if (packed)
		FUZZ_CHECK(whole.status == BODY_INFLATE_MORE && whole.out_len == size &&
			       whole.out_hash == fuzz_hash(FUZZ_HASH_INIT, data, size),
			   "compressed %zu bytes, inflated %zu (status %d)", size, whole.out_len,
			   whole.status);
	free(packed);
	return 0;
}
