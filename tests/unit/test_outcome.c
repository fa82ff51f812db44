// SPDX-License-Identifier: MIT
/* Unit tests of the exchange outcome classification (spec status mapping),
 * served requests and upstream calls. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "metrics/outcome.h"

#define MS   1000000ull
#define IDLE (30000 * MS)

/* A streamed request that was read, answered and has sent data. */
static struct http_exchange streaming(int status)
{
	struct http_exchange x;

	memset(&x, 0, sizeof(x));
	x.has_request = true;
	strcpy(x.req.method, "POST");
	strcpy(x.req.path, "/v1/chat");
	x.req.complete = true;
	x.req.wants_stream = true;
	x.req.t_first = 1000 * MS;
	x.req.t_last = 1001 * MS;
	x.responded = true;
	x.status = status;
	x.sse = true;
	x.t_headers = 1010 * MS;
	x.t_first_data = 1020 * MS;
	x.t_last_event = 1100 * MS;
	x.t_last_write = 1100 * MS;
	x.data_events = 3;
	return x;
}

/* Classifies x ended by why at ts and checks the outcome (error_type
 * NULL: none). */
static void expect(const struct http_exchange *x, enum http_end why, uint64_t ts,
		   const char *status, const char *error_type, const char *stage)
{
	struct outcome o;

	memset(&o, 0xa5, sizeof(o)); /* garbage: every field must be set */
	outcome_classify(x, why, ts, IDLE, &o);
	assert_string_equal(o.status, status);
	if (error_type)
		assert_string_equal(o.error_type, error_type);
	else
		assert_null(o.error_type);
	assert_string_equal(o.stage, stage);
}

struct end_case {
	int code;
	bool data; /* the response sent data */
	enum http_end why;
	uint64_t ts;
	const char *status, *error_type, *stage;
};

static void expect_cases(const struct end_case *cases, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		const struct end_case *c = &cases[i];
		struct http_exchange x = streaming(c->code);

		if (!c->data)
			x.t_first_data = 0;
		expect(&x, c->why, c->ts, c->status, c->error_type, c->stage);
	}
}

/* What the status decides of a response that ended as framed. */
static void test_status_codes(void **state)
{
	static const struct end_case cases[] = {
	    {200, true, HTTP_END_COMPLETE, 1200 * MS, "success", NULL, "streaming"},
	    {201, true, HTTP_END_COMPLETE, 1200 * MS, "success", NULL, "streaming"},
	    {204, true, HTTP_END_COMPLETE, 1200 * MS, "success", NULL, "streaming"},
	    {299, true, HTTP_END_COMPLETE, 1200 * MS, "success", NULL, "streaming"},
	    {429, false, HTTP_END_COMPLETE, 1200 * MS, "rate_limited", NULL, "first_byte"},
	    {408, false, HTTP_END_COMPLETE, 1200 * MS, "timeout", "timeout", "first_byte"},
	    {504, false, HTTP_END_COMPLETE, 1200 * MS, "timeout", "timeout", "first_byte"},
	    {500, false, HTTP_END_COMPLETE, 1200 * MS, "failure", "server_error", "first_byte"},
	    {502, false, HTTP_END_COMPLETE, 1200 * MS, "failure", "server_error", "first_byte"},
	    {503, false, HTTP_END_COMPLETE, 1200 * MS, "failure", "server_error", "first_byte"},
	    {599, false, HTTP_END_COMPLETE, 1200 * MS, "failure", "server_error", "first_byte"},
	    /* other 4xx: a failure without an error type */
	    {400, false, HTTP_END_COMPLETE, 1200 * MS, "failure", NULL, "first_byte"},
	    {401, false, HTTP_END_COMPLETE, 1200 * MS, "failure", NULL, "first_byte"},
	    {403, false, HTTP_END_COMPLETE, 1200 * MS, "failure", NULL, "first_byte"},
	    {404, false, HTTP_END_COMPLETE, 1200 * MS, "failure", NULL, "first_byte"},
	    {413, false, HTTP_END_COMPLETE, 1200 * MS, "failure", NULL, "first_byte"},
	    {499, false, HTTP_END_COMPLETE, 1200 * MS, "failure", NULL, "first_byte"},
	};

	(void)state;
	expect_cases(cases, sizeof(cases) / sizeof(cases[0]));
}

