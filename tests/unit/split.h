/* SPDX-License-Identifier: MIT */
/*
 * Feeds one input to an incremental parser in pieces, split in every way
 * that matters, and checks that every split gives the same result as the
 * whole input. Shared by the unit tests of the parsers; include after
 * cmocka.h.
 *
 * A test describes its parser with a struct split_driver and keeps the
 * outcome of one feeding in a "run" of its own type: start() resets a
 * run, feed() gives it one piece, same() asserts two runs agree.
 */
#ifndef SSE_TEST_SPLIT_H
#define SSE_TEST_SPLIT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

struct split_driver {
	void (*start)(void *run);
	/*
	 * Feeds in[off..off+len). Returns false to stop feeding, as a
	 * caller stops at a final result or an error.
	 */
	bool (*feed)(void *run, const char *in, size_t off, size_t len);
	void (*same)(const void *a, const void *b);
	/* inputs up to this long are also cut at every pair of points */
	size_t pairs_max;
};

/* At most this many random cut points. */
#define SPLIT_RANDOM_CUTS 8

/* Feeds in[0..len) in pieces that start at cuts[] (ascending offsets). */
static inline void split_feed(const struct split_driver *d, void *run, const char *in, size_t len,
			      const size_t *cuts, size_t ncuts)
{
	size_t start = 0, k;

	d->start(run);
	for (k = 0; k <= ncuts; k++) {
		size_t end = k < ncuts ? cuts[k] : len;

		if (!d->feed(run, in, start, end - start))
			return;
		start = end;
	}
}

static inline void split_feed_whole(const struct split_driver *d, void *run, const char *in,
				    size_t len)
{
	split_feed(d, run, in, len, NULL, 0);
}

static inline void split_feed_bytewise(const struct split_driver *d, void *run, const char *in,
				       size_t len)
{
	size_t i;

	d->start(run);
	for (i = 0; i < len; i++) {
		if (!d->feed(run, in, i, 1))
			return;
	}
}

/*
 * Feeds whole into *run, then with every single cut point, every pair of
 * cut points (inputs up to pairs_max) and one byte at a time into *other;
 * each must agree with *run.
 */
static inline void split_all_ways(const struct split_driver *d, void *run, void *other,
				  const char *in, size_t len)
{
	size_t i, j;

	split_feed_whole(d, run, in, len);
	for (i = 1; i < len; i++) {
		split_feed(d, other, in, len, &i, 1);
		d->same(run, other);
	}
	for (i = 1; len <= d->pairs_max && i < len; i++) {
		for (j = i + 1; j < len; j++) {
			size_t cuts[2] = {i, j};

			split_feed(d, other, in, len, cuts, 2);
			d->same(run, other);
		}
	}
	split_feed_bytewise(d, other, in, len);
	d->same(run, other);
}

/*
 * For inputs too long to cut everywhere: *run already holds the whole
 * input's outcome; bytewise feeding and one cut every step bytes into
 * *other must agree with it.
 */
static inline void split_check_sparse(const struct split_driver *d, const void *run, void *other,
				      const char *in, size_t len, size_t step)
{
	size_t i;

	split_feed_bytewise(d, other, in, len);
	d->same(run, other);
	for (i = 1; i < len; i += step) {
		split_feed(d, other, in, len, &i, 1);
		d->same(run, other);
	}
}

/* xorshift64*: deterministic, good enough to stir bytes. */
static inline uint32_t split_rnd(void)
{
	static uint64_t state = 0x9e3779b97f4a7c15ULL;

	state ^= state >> 12;
	state ^= state << 25;
	state ^= state >> 27;
	return (uint32_t)((state * 0x2545f4914f6cdd1dULL) >> 32);
}

/* Up to SPLIT_RANDOM_CUTS random cut points, ascending; returns how many. */
static inline size_t split_random_cuts(size_t len, size_t *cuts)
{
	size_t n = 0, pos = 0;

	while (n < SPLIT_RANDOM_CUTS && len > 1 && pos < len - 1) {
		pos += 1 + split_rnd() % (len - 1 - pos);
		cuts[n++] = pos;
	}
	return n;
}

/*
 * For random inputs: *run already holds the whole input's outcome; a
 * random split and the bytewise feeding into *other must agree with it.
 */
static inline void split_check_random(const struct split_driver *d, const void *run, void *other,
				      const char *in, size_t len)
{
	size_t cuts[SPLIT_RANDOM_CUTS], nc;

	nc = split_random_cuts(len, cuts);
	split_feed(d, other, in, len, cuts, nc);
	d->same(run, other);
	split_feed_bytewise(d, other, in, len);
	d->same(run, other);
}

/*
 * Checks one random input: feeds buf[0..len) and asserts (typically with
 * split_check_random). It may edit buf first; iter counts the inputs.
 */
typedef void (*split_check_fn)(char *buf, size_t len, unsigned int iter);

/*
 * iters random inputs of up to size - 1 bytes in buf: mostly bytes from
 * alphabet[0..n) (so that the syntax gets exercised), one in four any byte.
 */
static inline void split_random_inputs(char *buf, size_t size, const char *alphabet, size_t n,
				       unsigned int iters, split_check_fn check)
{
	unsigned int iter;
	size_t len, i;

	for (iter = 0; iter < iters; iter++) {
		len = split_rnd() % size;
		for (i = 0; i < len; i++)
			buf[i] = (split_rnd() % 4) ? alphabet[split_rnd() % n] : (char)split_rnd();
		check(buf, len, iter);
	}
}

/*
 * iters copies of seed[0..len) in buf, each with 1 to max bytes replaced
 * by random ones, half of them from alphabet[0..n).
 */
static inline void split_mutations(char *buf, const char *seed, size_t len, const char *alphabet,
				   size_t n, unsigned int max, unsigned int iters,
				   split_check_fn check)
{
	unsigned int iter, m, muts;

	for (iter = 0; iter < iters; iter++) {
		memcpy(buf, seed, len);
		muts = 1 + split_rnd() % max;
		for (m = 0; m < muts && len > 0; m++) {
			size_t at = split_rnd() % len;

			buf[at] = (split_rnd() & 1) ? (char)split_rnd() : alphabet[split_rnd() % n];
		}
		check(buf, len, iter);
	}
}

#endif
