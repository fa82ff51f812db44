/* SPDX-License-Identifier: MIT */
/* Renders a registry as Prometheus text format 0.0.4 or as JSON. Pure. */
#ifndef SSE_EXPO_H
#define SSE_EXPO_H

#include "core/strbuf.h"
#include "metrics/registry.h"

#define EXPO_TEXT_CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"

void expo_text(const struct registry *r, struct strbuf *out);
void expo_json(const struct registry *r, struct strbuf *out);

/* Label value escaping of the text format: backslash, quote, newline. */
void expo_escape_label(struct strbuf *out, const char *v);

/* A number as the text format wants it: integers without exponent,
 * +Inf/-Inf/NaN spelled out. */
void expo_number(struct strbuf *out, double v);

#endif
