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

static void classify(const struct http_exchange *x, enum http_end why, uint64_t ts,
		     struct outcome *o)
{
	memset(o, 0xa5, sizeof(*o)); /* garbage: every field must be set */
	outcome_classify(x, why, ts, IDLE, o);
}

static void assert_outcome(const struct outcome *o, const char *status, const char *error_type,
			   const char *stage)
{
	assert_string_equal(o->status, status);
	if (error_type)
		assert_string_equal(o->error_type, error_type);
	else
		assert_null(o->error_type);
	assert_string_equal(o->stage, stage);
}

static void test_2xx_complete_is_success(void **state)
{
	int codes[] = {200, 201, 204, 299};
	struct http_exchange x;
	struct outcome o;

	(void)state;
	for (size_t i = 0; i < sizeof(codes) / sizeof(codes[0]); i++) {
		x = streaming(codes[i]);
		classify(&x, HTTP_END_COMPLETE, 1200 * MS, &o);
		assert_outcome(&o, "success", NULL, "streaming");
	}
}

static void test_429_is_rate_limited(void **state)
{
	struct http_exchange x = streaming(429);
	struct outcome o;

	(void)state;
	x.sse = false;
	x.t_first_data = 0;
	classify(&x, HTTP_END_COMPLETE, 1200 * MS, &o);
	assert_outcome(&o, "rate_limited", NULL, "first_byte");
}

static void test_408_and_504_are_timeout(void **state)
{
	struct http_exchange x;
	struct outcome o;

	(void)state;
	x = streaming(408);
	x.t_first_data = 0;
	classify(&x, HTTP_END_COMPLETE, 1200 * MS, &o);
	assert_outcome(&o, "timeout", "timeout", "first_byte");
	x = streaming(504);
	x.t_first_data = 0;
	classify(&x, HTTP_END_COMPLETE, 1200 * MS, &o);
	assert_outcome(&o, "timeout", "timeout", "first_byte");
}

static void test_5xx_is_failure_server_error(void **state)
{
	int codes[] = {500, 502, 503, 599};
	struct http_exchange x;
	struct outcome o;

	(void)state;
	for (size_t i = 0; i < sizeof(codes) / sizeof(codes[0]); i++) {
		x = streaming(codes[i]);
		x.t_first_data = 0;
		classify(&x, HTTP_END_COMPLETE, 1200 * MS, &o);
		assert_outcome(&o, "failure", "server_error", "first_byte");
	}
}

static void test_other_4xx_is_failure_without_error(void **state)
{
	int codes[] = {400, 401, 403, 404, 413, 499};
	struct http_exchange x;
	struct outcome o;

	(void)state;
	for (size_t i = 0; i < sizeof(codes) / sizeof(codes[0]); i++) {
		x = streaming(codes[i]);
		x.t_first_data = 0;
		classify(&x, HTTP_END_COMPLETE, 1200 * MS, &o);
		assert_outcome(&o, "failure", NULL, "first_byte");
	}
}

static void test_peer_closed_is_client_disconnect(void **state)
{
	struct http_exchange x = streaming(200);
	struct outcome o;

	(void)state;
	classify(&x, HTTP_END_PEER_CLOSED, 1200 * MS, &o);
	assert_outcome(&o, "client_closed", "client_disconnect", "streaming");
}

static void test_reset_is_connection_reset(void **state)
{
	struct http_exchange x = streaming(200);
	struct outcome o;

	(void)state;
	classify(&x, HTTP_END_RESET, 1200 * MS, &o);
	assert_outcome(&o, "client_closed", "connection_reset", "streaming");
}

static void test_server_close_after_idle_is_timeout(void **state)
{
	struct http_exchange x = streaming(200);
	struct outcome o;

	(void)state;
	classify(&x, HTTP_END_SERVER_CLOSE, x.t_last_write + IDLE, &o);
	assert_outcome(&o, "timeout", "timeout", "streaming");
	classify(&x, HTTP_END_SERVER_CLOSE, x.t_last_write + 10 * IDLE, &o);
	assert_outcome(&o, "timeout", "timeout", "streaming");
}

static void test_server_close_before_idle_is_truncated(void **state)
{
	struct http_exchange x = streaming(200);
	struct outcome o;

	(void)state;
	classify(&x, HTTP_END_SERVER_CLOSE, x.t_last_write + IDLE - 1, &o);
	assert_outcome(&o, "failure", "stream_truncated", "streaming");
	classify(&x, HTTP_END_SERVER_CLOSE, x.t_last_write, &o);
	assert_outcome(&o, "failure", "stream_truncated", "streaming");
}

