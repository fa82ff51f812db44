/* SPDX-License-Identifier: MIT */
/*
 * The live page at /: live_page.html, compiled in, with the configured
 * telemetry path put in place of its placeholder, so that the page's links
 * and its data follow --web.telemetry-path. Pure.
 */
#ifndef SSE_LIVE_PAGE_H
#define SSE_LIVE_PAGE_H

#include "core/strbuf.h"

#define LIVE_PAGE_PLACEHOLDER "@TELEMETRY_PATH@"

/* live_page.html as built */
extern const char live_page_html[];

/* The page with every placeholder replaced by telemetry_path, HTML-escaped
 * (the page uses it in text and quoted attributes only). */
void live_page_render(struct strbuf *out, const char *telemetry_path);

#endif
