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
#include "kernel_lines.h"

/* Every op answers what the test says; a batch read yields walk_keys
 * keys, in buckets (read as the kernel does, batch_calls of them). */
static int answer;
static uint32_t walk_keys, buckets, batch_calls;

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

/* Key k is in bucket k % buckets. */
static uint32_t bucket_size(uint32_t b)
{
	return walk_keys / buckets + (b < walk_keys % buckets);
}

/* As the kernel reads a hash map: whole buckets from *from on, as many as
 * fit in *count; -ENOSPC when the first does not, -ENOENT (or the
 * test's answer) with the last ones. Values are 5. */
static int op_batch(struct kmaps *km, enum kmap map, void *from, void *next, void *keys,
		    void *values, uint32_t *count)
{
	uint32_t b = from ? *(const uint32_t *)from : 0, total = 0;
	int err = 0;

	(void)km, (void)map;
	batch_calls++;
	for (; b < buckets; b++) {
		if (bucket_size(b) > *count - total) {
			err = total ? 0 : -ENOSPC;
			break;
		}
		for (uint32_t k = b; k < walk_keys; k += buckets, total++) {
			((uint32_t *)keys)[total] = k;
			((uint64_t *)values)[total] = 5;
		}
	}
	if (b == buckets)
		err = answer ? answer : -ENOENT;
	*(uint32_t *)next = b;
	*count = total;
	return err;
}

static int op_take(struct kmaps *km, enum kmap map, const void *key, void *value)
{
	return op_lookup(km, map, key, value);
}

static bool slots_unmappable;

static void *op_share(struct kmaps *km, enum kmap map, size_t at)
{
	(void)km;
	if (slots_unmappable)
		return NULL;
	return kernel_line(map, at);
}

static const struct kmaps_ops ops = {
    .lookup = op_lookup,
    .update = op_update,
    .delete = op_delete,
    .batch = op_batch,
    .take = op_take,
    .share = op_share,
    .unshare = kernel_line_unshare,
};

static struct kmaps maps(void)
{
	struct kmaps km = {.ops = &ops, .ncpus = 2, .batch = KMAPS_BATCH};

