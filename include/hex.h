/* SPDX-License-Identifier: MIT */
/*
 * A hex digit's value: for the chunked framing the kernel and user space
 * share (chunk_frame.h) and for user space's own parsers (core/ascii.h).
 */
#ifndef SSE_HEX_H
#define SSE_HEX_H

#ifndef __always_inline
#define __always_inline inline __attribute__((always_inline))
#endif

/* Value of a hex digit, or -1. */
static __always_inline int hex_value(unsigned char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

#endif