/* How a stream that sent data (last write at 1100 ms) ended decides. */
static void test_end_reasons(void **state)
{
	static const struct end_case cases[] = {
	    {200, true, HTTP_END_REQUESTER_CLOSED, 1200 * MS, "client_closed", "client_disconnect",
	     "streaming"},
	    {200, true, HTTP_END_RESET, 1200 * MS, "client_closed", "connection_reset",
	     "streaming"},
	    /* the server closed after the idle timeout, or before it */
	    {200, true, HTTP_END_RESPONDER_CLOSED, 1100 * MS + IDLE, "timeout", "timeout",
	     "streaming"},
	    {200, true, HTTP_END_RESPONDER_CLOSED, 1100 * MS + 10 * IDLE, "timeout", "timeout",
	     "streaming"},
	    {200, true, HTTP_END_RESPONDER_CLOSED, 1100 * MS + IDLE - 1, "failure",
	     "stream_truncated", "streaming"},
	    {200, true, HTTP_END_RESPONDER_CLOSED, 1100 * MS, "failure", "stream_truncated",
	     "streaming"},
	    {200, true, HTTP_END_PROCESS_EXIT, 1200 * MS, "failure", "stream_truncated",
	     "streaming"},
	    /* bytes lost: the status is all we know */
	    {503, true, HTTP_END_LOST_BYTES, 1200 * MS, "failure", "server_error", "streaming"},
	    {503, true, HTTP_END_LOST_CLOSE, 1200 * MS, "failure", "server_error", "streaming"},
	};

	(void)state;
	expect_cases(cases, sizeof(cases) / sizeof(cases[0]));
}

static void test_server_close_without_response_is_truncated(void **state)
{
	struct http_exchange x = streaming(0);

	(void)state;
	x.responded = false;
	x.sse = false;
	x.t_first_data = 0;
	x.t_last_write = 0;
	expect(&x, HTTP_END_RESPONDER_CLOSED, 1000000 * MS, "failure", "stream_truncated",
	       "first_byte");
}

static void test_stage_request_when_request_incomplete(void **state)
{
	struct http_exchange x = streaming(0);

	(void)state;
	x.req.complete = false;
	x.responded = false;
	x.sse = false;
	x.t_first_data = 0;
	expect(&x, HTTP_END_REQUESTER_CLOSED, 1200 * MS, "client_closed", "client_disconnect",
	       "request");
}

static void test_stage_first_byte_before_data(void **state)
{
	struct http_exchange x = streaming(200);

	(void)state;
	x.t_first_data = 0;
	x.data_events = 0;
	expect(&x, HTTP_END_RESET, 1200 * MS, "client_closed", "connection_reset", "first_byte");
	x.responded = false;
	expect(&x, HTTP_END_REQUESTER_CLOSED, 1200 * MS, "client_closed", "client_disconnect",
	       "first_byte");
}

static void test_adopted_stream_stage_streaming(void **state)
{
	struct http_exchange x = streaming(200);

	(void)state;
	memset(&x.req, 0, sizeof(x.req));
	x.has_request = false;
	expect(&x, HTTP_END_REQUESTER_CLOSED, 1200 * MS, "client_closed", "client_disconnect",
	       "streaming");
}

static void test_lost_reasons(void **state)
{
	struct http_exchange x = streaming(200);
	struct http_exchange unasked = {.responded = true, .status = 200};

	(void)state;
	assert_string_equal(outcome_lost(&x, HTTP_END_LOST_BYTES), "bytes_missed");
	assert_string_equal(outcome_lost(&x, HTTP_END_LOST_FRAMING), "framing");
	assert_string_equal(outcome_lost(&x, HTTP_END_LOST_CLOSE), "close_unseen");
	assert_null(outcome_lost(&x, HTTP_END_COMPLETE));
	assert_null(outcome_lost(&x, HTTP_END_RESET));
	assert_string_equal(outcome_lost(&unasked, HTTP_END_COMPLETE), "no_request");
	unasked.responded = false; /* nothing asked, nothing answered */
	assert_null(outcome_lost(&unasked, HTTP_END_REQUESTER_CLOSED));
}

static void test_is_sse_by_response_content_type(void **state)
{
	struct http_exchange x;

	(void)state;
	memset(&x, 0, sizeof(x));
	assert_false(exchange_is_sse(&x));
	x.sse = true;
	assert_true(exchange_is_sse(&x)); /* adopted: no request at all */
}

