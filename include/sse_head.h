/* SPDX-License-Identifier: MIT */
/*
 * Whether a server's write begins with a response head that starts an SSE
 * stream the kernel can follow with include/sse_scan.h: the kernel arms
 * the stream at that write, without waiting for user space, so that no
 * event of a fast stream goes by before it counts. User space still gets
 * the head's copy and parses it properly; a stream it would not have
 * followed the same way is given up (counted), so this test is strict:
 *
 *   - HTTP/1.0 or HTTP/1.1, a 2xx status other than 204, a status line of
 *     at most 64 bytes, the whole head in the first SCAN_PIECE bytes of the
 *     write, lines ending in CRLF or LF;
 *   - one Content-Type, text/event-stream (any case, parameters allowed);
 *   - framing: Transfer-Encoding exactly chunked, or none (until close).
 *     A Content-Length, another coding, a Content-Encoding other than
 *     identity, a long line holding one of these fields: not followed
 *     here, user space copes (streams do not come so).
 *
 * Fields are matched a word at a time (eight bytes compared at once, the
 * letters in either case), so that a head costs its lines, not its bytes,
 * and the verifier sees few branches. Same rules as sse_scan.h: pure, no
 * libc, bounded loops, indexes masked. tests/unit/test_sse_head.c checks
 * it against proto/http_head.c.
 */
#ifndef SSE_SSE_HEAD_H
#define SSE_SSE_HEAD_H

#include "sse_scan.h"

enum head_flags {
	HEAD_STREAM = 1 << 0,	/* Content-Type: text/event-stream */
	HEAD_CHUNKED = 1 << 1,	/* Transfer-Encoding: chunked */
	HEAD_REFUSED = 1 << 2,	/* not one the kernel follows */
	HEAD_END = 1 << 3,	/* the blank line was read */
	HEAD_IN_LINE = 1 << 4,	/* inside a long line already looked at */
	HEAD_HAS_TYPE = 1 << 5, /* a Content-Type was seen */
};

struct head_scan {
	__u32 lines;
	__u16 status;
	__u8 flags;
	__u8 pad;
};

#define HEAD_STATUS_MAX 64

/* Byte i of the literal s in place in a little-endian word, and 0x20 in
 * place where it is a lower-case letter: (word | letters) then matches
 * the letter in either case and every other byte exactly. */
#define HEAD_B(s, i) ((sizeof(s) - 1 > (i)) ? (__u64)(__u8)(s)[i] << (8 * ((i) % 8)) : 0)
#define HEAD_LB(s, i)                                                                              \
	((sizeof(s) - 1 > (i) && (s)[i] >= 'a' && (s)[i] <= 'z') ? 0x20ull << (8 * ((i) % 8)) : 0)
#define HEAD_W(s, k)                                                                               \
	(HEAD_B(s, 8 * (k)) | HEAD_B(s, 8 * (k) + 1) | HEAD_B(s, 8 * (k) + 2) |                    \
	 HEAD_B(s, 8 * (k) + 3) | HEAD_B(s, 8 * (k) + 4) | HEAD_B(s, 8 * (k) + 5) |                \
	 HEAD_B(s, 8 * (k) + 6) | HEAD_B(s, 8 * (k) + 7))
#define HEAD_L(s, k)                                                                               \
	(HEAD_LB(s, 8 * (k)) | HEAD_LB(s, 8 * (k) + 1) | HEAD_LB(s, 8 * (k) + 2) |                 \
	 HEAD_LB(s, 8 * (k) + 3) | HEAD_LB(s, 8 * (k) + 4) | HEAD_LB(s, 8 * (k) + 5) |             \
	 HEAD_LB(s, 8 * (k) + 6) | HEAD_LB(s, 8 * (k) + 7))
