// SPDX-License-Identifier: MIT
/* Correlation of inbound streams with upstream calls, and the outcome
 * rules of upstream calls (metrics.md, client side). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "correlate.h"
#include "metrics_upstream.h"

static void test_corr_nothing_seen(void **state)
{
	struct correlation k;

	(void)state;
	corr_init(&k);
	assert_null(corr_decide(&k, false));
	assert_string_equal(corr_decide(&k, true), "unknown");
}

static void test_corr_one_provider(void **state)
{
	struct correlation k;

	(void)state;
	corr_init(&k);
	corr_note(&k, "openai");
	corr_note(&k, "openai");
	assert_string_equal(corr_decide(&k, false), "openai");
	assert_string_equal(corr_decide(&k, true), "openai");
}

static void test_corr_two_providers_never_guess(void **state)
{
	struct correlation k;

	(void)state;
	corr_init(&k);
	corr_note(&k, "openai");
	corr_note(&k, "anthropic");
	corr_note(&k, "openai");
	assert_string_equal(corr_decide(&k, false), "unknown");
	assert_string_equal(corr_decide(&k, true), "unknown");
}

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

static void test_classify(void **state)
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
	expect_outcome(200, HTTP_END_LOST, UPSTREAM_UNCOUNTED, 0);
}

static void test_classify_without_request(void **state)
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
	    cmocka_unit_test(test_corr_nothing_seen),
	    cmocka_unit_test(test_corr_one_provider),
	    cmocka_unit_test(test_corr_two_providers_never_guess),
	    cmocka_unit_test(test_classify),
	    cmocka_unit_test(test_classify_without_request),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
