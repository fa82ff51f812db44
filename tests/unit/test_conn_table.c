// SPDX-License-Identifier: MIT
/* Unit tests of the table of followed connections, by id. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <stdlib.h>
#include <cmocka.h>

#include "track/conn_table.h"

static struct conn_entry *add(struct conn_table *t, uint64_t id, uint32_t tgid, int32_t fd)
{
	struct conn_key key = {.tgid = tgid, .fd = fd};
	struct conn_info info = {.id = id, .role = ROLE_SERVER};

	return conn_table_add(t, &key, &info);
}

static size_t count(struct conn_table *t)
{
	struct conn_entry *e, *next;
	size_t b, n = 0;

	conn_table_for_each(t, b, e, next)
		n++;
	return n;
}

static void test_add_find_remove(void **state)
{
	struct conn_table t;
	struct conn_entry *e;

	(void)state;
	assert_int_equal(conn_table_init(&t, 64), 0);
	e = add(&t, 7, 100, 5);
	assert_non_null(e);
	assert_int_equal(e->key.tgid, 100);
	assert_int_equal(e->key.fd, 5);
	assert_int_equal(e->info.id, 7);
	assert_null(e->http); /* zeroed but for key and info */
	assert_false(e->sys_open);
	assert_ptr_equal(conn_table_find(&t, 7), e);
	assert_null(conn_table_find(&t, 8));
	assert_int_equal(t.n, 1);
	conn_table_remove(&t, e);
	assert_null(conn_table_find(&t, 7));
	assert_int_equal(t.n, 0);
	conn_table_free(&t);
}

/* Ids are unique: a second entry with an id already followed is refused,
 * and the first one stays as it was. */
static void test_duplicate_id_refused(void **state)
{
	struct conn_table t;
	struct conn_entry *e;

	(void)state;
	assert_int_equal(conn_table_init(&t, 64), 0);
	e = add(&t, 7, 100, 5);
	assert_null(add(&t, 7, 200, 9));
	assert_ptr_equal(conn_table_find(&t, 7), e);
	assert_int_equal(conn_table_find(&t, 7)->key.tgid, 100);
	assert_int_equal(t.n, 1);
	conn_table_free(&t);
}

/* A reused (tgid, fd) is a new connection with a new id: both are
 * followed, each found by its own id, until each ends. */
static void test_same_key_two_ids(void **state)
{
	struct conn_table t;
	struct conn_entry *old, *new;

	(void)state;
	assert_int_equal(conn_table_init(&t, 64), 0);
	old = add(&t, 7, 100, 5);
	new = add(&t, 8, 100, 5);
	assert_non_null(new);
	assert_ptr_not_equal(old, new);
	assert_ptr_equal(conn_table_find(&t, 7), old);
	assert_ptr_equal(conn_table_find(&t, 8), new);
	conn_table_remove(&t, old);
	assert_ptr_equal(conn_table_find(&t, 8), new);
	conn_table_free(&t);
}

/* One bucket: every entry chained; removing the head, the middle or the
 * tail keeps the others reachable. */
static void test_chain_removal(void **state)
{
	struct conn_table t;
	struct conn_entry *e[5];

	(void)state;
	assert_int_equal(conn_table_init(&t, 1), 0);
	for (int i = 0; i < 5; i++)
		e[i] = add(&t, 10 + i, 100, i);
	conn_table_remove(&t, e[2]);
	conn_table_remove(&t, conn_table_find(&t, 14));
	conn_table_remove(&t, conn_table_find(&t, 10));
	assert_null(conn_table_find(&t, 12));
	assert_null(conn_table_find(&t, 14));
	assert_null(conn_table_find(&t, 10));
	assert_ptr_equal(conn_table_find(&t, 11), e[1]);
	assert_ptr_equal(conn_table_find(&t, 13), e[3]);
	assert_int_equal(t.n, 2);
	assert_int_equal(count(&t), 2);
	conn_table_free(&t);
}

/* The walk may remove the entry it is on: every other entry is still
 * visited once. */
static void test_walk_removing(void **state)
{
	struct conn_table t;
	struct conn_entry *e, *next;
	size_t b, visited = 0;

	(void)state;
	assert_int_equal(conn_table_init(&t, 4), 0);
	for (uint64_t id = 1; id <= 40; id++)
		add(&t, id, 100 + id % 3, (int32_t)id);
	conn_table_for_each(&t, b, e, next) {
		visited++;
		if (e->key.tgid == 101)
			conn_table_remove(&t, e);
	}
	assert_int_equal(visited, 40);
	assert_int_equal(t.n, 40 - 14); /* ids 1, 4, ..., 40 */
	assert_int_equal(count(&t), t.n);
	for (uint64_t id = 1; id <= 40; id++) {
		if (id % 3 == 1)
			assert_null(conn_table_find(&t, id));
		else
			assert_non_null(conn_table_find(&t, id));
	}
	conn_table_free(&t);
}

/* The table says it shrank once n entries went since the most it held,
 * counted again from there. */
static void test_shrunk_since_peak(void **state)
{
	struct conn_table t;

	(void)state;
	assert_int_equal(conn_table_init(&t, 4), 0);
	for (uint64_t id = 1; id <= 10; id++)
		add(&t, id, 100, (int32_t)id);
	for (uint64_t id = 1; id <= 3; id++)
		conn_table_remove(&t, conn_table_find(&t, id));
	assert_false(conn_table_shrunk(&t, 4));
	add(&t, 11, 100, 11); /* 8 open: the peak is still 10 */
	conn_table_remove(&t, conn_table_find(&t, 4));
	conn_table_remove(&t, conn_table_find(&t, 5));
	assert_true(conn_table_shrunk(&t, 4));
	assert_false(conn_table_shrunk(&t, 1)); /* from 6 now */
	conn_table_remove(&t, conn_table_find(&t, 6));
	assert_true(conn_table_shrunk(&t, 1));
	conn_table_free(&t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_add_find_remove),  cmocka_unit_test(test_duplicate_id_refused),
	    cmocka_unit_test(test_same_key_two_ids), cmocka_unit_test(test_chain_removal),
	    cmocka_unit_test(test_walk_removing),    cmocka_unit_test(test_shrunk_since_peak),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
