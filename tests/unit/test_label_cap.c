// SPDX-License-Identifier: MIT
/* Unit tests of the per-service label cardinality caps. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "metrics/label_cap.h"

static void test_admits_up_to_max(void **state)
{
	struct label_cap c;

	(void)state;
	assert_int_equal(label_cap_init(&c, "path", 3), 0);
	assert_string_equal(label_cap_admit(&c, "svc", "/a", true), "/a");
	assert_string_equal(label_cap_admit(&c, "svc", "/b", true), "/b");
	assert_string_equal(label_cap_admit(&c, "svc", "/c", true), "/c");
	assert_int_equal(c.dropped, 0);
	label_cap_free(&c);
}

static void test_over_max_is_other_and_dropped(void **state)
{
	struct label_cap c;

	(void)state;
	assert_int_equal(label_cap_init(&c, "path", 2), 0);
	label_cap_admit(&c, "svc", "/a", true);
	label_cap_admit(&c, "svc", "/b", true);
	assert_string_equal(label_cap_admit(&c, "svc", "/c", true), LABEL_OTHER);
	assert_int_equal(c.dropped, 1);
	assert_string_equal(label_cap_admit(&c, "svc", "/d", true), "other");
	assert_int_equal(c.dropped, 2);
	label_cap_free(&c);
}

static void test_known_values_still_admitted_after_cap(void **state)
{
	struct label_cap c;

	(void)state;
	assert_int_equal(label_cap_init(&c, "model", 2), 0);
	label_cap_admit(&c, "svc", "gpt-4o", true);
	label_cap_admit(&c, "svc", "claude", true);
	assert_string_equal(label_cap_admit(&c, "svc", "mistral", true), LABEL_OTHER);
	assert_string_equal(label_cap_admit(&c, "svc", "gpt-4o", true), "gpt-4o");
	assert_string_equal(label_cap_admit(&c, "svc", "claude", true), "claude");
	assert_int_equal(c.dropped, 1);
	label_cap_free(&c);
}

static void test_repeated_value_counts_once(void **state)
{
	struct label_cap c;

	(void)state;
	assert_int_equal(label_cap_init(&c, "path", 2), 0);
	for (int i = 0; i < 10; i++)
		assert_string_equal(label_cap_admit(&c, "svc", "/a", true), "/a");
	assert_string_equal(label_cap_admit(&c, "svc", "/b", true), "/b");
	assert_int_equal(c.dropped, 0);
	label_cap_free(&c);
}

static void test_services_are_independent(void **state)
{
	struct label_cap c;

	(void)state;
	assert_int_equal(label_cap_init(&c, "path", 1), 0);
	assert_string_equal(label_cap_admit(&c, "api", "/a", true), "/a");
	assert_string_equal(label_cap_admit(&c, "api", "/b", true), LABEL_OTHER);
	/* another service has its own budget, and "/a" is new to it */
	assert_string_equal(label_cap_admit(&c, "web", "/b", true), "/b");
	assert_string_equal(label_cap_admit(&c, "web", "/a", true), LABEL_OTHER);
	assert_string_equal(label_cap_admit(&c, "api", "/a", true), "/a");
	assert_string_equal(label_cap_admit(&c, "web", "/b", true), "/b");
	assert_int_equal(c.dropped, 2);
	label_cap_free(&c);
}

/* A (service, value) pair is not confused with a shifted one. */
static void test_service_value_boundary(void **state)
{
	struct label_cap c;

	(void)state;
	assert_int_equal(label_cap_init(&c, "path", 1), 0);
	assert_string_equal(label_cap_admit(&c, "ab", "c", true), "c");
	assert_string_equal(label_cap_admit(&c, "a", "bc", true), "bc");
	assert_string_equal(label_cap_admit(&c, "a", "x", true), LABEL_OTHER);
	label_cap_free(&c);
}

static void test_returned_string_is_a_copy(void **state)
{
	struct label_cap c;
	char value[8] = "/tmp";
	const char *got;

	(void)state;
	assert_int_equal(label_cap_init(&c, "path", 5), 0);
	got = label_cap_admit(&c, "svc", value, true);
	assert_ptr_not_equal(got, value);
	strcpy(value, "/zzz");
	assert_string_equal(got, "/tmp");
	assert_ptr_equal(label_cap_admit(&c, "svc", "/tmp", true), got);
	label_cap_free(&c);
}

static void test_many_services_and_values(void **state)
{
	struct label_cap c;
	char svc[32], val[32];
	size_t other = 0;

	(void)state;
	assert_int_equal(label_cap_init(&c, "path", 100), 0);
	for (int s = 0; s < 50; s++) {
		snprintf(svc, sizeof(svc), "svc%d", s);
		for (int v = 0; v < 150; v++) {
			const char *got;

			snprintf(val, sizeof(val), "/p%d", v);
			got = label_cap_admit(&c, svc, val, true);
			if (v < 100) {
				assert_string_equal(got, val);
			} else {
				assert_string_equal(got, LABEL_OTHER);
				other++;
			}
		}
	}
	assert_int_equal(c.dropped, other);
	assert_int_equal(other, 50 * 50);
	label_cap_free(&c);
}

static void test_zero_max_admits_nothing(void **state)
{
	struct label_cap c;

	(void)state;
	assert_int_equal(label_cap_init(&c, "path", 0), 0);
	assert_string_equal(label_cap_admit(&c, "svc", "/a", true), LABEL_OTHER);
	assert_int_equal(c.dropped, 1);
	label_cap_free(&c);
}

static void test_lookup_without_count(void **state)
{
	struct label_cap c;

	(void)state;
	assert_int_equal(label_cap_init(&c, "path", 1), 0);
	label_cap_admit(&c, "svc", "/a", true);
	assert_string_equal(label_cap_admit(&c, "svc", "/b", false), LABEL_OTHER);
	assert_int_equal(c.dropped, 0);
	assert_string_equal(label_cap_admit(&c, "svc", "/b", true), LABEL_OTHER);
	assert_int_equal(c.dropped, 1);
	label_cap_free(&c);
}

static void test_label_name_kept(void **state)
{
	struct label_cap c;

	(void)state;
	assert_int_equal(label_cap_init(&c, "model", 3), 0);
	assert_string_equal(c.label, "model");
	assert_int_equal(c.max, 3);
	label_cap_free(&c);
	assert_null(c.table);
	label_cap_free(&c); /* twice is harmless */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_admits_up_to_max),
	    cmocka_unit_test(test_over_max_is_other_and_dropped),
	    cmocka_unit_test(test_lookup_without_count),
	    cmocka_unit_test(test_known_values_still_admitted_after_cap),
	    cmocka_unit_test(test_repeated_value_counts_once),
	    cmocka_unit_test(test_services_are_independent),
	    cmocka_unit_test(test_service_value_boundary),
	    cmocka_unit_test(test_returned_string_is_a_copy),
	    cmocka_unit_test(test_many_services_and_values),
	    cmocka_unit_test(test_zero_max_admits_nothing),
	    cmocka_unit_test(test_label_name_kept),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
