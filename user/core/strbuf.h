/* SPDX-License-Identifier: MIT */
/* Growable output buffer for rendering responses. Pure. */
#ifndef SSE_STRBUF_H
#define SSE_STRBUF_H

#include <stdbool.h>
#include <stddef.h>

struct strbuf {
	char *buf;
	size_t len;
	size_t cap;
	bool oom; /* an allocation failed: the content is incomplete */
};

void strbuf_init(struct strbuf *b);
void strbuf_free(struct strbuf *b);
void strbuf_add(struct strbuf *b, const char *s, size_t n);
void strbuf_puts(struct strbuf *b, const char *s);
/* The content, NUL-terminated, for the caller to free; b is left empty.
 * NULL when memory ran out. */
char *strbuf_take(struct strbuf *b);
void strbuf_printf(struct strbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