/* A literal of at most 24 bytes, for head_is(). */
#define HEAD_TEXT(s)                                                                               \
	(const struct head_text)                                                                   \
	{                                                                                          \
		sizeof(s) - 1, {HEAD_W(s, 0), HEAD_W(s, 1), HEAD_W(s, 2)},                         \
		{                                                                                  \
			HEAD_L(s, 0), HEAD_L(s, 1), HEAD_L(s, 2)                                   \
		}                                                                                  \
	}

struct head_text {
	__u32 n;
	__u64 word[3];
	__u64 letters[3];
};

static __always_inline bool head_word_is(const __u8 *buf, __u32 pos, __u64 word, __u64 letters,
					 __u32 n)
{
	__u64 keep = n >= 8 ? ~0ull : (1ull << (8 * n)) - 1;

	return ((scan_word(buf, pos) | letters) & keep) == word;
}

/* Whether [pos, end) begins with t. */
static __always_inline bool head_is(const __u8 *buf, __u32 pos, __u32 end, struct head_text t)
{
	if (end - pos < t.n || !head_word_is(buf, pos, t.word[0], t.letters[0], t.n))
		return false;
	if (t.n > 8 && !head_word_is(buf, pos + 8, t.word[1], t.letters[1], t.n - 8))
		return false;
	return t.n <= 16 || head_word_is(buf, pos + 16, t.word[2], t.letters[2], t.n - 16);
}

static __always_inline bool head_ows(const __u8 *buf, __u32 pos, __u32 end)
{
	__u8 c = scan_byte(buf, pos);

	return pos < end && (c == ' ' || c == '\t');
}

/* Past up to two bytes of optional whitespace (more: not followed). */
static __always_inline __u32 head_skip_ows(const __u8 *buf, __u32 pos, __u32 end)
{
	if (head_ows(buf, pos, end))
		pos++;
	if (head_ows(buf, pos, end))
		pos++;
	return pos;
}

/* The value [pos, end), whitespace around it skipped, is t; or, with
 * params, t then ';'. */
static __always_inline bool head_value_is(const __u8 *buf, __u32 pos, __u32 end, struct head_text t,
					  bool params)
{
	pos = head_skip_ows(buf, pos, end);
	if (!head_is(buf, pos, end, t))
		return false;
	pos = head_skip_ows(buf, pos + t.n, end);
	return pos == end || (params && scan_byte(buf, pos) == ';');
}

/* Bytes below 0x20 or 0x7f in [pos, end): user space refuses a status
 * line with control bytes (a tab is taken for one too: not followed). */
static __always_inline bool head_has_ctl(const __u8 *buf, __u32 pos, __u32 end)
{
	for (int i = 0; i < HEAD_STATUS_MAX / 8 && pos < end; i++, pos += 8) {
		__u64 w = scan_word(buf, pos);
		__u64 keep = end - pos >= 8 ? ~0ull : (1ull << (8 * (end - pos))) - 1;
		__u64 low = (w - SCAN_ONES * 0x20) & ~w & SCAN_HIGHS;

		if ((low | scan_zero_bytes(w ^ (SCAN_ONES * 0x7f))) & keep)
			return true;
	}
	return false;
}

static __always_inline void head_status_line(struct head_scan *h, const __u8 *buf, __u32 pos,
					     __u32 end)
{
	__u16 status = 0;

	if (end - pos < 12 || end - pos > HEAD_STATUS_MAX || head_has_ctl(buf, pos, end) ||
	    !(head_is(buf, pos, end, HEAD_TEXT("HTTP/1.1 ")) ||
	      head_is(buf, pos, end, HEAD_TEXT("HTTP/1.0 ")))) {
		h->flags |= HEAD_REFUSED;
		return;
	}
	for (int i = 9; i < 12; i++) {
		__u8 c = scan_byte(buf, pos + i);

		if (c < '0' || c > '9')
			h->flags |= HEAD_REFUSED;
		status = status * 10 + (c - '0');
	}
	if (end - pos > 12 && scan_byte(buf, pos + 12) != ' ')
		h->flags |= HEAD_REFUSED;
	if (status < 200 || status > 299 || status == 204)
		h->flags |= HEAD_REFUSED;
	h->status = status;
}

