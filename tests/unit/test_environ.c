// SPDX-License-Identifier: MIT
/* Unit tests of the service name from a process's environment. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <string.h>
#include <cmocka.h>

#include "ident/environ.h"

/* env: entries separated by '|', turned into NULs as in /proc/PID/environ */
static const char *name_of(const char *env, size_t size)
{
	static char buf[512], out[64];
	size_t n = strlen(env);

	memcpy(buf, env, n);
	for (size_t i = 0; i < n; i++)
		if (buf[i] == '|')
			buf[i] = '\0';
	if (!environ_service_name(buf, n, out, size))
		return NULL;
	return out;
}

static void test_otel_service_name(void **state)
{
	(void)state;
	assert_string_equal(name_of("PATH=/bin|OTEL_SERVICE_NAME=checkout|HOME=/", 64), "checkout");
	assert_string_equal(name_of("OTEL_SERVICE_NAME=last", 64), "last"); /* no NUL at the end */
}

static void test_service_name_wins_over_resource(void **state)
{
	(void)state;
	assert_string_equal(
	    name_of("OTEL_RESOURCE_ATTRIBUTES=service.name=a|OTEL_SERVICE_NAME=b", 64), "b");
}

static void test_resource_attributes(void **state)
{
	(void)state;
	assert_string_equal(name_of("OTEL_RESOURCE_ATTRIBUTES=deployment.environment=prod, "
				    "service.name = api%20gw ,team=x",
				    64),
			    "api gw");
	assert_string_equal(
	    name_of("OTEL_RESOURCE_ATTRIBUTES=service.namespace=a,service.name=b", 64), "b");
	assert_null(name_of("OTEL_RESOURCE_ATTRIBUTES=service.namespace=a", 64));
	assert_null(name_of("OTEL_RESOURCE_ATTRIBUTES=service.name=", 64));
}

static void test_absent_or_empty(void **state)
{
	(void)state;
	assert_null(name_of("PATH=/bin|HOME=/", 64));
	assert_null(name_of("", 64));
	assert_null(name_of("OTEL_SERVICE_NAME=", 64));
	assert_null(name_of("XOTEL_SERVICE_NAME=a|OTEL_SERVICE_NAMEX=b", 64));
	assert_null(name_of("OTEL_SERVICE_NAME", 64));
}

static void test_hostile_values(void **state)
{
	(void)state;
	assert_string_equal(name_of("OTEL_SERVICE_NAME=a\"b\nc\x01", 64), "a\"b_c_");
	assert_string_equal(name_of("OTEL_RESOURCE_ATTRIBUTES=service.name=%0a%zz%4", 64),
			    "_%zz%4");
	assert_string_equal(name_of("OTEL_SERVICE_NAME=abcdefgh", 5), "abcd");
	assert_null(name_of("OTEL_SERVICE_NAME=abc", 0));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_otel_service_name),
	    cmocka_unit_test(test_service_name_wins_over_resource),
	    cmocka_unit_test(test_resource_attributes),
	    cmocka_unit_test(test_absent_or_empty),
	    cmocka_unit_test(test_hostile_values),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