static void test_server_close_without_response_is_truncated(void **state)
{
	struct http_exchange x = streaming(0);
	struct outcome o;

	(void)state;
	x.responded = false;
	x.sse = false;
	x.t_first_data = 0;
	x.t_last_write = 0;
	classify(&x, HTTP_END_SERVER_CLOSE, 1000000 * MS, &o);
	assert_outcome(&o, "failure", "stream_truncated", "first_byte");
}

static void test_process_exit_is_truncated(void **state)
{
	struct http_exchange x = streaming(200);
	struct outcome o;

	(void)state;
	classify(&x, HTTP_END_PROCESS_EXIT, 1200 * MS, &o);
	assert_outcome(&o, "failure", "stream_truncated", "streaming");
}

static void test_stage_request_when_request_incomplete(void **state)
{
	struct http_exchange x = streaming(0);
	struct outcome o;

	(void)state;
	x.req.complete = false;
	x.responded = false;
	x.sse = false;
	x.t_first_data = 0;
	classify(&x, HTTP_END_PEER_CLOSED, 1200 * MS, &o);
	assert_outcome(&o, "client_closed", "client_disconnect", "request");
}

static void test_stage_first_byte_before_data(void **state)
{
	struct http_exchange x = streaming(200);
	struct outcome o;

	(void)state;
	x.t_first_data = 0;
	x.data_events = 0;
	classify(&x, HTTP_END_RESET, 1200 * MS, &o);
	assert_outcome(&o, "client_closed", "connection_reset", "first_byte");
	x.responded = false;
	classify(&x, HTTP_END_PEER_CLOSED, 1200 * MS, &o);
	assert_outcome(&o, "client_closed", "client_disconnect", "first_byte");
}

static void test_adopted_stream_stage_streaming(void **state)
{
	struct http_exchange x = streaming(200);
	struct outcome o;

	(void)state;
	memset(&x.req, 0, sizeof(x.req));
	x.has_request = false;
	classify(&x, HTTP_END_PEER_CLOSED, 1200 * MS, &o);
	assert_outcome(&o, "client_closed", "client_disconnect", "streaming");
}

static void test_lost_uses_status(void **state)
{
	struct http_exchange x = streaming(503);
	struct outcome o;

	(void)state;
	classify(&x, HTTP_END_LOST_BYTES, 1200 * MS, &o);
	assert_outcome(&o, "failure", "server_error", "streaming");
	classify(&x, HTTP_END_LOST_CLOSE, 1200 * MS, &o);
	assert_outcome(&o, "failure", "server_error", "streaming");
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
	assert_null(outcome_lost(&unasked, HTTP_END_PEER_CLOSED));
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
	/* in the caller's terms: PEER_CLOSED is the caller giving up */
	expect_outcome(200, HTTP_END_PEER_CLOSED, UPSTREAM_TIMEOUT, -1);
	expect_outcome(200, HTTP_END_SERVER_CLOSE, UPSTREAM_FAILURE, -1);
	expect_outcome(200, HTTP_END_RESET, UPSTREAM_FAILURE, -1);
	expect_outcome(200, HTTP_END_PROCESS_EXIT, UPSTREAM_FAILURE, 0);
	expect_outcome(0, HTTP_END_PEER_CLOSED, UPSTREAM_TIMEOUT, -1);
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
	    cmocka_unit_test(test_2xx_complete_is_success),
	    cmocka_unit_test(test_429_is_rate_limited),
	    cmocka_unit_test(test_408_and_504_are_timeout),
	    cmocka_unit_test(test_5xx_is_failure_server_error),
	    cmocka_unit_test(test_other_4xx_is_failure_without_error),
	    cmocka_unit_test(test_peer_closed_is_client_disconnect),
	    cmocka_unit_test(test_reset_is_connection_reset),
	    cmocka_unit_test(test_server_close_after_idle_is_timeout),
	    cmocka_unit_test(test_server_close_before_idle_is_truncated),
	    cmocka_unit_test(test_server_close_without_response_is_truncated),
	    cmocka_unit_test(test_process_exit_is_truncated),
	    cmocka_unit_test(test_stage_request_when_request_incomplete),
	    cmocka_unit_test(test_stage_first_byte_before_data),
	    cmocka_unit_test(test_adopted_stream_stage_streaming),
	    cmocka_unit_test(test_lost_uses_status),
	    cmocka_unit_test(test_lost_reasons),
	    cmocka_unit_test(test_upstream_classify),
	    cmocka_unit_test(test_upstream_classify_without_request),
	    cmocka_unit_test(test_is_sse_by_response_content_type),
	    cmocka_unit_test(test_is_sse_by_request),
	    cmocka_unit_test(test_is_sse_ignores_stale_request_fields),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
