// SPDX-License-Identifier: MIT
/* Unit tests of the inferred circuit breaker. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "llm/breaker.h"

#define S(x) ((uint64_t)(x)*1000000000ULL)

#define CLOSED	  BREAKER_CLOSED
#define HALF_OPEN BREAKER_HALF_OPEN
#define OPEN	  BREAKER_OPEN

static struct breaker B;
static struct breaker_config C;

static void setup_default(void)
{
	breaker_init(&B);
	breaker_config_default(&C);
}

static void fail_at(uint64_t t)
{
	breaker_record(&B, &C, false, t);
}

static void ok_at(uint64_t t)
{
	breaker_record(&B, &C, true, t);
}

static void assert_state(uint64_t t, enum breaker_state want)
{
	enum breaker_state got = breaker_state(&B, &C, t);

	if (got != want)
		fail_msg("at %llu ns: state %d, want %d", (unsigned long long)t, got, want);
}

/* n failures, one a second from t. */
static void failures(unsigned int n, uint64_t t)
{
	unsigned int i;

	for (i = 0; i < n; i++)
		fail_at(t + S(i));
}

static void test_defaults(void **state)
{
	(void)state;
	setup_default();
	assert_int_equal(C.failures, 5);
	assert_int_equal(C.window_ns, S(60));
	assert_int_equal(C.cooldown_ns, S(60));
	assert_int_equal(BREAKER_CLOSED, 0);
	assert_int_equal(BREAKER_HALF_OPEN, 1);
	assert_int_equal(BREAKER_OPEN, 2);
	assert_state(0, CLOSED);
	assert_state(S(1000), CLOSED);
}

static void test_opens_after_n_failures(void **state)
{
	(void)state;
	setup_default();
	failures(4, S(10));
	assert_state(S(13), CLOSED);
	fail_at(S(14));
	assert_state(S(14), OPEN);
	assert_state(S(73), OPEN);
}

static void test_success_resets_streak(void **state)
{
	(void)state;
	setup_default();
	failures(4, S(10));
	ok_at(S(14));
	failures(4, S(15));
	assert_state(S(19), CLOSED);
	fail_at(S(20));
	assert_state(S(20), OPEN);
}

static void test_window(void **state)
{
	(void)state;
	/* exactly W between the first and the N-th: opens */
	setup_default();
	fail_at(S(100));
	failures(3, S(110));
	fail_at(S(160));
	assert_state(S(160), OPEN);

	/* one nanosecond more: does not */
	setup_default();
	fail_at(S(100));
	failures(3, S(110));
	fail_at(S(160) + 1);
	assert_state(S(160) + 1, CLOSED);
	/* but the streak slides: the last 5 within W open it */
	fail_at(S(161));
	assert_state(S(161), OPEN);
}

static void test_spread_failures_never_open(void **state)
{
	unsigned int i;

	(void)state;
	setup_default();
	/* one failure every 16 s: any 5 span 64 s */
	for (i = 0; i < 100; i++) {
		fail_at(S(16) * i);
		assert_state(S(16) * i, CLOSED);
	}
}

static void test_half_open_by_time_alone(void **state)
{
	(void)state;
	setup_default();
	failures(5, S(0));
	assert_state(S(4), OPEN);
	assert_state(S(64) - 1, OPEN);
	assert_state(S(64), HALF_OPEN);
	assert_state(S(1000), HALF_OPEN);
	/* reading changes nothing */
	assert_state(S(63), OPEN);
}

static void test_half_open_success_closes(void **state)
{
	(void)state;
	setup_default();
	failures(5, S(0));
	ok_at(S(70));
	assert_state(S(70), CLOSED);
	assert_state(S(500), CLOSED);
	/* a fresh streak is needed to open again */
	failures(4, S(71));
	assert_state(S(75), CLOSED);
	fail_at(S(75));
	assert_state(S(75), OPEN);
}

static void test_half_open_failure_reopens(void **state)
{
	(void)state;
	setup_default();
	failures(5, S(0));
	assert_state(S(70), HALF_OPEN);
	fail_at(S(70));
	assert_state(S(70), OPEN);
	/* the cooldown restarts at the reopening */
	assert_state(S(129), OPEN);
	assert_state(S(130), HALF_OPEN);
	ok_at(S(131));
	assert_state(S(131), CLOSED);
}

