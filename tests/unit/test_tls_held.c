// SPDX-License-Identifier: MIT
/* Unit tests of the TLS plaintext held until its connection is known. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "track/tls_held.h"

struct seen {
	int n;
	uint64_t conn_id[8];
	int32_t fd[8];
	uint32_t seg[8];
	char data[8][16];
};

static void record(void *ctx, struct data_event *ev, size_t size)
{
	struct seen *s = ctx;

	assert_int_equal(size, offsetof(struct data_event, data) + ev->len);
	assert_int_equal(ev->flags & DATA_F_HELD, 0);
	s->conn_id[s->n] = ev->h.conn_id;
	s->fd[s->n] = ev->fd;
	s->seg[s->n] = ev->seg;
	memcpy(s->data[s->n], ev->data, ev->len < 15 ? ev->len : 15);
	s->n++;
}

static void hold(struct tls_held *h, uint32_t tgid, uint64_t ssl, uint32_t seg, const char *text,
		 uint64_t ts)
{
	struct data_event ev = {
	    .h = {.type = EV_DATA, .tgid = tgid, .ts_ns = ts, .conn_id = ssl},
	    .fd = -1,
	    .dir = DIR_OUT,
	    .flags = DATA_F_HELD,
	    .len = strlen(text),
	    .seg = seg,
	};

	memcpy(ev.data, text, ev.len);
	tls_held_add(h, &ev, offsetof(struct data_event, data) + ev.len);
}

static void test_replayed_in_order_as_the_connection(void **state)
{
	struct tls_held h;
	struct seen s = {0};

	(void)state;
	tls_held_init(&h);
	hold(&h, 7, 0x1000, 0, "POST /v1", 1);
	hold(&h, 8, 0x1000, 0, "other", 2); /* same address, other process */
	hold(&h, 7, 0x1000, 1, " HTTP/1.1", 3);
	assert_int_equal(tls_held_take(&h, 7, 0x1000, 42, 9, record, &s), 2);
	assert_int_equal(s.n, 2);
	assert_string_equal(s.data[0], "POST /v1");
	assert_string_equal(s.data[1], " HTTP/1.1");
	assert_int_equal(s.conn_id[0], 42);
	assert_int_equal(s.fd[1], 9);
	assert_int_equal(s.seg[1], 1);
	/* taken once */
	assert_int_equal(tls_held_take(&h, 7, 0x1000, 42, 9, record, &s), 0);
	assert_int_equal(h.dropped, 0);
	tls_held_free(&h);
}

static void test_expired_and_evicted_are_counted(void **state)
{
	struct tls_held h;
	struct seen s = {0};

	(void)state;
	tls_held_init(&h);
	hold(&h, 1, 0x10, 0, "old", 1);
	hold(&h, 1, 0x20, 0, "new", TLS_HELD_TTL_NS);
	tls_held_expire(&h, 0); /* a clock read before both */
	assert_int_equal(h.dropped, 0);
	tls_held_expire(&h, TLS_HELD_TTL_NS + 2);
	assert_int_equal(h.dropped, 1);
	assert_int_equal(tls_held_take(&h, 1, 0x10, 5, 3, record, &s), 0);
	/* a full table gives up its oldest write */
	for (uint64_t i = 0; i < TLS_HELD_SLOTS; i++)
		hold(&h, 2, 0x100 + i, 0, "x", TLS_HELD_TTL_NS + 10 + i);
	assert_int_equal(h.dropped, 2);
	assert_int_equal(tls_held_take(&h, 1, 0x20, 5, 3, record, &s), 0);
	assert_int_equal(tls_held_take(&h, 2, 0x100, 5, 3, record, &s), 1);
	tls_held_free(&h);
}

/* More than one SSL_write can produce (16 full records): dropped, counted. */
static void test_oversized_write_dropped(void **state)
{
	static struct data_event ev = {
	    .h = {.type = EV_DATA, .tgid = 3, .ts_ns = 1, .conn_id = 0x30},
	    .fd = -1,
	    .flags = DATA_F_HELD,
	    .len = CAPTURE_SEG_MAX,
	};
	struct tls_held h;

	(void)state;
	tls_held_init(&h);
	for (uint32_t seg = 0; seg < 16; seg++) {
		ev.seg = seg;
		tls_held_add(&h, &ev, sizeof(ev));
	}
	assert_int_equal(h.dropped, 0);
	for (uint32_t seg = 16; seg < 32; seg++) {
		ev.seg = seg;
		tls_held_add(&h, &ev, sizeof(ev));
	}
	assert_int_equal(h.dropped, 1);
	tls_held_free(&h);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_replayed_in_order_as_the_connection),
	    cmocka_unit_test(test_expired_and_evicted_are_counted),
	    cmocka_unit_test(test_oversized_write_dropped),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
