// SPDX-License-Identifier: MIT
/*
 * Incremental chunked transfer decoder (see chunked.h).
 *
 * Framing lines (chunk sizes, the CRLF after data, trailers) go a byte at
 * a time through include/chunk_frame.h, the machine the kernel follows
 * streams with too; chunk data is handed on in the largest spans the
 * input allows. All state lives in the decoder, so any split of the input
 * gives the same result and the same data bytes.
 */
#include "proto/chunked.h"

void chunked_init(struct chunked_decoder *d)
{
	chunk_frame_init(&d->f);
}

enum chunked_result chunked_feed(struct chunked_decoder *d, const char *buf, size_t len,
				 size_t *used, chunked_data_cb cb, void *ctx)
{
	struct chunk_frame *f = &d->f;
	size_t i = 0;

	while (i < len && f->state != CF_DONE && f->state != CF_ERROR) {
		if (f->state == CF_DATA) {
			size_t n = len - i;

			if ((uint64_t)n > f->remaining)
				n = (size_t)f->remaining;
			if (cb)
				cb(ctx, buf + i, n);
			f->remaining -= n;
			i += n;
			if (f->remaining == 0)
				f->state = CF_DATA_END;
			continue;
		}
		chunk_frame_byte(f, (unsigned char)buf[i++]);
	}
	*used = i;
	if (f->state == CF_DONE)
		return CHUNKED_DONE;
	if (f->state == CF_ERROR)
		return CHUNKED_ERROR;
	return CHUNKED_MORE;
}