static void test_events_while_open_ignored(void **state)
{
	(void)state;
	setup_default();
	failures(5, S(0));
	ok_at(S(10));
	assert_state(S(10), OPEN);
	failures(10, S(20));
	assert_state(S(63), OPEN);
	/* the cooldown still runs from the opening */
	assert_state(S(64), HALF_OPEN);
	ok_at(S(64));
	assert_state(S(64), CLOSED);
	/* and no failure seen while open carried over into the streak */
	failures(4, S(65));
	assert_state(S(68), CLOSED);
}

static void test_config_changes(void **state)
{
	(void)state;
	/* N = 1: any failure opens, and so does one in half-open */
	setup_default();
	C.failures = 1;
	fail_at(S(1));
	assert_state(S(1), OPEN);

	/* N = 0 is taken as 1, N above the ring as the ring's size */
	setup_default();
	C.failures = 0;
	fail_at(S(1));
	assert_state(S(1), OPEN);
	setup_default();
	C.failures = 1000;
	C.window_ns = S(1000);
	failures(BREAKER_FAILURES_MAX - 1, 0);
	assert_state(S(100), CLOSED);
	fail_at(S(BREAKER_FAILURES_MAX - 1));
	assert_state(S(BREAKER_FAILURES_MAX - 1), OPEN);

	/* N lowered under a running streak: the next failure decides */
	setup_default();
	C.failures = 10;
	failures(6, S(0));
	assert_state(S(5), CLOSED);
	C.failures = 3;
	assert_state(S(5), CLOSED);
	fail_at(S(6));
	assert_state(S(6), OPEN);

	/* N raised under a running streak: the ring kept its failures */
	setup_default();
	failures(4, S(0));
	C.failures = 8;
	failures(3, S(4));
	assert_state(S(6), CLOSED);
	fail_at(S(7));
	assert_state(S(7), OPEN);

	/* the cooldown changed while open applies at the next read */
	setup_default();
	failures(5, S(0));
	assert_state(S(10), OPEN);
	C.cooldown_ns = S(5);
	assert_state(S(10), HALF_OPEN);
	C.cooldown_ns = 0;
	assert_state(S(4), HALF_OPEN);

	/* a zero window: only failures at the same instant open */
	setup_default();
	C.window_ns = 0;
	failures(5, S(0));
	assert_state(S(5), CLOSED);
	failures(4, S(10));
	fail_at(S(13));
	assert_state(S(13), CLOSED);
	breaker_init(&B);
	fail_at(S(20));
	fail_at(S(20));
	fail_at(S(20));
	fail_at(S(20));
	fail_at(S(20));
	assert_state(S(20), OPEN);
}

static void test_time_out_of_order(void **state)
{
	(void)state;
	setup_default();
	/* a late record older than the opening: open, not a wrap-around */
	failures(5, S(100));
	assert_state(S(50), OPEN);
	fail_at(S(99));
	assert_state(S(104), OPEN);
	/* failures out of order still count as within the window */
	setup_default();
	fail_at(S(10));
	fail_at(S(9));
	fail_at(S(8));
	fail_at(S(7));
	fail_at(S(6));
	assert_state(S(10), OPEN);
}

static void test_long_run(void **state)
{
	uint64_t t = 0;
	unsigned int cycle, opened = 0;

	(void)state;
	setup_default();
	/* repeated outage and recovery: every cycle opens, half-opens, closes */
	for (cycle = 0; cycle < 1000; cycle++) {
		failures(5, t);
		t += S(4);
		if (breaker_state(&B, &C, t) == OPEN)
			opened++;
		t += S(60);
		assert_state(t, HALF_OPEN);
		ok_at(t);
		assert_state(t, CLOSED);
		t += S(1);
	}
	assert_int_equal(opened, 1000);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_defaults),
	    cmocka_unit_test(test_opens_after_n_failures),
	    cmocka_unit_test(test_success_resets_streak),
	    cmocka_unit_test(test_window),
	    cmocka_unit_test(test_spread_failures_never_open),
	    cmocka_unit_test(test_half_open_by_time_alone),
	    cmocka_unit_test(test_half_open_success_closes),
	    cmocka_unit_test(test_half_open_failure_reopens),
	    cmocka_unit_test(test_events_while_open_ignored),
	    cmocka_unit_test(test_config_changes),
	    cmocka_unit_test(test_time_out_of_order),
	    cmocka_unit_test(test_long_run),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