/* A field line [pos, end) that fits in one step: the fields that decide,
 * the others ignored. */
static __always_inline void head_field(struct head_scan *h, const __u8 *buf, __u32 pos, __u32 end)
{
	if (head_is(buf, pos, end, HEAD_TEXT("content-type:"))) {
		if (h->flags & HEAD_HAS_TYPE)
			h->flags |= HEAD_REFUSED; /* twice: user space judges */
		h->flags |= HEAD_HAS_TYPE;
		if (head_value_is(buf, pos + 13, end, HEAD_TEXT("text/event-stream"), true))
			h->flags |= HEAD_STREAM;
	} else if (head_is(buf, pos, end, HEAD_TEXT("transfer-encoding:"))) {
		if ((h->flags & HEAD_CHUNKED) ||
		    !head_value_is(buf, pos + 18, end, HEAD_TEXT("chunked"), false))
			h->flags |= HEAD_REFUSED;
		h->flags |= HEAD_CHUNKED;
	} else if (head_is(buf, pos, end, HEAD_TEXT("content-encoding:"))) {
		if (!head_value_is(buf, pos + 17, end, HEAD_TEXT("identity"), false))
			h->flags |= HEAD_REFUSED;
	} else if (head_is(buf, pos, end, HEAD_TEXT("content-length:"))) {
		h->flags |= HEAD_REFUSED;
	}
}

/* Any of the fields that decide, on a line too long to look at whole. */
static __always_inline bool head_field_decides(const __u8 *buf, __u32 pos, __u32 end)
{
	return head_is(buf, pos, end, HEAD_TEXT("content-")) ||
	       head_is(buf, pos, end, HEAD_TEXT("transfer-encoding:"));
}

/* The CR or LF at pos ends a line: CRLF or LF, a bare CR is refused.
 * Returns the position after it. */
static __always_inline __u32 head_eol(struct head_scan *h, const __u8 *buf, __u32 pos, __u32 end)
{
	if (scan_byte(buf, pos) == '\n')
		return pos + 1;
	if (pos + 1 < end && scan_byte(buf, pos + 1) == '\n')
		return pos + 2;
	h->flags |= HEAD_REFUSED;
	return end;
}

/* One step over the head's bytes [pos, end) of the write's first piece:
 * a line, or part of a long one. Call while neither HEAD_END nor
 * HEAD_REFUSED is set and pos < end. */
static __always_inline __u32 head_step(struct head_scan *h, const __u8 *buf, __u32 pos, __u32 end)
{
	__u32 e = scan_line_end((const struct scan_buf *)buf, pos, end);
	__u8 c = e < end ? scan_byte(buf, e) : 0;
	bool eol = c == '\r' || c == '\n';

	if (e == end) { /* the head goes on past the piece */
		h->flags |= HEAD_REFUSED;
		return end;
	}
	if (!(h->flags & HEAD_IN_LINE)) {
		if (e == pos && h->lines) {
			h->flags |= HEAD_END;
			return head_eol(h, buf, pos, end);
		}
		if (!h->lines++)
			head_status_line(h, buf, pos, e);
		else if (eol)
			head_field(h, buf, pos, e);
		else if (head_field_decides(buf, pos, e))
			h->flags |= HEAD_REFUSED;
	}
	if (!eol) {
		h->flags |= HEAD_IN_LINE;
		return e;
	}
	h->flags &= ~HEAD_IN_LINE;
	return head_eol(h, buf, e, end);
}

/* Once HEAD_END is set: how the kernel follows the body (0: it does not). */
static __always_inline __u8 head_framing(const struct head_scan *h)
{
	if ((h->flags & (HEAD_REFUSED | HEAD_END | HEAD_STREAM)) != (HEAD_END | HEAD_STREAM))
		return 0;
	return h->flags & HEAD_CHUNKED ? SCAN_CHUNKED : SCAN_CLOSE;
}

#endif
