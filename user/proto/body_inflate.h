/* SPDX-License-Identifier: MIT */
/*
 * Incremental inflation of a gzip or deflate response body, so that the
 * usage scan can read compressed answers and an event stream's events be
 * split. Pure apart from zlib's own allocation of its state (about 40 KiB
 * while a body is being inflated). Any split of the input gives the same
 * output; at most BODY_INFLATE_CAP_BYTES are produced per body (none for
 * a stream's), in pieces of at most BODY_INFLATE_CHUNK bytes handed to a
 * sink.
 *
 * The format is told from the first two bytes, not from the header alone:
 * a gzip or zlib header is inflated as such whatever the coding says, and
 * anything else is raw deflate when the coding is deflate (servers that
 * send raw deflate for "deflate" exist), an error for gzip. Several gzip
 * members in a row are one body (RFC 1952).
 */
#ifndef SSE_BODY_INFLATE_H
#define SSE_BODY_INFLATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <zlib.h>

#define BODY_INFLATE_CAP_BYTES (1u << 20)
#define BODY_INFLATE_CHUNK     4096 /* output buffer, on the stack */

enum body_inflate_status {
	BODY_INFLATE_MORE,  /* all input used, more may follow */
	BODY_INFLATE_ERROR, /* not compressed data, broken, or no memory: stopped */
	BODY_INFLATE_CAP,   /* BODY_INFLATE_CAP_BYTES produced: stopped */
};

typedef void (*body_inflate_sink)(void *ctx, const char *buf, size_t len);

struct body_inflate {
	z_stream z;
	bool z_live;	       /* z holds zlib state to free */
	bool raw_ok;	       /* the coding is deflate: raw deflate allowed */
	bool ended;	       /* the stream ended with the input so far */
	uint8_t head_len;      /* bytes of head[] gathered */
	unsigned char head[2]; /* the first two bytes, that tell the format */
	uint64_t out_total;    /* bytes handed to the sink */
	uint64_t cap;	       /* of out_total */
	enum body_inflate_status status;
};

/* deflate: the coding was "deflate" rather than gzip. Allocates nothing. */
void body_inflate_init(struct body_inflate *b, bool deflate);

/* The same without the cap: an event stream's body, as long as it lasts
 * (memory does not grow with it). */
void body_inflate_init_stream(struct body_inflate *b, bool deflate);

/*
 * Inflates buf[0..len) into sink. Once the status is ERROR or CAP, later
 * input is ignored and the same status returned.
 */
enum body_inflate_status body_inflate_feed(struct body_inflate *b, const char *buf, size_t len,
					   body_inflate_sink sink, void *ctx);

/* Frees zlib's state; b may be fed no more until body_inflate_init.
 * Safe to call twice, and on a zeroed struct. */
void body_inflate_end(struct body_inflate *b);

#endif
