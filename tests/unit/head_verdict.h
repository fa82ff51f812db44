/* SPDX-License-Identifier: MIT */
/*
 * What the kernel's head test (include/sse_head.h) and user space's head
 * parser (proto/http_head.c) make of a server's write: whether a stream
 * is followed, framed how, after a head of how many bytes. Shared by
 * tests/unit/test_sse_head.c and tests/fuzz/fuzz_sse_head.c.
 */
#ifndef SSE_TEST_HEAD_VERDICT_H
#define SSE_TEST_HEAD_VERDICT_H

#include <stddef.h>
#include <string.h>

#include "proto/http_head.h"
#include "sse_head.h"

struct verdict {
	__u8 framing; /* 0: not followed */
	__u32 head_len;
};

static struct verdict kernel_verdict(const char *in, size_t len)
{
	static __u8 buf[SCAN_PIECE + SCAN_PAD];
	struct head_scan h = {0};
	struct verdict v = {0};
	__u32 pos = 0, n = len < SCAN_PIECE ? len : SCAN_PIECE;

	memset(buf, 0x55, sizeof(buf));
	memcpy(buf, in, n);
	while (pos < n && !(h.flags & (HEAD_END | HEAD_REFUSED)))
		pos = head_step(&h, buf, pos, n);
	v.framing = head_framing(&h);
	v.head_len = pos;
	return v;
}

/* What user space makes of the same bytes, in the kernel's terms. */
static struct verdict user_verdict(const char *in, size_t len)
{
	struct http_head h;
	struct verdict v = {0};
	size_t used = 0;

	http_head_init(&h, HTTP_HEAD_RESPONSE);
	if (http_head_feed(&h, in, len, &used) != HTTP_HEAD_DONE || !h.event_stream ||
	    h.status < 200 || h.status > 299 || h.coding != HTTP_CODING_IDENTITY)
		return v;
	v.head_len = used;
	switch (http_body_mode(&h, false)) {
	case HTTP_BODY_CHUNKED:
		v.framing = SCAN_CHUNKED;
		break;
	case HTTP_BODY_UNTIL_CLOSE:
		v.framing = SCAN_CLOSE;
		break;
	default:
		break;
	}
	return v;
}

#endif
