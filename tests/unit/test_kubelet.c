// SPDX-License-Identifier: MIT
/* Unit tests of reading the kubelet's answer: the body by each framing,
 * and what is not a complete 200. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "ident/kubelet.h"

static void assert_body(const char *raw, const char *want)
{
	size_t len = 0;
	int status;
	char *body = kubelet_response_body(raw, strlen(raw), &len, &status);

	assert_int_equal(status, 200);
	assert_non_null(body);
	assert_string_equal(body, want);
	assert_int_equal(len, strlen(want));
	free(body);
}

static void assert_refused(const char *raw, int want_status)
{
	size_t len = 0;
	int status = -1;

	assert_null(kubelet_response_body(raw, strlen(raw), &len, &status));
	assert_int_equal(status, want_status);
}

static void test_bodies_by_framing(void **state)
{
	(void)state;
	assert_body("HTTP/1.1 200 OK\r\nContent-Length: 13\r\n\r\n{\"items\":[]}\n",
		    "{\"items\":[]}\n");
	assert_body("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
		    "5\r\n{\"ite\r\n8\r\nms\":[]}\n\r\n0\r\n\r\n",
		    "{\"items\":[]}\n");
	assert_body("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n\r\n{}", "{}");
	assert_body("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", "");
}

static void test_not_a_complete_ok(void **state)
{
	(void)state;
	assert_refused("HTTP/1.1 401 Unauthorized\r\nContent-Length: 0\r\n\r\n", 401);
	assert_refused("HTTP/1.1 403 Forbidden\r\n\r\nforbidden", 403);
	assert_refused("HTTP/1.1 200 OK\r\nContent-Length: 50\r\n\r\n{\"items\":", 200);
	assert_refused("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\n{\"ite", 200);
	assert_refused("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", 200);
	assert_refused("HTTP/1.1 200 OK\r\nContent-Le", 0);
	assert_refused("\x16\x03\x01 not http", 0);
	assert_refused("", 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_bodies_by_framing),
	    cmocka_unit_test(test_not_a_complete_ok),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
