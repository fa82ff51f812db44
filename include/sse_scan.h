/* SPDX-License-Identifier: MIT */
/*
 * Follows the body of an SSE response: its framing (chunked or until
 * close) and its events, counted and timed as they end, without
 * keeping any byte. The kernel runs it on each write of a stream it armed
 * (bpf/kstream.bpf.h), so that user space sees a record per stream, not
 * per event; the unit tests run it on every split of the cases that
 * user/proto/sse.c and chunked.c are tested on, and must get the same
 * events (tests/unit/test_sse_scan.c).
 *
 * Events follow the WHATWG rules as user/proto/sse.c applies them: lines
 * end with CRLF, LF or CR; a blank line ends an event; a line beginning
 * with ':' is a comment; "data" followed by ':' or the line end is a data
 * field; a leading byte order mark is dropped. A line is classified by its
 * first five bytes, kept across writes; its other bytes are skipped eight
 * at a time (a word compare finds CR and LF), so the cost of a write is
 * its words plus its lines, not its bytes.
 *
 * A blank line's CR that ends a piece (a write, or a chunk's data) ends
 * an event whose size is not known yet: an LF first thing in the next
 * piece is the CR's, so its event's. The event is held until the next
 * body byte tells, its time still the CR's write. When the body ends
 * instead (last chunk, close or give-up), the caller counts it with
 * sse_scan_release, once: in the steps, the verifier would follow it on
 * every path of the framing.
 *
 * The caller hands pieces of at most SCAN_PIECE bytes in a buffer with
 * SCAN_PAD bytes of room after the piece (word loads may pass its end)
 * and calls sse_scan_step until the piece is used up or the body ends:
 * each step takes at least one byte, but for the step after a piece's
 * final CR when no LF follows. Indexes are masked with SCAN_MASK so
 * that the verifier sees every access in bounds.
 */
#ifndef SSE_SSE_SCAN_H
#define SSE_SSE_SCAN_H

#ifndef __VMLINUX_H__
#include <linux/types.h>
#include <stdbool.h>
#include <string.h>
#endif

#include "chunk_frame.h"

#define SCAN_PIECE	 4096
#define SCAN_MASK	 (SCAN_PIECE - 1)
#define SCAN_PAD	 8
#define SCAN_WORDS	 32 /* words looked at for a line end per step */
#define SCAN_FRAME_BYTES 16 /* framing bytes walked per step */
#define SCAN_PREFIX	 5  /* "data:" */

enum scan_framing {
	SCAN_CHUNKED = 1,
	SCAN_CLOSE = 2, /* until the connection closes */
};

enum scan_flags {
	SCAN_STARTED = 1 << 0, /* past the optional byte order mark */
	SCAN_SAW_CR = 1 << 1,  /* a CR ended the last piece: an LF next belongs to it */
	SCAN_HAS_DATA = 1 << 2,
	SCAN_HAS_COMMENT = 1 << 3,
	SCAN_HAS_FIELD = 1 << 4, /* event, id, retry, unknown */
	SCAN_HELD = 1 << 5,	 /* a blank line's CR ended the last piece: its event waits */
};

struct sse_scan {
	struct chunk_frame cf; /* SCAN_CHUNKED */
	__u64 event_bytes;     /* of the event being read, line ends included */
	__u32 line_len;	       /* of the current line so far (saturates) */
	__u8 framing;
	__u8 flags;
	__u8 bom;	 /* bytes of a leading byte order mark matched */
	__u8 prefix_len; /* first bytes of the current line kept */
	char prefix[8];
	__u64 t_held; /* SCAN_HELD: the write its event ended in */
};

/* The spec's buckets: sse_inter_chunk_gap_seconds (in ns here) and
 * sse_chunk_size_bytes; a test checks them against the metrics' own. */
#define SSE_GAP_BOUNDS_NS                                                                          \
	{                                                                                          \
		1000000ull, 5000000ull, 10000000ull, 25000000ull, 50000000ull, 75000000ull,        \
		    100000000ull, 150000000ull, 200000000ull, 300000000ull, 400000000ull,          \
		    500000000ull, 750000000ull, 1000000000ull, 2500000000ull                       \
	}
