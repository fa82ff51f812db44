// SPDX-License-Identifier: MIT
/* How the ring bytes are shared among CPUs (kernel/krings.h). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include "kernel/krings.h"

#define PAGE 4096u

/* The default 8 MiB: a ring per CPU up to 16 CPUs, 512 KiB each beyond. */
static void test_default_bytes(void **state)
{
	(void)state;
	assert_int_equal(krings_count(EVENTS_RING_BYTES, 2), 2);
	assert_int_equal(krings_share(EVENTS_RING_BYTES, 2, PAGE), 4u << 20);
	assert_int_equal(krings_count(EVENTS_RING_BYTES, 16), 16);
	assert_int_equal(krings_count(EVENTS_RING_BYTES, 64), 16);
	assert_int_equal(krings_share(EVENTS_RING_BYTES, 16, PAGE), KRINGS_MIN_BYTES);
	assert_int_equal(krings_count(EVENTS_RING_BYTES, 256), 16);
}

/* Every ring of many holds one syscall's whole copy: 64 full records. */
static void test_a_ring_holds_a_syscall(void **state)
{
	size_t record = 8 + sizeof(struct data_event); /* the ring's own header, then ours */

	(void)state;
	for (unsigned cpus = 2; cpus <= 512; cpus++) {
		unsigned n = krings_count(EVENTS_RING_BYTES, cpus);

		assert_true(n <= cpus);
		if (n > 1)
			assert_true(krings_share(EVENTS_RING_BYTES, n, PAGE) >=
				    CAPTURE_SEGS_MAX * record);
	}
}

/* CPU counts that are no power of two: as many rings as the bytes allow,
 * each a power of two, all within the total. */
static void test_odd_cpus(void **state)
{
	(void)state;
	assert_int_equal(krings_count(EVENTS_RING_BYTES, 3), 3);
	assert_int_equal(krings_share(EVENTS_RING_BYTES, 3, PAGE), 2u << 20);
	assert_int_equal(krings_count(EVENTS_RING_BYTES, 24), 16);
	assert_int_equal(krings_count(EVENTS_RING_BYTES, 33), 16);
	assert_int_equal(krings_count(4u << 20, 12), 8);
	assert_int_equal(krings_share(64u << 20, 12, PAGE), 4u << 20);
}

/* Bytes too few for two rings of the least size: one ring of them all;
 * and never below a page. */
static void test_small_bytes(void **state)
{
	(void)state;
	assert_int_equal(krings_count(16384, 2), 1);
	assert_int_equal(krings_share(16384, 1, PAGE), 16384);
	assert_int_equal(krings_count(KRINGS_MIN_BYTES, 8), 1);
	assert_int_equal(krings_count(2 * KRINGS_MIN_BYTES, 8), 2);
	assert_int_equal(krings_share(16384, 8, PAGE), PAGE);
	assert_int_equal(krings_count(16384, 0), 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_default_bytes),
	    cmocka_unit_test(test_a_ring_holds_a_syscall),
	    cmocka_unit_test(test_odd_cpus),
	    cmocka_unit_test(test_small_bytes),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
