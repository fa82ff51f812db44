// SPDX-License-Identifier: MIT
/* Unit tests of a podman container's name from containers.json. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <string.h>
#include <cmocka.h>

#include "ident/podman_names.h"

#define A "4e5cc2db189f03d921a2b0e65587c93d50a08dd5dce57aefa9cc3e443bb53705"
#define B "eb604190f733ae5882cf56c5abbb066297f909ed34afd8676d9a5b72131e7466"

/* The shape containers/storage writes (podman 4.3, abridged). */
static const char state[] =
    "[{\"id\":\"" A "\",\"names\":[\"gateway\",\"alias\"],\"image\":\"0123\",\"layer\":\"ab\","
    "\"metadata\":\"{\\\"image-name\\\":\\\"localhost/bb:1\\\",\\\"name\\\":\\\"not-this\\\"}\","
    "\"created\":\"2026-12-03T14:47:45.1Z\",\"flags\":{\"MountLabel\":\"\"}},"
    "{\"names\":[\"worker\"],\"id\":\"" B "\"}]";

static const char *name_of(const char *json, size_t len, const char *id)
{
	static char out[64];

	return podman_container_name(json, len, id, out, sizeof(out)) ? out : NULL;
}

static void test_names_by_id(void **state_)
{
	(void)state_;
	assert_string_equal(name_of(state, strlen(state), A), "gateway");
	assert_string_equal(name_of(state, strlen(state), B), "worker"); /* names before id */
	assert_null(name_of(state, strlen(state), "0" A));
	assert_null(name_of(state, strlen(state), "4e5cc2db189f")); /* a prefix is not the id */
}

static void test_unnamed_and_empty(void **state_)
{
	const char unnamed[] = "[{\"id\":\"" A "\",\"names\":[]},{\"id\":\"" B "\"}]";

	(void)state_;
	assert_null(name_of(unnamed, strlen(unnamed), A));
	assert_null(name_of(unnamed, strlen(unnamed), B));
	assert_null(name_of("[]", 2, A));
	assert_null(name_of("{}", 2, A));
}

static void test_every_prefix_refused(void **state_)
{
	(void)state_;
	for (size_t n = 0; n < strlen(state); n++)
		assert_null(name_of(state, n, B));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_names_by_id),
	    cmocka_unit_test(test_unnamed_and_empty),
	    cmocka_unit_test(test_every_prefix_refused),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