#define SSE_SIZE_BOUNDS                                                                            \
	{                                                                                          \
		10, 50, 100, 500, 1000, 5000                                                       \
	}
#define SSE_GAP_BUCKETS	 15
#define SSE_SIZE_BUCKETS 6

/* What the events of a stream add up to, cumulative: user space adds the
 * growth since it last looked. Histogram buckets are per bucket (not
 * cumulative), the last one +Inf. */
struct sse_stats {
	__u64 data_events;
	__u64 heartbeats;
	__u64 body_bytes;  /* framing removed */
	__u64 event_bytes; /* of ended events */
	__u64 t_first_data;
	__u64 t_last_event; /* of the last data event */
	__u64 t_last_write;
	__u64 gap_sum_ns;
	__u64 size_sum;
	__u64 gap[SSE_GAP_BUCKETS + 1];
	__u64 size[SSE_SIZE_BUCKETS + 1];
};

static __always_inline void sse_scan_init(struct sse_scan *s, __u8 framing)
{
	__builtin_memset(s, 0, sizeof(*s));
	chunk_frame_init(&s->cf);
	s->framing = framing;
}

static __always_inline bool sse_scan_done(const struct sse_scan *s)
{
	return s->framing == SCAN_CHUNKED && s->cf.state == CF_DONE;
}

static __always_inline bool sse_scan_broken(const struct sse_scan *s)
{
	return s->framing == SCAN_CHUNKED && s->cf.state == CF_ERROR;
}

static __always_inline __u8 scan_byte(const __u8 *buf, __u32 at)
{
	return buf[at & SCAN_MASK];
}

static __always_inline __u64 scan_word(const __u8 *buf, __u32 at)
{
#ifdef __bpf__
	return *(const __u64 *)(buf + (at & SCAN_MASK));
#else
	__u64 w;

	memcpy(&w, buf + (at & SCAN_MASK), sizeof(w));
	return w;
#endif
}

#define SCAN_ONES  0x0101010101010101ull
#define SCAN_HIGHS 0x8080808080808080ull

/* The high bit of each zero byte of x; bytes above the lowest zero may be
 * marked wrongly (a borrow), the lowest mark is exact. */
static __always_inline __u64 scan_zero_bytes(__u64 x)
{
	return (x - SCAN_ONES) & ~x & SCAN_HIGHS;
}

/* Index of the lowest marked byte (little-endian words). */
static __always_inline __u32 scan_first_mark(__u64 m)
{
	m &= ~m + 1;
	return ((m >> 7) * 0x0001020304050607ull) >> 56;
}

/* The piece being walked, with room for word loads past its end. */
struct scan_buf {
	__u8 b[SCAN_PIECE + SCAN_PAD];
};

/* In BPF a global function: the verifier checks it once, on its own, and
 * its callers see one result rather than a path per word it may stop at. */
#ifdef __bpf__
#define SCAN_SUBPROG __attribute__((noinline))
#else
#define SCAN_SUBPROG static inline
#endif

/* Where the first CR or LF at or after pos is, or lim if none comes
 * before it; or where this step stopped looking (a long line takes
 * several steps). */
SCAN_SUBPROG __u32 scan_line_end(const struct scan_buf *sb, __u32 pos, __u32 lim)
{
	if (!sb)
		return lim;
	for (int i = 0; i < SCAN_WORDS; i++) {
		__u64 w = scan_word(sb->b, pos);
		__u64 m = scan_zero_bytes(w ^ (SCAN_ONES * '\n')) |
			  scan_zero_bytes(w ^ (SCAN_ONES * '\r'));

		if (m) {
			pos += scan_first_mark(m);
			return pos < lim ? pos : lim;
		}
		pos += 8;
		if (pos >= lim)
			return lim;
	}
	return pos;
}

