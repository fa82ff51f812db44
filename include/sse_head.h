/* SPDX-License-Identifier: MIT */
/*
 * Whether a server's write begins with a response head that starts an SSE
 * stream the kernel can follow with include/sse_scan.h: the kernel arms
 * the stream at that write, without waiting for user space, so that no
 * event of a fast stream goes by before it counts. User space still gets
 * the head's copy and parses it properly; a stream it would not have
 * followed the same way is given up (counted), so this test is strict:
 *
 *   - HTTP/1.0 or HTTP/1.1, a 2xx status other than 204, the whole head in
 *     the first SCAN_PIECE bytes of the write, lines ending in CRLF or LF;
 *   - one Content-Type, text/event-stream (any case, parameters allowed);
 *   - framing: Transfer-Encoding exactly chunked, or one Content-Length
 *     above 0, or neither (until close); both, another coding, a
 *     Content-Encoding other than identity, a long line holding one of
 *     these fields: not followed here, user space copes.
 *
 * Same rules as sse_scan.h: pure, no libc, bounded loops, indexes masked.
 * tests/unit/test_sse_head.c checks it against proto/http_head.c.
 */
#ifndef SSE_SSE_HEAD_H
#define SSE_SSE_HEAD_H

#include "sse_scan.h"

enum head_flags {
	HEAD_STREAM = 1 << 0,	/* Content-Type: text/event-stream */
	HEAD_CHUNKED = 1 << 1,	/* Transfer-Encoding: chunked */
	HEAD_LENGTH = 1 << 2,	/* Content-Length */
	HEAD_REFUSED = 1 << 3,	/* not one the kernel follows */
	HEAD_END = 1 << 4,	/* the blank line was read */
	HEAD_IN_LINE = 1 << 5,	/* inside a long line already looked at */
	HEAD_HAS_TYPE = 1 << 6, /* a Content-Type was seen */
};

struct head_scan {
	__u64 length; /* Content-Length */
	__u32 lines;
	__u16 status;
	__u8 flags;
	__u8 pad;
};

/* Whether the line [pos, end) begins with name (lower case, ':' included),
 * whatever the case of its letters. */
static inline bool head_name_is(const __u8 *buf, __u32 pos, __u32 end, const char *name, __u32 n)
{
	if (end - pos < n)
		return false;
	for (__u32 i = 0; i < n; i++) {
		__u8 c = scan_byte(buf, pos + i);

		if (c >= 'A' && c <= 'Z')
			c += 'a' - 'A';
		if (c != (__u8)name[i])
			return false;
	}
	return true;
}

static inline __u32 head_skip_ows(const __u8 *buf, __u32 pos, __u32 end)
{
	for (int i = 0; i < 16 && pos < end; i++) {
		__u8 c = scan_byte(buf, pos);

		if (c != ' ' && c != '\t')
			break;
		pos++;
	}
	return pos;
}

/* The value [pos, end) is token (lower case), then optional whitespace,
 * then the end or, with params, a ';'. */
static inline bool head_value_is(const __u8 *buf, __u32 pos, __u32 end, const char *token, __u32 n,
				 bool params)
{
	__u8 c;

	if (!head_name_is(buf, pos, end, token, n))
		return false;
	pos = head_skip_ows(buf, pos + n, end);
	if (pos == end)
		return true;
	c = scan_byte(buf, pos);
	return params && c == ';';
}

static inline void head_status_line(struct head_scan *h, const __u8 *buf, __u32 pos, __u32 end)
{
	__u16 status = 0;

	if (!head_name_is(buf, pos, end, "http/1.", 7) || end - pos < 12) {
		h->flags |= HEAD_REFUSED;
		return;
	}
	if (scan_byte(buf, pos + 7) != '0' && scan_byte(buf, pos + 7) != '1')
		h->flags |= HEAD_REFUSED;
	if (scan_byte(buf, pos + 8) != ' ')
		h->flags |= HEAD_REFUSED;
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
	/* the reason phrase: control bytes make user space give up the head */
	for (int i = 13; i < 8 * SCAN_WORDS && pos + i < end; i++) {
		__u8 c = scan_byte(buf, pos + i);

		if ((c < 0x20 && c != '\t') || c == 0x7f)
			h->flags |= HEAD_REFUSED;
	}
}

