// SPDX-License-Identifier: MIT
/* Unit tests of the kernel maps' front: which failures count. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <errno.h>
#include <string.h>
#include <cmocka.h>

#include "kernel/kmaps.h"
#include "kstream.h"

/* Every op answers what the test says; a walk yields walk_keys keys. */
static int answer;
static int walk_keys;

/* A counter is 5 on every CPU. */
static int op_lookup(struct kmaps *km, enum kmap map, const void *key, void *value)
{
	(void)key;
	for (int i = 0; i < (map == KMAP_COUNTERS ? km->ncpus : 1); i++)
		((uint64_t *)value)[i] = 5;
	return answer;
}

static int op_update(struct kmaps *km, enum kmap map, const void *key, const void *value,
		     enum kmap_flag flag)
{
	(void)km, (void)map, (void)key, (void)value, (void)flag;
	return answer;
}

static int op_delete(struct kmaps *km, enum kmap map, const void *key)
{
	(void)km, (void)map, (void)key;
	return answer;
}

static int op_next_key(struct kmaps *km, enum kmap map, const void *key, void *next)
{
	uint32_t k = key ? *(const uint32_t *)key + 1 : 0;

	(void)km, (void)map;
	if ((int)k < walk_keys) {
		memcpy(next, &k, sizeof(k));
		return 0;
	}
	return answer ? answer : -ENOENT;
}

static int op_take(struct kmaps *km, enum kmap map, const void *key, void *value)
{
	return op_lookup(km, map, key, value);
}

static struct conn_slot slots[CONN_GATE_SLOTS];
static bool slots_unmappable;

static struct conn_slot *op_slot_map(struct kmaps *km, uint32_t index)
{
	(void)km;
	return slots_unmappable ? NULL : &slots[index];
}

static void op_slot_unmap(struct kmaps *km, struct conn_slot *line)
{
	(void)km;
	(void)line;
}

static struct kstream lines[KLINES];

static __u64 *op_kline_map(struct kmaps *km, uint32_t index)
{
	(void)km;
	return slots_unmappable ? NULL : &lines[index].id;
}

static void op_kline_unmap(struct kmaps *km, __u64 *id)
{
	(void)km;
	(void)id;
}

static const struct kmaps_ops ops = {op_lookup,	    op_update,	  op_delete,
				     op_next_key,   op_take,	  op_slot_map,
				     op_slot_unmap, op_kline_map, op_kline_unmap};

static struct kmaps maps(void)
{
	struct kmaps km = {.ops = &ops, .ncpus = 2};

	for (int i = 0; i < KMAP_COUNT; i++) {
		km.name[i] = "m";
		km.key_size[i] = sizeof(uint32_t);
		km.max_entries[i] = 100;
	}
	answer = 0;
	walk_keys = 0;
	return km;
}

static uint64_t failures(const struct kmaps *km)
{
	uint64_t n = 0;

	for (int m = 0; m < KMAP_COUNT; m++)
		for (int op = 0; op < KMAP_OPS; op++)
			n += km->failed[m][op];
	return n;
}

/* "No such entry" and "already there" are what was asked, not failures;
 * each op's result is handed back as it came. */
static void test_answers_not_counted(void **state)
{
	struct kmaps km = maps();
	uint32_t k = 1;
	uint64_t v = 0;

	(void)state;
	answer = -ENOENT;
	assert_int_equal(kmaps_lookup(&km, KMAP_CONNS, &k, &v), -ENOENT);
	assert_int_equal(kmaps_delete(&km, KMAP_CONNS, &k), -ENOENT);
	assert_int_equal(kmaps_update(&km, KMAP_CONNS, &k, &v, KMAP_EXIST), -ENOENT);
	answer = -EEXIST;
	assert_int_equal(kmaps_update(&km, KMAP_CONNS, &k, &v, KMAP_NOEXIST), -EEXIST);
	assert_int_equal(failures(&km), 0);
	assert_true(km.used[KMAP_CONNS][KMAP_LOOKUP]);
	assert_true(km.used[KMAP_CONNS][KMAP_UPDATE]);
	assert_true(km.used[KMAP_CONNS][KMAP_DELETE]);
	assert_false(km.used[KMAP_PROCS][KMAP_LOOKUP]);
}

/* Anything else is a failure of that map and op. */
static void test_failures_counted(void **state)
{
	struct kmaps km = maps();
	uint32_t k = 1;
	uint64_t v = 0;

	(void)state;
	answer = -E2BIG;
	assert_int_equal(kmaps_update(&km, KMAP_CONNS, &k, &v, KMAP_NOEXIST), -E2BIG);
	assert_int_equal(kmaps_update(&km, KMAP_CONNS, &k, &v, KMAP_NOEXIST), -E2BIG);
	answer = -ENOENT; /* an entry to create with KMAP_ANY cannot be missing */
	kmaps_update(&km, KMAP_PROCS, &k, &v, KMAP_ANY);
	answer = -EEXIST; /* nor be there already */
	kmaps_update(&km, KMAP_PROCS, &k, &v, KMAP_EXIST);
	answer = -EBADF;
	kmaps_lookup(&km, KMAP_ALLOWED_TGIDS, &k, &v);
	answer = -EPERM;
	kmaps_delete(&km, KMAP_SOCK_OWNER, &k);
	assert_int_equal(km.failed[KMAP_CONNS][KMAP_UPDATE], 2);
	assert_int_equal(km.failed[KMAP_PROCS][KMAP_UPDATE], 2);
	assert_int_equal(km.failed[KMAP_ALLOWED_TGIDS][KMAP_LOOKUP], 1);
	assert_int_equal(km.failed[KMAP_SOCK_OWNER][KMAP_DELETE], 1);
	assert_int_equal(failures(&km), 6);
}

