// SPDX-License-Identifier: MIT
/*
 * Incremental inflation of a response body (see body_inflate.h).
 *
 * zlib keeps its own state across calls, so any split of the input gives
 * the same output. Output goes through one fixed buffer on the stack and
 * is handed out as it comes: memory does not grow with the body. zlib's
 * state is allocated with the first two body bytes and freed as soon as
 * decoding stops, and by body_inflate_end otherwise.
 */
#include "proto/body_inflate.h"

#include <limits.h>
#include <string.h>

#define HEAD_LEN 2

void body_inflate_init(struct body_inflate *b, bool deflate)
{
	memset(b, 0, sizeof(*b));
	b->raw_ok = deflate;
	b->cap = BODY_INFLATE_CAP_BYTES;
}

void body_inflate_init_stream(struct body_inflate *b, bool deflate)
{
	body_inflate_init(b, deflate);
	b->cap = UINT64_MAX;
}

void body_inflate_end(struct body_inflate *b)
{
	if (b->z_live)
		inflateEnd(&b->z);
	b->z_live = false;
}

static void stop(struct body_inflate *b, enum body_inflate_status why)
{
	body_inflate_end(b);
	b->status = why;
}

/* The gzip magic, or a zlib header (RFC 1950): deflate with a window of
 * at most 32 KiB, and the check bits right. */
static bool wrapped(const unsigned char h[HEAD_LEN])
{
	if (h[0] == 0x1f && h[1] == 0x8b)
		return true;
	return (h[0] & 0x0f) == 8 && (h[0] >> 4) <= 7 && (h[0] * 256 + h[1]) % 31 == 0;
}

static bool start(struct body_inflate *b)
{
	int bits;

	if (wrapped(b->head))
		bits = 15 + 32; /* zlib tells gzip from zlib by the header */
	else if (b->raw_ok)
		bits = -15;
	else
		return false;
	memset(&b->z, 0, sizeof(b->z));
	if (inflateInit2(&b->z, bits) != Z_OK)
		return false;
	b->z_live = true;
	return true;
}

/* Hands out what fits under the cap; false when some did not fit. */
static bool emit(struct body_inflate *b, const char *out, size_t n, body_inflate_sink sink,
		 void *ctx)
{
	uint64_t room = b->cap - b->out_total;
	bool fits = n <= room;

	if (!fits)
		n = room;
	if (n > 0)
		sink(ctx, out, n);
	b->out_total += n;
	return fits;
}

static void run(struct body_inflate *b, const unsigned char *in, uInt len, body_inflate_sink sink,
		void *ctx)
{
	char out[BODY_INFLATE_CHUNK];
	int ret;

	/* a stream that ended and goes on is the next gzip member */
	if (b->ended && inflateReset(&b->z) != Z_OK) {
		stop(b, BODY_INFLATE_ERROR);
		return;
	}
	b->ended = false;
	b->z.next_in = (Bytef *)in; /* zlib does not write through it */
	b->z.avail_in = len;
	do {
		b->z.next_out = (Bytef *)out;
		b->z.avail_out = sizeof(out);
		ret = inflate(&b->z, Z_NO_FLUSH);
		if (!emit(b, out, sizeof(out) - b->z.avail_out, sink, ctx)) {
			stop(b, BODY_INFLATE_CAP);
			return;
		}
		if (ret == Z_STREAM_END) {
			b->ended = b->z.avail_in == 0;
			if (b->ended)
				return;
			ret = inflateReset(&b->z);
		}
		if (ret == Z_BUF_ERROR) /* no progress possible: needs input */
			return;
		if (ret != Z_OK) {
			stop(b, BODY_INFLATE_ERROR);
			return;
		}
	} while (b->z.avail_in > 0 || b->z.avail_out == 0);
}

enum body_inflate_status body_inflate_feed(struct body_inflate *b, const char *buf, size_t len,
					   body_inflate_sink sink, void *ctx)
{
	const unsigned char *in = (const unsigned char *)buf;

	while (b->status == BODY_INFLATE_MORE && b->head_len < HEAD_LEN && len > 0) {
		b->head[b->head_len++] = *in++;
		len--;
		if (b->head_len < HEAD_LEN)
			continue;
		if (start(b))
			run(b, b->head, HEAD_LEN, sink, ctx);
		else
			stop(b, BODY_INFLATE_ERROR);
	}
	while (b->status == BODY_INFLATE_MORE && len > 0) {
		uInt n = len > UINT_MAX ? UINT_MAX : (uInt)len;

		run(b, in, n, sink, ctx);
		in += n;
		len -= n;
	}
	return b->status;
}
