// SPDX-License-Identifier: MIT
/*
 * Incremental chunked transfer decoder (see chunked.h).
 *
 * Framing lines (chunk sizes, the CRLF after data, trailers) are walked a
 * byte at a time and never stored, so memory stays bounded whatever the
 * peer sends; chunk data is handed on in the largest spans the input
 * allows. All state lives in the decoder, so any split of the input gives
 * the same result and the same data bytes.
 */
#include "core/ascii.h"
#include "proto/chunked.h"

#include <string.h>

/*
 * Limits on what is skipped without being stored. Chunk extensions are
 * rare and short; a size line longer than this is not a real client.
 * The trailer section gets the same room as a head.
 */
#define CHUNKED_LINE_MAX    4096
#define CHUNKED_TRAILER_MAX 65536
#define CHUNKED_DIGITS_MAX  15 /* 16^15 > any real chunk, < 2^63 */

enum {
	CS_SIZE,	  /* chunk-size hex digits */
	CS_SIZE_WS,	  /* whitespace after the size, before ';' or line end */
	CS_EXT,		  /* chunk extensions: ignored up to the line end */
	CS_DATA,	  /* remaining bytes of chunk data */
	CS_DATA_END,	  /* the line end that closes chunk data */
	CS_TRAILER_START, /* start of a trailer line, or the final empty line */
	CS_TRAILER,	  /* inside a trailer field line: ignored */
	CS_DONE,
	CS_ERROR,
};

void chunked_init(struct chunked_decoder *d)
{
	memset(d, 0, sizeof(*d));
	d->state = CS_SIZE;
}

static void new_size_line(struct chunked_decoder *d)
{
	d->state = CS_SIZE;
	d->size_digits = 0;
	d->remaining = 0;
	d->line_len = 0;
}

/* A line (CRLF or bare LF) ended in the current state. */
static void line_end(struct chunked_decoder *d)
{
	switch (d->state) {
	case CS_SIZE:
		if (d->size_digits == 0) {
			d->state = CS_ERROR;
			break;
		}
		/* fall through */
	case CS_SIZE_WS:
	case CS_EXT:
		if (d->remaining > 0) {
			d->state = CS_DATA;
		} else {
			/* last-chunk: a trailer section follows */
			d->state = CS_TRAILER_START;
			d->line_len = 0;
		}
		break;
	case CS_DATA_END:
		new_size_line(d);
		break;
	case CS_TRAILER_START:
		d->state = CS_DONE;
		break;
	case CS_TRAILER:
		d->state = CS_TRAILER_START;
		break;
	default:
		d->state = CS_ERROR;
		break;
	}
}

static void size_byte(struct chunked_decoder *d, unsigned char c)
{
	int v = hex_value(c);

	if (v >= 0) {
		if (d->size_digits >= CHUNKED_DIGITS_MAX) {
			d->state = CS_ERROR;
			return;
		}
		d->remaining = d->remaining * 16 + (uint64_t)v;
		d->size_digits++;
	} else if (d->size_digits > 0 && (c == ' ' || c == '\t')) {
		d->state = CS_SIZE_WS; /* BWS before a chunk-ext */
	} else if (d->size_digits > 0 && c == ';') {
		d->state = CS_EXT;
	} else {
		d->state = CS_ERROR;
	}
}

/* One framing byte that is neither CR nor LF. */
static void framing_byte(struct chunked_decoder *d, unsigned char c)
{
	switch (d->state) {
	case CS_SIZE:
		size_byte(d, c);
		break;
	case CS_SIZE_WS:
		if (c == ';')
			d->state = CS_EXT;
		else if (c != ' ' && c != '\t')
			d->state = CS_ERROR;
		break;
	case CS_EXT:
		break;
	case CS_TRAILER_START:
		d->state = CS_TRAILER;
		break;
	case CS_TRAILER:
		break;
	default: /* CS_DATA_END: data longer than its chunk size */
		d->state = CS_ERROR;
		break;
	}
}

/* Size lines and the trailer section may be skipped, but not forever. */
static bool count_line_byte(struct chunked_decoder *d)
{
	uint32_t max;

	if (d->state == CS_TRAILER_START || d->state == CS_TRAILER)
		max = CHUNKED_TRAILER_MAX; /* whole section: line_len not reset */
	else if (d->state == CS_DATA_END)
		return true;
	else
		max = CHUNKED_LINE_MAX;
	if (d->line_len >= max)
		return false;
	d->line_len++;
	return true;
}

static void line_byte(struct chunked_decoder *d, unsigned char c)
{
	if (!count_line_byte(d)) {
		d->state = CS_ERROR;
		return;
	}
	if (d->saw_cr) {
		d->saw_cr = false;
		if (c == '\n') {
			line_end(d);
			return;
		}
		/* a bare CR is only tolerated inside an ignored trailer line */
		if (d->state != CS_TRAILER) {
			d->state = CS_ERROR;
			return;
		}
	}
	if (c == '\r')
		d->saw_cr = true;
	else if (c == '\n')
		line_end(d);
	else
		framing_byte(d, c);
}

enum chunked_result chunked_feed(struct chunked_decoder *d, const char *buf, size_t len,
				 size_t *used, chunked_data_cb cb, void *ctx)
{
	size_t i = 0;

	while (i < len && d->state != CS_DONE && d->state != CS_ERROR) {
		if (d->state == CS_DATA) {
			size_t n = len - i;

			if ((uint64_t)n > d->remaining)
				n = (size_t)d->remaining;
			if (cb)
				cb(ctx, buf + i, n);
			d->remaining -= n;
			i += n;
			if (d->remaining == 0)
				d->state = CS_DATA_END;
			continue;
		}
		line_byte(d, (unsigned char)buf[i++]);
	}
	*used = i;
	if (d->state == CS_DONE)
		return CHUNKED_DONE;
	if (d->state == CS_ERROR)
		return CHUNKED_ERROR;
	return CHUNKED_MORE;
}
