/* SPDX-License-Identifier: MIT */
/*
 * The framing bytes of HTTP/1.1 chunked transfer coding (RFC 9112 section
 * 7.1): chunk size lines, the line end after each chunk's data, the last
 * chunk and its trailer section, walked a byte at a time and never stored.
 * Chunk data itself is the caller's: in CF_DATA it takes `remaining`
 * bytes, then sets CF_DATA_END.
 *
 * One machine for both sides: user space decodes bodies with it
 * (user/proto/chunked.c) and the kernel follows SSE streams with it
 * (include/sse_scan.h), so they cannot disagree on where a body ends or
 * that its framing broke. No libc, no helper, no loop.
 */
#ifndef SSE_CHUNK_FRAME_H
#define SSE_CHUNK_FRAME_H

#ifndef __VMLINUX_H__
#include <linux/types.h>
#include <stdbool.h>
#endif

/* the BPF target cannot pass structs by value: everything is inlined */
#ifndef __always_inline
#define __always_inline inline __attribute__((always_inline))
#endif

#include "hex.h"

/* Limits on what is skipped without being stored. Chunk extensions are
 * rare and short; a size line longer than this is not a real peer. The
 * trailer section gets the same room as a head. */
#define CHUNK_LINE_MAX	  4096
#define CHUNK_TRAILER_MAX 65536
#define CHUNK_DIGITS_MAX  15 /* 16^15 > any real chunk, < 2^63 */

enum chunk_frame_state {
	CF_SIZE,	  /* chunk-size hex digits */
	CF_SIZE_WS,	  /* whitespace after the size, before ';' or line end */
	CF_EXT,		  /* chunk extensions: ignored up to the line end */
	CF_DATA,	  /* remaining bytes of chunk data: the caller's */
	CF_DATA_END,	  /* the line end that closes chunk data */
	CF_TRAILER_START, /* start of a trailer line, or the final empty line */
	CF_TRAILER,	  /* inside a trailer field line: ignored */
	CF_DONE,
	CF_ERROR,
};

struct chunk_frame {
	__u64 remaining; /* data bytes left in the current chunk */
	__u32 line_len;	 /* bytes of the current size line, or of the trailer section */
	__u8 state;
	__u8 digits;
	__u8 saw_cr;
	__u8 pad;
};

static __always_inline void chunk_frame_init(struct chunk_frame *f)
{
	f->remaining = 0;
	f->line_len = 0;
	f->state = CF_SIZE;
	f->digits = 0;
	f->saw_cr = 0;
	f->pad = 0;
}

/* A line (CRLF or bare LF) ended in the current state. */
static __always_inline void chunk_frame_line_end(struct chunk_frame *f)
{
	switch (f->state) {
	case CF_SIZE:
		if (!f->digits) {
			f->state = CF_ERROR;
			break;
		}
		/* fall through */
	case CF_SIZE_WS:
	case CF_EXT:
		if (f->remaining) {
			f->state = CF_DATA;
		} else { /* last-chunk: a trailer section follows */
			f->state = CF_TRAILER_START;
			f->line_len = 0;
		}
		break;
	case CF_DATA_END:
		f->state = CF_SIZE;
		f->digits = 0;
		f->remaining = 0;
		f->line_len = 0;
		break;
	case CF_TRAILER_START:
		f->state = CF_DONE;
		break;
	case CF_TRAILER:
		f->state = CF_TRAILER_START;
		break;
	default:
		f->state = CF_ERROR;
		break;
	}
}

static __always_inline void chunk_frame_size_byte(struct chunk_frame *f, __u8 c)
{
	int v = hex_value(c);

	if (v >= 0) {
		if (f->digits >= CHUNK_DIGITS_MAX) {
			f->state = CF_ERROR;
			return;
		}
		f->remaining = f->remaining * 16 + (__u64)v;
		f->digits++;
	} else if (f->digits && (c == ' ' || c == '\t')) {
		f->state = CF_SIZE_WS; /* BWS before a chunk-ext */
	} else if (f->digits && c == ';') {
		f->state = CF_EXT;
	} else {
		f->state = CF_ERROR;
	}
}

/* One framing byte that is neither CR nor LF. */
static __always_inline void chunk_frame_other_byte(struct chunk_frame *f, __u8 c)
{
	switch (f->state) {
	case CF_SIZE:
		chunk_frame_size_byte(f, c);
		break;
	case CF_SIZE_WS:
		if (c == ';')
			f->state = CF_EXT;
		else if (c != ' ' && c != '\t')
			f->state = CF_ERROR;
		break;
	case CF_EXT:
	case CF_TRAILER:
		break;
	case CF_TRAILER_START:
		f->state = CF_TRAILER;
		break;
	default: /* CF_DATA_END: data longer than its chunk size */
		f->state = CF_ERROR;
		break;
	}
}

/* Size lines and the trailer section may be skipped, but not forever. */
static __always_inline bool chunk_frame_count_byte(struct chunk_frame *f)
{
	__u32 max = CHUNK_LINE_MAX;

	if (f->state == CF_DATA_END)
		return true;
	if (f->state == CF_TRAILER_START || f->state == CF_TRAILER)
		max = CHUNK_TRAILER_MAX; /* whole section: line_len not reset */
	if (f->line_len >= max)
		return false;
	f->line_len++;
	return true;
}

/* One byte outside chunk data (state is not CF_DATA, CF_DONE, CF_ERROR). */
static __always_inline void chunk_frame_byte(struct chunk_frame *f, __u8 c)
{
	if (!chunk_frame_count_byte(f)) {
		f->state = CF_ERROR;
		return;
	}
	if (f->saw_cr) {
		f->saw_cr = 0;
		if (c == '\n') {
			chunk_frame_line_end(f);
			return;
		}
		/* a bare CR is only tolerated inside an ignored trailer line */
		if (f->state != CF_TRAILER) {
			f->state = CF_ERROR;
			return;
		}
	}
	if (c == '\r')
		f->saw_cr = 1;
	else if (c == '\n')
		chunk_frame_line_end(f);
	else
		chunk_frame_other_byte(f, c);
}

#endif
