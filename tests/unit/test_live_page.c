// SPDX-License-Identifier: MIT
/*
 * Unit tests of the live page's serving: the page compiled in byte for
 * byte, the telemetry path put in every placeholder, HTML-escaped.
 * Not in UNIT_OBJS: built with user/web/live_page.c and core/strbuf.c.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "web/live_page.h"

static size_t count(const char *hay, const char *needle)
{
	size_t n = 0;

	for (const char *p = hay; (p = strstr(p, needle)); p += strlen(needle))
		n++;
	return n;
}

static char *render(const char *path)
{
	struct strbuf b;
	char *out;

	strbuf_init(&b);
	live_page_render(&b, path);
	out = strbuf_take(&b);
	assert_non_null(out);
	return out;
}

/* The Makefile's sed quoting loses nothing: backslashes, quotes, '?'. */
static void test_compiled_in_byte_for_byte(void **state)
{
	FILE *f = fopen(LIVE_PAGE_SRC, "rb");
	char *src = calloc(1, 1 << 20);
	size_t n;

	(void)state;
	assert_non_null(f);
	assert_non_null(src);
	n = fread(src, 1, (1 << 20) - 1, f);
	fclose(f);
	assert_true(n > 0 && n < (1 << 20) - 1);
	assert_int_equal(strlen(live_page_html), n);
	assert_memory_equal(live_page_html, src, n);
	free(src);
}

static void test_every_placeholder_replaced(void **state)
{
	const char *path = "/zz-prom";
	size_t holes = count(live_page_html, LIVE_PAGE_PLACEHOLDER);
	char *out = render(path);

	(void)state;
	/* the data's path and the links to both expositions */
	assert_true(holes >= 3);
	assert_int_equal(count(out, LIVE_PAGE_PLACEHOLDER), 0);
	assert_int_equal(count(out, path), holes);
	assert_int_equal(strlen(out), strlen(live_page_html) +
					  holes * (strlen(path) - strlen(LIVE_PAGE_PLACEHOLDER)));
	assert_non_null(strstr(out, "data-telemetry=\"/zz-prom\""));
	assert_non_null(strstr(out, "href=\"/zz-prom/json\""));
	free(out);
}

/* A path that would close the attribute or open a tag stays text. */
static void test_path_escaped(void **state)
{
	char *out = render("/a\"b'c<d>e&f\ng");

	(void)state;
	assert_non_null(strstr(out, "data-telemetry=\"/a&#34;b&#39;c&#60;d&#62;e&#38;f&#10;g\""));
	assert_null(strstr(out, "/a\""));
	assert_null(strstr(out, "c<d"));
	free(out);
}

/* Bytes beyond ASCII pass as they are: a UTF-8 path stays that path. */
static void test_utf8_path_kept(void **state)
{
	char *out = render("/m\xc3\xa9triques");

	(void)state;
	assert_non_null(strstr(out, "href=\"/m\xc3\xa9triques\""));
	free(out);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_compiled_in_byte_for_byte),
	    cmocka_unit_test(test_every_placeholder_replaced),
	    cmocka_unit_test(test_path_escaped),
	    cmocka_unit_test(test_utf8_path_kept),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
