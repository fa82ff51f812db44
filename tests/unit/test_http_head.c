// SPDX-License-Identifier: MIT
/* Unit tests of the incremental HTTP/1.x head parser. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "proto/http_head.h"
#include "split.h"

#define REQ HTTP_HEAD_REQUEST
#define RSP HTTP_HEAD_RESPONSE

struct run {
	enum http_head_kind kind; /* set before feeding */
	enum http_head_result res;
	size_t used; /* bytes of the whole input that belonged to the head */
	struct http_head h;
};

static void run_start(void *vr)
{
	struct run *r = vr;

	http_head_init(&r->h, r->kind);
	r->res = HTTP_HEAD_NEED_MORE;
	r->used = 0;
}

/*
 * Feeds one piece. Stops at the first result that is not NEED_MORE,
 * exactly like a caller would; the byte that ends the head or shows an
 * error is always consumed.
 */
static bool run_feed(void *vr, const char *in, size_t off, size_t len)
{
	struct run *r = vr;
	size_t used = 12345;

	r->res = http_head_feed(&r->h, in + off, len, &used);
	if (r->res == HTTP_HEAD_NEED_MORE)
		assert_int_equal(used, len);
	else
		assert_true(used <= len && (used > 0 || len == 0));
	r->used = off + used;
	return r->res == HTTP_HEAD_NEED_MORE;
}

/* The result fields and the outcome must not depend on the split. */
static void assert_same(const void *va, const void *vb)
{
	const struct run *a = va, *b = vb;

	assert_int_equal(a->res, b->res);
	assert_int_equal(a->used, b->used);
	if (a->res != HTTP_HEAD_DONE)
		return;
	assert_string_equal(a->h.method, b->h.method);
	assert_string_equal(a->h.target, b->h.target);
	assert_string_equal(a->h.host, b->h.host);
	assert_int_equal(a->h.version_minor, b->h.version_minor);
	assert_int_equal(a->h.status, b->h.status);
	assert_int_equal(a->h.content_length, b->h.content_length);
	assert_int_equal(a->h.chunked, b->h.chunked);
	assert_int_equal(a->h.event_stream, b->h.event_stream);
	assert_int_equal(a->h.json, b->h.json);
	assert_int_equal(a->h.accept_event_stream, b->h.accept_event_stream);
	assert_int_equal(a->h.connection_close, b->h.connection_close);
	assert_int_equal(a->h.connection_keep_alive, b->h.connection_keep_alive);
	assert_int_equal(a->h.upgrade, b->h.upgrade);
	assert_int_equal(a->h.coding, b->h.coding);
	assert_int_equal(http_body_mode(&a->h, false), http_body_mode(&b->h, false));
}

static const struct split_driver driver = {
    .start = run_start,
    .feed = run_feed,
    .same = assert_same,
    .pairs_max = 160,
};

static void feed_whole(struct run *r, enum http_head_kind kind, const char *in, size_t len)
{
	r->kind = kind;
	split_feed_whole(&driver, r, in, len);
}

static void feed_bytewise(struct run *r, enum http_head_kind kind, const char *in, size_t len)
{
	r->kind = kind;
	split_feed_bytewise(&driver, r, in, len);
}

/*
 * Parses in whole, then with every single split point, every pair of split
 * points (short inputs) and one byte at a time; all must agree. Returns
 * the whole-buffer run in *r.
 */
static void parse_all_ways(struct run *r, enum http_head_kind kind, const char *in, size_t len)
{
	static struct run other;

	r->kind = kind;
	other.kind = kind;
	split_all_ways(&driver, r, &other, in, len);
}

static struct run R; /* big (line buffer): keep it off the stack */

static void parse_str(enum http_head_kind kind, const char *in)
{
	parse_all_ways(&R, kind, in, strlen(in));
}

/* ---- requests ---- */

static void test_simple_get(void **state)
{
	const char *in = "GET /v1/models?x=1 HTTP/1.1\r\nHost: api.example.com\r\n\r\n";

	(void)state;
	parse_str(REQ, in);
	assert_int_equal(R.res, HTTP_HEAD_DONE);
	assert_int_equal(R.used, strlen(in));
	assert_string_equal(R.h.method, "GET");
	assert_string_equal(R.h.target, "/v1/models?x=1");
	assert_string_equal(R.h.host, "api.example.com");
	assert_int_equal(R.h.version_minor, 1);
	assert_int_equal(R.h.content_length, -1);
	assert_false(R.h.chunked);
	assert_false(R.h.upgrade);
	assert_int_equal(http_body_mode(&R.h, false), HTTP_BODY_NONE);
}

static void test_bare_lf_and_mixed(void **state)
{
	(void)state;
	parse_str(REQ, "POST /a HTTP/1.0\nContent-Length: 5\nHost: h\n\nhello");
	assert_int_equal(R.res, HTTP_HEAD_DONE);
	assert_int_equal(R.used, strlen("POST /a HTTP/1.0\nContent-Length: 5\nHost: h\n\n"));
	assert_int_equal(R.h.version_minor, 0);
	assert_int_equal(R.h.content_length, 5);
	assert_int_equal(http_body_mode(&R.h, false), HTTP_BODY_LENGTH);

	parse_str(REQ, "POST /a HTTP/1.1\r\nContent-Length: 7\nHost: h\r\n\nbody");
	assert_int_equal(R.res, HTTP_HEAD_DONE);
	assert_int_equal(R.used, strlen("POST /a HTTP/1.1\r\nContent-Length: 7\nHost: h\r\n\n"));
	assert_int_equal(R.h.content_length, 7);

	/* CRLF then bare LF as the blank line, and bare LF then CRLF */
	parse_str(REQ, "GET / HTTP/1.1\r\n\n");
	assert_int_equal(R.res, HTTP_HEAD_DONE);
	parse_str(REQ, "GET / HTTP/1.1\n\r\n");
	assert_int_equal(R.res, HTTP_HEAD_DONE);
	assert_int_equal(R.used, 17);
}

