/* SPDX-License-Identifier: MIT */
/* Character classes shared by the parsers. Pure. */
#ifndef SSE_ASCII_H
#define SSE_ASCII_H

#include <stdbool.h>

#include "hex.h" /* hex_value, shared with the kernel's chunk framing */

static inline bool is_digit(unsigned char c)
{
	return c >= '0' && c <= '9';
}

static inline bool is_alnum(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || is_digit(c);
}

#endif
