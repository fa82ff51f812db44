// SPDX-License-Identifier: MIT
/* Unit tests of held TLS writes: which later record repeats one. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "track/tentative_write.h"

static struct data_event ev;

/* Record seg of a write of ret bytes, holding s at offset. */
static const struct data_event *record(const char *s, int64_t ret, uint32_t offset, uint32_t seg,
				       uint8_t flags)
{
	memset(&ev, 0, offsetof(struct data_event, data));
	ev.h.ts_ns = 1000 + seg;
	ev.dir = DIR_OUT;
	ev.flags = flags;
	ev.ret = ret;
	ev.offset = offset;
	ev.seg = seg;
	ev.len = strlen(s);
	memcpy(ev.data, s, ev.len);
	return &ev;
}

static const char req[] = "POST /v1 HTTP/1.1\r\nContent-Length: 2\r\n\r\n{}";

static void test_start_holds_the_bytes(void **state)
{
	struct tentative_write h = {0};

	(void)state;
	assert_int_equal(
	    tentative_write_start(&h, record(req, sizeof(req) - 1, 0, 0, DATA_F_TENTATIVE)), 0);
	assert_int_equal(h.len, sizeof(req) - 1);
	assert_memory_equal(h.buf, req, h.len);
	assert_int_equal(h.ts, 1000);
	tentative_write_drop(&h);
	assert_null(h.buf);
}

static void test_later_records_of_the_same_call_append(void **state)
{
	struct tentative_write h = {0};

	(void)state;
	tentative_write_start(&h, record("POST /v1", 12, 0, 0, DATA_F_TENTATIVE));
	assert_true(tentative_write_continue(&h, record(" HTT", 12, 8, 1, DATA_F_TENTATIVE)));
	assert_int_equal(h.len, 12);
	assert_memory_equal(h.buf, "POST /v1 HTT", 12);
	/* a new call, or a record that is not tentative, is not a part */
	assert_false(tentative_write_continue(&h, record("POST", 4, 0, 0, DATA_F_TENTATIVE)));
	assert_false(tentative_write_continue(&h, record("x", 12, 12, 2, 0)));
	tentative_write_drop(&h);
}

/* A lost record in between: the bytes after it are not held. */
static void test_gap_stops_holding(void **state)
{
	struct tentative_write h = {0};

	(void)state;
	tentative_write_start(&h, record("abcd", 12, 0, 0, DATA_F_TENTATIVE));
	assert_true(tentative_write_continue(&h, record("ijkl", 12, 8, 2, DATA_F_TENTATIVE)));
	assert_int_equal(h.len, 4);
	assert_int_equal(h.ret, 12);
	tentative_write_drop(&h);
}

/* Node makes the failed write again, tentative or not, maybe with more
 * bytes after it. */
static void test_retry_repeats_the_bytes(void **state)
{
	struct tentative_write h = {0};

	(void)state;
	tentative_write_start(&h, record(req, sizeof(req) - 1, 0, 0, DATA_F_TENTATIVE));
	assert_true(
	    tentative_write_retried_by(&h, record(req, sizeof(req) - 1, 0, 0, DATA_F_TENTATIVE)));
	assert_true(tentative_write_retried_by(&h, record(req, sizeof(req) - 1, 0, 0, 0)));
	assert_true(tentative_write_retried_by(&h, record(req, sizeof(req) + 40, 0, 0, 0)));
	tentative_write_drop(&h);
}

static void test_other_records_are_not_retries(void **state)
{
	struct tentative_write h = {0};
	const struct data_event *e;

	(void)state;
	tentative_write_start(&h, record(req, sizeof(req) - 1, 0, 0, DATA_F_TENTATIVE));
	/* other bytes, fewer bytes, a read, a marker */
	assert_false(tentative_write_retried_by(&h, record("POST /v2", 40, 0, 0, 0)));
	assert_false(tentative_write_retried_by(&h, record(req, 10, 0, 0, 0)));
	e = record(req, sizeof(req) - 1, 0, 0, 0);
	ev.dir = DIR_IN;
	assert_false(tentative_write_retried_by(&h, e));
	assert_false(tentative_write_retried_by(&h, record("", 0, 0, 0, DATA_F_CLOSING)));
	tentative_write_drop(&h);
	assert_false(tentative_write_retried_by(&h, record(req, sizeof(req) - 1, 0, 0, 0)));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_start_holds_the_bytes),
	    cmocka_unit_test(test_later_records_of_the_same_call_append),
	    cmocka_unit_test(test_gap_stops_holding),
	    cmocka_unit_test(test_retry_repeats_the_bytes),
	    cmocka_unit_test(test_other_records_are_not_retries),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