static void test_names_case_and_ows(void **state)
{
	(void)state;
	parse_str(REQ, "POST /chat HTTP/1.1\r\n"
		       "hOsT:\t Example.ORG \t\r\n"
		       "CONTENT-LENGTH:   42  \r\n"
		       "content-type:application/json ; charset=utf-8\r\n"
		       "aCCept: text/event-stream\r\n"
		       "\r\n");
	assert_int_equal(R.res, HTTP_HEAD_DONE);
	assert_string_equal(R.h.host, "example.org");
	assert_int_equal(R.h.content_length, 42);
	assert_true(R.h.json);
	assert_false(R.h.event_stream);
	assert_true(R.h.accept_event_stream);
}

static void test_leading_empty_lines(void **state)
{
	(void)state;
	/* RFC 9112 2.2: a stray CRLF after a previous body is skipped */
	parse_str(REQ, "\r\n\nGET / HTTP/1.1\r\n\r\n");
	assert_int_equal(R.res, HTTP_HEAD_DONE);
	assert_string_equal(R.h.method, "GET");
	assert_int_equal(R.used, 21);
}

static void test_method_limits(void **state)
{
	(void)state;
	parse_str(REQ, "PROPFIND /x HTTP/1.1\r\n\r\n");
	assert_int_equal(R.res, HTTP_HEAD_DONE);
	assert_string_equal(R.h.method, "PROPFIND");

	parse_str(REQ, "get /x HTTP/1.1\r\n\r\n"); /* kept as sent */
	assert_int_equal(R.res, HTTP_HEAD_DONE);
	assert_string_equal(R.h.method, "get");

	parse_str(REQ, "ABCDEFGHIJKLMNO / HTTP/1.1\r\n\r\n"); /* 15 */
	assert_int_equal(R.res, HTTP_HEAD_DONE);
	assert_string_equal(R.h.method, "ABCDEFGHIJKLMNO");

	parse_str(REQ, "ABCDEFGHIJKLMNOP / HTTP/1.1\r\n\r\n"); /* 16 */
	assert_int_equal(R.res, HTTP_HEAD_ERROR);
	assert_true(R.used <= 16);
}

static void test_target_truncated(void **state)
{
	static char in[3000], want[HTTP_TARGET_MAX];
	size_t n;

	(void)state;
	/* a request line much longer than HTTP_LINE_MAX is still fine */
	n = (size_t)snprintf(in, sizeof(in), "GET /");
	memset(in + n, 'a', 2000);
	n += 2000;
	n += (size_t)snprintf(in + n, sizeof(in) - n, " HTTP/1.1\r\nHost: x:1\r\n\r\n");
	feed_whole(&R, REQ, in, n);
	assert_int_equal(R.res, HTTP_HEAD_DONE);
	assert_int_equal(R.used, n);
	assert_int_equal(strlen(R.h.target), HTTP_TARGET_MAX - 1);
	want[0] = '/';
	memset(want + 1, 'a', HTTP_TARGET_MAX - 2);
	want[HTTP_TARGET_MAX - 1] = '\0';
	assert_string_equal(R.h.target, want);
	assert_string_equal(R.h.host, "x");
	parse_all_ways(&R, REQ, in, n);
	assert_int_equal(R.res, HTTP_HEAD_DONE);
}

static void test_request_line_errors(void **state)
{
	static const char *const bad[] = {
	    "GET /\r\n\r\n",			/* HTTP/0.9 */
	    "GET  / HTTP/1.1\r\n\r\n",		/* two spaces */
	    "GET / HTTP/1.1 \r\n\r\n",		/* trailing space */
	    "GET / HTTP/1.12\r\n\r\n",		/* two-digit minor */
	    "GET / HTTP/2.0\r\n\r\n",		/* not HTTP/1 */
	    "GET / http/1.1\r\n\r\n",		/* case-sensitive */
	    "GET / HTTP/1.x\r\n\r\n",		/* no digit */
	    "GET /a b HTTP/1.1\r\n\r\n",	/* space in target */
	    " GET / HTTP/1.1\r\n\r\n",		/* leading space */
	    "GET\t/ HTTP/1.1\r\n\r\n",		/* tab separator */
	    "GET /\ta HTTP/1.1\r\n\r\n",	/* tab in target */
	    "GET / HTTP/1.1\rX\n\r\n",		/* bare CR in start line */
	    "GET /\r HTTP/1.1\r\n\r\n",		/* bare CR in target */
	    "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", /* HTTP/2 preface */
	    "HTTP/1.1 200 OK\r\n\r\n",		/* a response where a request is expected */
	    "G(T / HTTP/1.1\r\n\r\n",		/* not a token */
	    "\r\r\n",				/* CR CR */
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		parse_str(REQ, bad[i]);
		if (R.res != HTTP_HEAD_ERROR)
			fail_msg("accepted: %s", bad[i]);
	}
}

static void test_nul_in_target(void **state)
{
	static const char in[] = "GET /a\0b HTTP/1.1\r\n\r\n";

	(void)state;
	parse_all_ways(&R, REQ, in, sizeof(in) - 1);
	assert_int_equal(R.res, HTTP_HEAD_ERROR);
	assert_int_equal(R.used, 7); /* stops at the NUL */
}

static void test_obs_text_target_kept(void **state)
{
	(void)state;
	parse_str(REQ, "GET /caf\xc3\xa9 HTTP/1.1\r\n\r\n");
	assert_int_equal(R.res, HTTP_HEAD_DONE);
	assert_string_equal(R.h.target, "/caf\xc3\xa9");
}

/* ---- responses ---- */