/* A walk ends on "no such entry"; any other end is a failed lookup. */
static void test_walk(void **state)
{
	struct kmaps km = maps();

	(void)state;
	walk_keys = 3;
	assert_int_equal(kmaps_entries(&km, KMAP_CONNECTING), 3);
	assert_int_equal(failures(&km), 0);
	assert_true(km.used[KMAP_CONNECTING][KMAP_LOOKUP]);
	answer = -EFAULT;
	assert_int_equal(kmaps_entries(&km, KMAP_CONNECTING), 3);
	assert_int_equal(km.failed[KMAP_CONNECTING][KMAP_LOOKUP], 1);
}

/* A walk that keeps being restarted (the kernel deleted the key walked
 * from) stops at the map's capacity. */
static void test_walk_bounded(void **state)
{
	struct kmaps km = maps();

	(void)state;
	walk_keys = 1000;
	assert_int_equal(kmaps_entries(&km, KMAP_CONNS), 100);
}

/* Per-CPU counters are summed over the CPUs; one that cannot be read
 * fails the whole read. */
static void test_counters(void **state)
{
	struct kmaps km = maps();
	uint64_t out[CNT_MAX];

	(void)state;
	km.ncpus = 3;
	assert_int_equal(kmaps_counters(&km, out), 0);
	for (int i = 0; i < CNT_MAX; i++)
		assert_int_equal(out[i], 15);
	answer = -EBADF; /* a counter read as 0 would go backwards: no result */
	assert_int_equal(kmaps_counters(&km, out), -1);
	assert_int_equal(km.failed[KMAP_COUNTERS][KMAP_LOOKUP], 1);
}

/* The gate's counters change at the key's slot, by atomic adds; a line
 * that cannot be mapped is a failure, counted. */
static void test_gate_add(void **state)
{
	struct kmaps km = maps();
	struct conn_key key = {.tgid = 4242, .fd = 5};
	uint32_t slot = conn_gate_slot(&key);
	uint64_t sum = 0;

	(void)state;
	memset(slots, 0, sizeof(slots));
	assert_int_equal(kmaps_gate_add(&km, &key, 1), 0);
	assert_int_equal(kmaps_gate_add(&km, &key, 1), 0);
	assert_int_equal(slots[slot].gate, 2);
	assert_int_equal(kmaps_gate_add(&km, &key, -1), 0);
	assert_int_equal(slots[slot].gate, 1);
	for (uint32_t i = 0; i < CONN_GATE_SLOTS; i++)
		sum += slots[i].gate;
	assert_int_equal(sum, 1);
	slots_unmappable = true;
	assert_int_not_equal(kmaps_gate_add(&km, &key, 1), 0);
	slots_unmappable = false;
	assert_int_equal(slots[slot].gate, 1);
	assert_int_equal(km.failed[KMAP_CONN_SLOTS][KMAP_UPDATE], 1);
}

/* A stream's line is freed only while it is still that stream's; a line
 * that cannot be mapped is a failure, counted. */
static void test_kline_release(void **state)
{
	struct kmaps km = maps();
	uint64_t id = 7, other = 7 + KLINES;

	(void)state;
	lines[kline_index(id)].id = id;
	assert_int_equal(kmaps_kline_release(&km, id), 0);
	assert_int_equal(lines[kline_index(id)].id, 0);
	lines[kline_index(id)].id = other;
	assert_int_equal(kmaps_kline_release(&km, id), 0);
	assert_int_equal(lines[kline_index(id)].id, other);
	slots_unmappable = true;
	assert_int_not_equal(kmaps_kline_release(&km, other), 0);
	slots_unmappable = false;
	assert_int_equal(lines[kline_index(id)].id, other);
	assert_int_equal(km.failed[KMAP_KLINES][KMAP_UPDATE], 1);
}

/* A process's bit is or-ed into its word, the others' bits kept; a tgid
 * beyond the bitmap changes nothing. */
static void test_procs_mark(void **state)
{
	static uint64_t procs[PID_BITMAP_WORDS];
	struct kmaps km = maps();

	(void)state;
	km.procs = procs;
	procs[4242 / 64] = 1ull << (4243 % 64); /* the kernel's, meanwhile */
	kmaps_procs_mark(&km, 4242);
	kmaps_procs_mark(&km, 4242);
	assert_int_equal(procs[4242 / 64], (1ull << (4242 % 64)) | (1ull << (4243 % 64)));
	kmaps_procs_mark(&km, PID_BITMAP_WORDS * 64);
	for (uint32_t w = 0; w < PID_BITMAP_WORDS; w++)
		if (w != 4242 / 64)
			assert_int_equal(procs[w], 0);
}

/* A process's fds are consecutive numbers: their slots must differ, or a
 * connection whose bytes are not needed would pay the lookup of another
 * one's. */
static void test_gate_slots_spread(void **state)
{
	static bool seen[CONN_GATE_SLOTS];
	struct conn_key key = {.tgid = 4242};

	(void)state;
	for (key.fd = 0; key.fd < 4096; key.fd++) {
		uint32_t slot = conn_gate_slot(&key);

		assert_true(slot < CONN_GATE_SLOTS);
		assert_false(seen[slot]);
		seen[slot] = true;
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_answers_not_counted),
	    cmocka_unit_test(test_failures_counted),
	    cmocka_unit_test(test_walk),
	    cmocka_unit_test(test_walk_bounded),
	    cmocka_unit_test(test_counters),
	    cmocka_unit_test(test_gate_add),
	    cmocka_unit_test(test_kline_release),
	    cmocka_unit_test(test_procs_mark),
	    cmocka_unit_test(test_gate_slots_spread),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
