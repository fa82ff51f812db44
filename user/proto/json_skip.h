/* SPDX-License-Identifier: MIT */
/*
 * Skips one nested JSON value (an object or array whose opening bracket
 * was read) byte by byte, in any split of the input. Brackets are counted,
 * not matched: only the depth matters to the scanners that skip (json_scan,
 * usage_scan), which also share the byte classes below. Pure.
 */
#ifndef SSE_JSON_SKIP_H
#define SSE_JSON_SKIP_H

#include <stdbool.h>
#include <stdint.h>

#include "core/ascii.h"

/* JSON white space. */
static inline bool json_is_ws(unsigned char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

/* Characters of true, false, null and numbers. */
static inline bool json_is_literal_char(unsigned char c)
{
	return is_alnum(c) || c == '-' || c == '+' || c == '.';
}

struct json_skip {
	uint32_t depth; /* brackets open */
	bool in_string;
	bool escape; /* previous string byte was a backslash */
};

enum json_skip_step {
	JSON_SKIP_MORE,
	JSON_SKIP_DONE,	    /* the value's closing bracket was this byte */
	JSON_SKIP_TOO_DEEP, /* cannot count further: stop rather than guess */
};

/* After the value's opening bracket. */
void json_skip_start(struct json_skip *k);
enum json_skip_step json_skip_byte(struct json_skip *k, unsigned char c);

#endif