static void test_response_basic(void **state)
{
	const char *head = "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream; charset=utf-8\r\n"
			   "Cache-Control: no-cache\r\n\r\n";
	char in[256];

	(void)state;
	snprintf(in, sizeof(in), "%sdata: hi\n\n", head);
	parse_str(RSP, in);
	assert_int_equal(R.res, HTTP_HEAD_DONE);
	assert_int_equal(R.used, strlen(head)); /* body left for the caller */
	assert_int_equal(R.h.status, 200);
	assert_int_equal(R.h.version_minor, 1);
	assert_true(R.h.event_stream);
	assert_false(R.h.json);
	assert_int_equal(http_body_mode(&R.h, false), HTTP_BODY_UNTIL_CLOSE);
}

static void test_response_reason_optional(void **state)
{
	(void)state;
	parse_str(RSP, "HTTP/1.1 204\r\n\r\n");
	assert_int_equal(R.res, HTTP_HEAD_DONE);
	assert_int_equal(R.h.status, 204);
	parse_str(RSP, "HTTP/1.0 404 \r\n\r\n");
	assert_int_equal(R.res, HTTP_HEAD_DONE);
	assert_int_equal(R.h.status, 404);
	assert_int_equal(R.h.version_minor, 0);
	parse_str(RSP, "HTTP/1.1 500 Internal\tServer Error \xe2\x9c\x97\n\n");
	assert_int_equal(R.res, HTTP_HEAD_DONE);
	assert_int_equal(R.h.status, 500);
}

static void test_status_line_errors(void **state)
{
	static const char *const bad[] = {
	    "HTTP/1.1 20\r\n\r\n",	  "HTTP/1.1 2000 OK\r\n\r\n",	 "HTTP/1.1 099 x\r\n\r\n",
	    "HTTP/1.1 2a0 OK\r\n\r\n",	  "HTTP/1.1  200 OK\r\n\r\n",	 "HTTP/2 200\r\n\r\n",
	    "HTTP/1.1\r\n\r\n",		  "HTTP/1.1 200 O\x01K\r\n\r\n", "http/1.1 200 OK\r\n\r\n",
	    "HTTP/1.1 200 OK\rX\r\n\r\n", "GET / HTTP/1.1\r\n\r\n",
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		parse_str(RSP, bad[i]);
		if (R.res != HTTP_HEAD_ERROR)
			fail_msg("accepted: %s", bad[i]);
	}
}

