// SPDX-License-Identifier: MIT
/* Unit tests of histogram bucket selection (Prometheus `le` semantics). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "metrics/histogram.h"

#define N(a) (sizeof(a) / sizeof((a)[0]))

/* The default buckets of docs/metrics.md, as test data. */
static const double spec_request[] = {0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1,
				      2.5,  5,	   10,	 30,  60,   120, 300};
static const double spec_stream[] = {0.5, 1, 2, 5, 10, 30, 60, 120, 300};
static const double spec_ttfc[] = {0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1,
				   0.25,  0.5,	 0.75, 1,    2.5,  5,	 7.5,  10};
static const double spec_gap[] = {0.001, 0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.15,
				  0.2,	 0.3,	0.4,  0.5,   0.75, 1,	  2.5};
static const double spec_size[] = {10, 50, 100, 500, 1000, 5000};
static const double spec_stage[] = {0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5,
				    1,	   2.5,	  5,	10,    30,   60,  120,	300};
static const double spec_http[] = {0.01, 0.05, 0.1, 0.5, 1, 2, 5};
static const double spec_provider_latency[] = {0.1, 0.5, 1, 2, 5, 10, 20, 30};

struct bucket_set {
	const char *name;
	const double *b;
	size_t n;
};

static const struct bucket_set spec_sets[] = {
    {"sse_request_duration_seconds", spec_request, N(spec_request)},
    {"sse_stream_duration_seconds", spec_stream, N(spec_stream)},
    {"sse_time_to_first_chunk_seconds", spec_ttfc, N(spec_ttfc)},
    {"sse_inter_chunk_gap_seconds", spec_gap, N(spec_gap)},
    {"sse_chunk_size_bytes", spec_size, N(spec_size)},
    {"sse_stage_duration_seconds", spec_stage, N(spec_stage)},
    {"http_request_duration_seconds", spec_http, N(spec_http)},
    {"sse_provider_latency_seconds", spec_provider_latency, N(spec_provider_latency)},
};

static const double small[] = {1, 2, 5};

static void test_value_equal_to_bound_is_in_that_bucket(void **state)
{
	(void)state;
	assert_int_equal(histogram_bucket(small, 3, 1), 0);
	assert_int_equal(histogram_bucket(small, 3, 2), 1);
	assert_int_equal(histogram_bucket(small, 3, 5), 2);
}

static void test_value_between_bounds(void **state)
{
	(void)state;
	assert_int_equal(histogram_bucket(small, 3, 1.5), 1);
	assert_int_equal(histogram_bucket(small, 3, 4.999), 2);
	assert_int_equal(histogram_bucket(small, 3, nextafter(1, 2)), 1);
}

static void test_value_below_first_bound(void **state)
{
	(void)state;
	assert_int_equal(histogram_bucket(small, 3, 0), 0);
	assert_int_equal(histogram_bucket(small, 3, -7), 0);
	assert_int_equal(histogram_bucket(small, 3, -INFINITY), 0);
}

static void test_value_above_last_bound_is_inf(void **state)
{
	(void)state;
	assert_int_equal(histogram_bucket(small, 3, nextafter(5, 6)), 3);
	assert_int_equal(histogram_bucket(small, 3, 1e300), 3);
	assert_int_equal(histogram_bucket(small, 3, INFINITY), 3);
}

static void test_nan_is_inf_bucket(void **state)
{
	(void)state;
	assert_int_equal(histogram_bucket(small, 3, NAN), 3);
	assert_int_equal(histogram_bucket(spec_ttfc, N(spec_ttfc), NAN), N(spec_ttfc));
}

static void test_no_bounds(void **state)
{
	(void)state;
	assert_int_equal(histogram_bucket(NULL, 0, 1), 0);
	assert_int_equal(histogram_bucket(NULL, 0, NAN), 0);
}

static void test_single_bound(void **state)
{
	static const double one[] = {0.5};

	(void)state;
	assert_int_equal(histogram_bucket(one, 1, 0.5), 0);
	assert_int_equal(histogram_bucket(one, 1, 0.25), 0);
	assert_int_equal(histogram_bucket(one, 1, 0.75), 1);
}

static void test_spec_sets_are_ascending(void **state)
{
	(void)state;
	for (size_t k = 0; k < N(spec_sets); k++)
		for (size_t i = 1; i < spec_sets[k].n; i++)
			assert_true(spec_sets[k].b[i - 1] < spec_sets[k].b[i]);
}

/* Every bound of every spec set: equal, just below, just above. */
static void test_every_spec_bucket(void **state)
{
	(void)state;
	for (size_t k = 0; k < N(spec_sets); k++) {
		const double *b = spec_sets[k].b;
		size_t n = spec_sets[k].n;

		for (size_t i = 0; i < n; i++) {
			double below = nextafter(b[i], -INFINITY);
			double above = nextafter(b[i], INFINITY);

			assert_int_equal(histogram_bucket(b, n, b[i]), i);
			assert_int_equal(histogram_bucket(b, n, below), i);
			assert_int_equal(histogram_bucket(b, n, above), i + 1);
			if (i > 0)
				assert_int_equal(histogram_bucket(b, n, (b[i - 1] + b[i]) / 2), i);
		}
		assert_int_equal(histogram_bucket(b, n, 0), 0);
		assert_int_equal(histogram_bucket(b, n, b[n - 1] * 2), n);
		assert_int_equal(histogram_bucket(b, n, NAN), n);
	}
}

/* Decimal literals like 0.1 must land in the bucket written as 0.1. */
static void test_decimal_values_match_decimal_bounds(void **state)
{
	(void)state;
	assert_int_equal(histogram_bucket(spec_request, N(spec_request), 0.1), 3);
	assert_int_equal(histogram_bucket(spec_request, N(spec_request), 0.025), 1);
	assert_int_equal(histogram_bucket(spec_gap, N(spec_gap), 0.075), 5);
	/* nanoseconds divided by 1e9 give the decimal bound exactly */
	assert_int_equal(histogram_bucket(spec_ttfc, N(spec_ttfc), 60000000 / 1e9), 5);
	assert_int_equal(histogram_bucket(spec_gap, N(spec_gap), 75000000 / 1e9), 5);
	assert_int_equal(histogram_bucket(spec_request, N(spec_request), 30000000000 / 1e9), 10);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_value_equal_to_bound_is_in_that_bucket),
	    cmocka_unit_test(test_value_between_bounds),
	    cmocka_unit_test(test_value_below_first_bound),
	    cmocka_unit_test(test_value_above_last_bound_is_inf),
	    cmocka_unit_test(test_nan_is_inf_bucket),
	    cmocka_unit_test(test_no_bounds),
	    cmocka_unit_test(test_single_bound),
	    cmocka_unit_test(test_spec_sets_are_ascending),
	    cmocka_unit_test(test_every_spec_bucket),
	    cmocka_unit_test(test_decimal_values_match_decimal_bounds),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