static void test_is_sse_by_request(void **state)
{
	struct http_exchange x;

	(void)state;
	memset(&x, 0, sizeof(x));
	x.has_request = true;
	assert_false(exchange_is_sse(&x));
	x.req.wants_stream = true;
	assert_true(exchange_is_sse(&x));
	x.responded = true;
	x.status = 429; /* an error answer to a stream request is still SSE */
	assert_true(exchange_is_sse(&x));
}

static void test_is_sse_ignores_stale_request_fields(void **state)
{
	struct http_exchange x;

	(void)state;
	memset(&x, 0, sizeof(x));
	x.req.wants_stream = true; /* not a request we saw */
	assert_false(exchange_is_sse(&x));
}

/* ---- upstream calls, in the caller's terms ---- */

static struct http_exchange answered(int status)
{
	struct http_exchange x;

	memset(&x, 0, sizeof(x));
	x.has_request = true;
	x.req.complete = true;
	x.responded = status > 0;
	x.status = status;
	return x;
}

static void expect_outcome(int status, enum http_end why, enum upstream_status want, int breaker)
{
	struct http_exchange x = answered(status);
	struct upstream_outcome o;

	upstream_classify(&x, why, &o);
	assert_int_equal(o.status, want);
	assert_int_equal(o.breaker, breaker);
}

static void test_upstream_classify(void **state)
{
	(void)state;
	expect_outcome(200, HTTP_END_COMPLETE, UPSTREAM_SUCCESS, 1);
	expect_outcome(503, HTTP_END_COMPLETE, UPSTREAM_FAILURE, -1);
	expect_outcome(504, HTTP_END_COMPLETE, UPSTREAM_TIMEOUT, -1);
	expect_outcome(408, HTTP_END_COMPLETE, UPSTREAM_TIMEOUT, -1);
	expect_outcome(429, HTTP_END_COMPLETE, UPSTREAM_FAILURE, 0); /* 4xx: no breaker effect */
	expect_outcome(400, HTTP_END_COMPLETE, UPSTREAM_FAILURE, 0);
	/* the observed process is the requester: REQUESTER_CLOSED is it giving up */
	expect_outcome(200, HTTP_END_REQUESTER_CLOSED, UPSTREAM_TIMEOUT, -1);
	expect_outcome(200, HTTP_END_RESPONDER_CLOSED, UPSTREAM_FAILURE, -1);
	expect_outcome(200, HTTP_END_RESET, UPSTREAM_FAILURE, -1);
	expect_outcome(200, HTTP_END_PROCESS_EXIT, UPSTREAM_FAILURE, 0);
	expect_outcome(0, HTTP_END_REQUESTER_CLOSED, UPSTREAM_TIMEOUT, -1);
	expect_outcome(0, HTTP_END_RESET, UPSTREAM_FAILURE, -1);
	expect_outcome(200, HTTP_END_LOST_BYTES, UPSTREAM_UNCOUNTED, 0);
	expect_outcome(200, HTTP_END_LOST_FRAMING, UPSTREAM_UNCOUNTED, 0);
	expect_outcome(200, HTTP_END_LOST_CLOSE, UPSTREAM_UNCOUNTED, 0);
}

static void test_upstream_classify_without_request(void **state)
{
	struct http_exchange x = answered(200);
	struct upstream_outcome o;

	(void)state;
	x.has_request = false;
	upstream_classify(&x, HTTP_END_COMPLETE, &o);
	assert_int_equal(o.status, UPSTREAM_UNCOUNTED);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_status_codes),
	    cmocka_unit_test(test_end_reasons),
	    cmocka_unit_test(test_server_close_without_response_is_truncated),
	    cmocka_unit_test(test_stage_request_when_request_incomplete),
	    cmocka_unit_test(test_stage_first_byte_before_data),
	    cmocka_unit_test(test_adopted_stream_stage_streaming),
	    cmocka_unit_test(test_lost_reasons),
	    cmocka_unit_test(test_upstream_classify),
	    cmocka_unit_test(test_upstream_classify_without_request),
	    cmocka_unit_test(test_is_sse_by_response_content_type),
	    cmocka_unit_test(test_is_sse_by_request),
	    cmocka_unit_test(test_is_sse_ignores_stale_request_fields),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