/* Adds v to its bucket: the number of bounds below it, counted without a
 * branch (values and bounds below 2^63), so that the verifier follows one
 * path. */
static __always_inline __u64 scan_bucket_add(__u64 *buckets, const __u64 *bounds, int n, __u64 v)
{
	__u32 i = 0;

	for (int k = 0; k < n; k++)
		i += (bounds[k] - v) >> 63;
	buckets[i]++;
	return v;
}

static __always_inline void scan_data_event(struct sse_stats *st, __u64 size, __u64 ts)
{
	static const __u64 gap_bounds[SSE_GAP_BUCKETS] = SSE_GAP_BOUNDS_NS;
	static const __u64 size_bounds[SSE_SIZE_BUCKETS] = SSE_SIZE_BOUNDS;

	st->data_events++;
	st->size_sum += scan_bucket_add(st->size, size_bounds, SSE_SIZE_BUCKETS, size);
	if (st->t_first_data)
		st->gap_sum_ns +=
		    scan_bucket_add(st->gap, gap_bounds, SSE_GAP_BUCKETS, ts - st->t_last_event);
	else
		st->t_first_data = ts;
	st->t_last_event = ts;
}

/* A blank line: the event read so far ends, unless there was none (extra
 * line ends between events are bytes of the next one). */
static __always_inline void scan_dispatch(struct sse_scan *s, struct sse_stats *st, __u64 ts)
{
	__u8 kind = s->flags & (SCAN_HAS_DATA | SCAN_HAS_COMMENT | SCAN_HAS_FIELD);

	if (!kind)
		return;
	st->event_bytes += s->event_bytes;
	if (kind & SCAN_HAS_DATA)
		scan_data_event(st, s->event_bytes, ts);
	else if (kind == SCAN_HAS_COMMENT)
		st->heartbeats++;
	s->event_bytes = 0;
	s->flags &= ~(SCAN_HAS_DATA | SCAN_HAS_COMMENT | SCAN_HAS_FIELD);
}

/* The event held since a piece ended with its blank line's CR ends as it
 * is now: the next body byte came, or the body ended. Figures read while
 * it is held lack it, never more. */
static __always_inline void sse_scan_release(struct sse_scan *s, struct sse_stats *st)
{
	if (!(s->flags & SCAN_HELD))
		return;
	s->flags &= ~SCAN_HELD;
	scan_dispatch(s, st, s->t_held);
}

static __always_inline bool scan_prefix_is(const struct sse_scan *s, const char *name, __u32 n)
{
	for (__u32 i = 0; i < n; i++)
		if (s->prefix[i] != name[i])
			return false;
	return true;
}

/* A non-blank line ended: what its first bytes make it. */
static __always_inline void scan_classify(struct sse_scan *s)
{
	bool data_name = s->line_len == 4 || (s->prefix_len >= 5 && s->prefix[4] == ':');

	if (s->prefix[0] == ':')
		s->flags |= SCAN_HAS_COMMENT;
	else if (data_name && s->prefix_len >= 4 && scan_prefix_is(s, "data", 4))
		s->flags |= SCAN_HAS_DATA;
	else
		s->flags |= SCAN_HAS_FIELD;
}

/* The CR or LF at pos ends a line; returns the position after it. */
static __always_inline __u32 scan_eol(struct sse_scan *s, struct sse_stats *st, const __u8 *buf,
				      __u32 pos, __u32 lim, __u64 ts)
{
	bool blank = !s->line_len, held = false;
	__u32 used = 1;

	if (scan_byte(buf, pos) == '\r') {
		if (pos + 1 >= lim) { /* the LF may come in the next piece */
			s->flags |= SCAN_SAW_CR;
			held = blank;
		} else if (scan_byte(buf, pos + 1) == '\n') {
			used = 2;
		}
	}
	s->event_bytes += used;
	if (held) {
		s->flags |= SCAN_HELD;
		s->t_held = ts;
	} else if (blank) {
		scan_dispatch(s, st, ts);
	} else {
		scan_classify(s);
	}
	s->line_len = 0;
	s->prefix_len = 0;
	return pos + used;
}