	for (int i = 0; i < KMAP_COUNT; i++) {
		km.name[i] = "m";
		km.key_size[i] = sizeof(uint32_t);
		km.value_size[i] = sizeof(uint64_t);
		km.max_entries[i] = 100;
	}
	answer = 0;
	walk_keys = 0;
	buckets = 1;
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

/* The count of keys keys in nbuckets buckets, read batch at a time. */
static uint32_t count_of(struct kmaps *km, enum kmap map, uint32_t batch, uint32_t nbuckets,
			 uint32_t keys)
{
	km->batch = batch;
	buckets = nbuckets;
	walk_keys = keys;
	batch_calls = 0;
	return kmaps_entries(km, map);
}

/* A count reads whole buckets a batch at a time: a batch ends before a
 * bucket that does not fit, the next one starts there, and the last one
 * comes with "no such entry". */
static void test_count_across_batches(void **state)
{
	struct kmaps km = maps();

	(void)state;
	/* buckets 0 and 1 hold 2 keys, the others 1 */
	assert_int_equal(count_of(&km, KMAP_CONNECTING, 3, 8, 10), 10);
	assert_int_equal(batch_calls, 4); /* 2 (bucket 1 does not fit), 3, 3, 2 */
	assert_true(km.used[KMAP_CONNECTING][KMAP_LOOKUP]);
	assert_int_equal(count_of(&km, KMAP_CONNECTING, 3, 8, 0), 0);
	assert_int_equal(batch_calls, 1);
	assert_int_equal(failures(&km), 0);
}

/* A bucket with more entries than the batch holds is read whole with
 * buffers grown for it, none lost. */
static void test_count_bucket_over_batch(void **state)
{
	struct kmaps km = maps();

	(void)state;
	assert_int_equal(count_of(&km, KMAP_CONNS, 2, 2, 11), 11); /* buckets of 6 and 5 */
	assert_int_equal(batch_calls, 4);			   /* 2, 4: no room; 8: 6; 8: 5 */
	assert_int_equal(failures(&km), 0);
}

/* Any other end is a failed lookup; the count keeps the batches read
 * before it. */
static void test_count_fails(void **state)
{
	struct kmaps km = maps();

	(void)state;
	answer = -EFAULT;
	assert_int_equal(count_of(&km, KMAP_CONNECTING, 2, 8, 3), 2);
	assert_int_equal(km.failed[KMAP_CONNECTING][KMAP_LOOKUP], 1);
}

/* A count stops at the map's capacity (100), whatever the kernel
 * answers; a bucket bigger than the map cannot be, and is a failure. */
static void test_count_bounded(void **state)
{
	struct kmaps km = maps();

	(void)state;
	assert_int_equal(count_of(&km, KMAP_CONNS, 30, 1000, 1000), 100);
	assert_int_equal(batch_calls, 4);
	assert_int_equal(count_of(&km, KMAP_CONNS, 30, 1, 1000), 0);
	assert_int_equal(km.failed[KMAP_CONNS][KMAP_LOOKUP], 1);
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

/* An id is taken out of its gate line once, with the key it was counted
 * under, and only while the line is its own. A line that cannot be
 * mapped is a failure, counted. */
static void test_gate_line_take(void **state)
{
	struct kmaps km = maps();
	struct conn_key key = {.tgid = 4242, .fd = 5}, got = {0};
	uint64_t id = 9, other = 9 + GATE_LINES;

	(void)state;
	km.gate_lines = gate_lines;
	gate_lines[gate_line_index(id)] = (struct gate_line){.id = id, .key = key};
	assert_int_equal(kmaps_gate_line_take(&km, other, &got), -ENOENT);
	assert_int_equal(kmaps_gate_line_take(&km, id, &got), 0);
	assert_memory_equal(&got, &key, sizeof(key));
	assert_int_equal(gate_lines[gate_line_index(id)].id, GATE_LINE_FREE);
	assert_int_equal(kmaps_gate_line_take(&km, id, &got), -ENOENT);
	gate_lines[gate_line_index(other)].id = other;
	slots_unmappable = true;
	assert_int_equal(kmaps_gate_line_take(&km, other, &got), -ENOMEM);
	slots_unmappable = false;
	assert_int_equal(gate_lines[gate_line_index(other)].id, other);
	assert_int_equal(km.failed[KMAP_GATE_LINES][KMAP_UPDATE], 1);
	gate_lines[gate_line_index(other)].id = GATE_LINE_FREE;
}

/* Connections are counted in the gate up to gated_ids' size, which the
 * kernel counts against too; one refused leaves the count as it was. */
static void test_gate_held_bounded(void **state)
{
	uint64_t held[1] = {98};
	struct kmaps km = maps();

	(void)state;
	km.gate_held = held;
	assert_int_equal(kmaps_gate_held_take(&km), 0);
	assert_int_equal(held[0], 99);
	assert_int_equal(kmaps_gate_held_take(&km), 0);
	assert_int_equal(kmaps_gate_held_take(&km), -E2BIG);
	assert_int_equal(held[0], 100);
	kmaps_gate_held_drop(&km);
	assert_int_equal(kmaps_gate_held_take(&km), 0);
	assert_int_equal(held[0], 100);
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
	    cmocka_unit_test(test_count_across_batches),
	    cmocka_unit_test(test_count_bucket_over_batch),
	    cmocka_unit_test(test_count_fails),
	    cmocka_unit_test(test_count_bounded),
	    cmocka_unit_test(test_counters),
	    cmocka_unit_test(test_gate_add),
	    cmocka_unit_test(test_kline_release),
	    cmocka_unit_test(test_gate_line_take),
	    cmocka_unit_test(test_gate_held_bounded),
	    cmocka_unit_test(test_procs_mark),
	    cmocka_unit_test(test_gate_slots_spread),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
