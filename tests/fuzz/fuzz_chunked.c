// SPDX-License-Identifier: MIT
/*
 * proto/chunked (and include/chunk_frame.h under it): a body fed whole and
 * in pieces gives the same result, the same end of message (or byte found
 * wrong) and the same data. Then the input as data: framed in chunks of
 * the split's lengths, with an extension and a trailer, it decodes back to
 * itself, ending right after the framing.
 */
#include <stdio.h>
#include <string.h>

#include "fuzz.h"
#include "proto/chunked.h"

struct run {
	struct chunked_decoder d;
	enum chunked_result res;
	size_t used; /* bytes of the input up to the end of the message */
	size_t out_len;
	uint64_t out_hash;
};

static void on_data(void *arg, const char *data, size_t len)
{
	struct run *r = arg;

	FUZZ_CHECK(len > 0, "an empty data span");
	r->out_len += len;
	r->out_hash = fuzz_hash(r->out_hash, data, len);
}

static void feed(void *arg, const uint8_t *buf, size_t off, size_t len)
{
	struct run *r = arg;
	size_t used = 0;

	if (r->res != CHUNKED_MORE)
		return;
	r->res = chunked_feed(&r->d, (const char *)buf + off, len, &used, on_data, r);
	FUZZ_CHECK(used <= len && (r->res != CHUNKED_MORE || used == len), "used %zu of %zu", used,
		   len);
	r->used = off + used;
}

static void run(struct run *r, struct fuzz_split *s, const uint8_t *buf, size_t len)
{
	memset(r, 0, sizeof(*r));
	chunked_init(&r->d);
	r->out_hash = FUZZ_HASH_INIT;
	fuzz_feed(s, buf, len, feed, r);
}

/* buf[0..len) framed in chunks of the split's lengths; returns the
 * framing's length. */
static size_t frame(struct fuzz_split *s, const uint8_t *buf, size_t len, char *out)
{
	size_t off = 0, n, w = 0;

	s->state = s->seed;
	for (; off < len; off += n) {
		n = fuzz_split_next(s, len - off);
		w += (size_t)sprintf(out + w, off ? "%zX\r\n" : "%zx;ext=1\r\n", n);
		memcpy(out + w, buf + off, n);
		w += n;
		w += (size_t)sprintf(out + w, "\r\n");
	}
	return w + (size_t)sprintf(out + w, "0\r\nTrailer: x\r\n\r\n");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct run whole, split;
	struct fuzz_split s;
	size_t framed_len;
	char *framed;

	if (!fuzz_split_take(&s, &data, &size))
		return 0;
	run(&whole, NULL, data, size);
	run(&split, &s, data, size);
	FUZZ_CHECK(whole.res == split.res && whole.used == split.used &&
		       whole.out_len == split.out_len && whole.out_hash == split.out_hash,
		   "whole: result %d used %zu data %zu; split: %d %zu %zu", whole.res, whole.used,
		   whole.out_len, split.res, split.used, split.out_len);

	framed = malloc(size * 24 + 32);
	if (!framed)
		return 0;
	framed_len = frame(&s, data, size, framed);
	run(&whole, NULL, (const uint8_t *)framed, framed_len);
	FUZZ_CHECK(whole.res == CHUNKED_DONE && whole.used == framed_len && whole.out_len == size &&
		       whole.out_hash == fuzz_hash(FUZZ_HASH_INIT, data, size),
		   "framed: result %d used %zu of %zu, data %zu of %zu", whole.res, whole.used,
		   framed_len, whole.out_len, size);
	free(framed);
	return 0;
}
