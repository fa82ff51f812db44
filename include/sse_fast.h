/* SPDX-License-Identifier: MIT */
/*
 * The common write of a stream, counted without sse_scan.h's step loop:
 * one whole data event, alone in one whole chunk (or, until close, alone
 * in the write), written when the stream is between chunks and between
 * events. Servers write so nearly always. The step loop costs a bpf_loop
 * callback per line and framing run (about 500 ns for such a write in the
 * nested VM of the benchmarks); this is one pass over the event's words.
 *
 * It only takes writes whose outcome in the step loop it can tell for
 * sure, and leaves every other one, unchanged, to the loop:
 * tests/unit/test_sse_fast.c checks that what it takes it counts as the
 * loop does.
 */
#ifndef SSE_SSE_FAST_H
#define SSE_SSE_FAST_H

#include "sse_scan.h"

#define FAST_MAX   512 /* bytes of a write taken, framing included */
#define FAST_WORDS (FAST_MAX / 8)
#define FAST_HEX   4 /* digits of a chunk size up to FAST_MAX */

#define FAST_LOWS 0x7f7f7f7f7f7f7f7full

/* The high bit of each byte of x equal to c, exactly (no borrow). */
static __always_inline __u64 fast_bytes_equal(__u64 x, __u8 c)
{
	x ^= SCAN_ONES * c;
	return ~(((x & FAST_LOWS) + FAST_LOWS) | x | FAST_LOWS);
}

/* Between chunks and between events, past a byte order mark: the state
 * in which a write beginning a chunk and ending an event leaves it. */
static __always_inline bool fast_at_boundary(const struct sse_scan *s)
{
	const struct chunk_frame *f = &s->cf;

	if (s->flags != SCAN_STARTED || s->event_bytes || s->line_len || s->prefix_len)
		return false;
	if (s->framing == SCAN_CLOSE)
		return true;
	return s->framing == SCAN_CHUNKED && f->state == CF_SIZE && !f->digits && !f->remaining &&
	       !f->line_len && !f->saw_cr;
}

/* A chunk size line of up to FAST_HEX digits and CRLF at the start of
 * buf: its length, the size in *size; 0 if the write does not begin so. */
static __always_inline __u32 fast_size_line(const __u8 *buf, __u32 n, __u32 *size)
{
	__u32 v = 0;

	for (__u32 i = 0; i < FAST_HEX + 1 && i + 1 < n; i++) {
		int d = hex_value(scan_byte(buf, i));

		if (d >= 0) {
			v = v * 16 + (__u32)d;
			continue;
		}
		if (!i || scan_byte(buf, i) != '\r' || scan_byte(buf, i + 1) != '\n')
			return 0;
		*size = v;
		return i + 2;
	}
	return 0;
}

/* Whether word w holds a byte below 0x0e (CR, LF, and the other control
 * bytes that text seldom holds): most words of an event do not, and need
 * no closer look. */
static __always_inline bool fast_has_controls(__u64 w)
{
	return (w - SCAN_ONES * 0x0e) & ~w & SCAN_HIGHS;
}

/* Whether word w, going on from the word before (carry: the high bit of
 * its byte 0 set if that word ended with LF), holds a CR or an LF right
 * after an LF; carry then tells the same of w. */
static __always_inline bool fast_bad_word(__u64 w, __u64 *carry)
{
	__u64 lf = fast_bytes_equal(w, '\n');
	bool bad = fast_bytes_equal(w, '\r') || (lf & ((lf << 8) | *carry));

	*carry = lf >> 56;
	return bad;
}

/* Whether the event at p, len bytes, has no CR and no blank line before
 * its last two bytes (which the caller checked are LF LF): the bytes up
 * to the last LF, whole words in the loop, looked at closely only when
 * they hold a control byte, then the rest in one word, masked (a close
 * look and a mask at every word cost ~45 ns a write in the nested VM). A
 * global function in BPF, like scan_line_end: verified once, on its own. */
SCAN_SUBPROG bool fast_one_event(const struct scan_buf *sb, __u32 p, __u32 len)
{
	__u64 carry = 0, w;
	__u32 o = 0, n;

	if (!sb || len < 2 || len > FAST_MAX)
		return false;
	n = len - 1; /* the last LF is not looked at */
	for (__u32 i = 0; i < FAST_WORDS && o + 8 <= n; i++, o += 8) {
		w = scan_word(sb->b, p + o);
		if (!fast_has_controls(w))
			carry = 0;
		else if (fast_bad_word(w, &carry))
			return false;
	}
	w = scan_word(sb->b, p + o) & ((1ull << ((n - o) * 8)) - 1);
	return !fast_bad_word(w, &carry);
}

/* The write buf[0, n) (n <= FAST_MAX, buf with SCAN_PAD bytes of room
 * after it): counted as one data event if it is one; otherwise false and
 * nothing changed. */
static __always_inline bool sse_fast_event(struct sse_scan *s, struct sse_stats *st,
					   const __u8 *buf, __u32 n, __u64 ts)
{
	__u32 p = 0, len = n;

	if (n > FAST_MAX || !fast_at_boundary(s))
		return false;
	if (s->framing == SCAN_CHUNKED) {
		p = fast_size_line(buf, n, &len);
		if (!p || p + len + 2 != n || scan_byte(buf, n - 2) != '\r' ||
		    scan_byte(buf, n - 1) != '\n')
			return false;
	}
	if (len < SCAN_PREFIX + 2 || scan_byte(buf, p) != 'd' || scan_byte(buf, p + 1) != 'a' ||
	    scan_byte(buf, p + 2) != 't' || scan_byte(buf, p + 3) != 'a' ||
	    scan_byte(buf, p + 4) != ':' || scan_byte(buf, p + len - 2) != '\n' ||
	    scan_byte(buf, p + len - 1) != '\n' ||
	    !fast_one_event((const struct scan_buf *)buf, p, len))
		return false;
	st->body_bytes += len;
	st->event_bytes += len;
	scan_data_event(st, len, ts);
	return true;
}

#endif