static void test_body_modes(void **state)
{
	(void)state;
	parse_str(RSP, "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n");
	assert_int_equal(http_body_mode(&R.h, false), HTTP_BODY_LENGTH);
	assert_int_equal(http_body_mode(&R.h, true), HTTP_BODY_NONE); /* HEAD */

	parse_str(RSP, "HTTP/1.1 204 No Content\r\nContent-Length: 10\r\n\r\n");
	assert_int_equal(http_body_mode(&R.h, false), HTTP_BODY_NONE);
	parse_str(RSP, "HTTP/1.1 304 Not Modified\r\nTransfer-Encoding: chunked\r\n\r\n");
	assert_int_equal(http_body_mode(&R.h, false), HTTP_BODY_NONE);
	parse_str(RSP, "HTTP/1.1 100 Continue\r\n\r\n");
	assert_int_equal(http_body_mode(&R.h, false), HTTP_BODY_NONE);
	parse_str(RSP, "HTTP/1.1 103 Early Hints\r\nContent-Length: 5\r\n\r\n");
	assert_int_equal(http_body_mode(&R.h, false), HTTP_BODY_NONE);

	/* chunked wins over Content-Length */
	parse_str(RSP,
		  "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n");
	assert_int_equal(http_body_mode(&R.h, false), HTTP_BODY_CHUNKED);
	parse_str(REQ,
		  "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n");
	assert_int_equal(http_body_mode(&R.h, false), HTTP_BODY_CHUNKED);

	/* Content-Length 0 is NONE for both directions */
	parse_str(RSP, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
	assert_int_equal(http_body_mode(&R.h, false), HTTP_BODY_NONE);
	parse_str(REQ, "POST / HTTP/1.1\r\nContent-Length: 0\r\n\r\n");
	assert_int_equal(http_body_mode(&R.h, false), HTTP_BODY_NONE);

	/* no framing at all */
	parse_str(RSP, "HTTP/1.0 200 OK\r\n\r\n");
	assert_int_equal(http_body_mode(&R.h, false), HTTP_BODY_UNTIL_CLOSE);
	parse_str(REQ, "GET / HTTP/1.1\r\n\r\n");
	assert_int_equal(http_body_mode(&R.h, false), HTTP_BODY_NONE);

	/* Transfer-Encoding not ending in chunked overrides Content-Length */
	parse_str(RSP, "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\nContent-Length: 5\r\n\r\n");
	assert_false(R.h.chunked);
	assert_int_equal(http_body_mode(&R.h, false), HTTP_BODY_UNTIL_CLOSE);
	parse_str(REQ, "POST / HTTP/1.1\r\nTransfer-Encoding: gzip\r\nContent-Length: 5\r\n\r\n");
	assert_int_equal(http_body_mode(&R.h, false), HTTP_BODY_NONE);

	/* invalid Content-Length */
	parse_str(RSP, "HTTP/1.1 200 OK\r\nContent-Length: 5x\r\n\r\n");
	assert_int_equal(R.h.content_length, -1);
	assert_int_equal(http_body_mode(&R.h, false), HTTP_BODY_UNTIL_CLOSE);
	parse_str(REQ, "POST / HTTP/1.1\r\nContent-Length: 5x\r\n\r\n");
	assert_int_equal(http_body_mode(&R.h, false), HTTP_BODY_NONE);
}

static int64_t cl_of(const char *fields)
{
	char in[512];

	snprintf(in, sizeof(in), "POST / HTTP/1.1\r\n%s\r\n", fields);
	parse_str(REQ, in);
	assert_int_equal(R.res, HTTP_HEAD_DONE);
	return R.h.content_length;
}

static void test_content_length(void **state)
{
	(void)state;
	assert_int_equal(cl_of("Content-Length: 0\r\n"), 0);
	assert_int_equal(cl_of("Content-Length: 123456789012\r\n"), 123456789012LL);
	assert_int_equal(cl_of("Content-Length: 007\r\n"), 7);
	assert_int_equal(cl_of("Content-Length: 999999999999999999\r\n"), 999999999999999999LL);
	assert_int_equal(cl_of("Content-Length: 9999999999999999999\r\n"), -1); /* > int64 */
	assert_int_equal(cl_of("Content-Length: +5\r\n"), -1);
	assert_int_equal(cl_of("Content-Length: -1\r\n"), -1);
	assert_int_equal(cl_of("Content-Length: 1 2\r\n"), -1);
	assert_int_equal(cl_of("Content-Length: 0x10\r\n"), -1);
	assert_int_equal(cl_of("Content-Length:\r\n"), -1);
	assert_int_equal(cl_of("Content-Length: 5\r\nContent-Length: 5\r\n"), 5);
	assert_int_equal(cl_of("Content-Length: 5, 5\r\n"), 5);
	assert_int_equal(cl_of("Content-Length: 5\r\nContent-Length: 6\r\n"), -1);
	assert_int_equal(cl_of("Content-Length: 5, 6\r\n"), -1);
	/* once invalid, a later valid value does not bring it back */
	assert_int_equal(cl_of("Content-Length: 5\r\nContent-Length: 6\r\nContent-Length: 5\r\n"),
			 -1);
	assert_int_equal(cl_of("Content-Length: x\r\nContent-Length: 5\r\n"), -1);
	/* space before the colon makes the line invalid: ignored */
	assert_int_equal(cl_of("Content-Length : 5\r\n"), -1);
	/* X-Content-Length is another field */
	assert_int_equal(cl_of("X-Content-Length: 5\r\n"), -1);
}

static bool chunked_of(const char *fields)
{
	char in[512];

	snprintf(in, sizeof(in), "HTTP/1.1 200 OK\r\n%s\r\n", fields);
	parse_str(RSP, in);
	assert_int_equal(R.res, HTTP_HEAD_DONE);
	return R.h.chunked;
}

static void test_transfer_encoding(void **state)
{
	(void)state;
	assert_true(chunked_of("Transfer-Encoding: chunked\r\n"));
	assert_true(chunked_of("Transfer-Encoding: CHUNKED\r\n"));
	assert_true(chunked_of("transfer-encoding:gzip,chunked\r\n"));
	assert_true(chunked_of("Transfer-Encoding: gzip , chunked \r\n"));
	assert_true(chunked_of("Transfer-Encoding: gzip, chunked,\r\n")); /* empty element */
	assert_false(chunked_of("Transfer-Encoding: chunked, gzip\r\n"));
	assert_false(chunked_of("Transfer-Encoding: chunkedx\r\n"));
	assert_true(chunked_of("Transfer-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n"));
	assert_false(chunked_of("Transfer-Encoding: chunked\r\nTransfer-Encoding: gzip\r\n"));
	/* an empty field lists nothing and changes nothing */
	assert_true(chunked_of("Transfer-Encoding: chunked\r\nTransfer-Encoding:\r\n"));
	assert_false(chunked_of("Transfer-Encoding:\r\n"));
	assert_int_equal(http_body_mode(&R.h, false), HTTP_BODY_UNTIL_CLOSE);
}

static void test_content_type(void **state)
{
	static const struct {
		const char *ct;
		bool es, json;
	} cases[] = {
	    {"text/event-stream", true, false},
	    {"Text/Event-Stream;charset=UTF-8", true, false},
	    {" text/event-stream ; x=y", true, false},
	    {"text/event-streams", false, false},
	    {"text/event", false, false},
	    {"application/json", false, true},
	    {"APPLICATION/JSON; charset=utf-8", false, true},
	    {"application/problem+json", false, true},
	    {"application/vnd.api+JSON;v=1", false, true},
	    {"application/jsonl", false, false},
	    {"application/x-ndjson", false, false},
	    {"+json", false, false},
	    {"text/plain", false, false},
	    {"", false, false},
	};
	char in[256];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		snprintf(in, sizeof(in), "HTTP/1.1 200 OK\r\nContent-Type: %s\r\n\r\n",
			 cases[i].ct);
		parse_str(RSP, in);
		assert_int_equal(R.res, HTTP_HEAD_DONE);
		if (R.h.event_stream != cases[i].es || R.h.json != cases[i].json)
			fail_msg("Content-Type: %s", cases[i].ct);
	}
	/* repeated: the last one counts */
	parse_str(RSP, "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
		       "Content-Type: text/event-stream\r\n\r\n");
	assert_true(R.h.event_stream);
	assert_false(R.h.json);
}

static enum http_coding coding_of(const char *fields)
{
	char in[512];

	snprintf(in, sizeof(in), "HTTP/1.1 200 OK\r\n%sContent-Length: 3\r\n\r\n", fields);
	parse_str(RSP, in);
	assert_int_equal(R.res, HTTP_HEAD_DONE);
	return R.h.coding;
}

