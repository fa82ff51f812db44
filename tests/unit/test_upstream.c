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
	/* the fallback waits for the stream's end: a match may still come */
	assert_null(corr_decide(&k, false));
	assert_string_equal(corr_decide(&k, true), "openai");
}

static void test_corr_match_decides_at_once(void **state)
{
	struct correlation k;

	(void)state;
	corr_init(&k);
	corr_note(&k, "openai");
	corr_note(&k, "anthropic");
	corr_match(&k, "anthropic");
	corr_match(&k, "openai"); /* the first match stands */
	assert_string_equal(corr_decide(&k, false), "anthropic");
	assert_string_equal(corr_decide(&k, true), "anthropic");
}

#define SEC  1000000000ull
#define CALL 1

static void test_index_finds_what_was_learned(void **state)
{
	static struct corr_index ix;

	(void)state;
	corr_index_init(&ix);
	corr_index_learn(&ix, 10, CALL, 0xabc, "openai", 5 * SEC);
	corr_index_learn(&ix, 10, CALL, 0xdef, "anthropic", 5 * SEC);
	assert_string_equal(corr_index_find(&ix, 10, 0xabc, 6 * SEC), "openai");
	assert_string_equal(corr_index_find(&ix, 10, 0xdef, 6 * SEC), "anthropic");
	/* another process, another hash: nothing */
	assert_null(corr_index_find(&ix, 11, 0xabc, 6 * SEC));
	assert_null(corr_index_find(&ix, 10, 0x123, 6 * SEC));
	/* a record of another CPU may be slightly older than the entry */
	assert_string_equal(corr_index_find(&ix, 10, 0xabc, 5 * SEC - 1000), "openai");
}

static void test_index_data_of_several_calls_is_no_answer(void **state)
{
	static struct corr_index ix;

	(void)state;
	corr_index_init(&ix);
	/* the same call may deliver the same data twice */
	corr_index_learn(&ix, 10, 1, 0xabc, "openai", 5 * SEC);
	corr_index_learn(&ix, 10, 1, 0xabc, "openai", 5 * SEC);
	assert_string_equal(corr_index_find(&ix, 10, 0xabc, 6 * SEC), "openai");
	/* "data: [DONE]": two calls, even of one provider, and it stays so */
	corr_index_learn(&ix, 10, 1, 0xd0e, "openai", 5 * SEC);
	corr_index_learn(&ix, 10, 2, 0xd0e, "openai", 6 * SEC);
	corr_index_learn(&ix, 10, 2, 0xd0e, "openai", 7 * SEC);
	assert_null(corr_index_find(&ix, 10, 0xd0e, 7 * SEC));
	/* once the others are long gone, the hash is learned afresh */
	corr_index_learn(&ix, 10, 3, 0xd0e, "openai", 7 * SEC + CORR_INDEX_TTL_NS + 1);
	assert_string_equal(corr_index_find(&ix, 10, 0xd0e, 8 * SEC + CORR_INDEX_TTL_NS), "openai");
}

static void test_index_forgets_stale_entries(void **state)
{
	static struct corr_index ix;

	(void)state;
	corr_index_init(&ix);
	corr_index_learn(&ix, 10, CALL, 0xabc, "openai", SEC);
	assert_null(corr_index_find(&ix, 10, 0xabc, SEC + CORR_INDEX_TTL_NS + 1));
}

static void test_index_full_keeps_the_newest(void **state)
{
	static struct corr_index ix;
	uint64_t n = 4 * CORR_INDEX_SLOTS, found = 0;

	(void)state;
	corr_index_init(&ix);
	for (uint64_t i = 0; i < n; i++)
		corr_index_learn(&ix, 10, CALL, i * 0x9e3779b97f4a7c15ull, "openai", SEC + i);
	assert_string_equal(corr_index_find(&ix, 10, (n - 1) * 0x9e3779b97f4a7c15ull, SEC + n),
			    "openai");
	for (uint64_t i = n - 64; i < n; i++)
		found += corr_index_find(&ix, 10, i * 0x9e3779b97f4a7c15ull, SEC + n) != NULL;
	assert_int_equal(found, 64);
}

static void test_corr_two_providers_never_guess(void **state)
{
	struct correlation k;

	(void)state;
	corr_init(&k);
	corr_note(&k, "openai");
	corr_note(&k, "anthropic");
	corr_note(&k, "openai");
	assert_null(corr_decide(&k, false)); /* a match may still come */
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
	    cmocka_unit_test(test_corr_match_decides_at_once),
	    cmocka_unit_test(test_index_finds_what_was_learned),
	    cmocka_unit_test(test_index_data_of_several_calls_is_no_answer),
	    cmocka_unit_test(test_index_forgets_stale_entries),
	    cmocka_unit_test(test_index_full_keeps_the_newest),
	    cmocka_unit_test(test_classify),
	    cmocka_unit_test(test_classify_without_request),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