/* Bytes [pos, end) of a line: the first ones are kept to classify it. */
static __always_inline void scan_line_bytes(struct sse_scan *s, const __u8 *buf, __u32 pos,
					    __u32 end)
{
	for (int i = 0; i < SCAN_PREFIX && s->prefix_len < SCAN_PREFIX && pos + i < end; i++)
		s->prefix[s->prefix_len++ & 7] = scan_byte(buf, pos + i);
	s->event_bytes += end - pos;
	s->line_len = s->line_len + (end - pos) < s->line_len ? ~0u : s->line_len + (end - pos);
}

/* WHATWG: one leading U+FEFF is dropped. Its bytes are on the wire, so
 * they count in the first event's size; a partial match was ordinary text
 * after all: it begins the first line. Returns whether c was taken. */
static __always_inline bool scan_bom(struct sse_scan *s, __u8 c)
{
	__u8 want = s->bom == 0 ? 0xef : s->bom == 1 ? 0xbb : 0xbf;

	if (c == want) {
		s->event_bytes++;
		if (++s->bom == 3)
			s->flags |= SCAN_STARTED;
		return true;
	}
	s->flags |= SCAN_STARTED;
	s->prefix[0] = 0xef; /* read only up to prefix_len */
	s->prefix[1] = 0xbb;
	s->prefix_len = s->bom;
	s->line_len = s->bom;
	return false;
}

/* One step over SSE bytes [pos, lim): a line end, or a line's bytes up to
 * its end or as far as the step looks. */
static __always_inline __u32 scan_sse_step(struct sse_scan *s, struct sse_stats *st,
					   const __u8 *buf, __u32 pos, __u32 lim, __u64 ts)
{
	__u8 c = scan_byte(buf, pos);
	__u32 end;

	if (!(s->flags & SCAN_STARTED) && scan_bom(s, c))
		return pos + 1;
	if (s->flags & SCAN_SAW_CR) { /* this step takes the byte only if an LF */
		bool lf = c == '\n';

		s->flags &= ~SCAN_SAW_CR;
		s->event_bytes += lf;
		sse_scan_release(s, st);
		return pos + lf;
	}
	if (c == '\r' || c == '\n')
		return scan_eol(s, st, buf, pos, lim, ts);
	end = scan_line_end((const struct scan_buf *)buf, pos, lim);
	scan_line_bytes(s, buf, pos, end);
	return end;
}

/* Framing bytes of a chunked body, up to SCAN_FRAME_BYTES. */
static __always_inline __u32 scan_frame_step(struct chunk_frame *f, const __u8 *buf, __u32 pos,
					     __u32 end)
{
	for (int i = 0; i < SCAN_FRAME_BYTES && pos < end; i++) {
		chunk_frame_byte(f, scan_byte(buf, pos++));
		if (f->state == CF_DATA || f->state == CF_DONE || f->state == CF_ERROR)
			break;
	}
	return pos;
}

/* One step over the piece's bytes [pos, end), pos < end, the body neither
 * done nor broken; ts is the write's. Returns the new position. */
static __always_inline __u32 sse_scan_step(struct sse_scan *s, struct sse_stats *st,
					   const __u8 *buf, __u32 pos, __u32 end, __u64 ts)
{
	__u32 lim = end, next;

	if (s->framing == SCAN_CHUNKED) {
		if (s->cf.state != CF_DATA)
			return scan_frame_step(&s->cf, buf, pos, end);
		if (s->cf.remaining < end - pos)
			lim = pos + s->cf.remaining;
	}
	next = scan_sse_step(s, st, buf, pos, lim, ts);
	st->body_bytes += next - pos;
	if (s->framing == SCAN_CHUNKED) {
		s->cf.remaining -= next - pos;
		if (!s->cf.remaining)
			s->cf.state = CF_DATA_END;
	}
	return next;
}

#endif
