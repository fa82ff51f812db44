/* SPDX-License-Identifier: MIT */
/*
 * Incremental decoder of HTTP/1.1 chunked transfer coding (RFC 9112
 * section 7.1). Pure: hands decoded data spans to a callback and tells
 * where the message ends, so a pipelined next message can follow.
 */
#ifndef SSE_CHUNKED_H
#define SSE_CHUNKED_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "chunk_frame.h"

enum chunked_result {
	CHUNKED_MORE,  /* all input used, message not finished */
	CHUNKED_DONE,  /* last-chunk and trailer section consumed */
	CHUNKED_ERROR, /* malformed framing */
};

struct chunked_decoder {
	struct chunk_frame f; /* the framing, shared with the kernel */
};

typedef void (*chunked_data_cb)(void *ctx, const char *data, size_t len);

void chunked_init(struct chunked_decoder *d);

/*
 * Decode the next bytes. Each span of chunk data is passed to cb (may be
 * NULL). *used is the number of bytes of buf consumed: len unless DONE,
 * where it stops right after the final CRLF.
 */
enum chunked_result chunked_feed(struct chunked_decoder *d, const char *buf, size_t len,
				 size_t *used, chunked_data_cb cb, void *ctx);

#endif