static void test_content_encoding(void **state)
{
	(void)state;
	assert_int_equal(coding_of(""), HTTP_CODING_IDENTITY);
	assert_int_equal(coding_of("Content-Encoding: identity\r\n"), HTTP_CODING_IDENTITY);
	assert_int_equal(coding_of("Content-Encoding:\r\n"), HTTP_CODING_IDENTITY);
	assert_int_equal(coding_of("Content-Encoding: gzip\r\n"), HTTP_CODING_GZIP);
	assert_int_equal(coding_of("content-encoding:GZIP \r\n"), HTTP_CODING_GZIP);
	assert_int_equal(coding_of("Content-Encoding: x-gzip\r\n"), HTTP_CODING_GZIP);
	assert_int_equal(coding_of("Content-Encoding: deflate\r\n"), HTTP_CODING_DEFLATE);
	assert_int_equal(coding_of("Content-Encoding: br\r\n"), HTTP_CODING_BR);
	assert_int_equal(coding_of("Content-Encoding: zstd\r\n"), HTTP_CODING_OTHER);
	assert_int_equal(coding_of("Content-Encoding: gzipx\r\n"), HTTP_CODING_OTHER);
	/* identity and empty elements add no coding */
	assert_int_equal(coding_of("Content-Encoding: identity, gzip,\r\n"), HTTP_CODING_GZIP);
	/* a chain, in one field or several, is not undone */
	assert_int_equal(coding_of("Content-Encoding: gzip, br\r\n"), HTTP_CODING_OTHER);
	assert_int_equal(coding_of("Content-Encoding: gzip\r\nContent-Encoding: gzip\r\n"),
			 HTTP_CODING_OTHER);
	/* Transfer-Encoding is a hop's framing, not the body's coding */
	assert_int_equal(coding_of("Transfer-Encoding: gzip, chunked\r\n"), HTTP_CODING_IDENTITY);
}

static void test_accept(void **state)
{
	(void)state;
	parse_str(REQ, "GET / HTTP/1.1\r\nAccept: text/html, text/event-stream;q=0.9\r\n\r\n");
	assert_true(R.h.accept_event_stream);
	parse_str(REQ, "GET / HTTP/1.1\r\nAccept: */*\r\nAccept: TEXT/EVENT-STREAM\r\n\r\n");
	assert_true(R.h.accept_event_stream);
	parse_str(REQ, "GET / HTTP/1.1\r\nAccept: */*\r\n\r\n");
	assert_false(R.h.accept_event_stream);
	parse_str(REQ, "GET / HTTP/1.1\r\nAccept: text/event-streams, application/json\r\n\r\n");
	assert_false(R.h.accept_event_stream);
}

static void test_connection_and_upgrade(void **state)
{
	(void)state;
	parse_str(REQ, "GET /ws HTTP/1.1\r\nConnection: keep-alive, Upgrade\r\n"
		       "Upgrade: websocket\r\n\r\n");
	assert_true(R.h.connection_keep_alive);
	assert_false(R.h.connection_close);
	assert_true(R.h.upgrade);

	/* Connection: upgrade without an Upgrade field is not an upgrade */
	parse_str(REQ, "GET / HTTP/1.1\r\nConnection: upgrade\r\n\r\n");
	assert_false(R.h.upgrade);
	/* nor the other way round */
	parse_str(REQ, "GET / HTTP/1.1\r\nUpgrade: h2c\r\n\r\n");
	assert_false(R.h.upgrade);
	/* empty Upgrade */
	parse_str(REQ, "GET / HTTP/1.1\r\nConnection: Upgrade\r\nUpgrade:  \r\n\r\n");
	assert_false(R.h.upgrade);

	parse_str(REQ, "GET / HTTP/1.1\r\nConnection: close\r\n\r\n");
	assert_true(R.h.connection_close);
	assert_false(R.h.connection_keep_alive);
	parse_str(REQ, "GET / HTTP/1.1\r\nConnection: CLOSE\r\nConnection: Keep-Alive\r\n\r\n");
	assert_true(R.h.connection_close);
	assert_true(R.h.connection_keep_alive);
	parse_str(REQ, "GET / HTTP/1.1\r\nConnection: closed, te\r\n\r\n");
	assert_false(R.h.connection_close);

	parse_str(RSP, "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\n"
		       "Upgrade: websocket\r\n\r\n\x81\x05hello");
	assert_int_equal(R.res, HTTP_HEAD_DONE);
	assert_true(R.h.upgrade);
	assert_int_equal(http_body_mode(&R.h, false), HTTP_BODY_NONE);
	/* a 200 with the same fields is not a switch */
	parse_str(RSP, "HTTP/1.1 200 OK\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n");
	assert_false(R.h.upgrade);
}

static const char *host_of(const char *value)
{
	static char in[1024];

	snprintf(in, sizeof(in), "GET / HTTP/1.1\r\nHost: %s\r\n\r\n", value);
	parse_str(REQ, in);
	assert_int_equal(R.res, HTTP_HEAD_DONE);
	return R.h.host;
}

