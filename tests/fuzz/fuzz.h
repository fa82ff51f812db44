/* SPDX-License-Identifier: MIT */
/*
 * What the libFuzzer targets share: a check that aborts (libFuzzer keeps
 * the input that made it), and the split of a streaming parser's input
 * into pieces chosen by the fuzz data itself, so that the fuzzer searches
 * cut points as it searches bytes.
 *
 * A streaming target's input is two bytes of split, then the bytes the
 * parser reads. The first byte sets the longest piece (0: one byte at a
 * time; up to 127 that many bytes; above, 64-byte steps up to 8 KiB, past
 * a kernel scanner's piece of 4 KiB); the second seeds the lengths drawn
 * up to it. The same input always cuts the same way.
 */
#ifndef SSE_FUZZ_H
#define SSE_FUZZ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#define FUZZ_CHECK(cond, ...)                                                                      \
	do {                                                                                       \
		if (!(cond)) {                                                                     \
			fprintf(stderr, "fuzz: %s:%d: ", __FILE__, __LINE__);                      \
			fprintf(stderr, __VA_ARGS__);                                              \
			fputc('\n', stderr);                                                       \
			abort();                                                                   \
		}                                                                                  \
	} while (0)

struct fuzz_split {
	size_t max;	/* longest piece */
	uint64_t seed;	/* of the lengths drawn */
	uint64_t state; /* of the feeding under way */
};

/* Takes the split bytes off the front of the input; false when it is
 * shorter than them. */
static inline bool fuzz_split_take(struct fuzz_split *s, const uint8_t **data, size_t *size)
{
	uint8_t m;

	if (*size < 2)
		return false;
	m = (*data)[0];
	s->max = m == 0 ? 1 : m < 128 ? m : (size_t)(m - 127) * 64;
	s->seed = 0x9e3779b97f4a7c15ull ^ ((uint64_t)(*data)[1] << 32);
	*data += 2;
	*size -= 2;
	return true;
}

/* The split bytes, then one byte that chooses how the target reads the
 * rest (a request or a response, JSON or an event stream, ...). */
static inline bool fuzz_split_take_mode(struct fuzz_split *s, const uint8_t **data, size_t *size,
					uint8_t *mode)
{
	if (!fuzz_split_take(s, data, size) || *size < 1)
		return false;
	*mode = (*data)[0];
	*data += 1;
	*size -= 1;
	return true;
}

/* xorshift64*: the next piece's length, at most left. */
static inline size_t fuzz_split_next(struct fuzz_split *s, size_t left)
{
	size_t n;

	s->state ^= s->state >> 12;
	s->state ^= s->state << 25;
	s->state ^= s->state >> 27;
	n = 1 + (size_t)((s->state * 0x2545f4914f6cdd1dull) >> 33) % s->max;
	return n < left ? n : left;
}

/* Feeds buf[off..off+len) to a run of the parser. */
typedef void (*fuzz_feed_fn)(void *run, const uint8_t *buf, size_t off, size_t len);

/* Feeds buf[0..len) in the pieces s cuts it into (one piece when s is
 * NULL). */
static inline void fuzz_feed(struct fuzz_split *s, const uint8_t *buf, size_t len,
			     fuzz_feed_fn feed, void *run)
{
	size_t off = 0, n;

	if (!s) {
		feed(run, buf, 0, len);
		return;
	}
	s->state = s->seed;
	for (; off < len; off += n) {
		n = fuzz_split_next(s, len - off);
		feed(run, buf, off, n);
	}
}

/* Runs a parser on buf[0..len) into *run, in the pieces s cuts it into
 * (whole when s is NULL). */
typedef void (*fuzz_run_fn)(void *run, struct fuzz_split *s, const uint8_t *buf, size_t len);

/* Takes the split bytes off the input, runs the parser on the rest whole
 * into *whole and split into *split; false when the input is too short. */
static inline bool fuzz_whole_and_split(const uint8_t *data, size_t size, fuzz_run_fn run,
					void *whole, void *split)
{
	struct fuzz_split s;

	if (!fuzz_split_take(&s, &data, &size))
		return false;
	run(whole, NULL, data, size);
	run(split, &s, data, size);
	return true;
}

/* FNV-1a, to compare outputs without keeping them. */
static inline uint64_t fuzz_hash(uint64_t h, const void *buf, size_t len)
{
	const uint8_t *p = buf;

	for (size_t i = 0; i < len; i++)
		h = (h ^ p[i]) * 0x100000001b3ull;
	return h;
}

#define FUZZ_HASH_INIT 0xcbf29ce484222325ull

/* A NUL-terminated string of at most size - 1 bytes, each printable ASCII. */
static inline bool fuzz_printable(const char *s, size_t size)
{
	for (size_t i = 0; i < size; i++) {
		if (!s[i])
			return true;
		if (s[i] < 0x20 || s[i] > 0x7e)
			return false;
	}
	return false;
}

#endif