static inline void head_content_length(struct head_scan *h, const __u8 *buf, __u32 pos, __u32 end)
{
	__u64 v = 0;
	int digits = 0;

	if (h->flags & HEAD_LENGTH)
		h->flags |= HEAD_REFUSED; /* twice: user space judges */
	pos = head_skip_ows(buf, pos, end);
	for (int i = 0; i < 18 && pos < end; i++) {
		__u8 c = scan_byte(buf, pos);

		if (c < '0' || c > '9')
			break;
		v = v * 10 + (c - '0');
		digits++;
		pos++;
	}
	if (!digits || head_skip_ows(buf, pos, end) != end)
		h->flags |= HEAD_REFUSED;
	h->flags |= HEAD_LENGTH;
	h->length = v;
}

/* A field line [pos, end) that fits in one step: the four fields that
 * decide, the others ignored. */
static inline void head_field(struct head_scan *h, const __u8 *buf, __u32 pos, __u32 end)
{
	if (head_name_is(buf, pos, end, "content-type:", 13)) {
		if (h->flags & HEAD_HAS_TYPE)
			h->flags |= HEAD_REFUSED;
		h->flags |= HEAD_HAS_TYPE;
		pos = head_skip_ows(buf, pos + 13, end);
		if (head_value_is(buf, pos, end, "text/event-stream", 17, true))
			h->flags |= HEAD_STREAM;
	} else if (head_name_is(buf, pos, end, "transfer-encoding:", 18)) {
		pos = head_skip_ows(buf, pos + 18, end);
		if ((h->flags & HEAD_CHUNKED) || !head_value_is(buf, pos, end, "chunked", 7, false))
			h->flags |= HEAD_REFUSED;
		h->flags |= HEAD_CHUNKED;
	} else if (head_name_is(buf, pos, end, "content-length:", 15)) {
		head_content_length(h, buf, pos + 15, end);
	} else if (head_name_is(buf, pos, end, "content-encoding:", 17)) {
		pos = head_skip_ows(buf, pos + 17, end);
		if (!head_value_is(buf, pos, end, "identity", 8, false))
			h->flags |= HEAD_REFUSED;
	}
}

/* Any of the fields that decide, on a line too long to look at whole. */
static inline bool head_field_decides(const __u8 *buf, __u32 pos, __u32 end)
{
	return head_name_is(buf, pos, end, "content-", 8) ||
	       head_name_is(buf, pos, end, "transfer-encoding:", 18);
}

/* The CR or LF at pos ends a line: CRLF or LF, a bare CR is refused.
 * Returns the position after it. */
static inline __u32 head_eol(struct head_scan *h, const __u8 *buf, __u32 pos, __u32 end)
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
static inline __u32 head_step(struct head_scan *h, const __u8 *buf, __u32 pos, __u32 end)
{
	__u32 e = scan_line_end(buf, pos, end);
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
		if (!h->lines++ && !eol)
			h->flags |= HEAD_REFUSED; /* a status line this long is no server's */
		else if (h->lines == 1)
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

/* Once HEAD_END is set: how the kernel follows the body (0: it does not),
 * and its length for SCAN_LENGTH. */
static inline __u8 head_framing(const struct head_scan *h)
{
	if ((h->flags & (HEAD_REFUSED | HEAD_END | HEAD_STREAM)) != (HEAD_END | HEAD_STREAM))
		return 0;
	if (h->flags & HEAD_CHUNKED)
		return h->flags & HEAD_LENGTH ? 0 : SCAN_CHUNKED;
	if (h->flags & HEAD_LENGTH)
		return h->length ? SCAN_LENGTH : 0;
	return SCAN_CLOSE;
}

#endif