static void test_host(void **state)
{
	char big[300];

	(void)state;
	assert_string_equal(host_of("Example.COM"), "example.com");
	assert_string_equal(host_of("Example.COM:8080"), "example.com");
	assert_string_equal(host_of("10.0.0.1:80"), "10.0.0.1");
	assert_string_equal(host_of("[::1]:8080"), "[::1]");
	assert_string_equal(host_of("[2001:DB8::1]"), "[2001:db8::1]");
	assert_string_equal(host_of("[2001:db8::1"), "[2001:db8::1"); /* no ']' */
	assert_string_equal(host_of("::1"), "::1");		      /* bare IPv6: kept whole */
	assert_string_equal(host_of("a:"), "a");
	assert_string_equal(host_of(""), "");
	assert_string_equal(host_of("a\x01"
				    "b\xff"),
			    "a_b_");

	memset(big, 'H', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	assert_int_equal(strlen(host_of(big)), HTTP_HOST_MAX - 1);
	assert_true(R.h.host[0] == 'h');

	/* several Host fields: the first one is kept */
	parse_str(REQ, "GET / HTTP/1.1\r\nHost: one\r\nHost: two\r\n\r\n");
	assert_string_equal(R.h.host, "one");
	/* a response Host field is not a host */
	parse_str(RSP, "HTTP/1.1 200 OK\r\nHost: x\r\n\r\n");
	assert_string_equal(R.h.host, "");
}

static void test_malformed_fields_ignored(void **state)
{
	static const char in[] = "POST / HTTP/1.1\r\n"
				 "no colon here\r\n"
				 ": empty name\r\n"
				 "Bad Name: x\r\n"
				 "Content-Length: 3\r\n"
				 "X-Bare-CR: a\rb\r\n"
				 "X-Nul: a\0b\r\n"
				 "\r\n";

	(void)state;
	parse_all_ways(&R, REQ, in, sizeof(in) - 1);
	assert_int_equal(R.used, sizeof(in) - 1);
	assert_int_equal(R.res, HTTP_HEAD_DONE);
	assert_int_equal(R.h.content_length, 3);
}

static void test_obs_fold_ignored(void **state)
{
	(void)state;
	parse_str(RSP, "HTTP/1.1 200 OK\r\n"
		       "X-Long: a\r\n"
		       " Content-Length: 9\r\n"
		       "\tTransfer-Encoding: chunked\r\n"
		       "Content-Type: text/plain\r\n"
		       "  ;text/event-stream\r\n"
		       "Content-Length: 4\r\n"
		       "\r\n");
	assert_int_equal(R.res, HTTP_HEAD_DONE);
	assert_int_equal(R.h.content_length, 4);
	assert_false(R.h.chunked);
	assert_false(R.h.event_stream);
}

/* A field line of exactly HTTP_LINE_MAX bytes is kept, one more is skipped. */
static void test_line_max_boundary(void **state)
{
	static char in[2048];
	size_t pad, n;

	(void)state;
	for (pad = HTTP_LINE_MAX - 17; pad <= HTTP_LINE_MAX - 15; pad++) {
		/* "Content-Length:" (15) + pad spaces + "7" (1) */
		size_t line = 15 + pad + 1;

		n = (size_t)snprintf(in, sizeof(in), "POST / HTTP/1.1\r\nContent-Length:");
		memset(in + n, ' ', pad);
		n += pad;
		n += (size_t)snprintf(in + n, sizeof(in) - n, "7\r\nHost: h\r\n\r\n");
		parse_all_ways(&R, REQ, in, n);
		assert_int_equal(R.res, HTTP_HEAD_DONE);
		assert_string_equal(R.h.host, "h");
		if (line <= HTTP_LINE_MAX)
			assert_int_equal(R.h.content_length, 7);
		else
			assert_int_equal(R.h.content_length, -1);
	}
}

static void test_long_lines_skipped(void **state)
{
	static char in[8192];
	size_t n;

	(void)state;
	n = (size_t)snprintf(in, sizeof(in), "HTTP/1.1 200 OK\r\nX-Big: ");
	memset(in + n, 'z', 5000);
	n += 5000;
	n += (size_t)snprintf(in + n, sizeof(in) - n, "\r\nContent-Type: text/event-stream;");
	memset(in + n, 'p', 600); /* long parameters: whole line skipped */
	n += 600;
	n += (size_t)snprintf(in + n, sizeof(in) - n, "\r\nContent-Length: 12\r\n\r\nbody");
	feed_whole(&R, RSP, in, n);
	assert_int_equal(R.res, HTTP_HEAD_DONE);
	assert_int_equal(R.used, n - 4);
	assert_int_equal(R.h.content_length, 12);
	assert_false(R.h.event_stream);
	parse_all_ways(&R, RSP, in, n);
	assert_int_equal(R.res, HTTP_HEAD_DONE);
}

/* A head of exactly HTTP_HEAD_MAX bytes is fine, one byte more is not. */
static void test_head_max(void **state)
{
	static char in[HTTP_HEAD_MAX + 64];
	const char *start = "GET / HTTP/1.1\r\n";
	size_t extra;

	(void)state;
	for (extra = 0; extra <= 1; extra++) {
		size_t n = strlen(start), filler;

		memcpy(in, start, n);
		/* filler lines "X:aaaa\r\n" (4 bytes or more) up to the final CRLF */
		filler = HTTP_HEAD_MAX + extra - n - 2;
		while (filler > 0) {
			size_t line = filler;

			if (filler >= 800)
				line = 400;
			else if (filler > 400)
				line = filler / 2;
			in[n] = 'X';
			in[n + 1] = ':';
			memset(in + n + 2, 'a', line - 4);
			in[n + line - 2] = '\r';
			in[n + line - 1] = '\n';
			n += line;
			filler -= line;
		}
		in[n++] = '\r';
		in[n++] = '\n';
		assert_int_equal(n, HTTP_HEAD_MAX + extra);
		feed_whole(&R, REQ, in, n);
		if (extra == 0) {
			assert_int_equal(R.res, HTTP_HEAD_DONE);
			assert_int_equal(R.used, HTTP_HEAD_MAX);
		} else {
			assert_int_equal(R.res, HTTP_HEAD_ERROR);
		}
		feed_bytewise(&R, REQ, in, n);
		assert_int_equal(R.res, extra ? HTTP_HEAD_ERROR : HTTP_HEAD_DONE);
		assert_int_equal(R.used, HTTP_HEAD_MAX + extra);
	}
}

static void test_endless_head_errors(void **state)
{
	static char chunk[1000];
	struct http_head *h = &R.h;
	size_t used, fed = 0;
	enum http_head_result res = HTTP_HEAD_NEED_MORE;

	(void)state;
	memset(chunk, 'a', sizeof(chunk));
	http_head_init(h, REQ);
	res = http_head_feed(h, "GET / HTTP/1.1\r\nX: ", 19, &used);
	assert_int_equal(res, HTTP_HEAD_NEED_MORE);
	fed = 19;
	while (res == HTTP_HEAD_NEED_MORE && fed < 10 * HTTP_HEAD_MAX) {
		res = http_head_feed(h, chunk, sizeof(chunk), &used);
		fed += sizeof(chunk);
	}
	assert_int_equal(res, HTTP_HEAD_ERROR);
	assert_true(fed <= HTTP_HEAD_MAX + sizeof(chunk));
	/* and it stays an error */
	assert_int_equal(http_head_feed(h, "\r\n\r\n", 4, &used), HTTP_HEAD_ERROR);
	assert_int_equal(used, 0);
}

static void test_garbage_fails_fast(void **state)
{
	static const char tls[] = "\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03";
	static const char zeros[16] = {0};

	(void)state;
	feed_whole(&R, REQ, tls, sizeof(tls) - 1);
	assert_int_equal(R.res, HTTP_HEAD_ERROR);
	assert_int_equal(R.used, 1);
	feed_whole(&R, RSP, tls, sizeof(tls) - 1);
	assert_int_equal(R.res, HTTP_HEAD_ERROR);
	assert_int_equal(R.used, 1);
	feed_whole(&R, REQ, zeros, sizeof(zeros));
	assert_int_equal(R.res, HTTP_HEAD_ERROR);
	assert_int_equal(R.used, 1);
	/* SSH banner, JSON, HTTP/2 frames */
	parse_str(REQ, "SSH-2.0-OpenSSH_9.2\r\n");
	assert_int_equal(R.res, HTTP_HEAD_ERROR);
	assert_int_equal(R.used, HTTP_METHOD_MAX); /* token chars: too long a method */
	parse_str(REQ, "{\"model\":\"x\"}");
	assert_int_equal(R.res, HTTP_HEAD_ERROR);
	assert_int_equal(R.used, 1);
	parse_str(RSP, "HTTP/2 200\r\n");
	assert_int_equal(R.res, HTTP_HEAD_ERROR);
	assert_int_equal(R.used, 6);
}

static void test_used_and_pipelining(void **state)
{
	const char *in = "GET /a HTTP/1.1\r\nHost: one\r\n\r\n"
			 "POST /b HTTP/1.1\r\nHost: two:1\r\nContent-Length: 2\r\n\r\nhi"
			 "GET /c HTTP/1.1\n\n";
	size_t len = strlen(in), off = 0, used;
	struct http_head *h = &R.h;

	(void)state;
	http_head_init(h, REQ);
	assert_int_equal(http_head_feed(h, in, len, &used), HTTP_HEAD_DONE);
	assert_string_equal(h->target, "/a");
	assert_string_equal(h->host, "one");
	off += used;
	assert_int_equal(off, strlen("GET /a HTTP/1.1\r\nHost: one\r\n\r\n"));

	/* calling again after DONE is an error and consumes nothing */
	assert_int_equal(http_head_feed(h, in + off, len - off, &used), HTTP_HEAD_ERROR);
	assert_int_equal(used, 0);

	http_head_init(h, REQ);
	assert_int_equal(http_head_feed(h, in + off, len - off, &used), HTTP_HEAD_DONE);
	assert_string_equal(h->method, "POST");
	assert_string_equal(h->host, "two");
	assert_int_equal(h->content_length, 2);
	off += used;
	assert_memory_equal(in + off, "hiGET", 5);
	off += 2; /* the body */

	http_head_init(h, REQ);
	assert_int_equal(http_head_feed(h, in + off, len - off, &used), HTTP_HEAD_DONE);
	assert_string_equal(h->target, "/c");
	assert_int_equal(off + used, len);
}

/* The blank line's CR and LF in different buffers, body in the second. */
static void test_cr_lf_split_at_end(void **state)
{
	const char *a = "HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r";
	struct http_head *h = &R.h;
	size_t used;

	(void)state;
	http_head_init(h, RSP);
	assert_int_equal(http_head_feed(h, a, strlen(a), &used), HTTP_HEAD_NEED_MORE);
	assert_int_equal(used, strlen(a));
	assert_int_equal(http_head_feed(h, "\nabc", 4, &used), HTTP_HEAD_DONE);
	assert_int_equal(used, 1);
	assert_int_equal(h->content_length, 3);

	/* empty feeds change nothing */
	http_head_init(h, RSP);
	assert_int_equal(http_head_feed(h, "", 0, &used), HTTP_HEAD_NEED_MORE);
	assert_int_equal(used, 0);
	assert_int_equal(http_head_feed(h, "HTTP/1.1 200 OK\r\n\r", 18, &used),
			 HTTP_HEAD_NEED_MORE);
	assert_int_equal(http_head_feed(h, "", 0, &used), HTTP_HEAD_NEED_MORE);
	assert_int_equal(http_head_feed(h, "\n", 1, &used), HTTP_HEAD_DONE);
	assert_int_equal(used, 1);
}

/* A realistic LLM API exchange, checked with every split. */
static void test_realistic_exchange(void **state)
{
	(void)state;
	parse_str(REQ, "POST /v1/chat/completions HTTP/1.1\r\n"
		       "Host: localhost:8000\r\n"
		       "User-Agent: python-httpx/0.27.0\r\n"
		       "Accept: text/event-stream\r\n"
		       "Content-Type: application/json\r\n"
		       "Content-Length: 89\r\n"
		       "\r\n"
		       "{\"model\":\"x\"}");
	assert_int_equal(R.res, HTTP_HEAD_DONE);
	assert_string_equal(R.h.method, "POST");
	assert_string_equal(R.h.target, "/v1/chat/completions");
	assert_string_equal(R.h.host, "localhost");
	assert_true(R.h.accept_event_stream);
	assert_true(R.h.json);
	assert_int_equal(R.h.content_length, 89);

	parse_str(RSP, "HTTP/1.1 200 OK\r\n"
		       "date: Mon, 01 Jan 2024 00:00:00 GMT\r\n"
		       "content-type: text/event-stream; charset=utf-8\r\n"
		       "transfer-encoding: chunked\r\n"
		       "\r\n"
		       "e\r\ndata: hello\n\n\r\n");
	assert_int_equal(R.res, HTTP_HEAD_DONE);
	assert_true(R.h.event_stream);
	assert_true(R.h.chunked);
	assert_int_equal(http_body_mode(&R.h, false), HTTP_BODY_CHUNKED);
}

/* ---- robustness ---- */

static void assert_sane(const struct run *r, size_t len)
{
	const struct http_head *h = &r->h;

	assert_true(r->res == HTTP_HEAD_NEED_MORE || r->res == HTTP_HEAD_DONE ||
		    r->res == HTTP_HEAD_ERROR);
	assert_true(r->used <= len);
	assert_true(memchr(h->method, 0, sizeof(h->method)) != NULL);
	assert_true(memchr(h->target, 0, sizeof(h->target)) != NULL);
	assert_true(memchr(h->host, 0, sizeof(h->host)) != NULL);
	assert_true(h->content_length >= -1);
	/* results are only promised once DONE; before, just bounded */
	assert_true(h->status >= 0 && h->status <= 999);
	if (r->res == HTTP_HEAD_DONE && h->kind == HTTP_HEAD_RESPONSE)
		assert_true(h->status >= 100);
	assert_true(h->version_minor >= 0 && h->version_minor <= 9);
	if (r->res == HTTP_HEAD_DONE)
		assert_true(http_body_mode(h, false) <= HTTP_BODY_UNTIL_CLOSE);
}

static enum http_head_kind fuzz_kind;

static void check_head(enum http_head_kind kind, const char *buf, size_t len)
{
	static struct run a, b;

	feed_whole(&a, kind, buf, len);
	assert_sane(&a, len);
	b.kind = kind;
	split_check_random(&driver, &a, &b, buf, len);
}

/* Requests and responses in turn; half start like HTTP to pass the start line. */
static void check_random_head(char *buf, size_t len, unsigned int iter)
{
	enum http_head_kind kind = (iter & 1) ? REQ : RSP;

	if (iter % 4 < 2 && len > 20)
		memcpy(buf, kind == REQ ? "GET / HTTP/1.1\r\n" : "HTTP/1.1 200 \r\n",
		       kind == REQ ? 16 : 15);
	check_head(kind, buf, len);
}

static void check_mutated_head(char *buf, size_t len, unsigned int iter)
{
	(void)iter;
	check_head(fuzz_kind, buf, len);
}

static void test_random_bytes(void **state)
{
	static const char alphabet[] = "\r\n :;,\t0123456789abcdefHTP/.-";
	static char buf[700];

	(void)state;
	split_random_inputs(buf, sizeof(buf), alphabet, sizeof(alphabet) - 1, 20000,
			    check_random_head);
}

/* Valid heads with a few bytes mutated: same result for every split. */
static void test_mutated_heads(void **state)
{
	static const char req[] =
	    "POST /v1/chat/completions HTTP/1.1\r\nHost: [::1]:8000\r\nAccept: "
	    "text/event-stream\r\nContent-Type: application/json\r\nContent-Length: 12\r\n"
	    "Connection: keep-alive, upgrade\r\nUpgrade: x\r\n\r\nbody";
	static const char rsp[] =
	    "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: gzip, "
	    "chunked\r\nConnection: close\r\n\r\n5\r\nhello\r\n";
	static const char alphabet[] = "\r\n :,;\t\0aZ9[]";
	static char buf[512];

	(void)state;
	fuzz_kind = REQ;
	split_mutations(buf, req, sizeof(req) - 1, alphabet, sizeof(alphabet) - 1, 4, 2000,
			check_mutated_head);
	fuzz_kind = RSP;
	split_mutations(buf, rsp, sizeof(rsp) - 1, alphabet, sizeof(alphabet) - 1, 4, 2000,
			check_mutated_head);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_simple_get),
	    cmocka_unit_test(test_bare_lf_and_mixed),
	    cmocka_unit_test(test_names_case_and_ows),
	    cmocka_unit_test(test_leading_empty_lines),
	    cmocka_unit_test(test_method_limits),
	    cmocka_unit_test(test_target_truncated),
	    cmocka_unit_test(test_request_line_errors),
	    cmocka_unit_test(test_nul_in_target),
	    cmocka_unit_test(test_obs_text_target_kept),
	    cmocka_unit_test(test_response_basic),
	    cmocka_unit_test(test_response_reason_optional),
	    cmocka_unit_test(test_status_line_errors),
	    cmocka_unit_test(test_body_modes),
	    cmocka_unit_test(test_content_length),
	    cmocka_unit_test(test_transfer_encoding),
	    cmocka_unit_test(test_content_type),
	    cmocka_unit_test(test_content_encoding),
	    cmocka_unit_test(test_accept),
	    cmocka_unit_test(test_connection_and_upgrade),
	    cmocka_unit_test(test_host),
	    cmocka_unit_test(test_malformed_fields_ignored),
	    cmocka_unit_test(test_obs_fold_ignored),
	    cmocka_unit_test(test_line_max_boundary),
	    cmocka_unit_test(test_long_lines_skipped),
	    cmocka_unit_test(test_head_max),
	    cmocka_unit_test(test_endless_head_errors),
	    cmocka_unit_test(test_garbage_fails_fast),
	    cmocka_unit_test(test_used_and_pipelining),
	    cmocka_unit_test(test_cr_lf_split_at_end),
	    cmocka_unit_test(test_realistic_exchange),
	    cmocka_unit_test(test_random_bytes),
	    cmocka_unit_test(test_mutated_heads),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
