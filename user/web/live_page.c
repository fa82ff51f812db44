// SPDX-License-Identifier: MIT
#include <string.h>

#include "web/live_page.h"

/* the Makefile turns live_page.html into string literals */
const char live_page_html[] =
#include "live_page_html.h"
    ;

/* The path is the operator's, but written into a page it must stay text:
 * a quote must not end the attribute it is in, a '<' not open a tag. */
static void html_escaped(struct strbuf *out, const char *s)
{
	for (; *s; s++) {
		unsigned char c = *s;

		if (c < 0x20 || c == 0x7f || strchr("&<>\"'", c))
			strbuf_printf(out, "&#%u;", c);
		else
			strbuf_add(out, s, 1);
	}
}

void live_page_render(struct strbuf *out, const char *telemetry_path)
{
	size_t plen = strlen(LIVE_PAGE_PLACEHOLDER);
	const char *p = live_page_html, *hit;

	while ((hit = strstr(p, LIVE_PAGE_PLACEHOLDER))) {
		strbuf_add(out, p, hit - p);
		html_escaped(out, telemetry_path);
		p = hit + plen;
	}
	strbuf_puts(out, p);
}
