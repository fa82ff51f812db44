// SPDX-License-Identifier: MIT
/* The merge of the per-CPU rings, on rings laid out in memory as the
 * kernel lays them out: records handed over in the order of their
 * numbers, a number whose record is being written waited for, one never
 * committed passed, every record's room given back. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>
#include <linux/bpf.h>

#include "conn_event.h"
#include "kernel/event_rings.h"

#define RING_BYTES 4096
#define RINGS	   3

struct fake_ring {
	unsigned long consumer, producer;
	uint8_t data[2 * RING_BYTES] __attribute__((aligned(8)));
};

static struct fake_ring fake[RINGS];
static struct event_ring views[RINGS];
static struct event_rings rings;

/* what the handler was given, by number */
static uint64_t handed[256];
static int nhanded;

static int record(void *ctx, void *data, size_t size)
{
	const struct event_hdr *h = data;

	(void)ctx;
	assert_int_equal(size, sizeof(*h));
	handed[nhanded++] = h->seq;
	return 0;
}

static void setup_rings(unsigned n, bool numbered)
{
	memset(fake, 0, sizeof(fake));
	memset(views, 0, sizeof(views));
	for (unsigned i = 0; i < n; i++)
		views[i] = (struct event_ring){
		    .consumer = &fake[i].consumer,
		    .producer = &fake[i].producer,
		    .data = fake[i].data,
		    .mask = RING_BYTES - 1,
		};
	rings = (struct event_rings){.ring = views, .n = n, .numbered = numbered};
	nhanded = 0;
}

/* Writes a record at ring i's producer position, as bpf_ringbuf_reserve
 * and submit leave it (the data mapped twice: its copy past the end);
 * returns where it starts. */
static uint64_t put(unsigned i, uint64_t seq, uint32_t flags)
{
	struct fake_ring *f = &fake[i];
	struct event_hdr h = {.type = 1, .seq = seq};
	uint8_t rec[BPF_RINGBUF_HDR_SZ + sizeof(h)];
	uint32_t len = sizeof(h) | flags;
	uint64_t at = f->producer;

	memset(rec, 0, sizeof(rec));
	memcpy(rec, &len, sizeof(len));
	memcpy(rec + BPF_RINGBUF_HDR_SZ, &h, sizeof(h));
	for (size_t b = 0; b < sizeof(rec); b++) {
		size_t off = (at + b) % RING_BYTES;

		f->data[off] = f->data[off + RING_BYTES] = rec[b];
	}
	f->producer += (sizeof(rec) + 7) / 8 * 8;
	return at;
}

static void commit(unsigned i, uint64_t at)
{
	uint32_t len = sizeof(struct event_hdr);
	size_t off = at % RING_BYTES;

	memcpy(&fake[i].data[off], &len, sizeof(len));
	memcpy(&fake[i].data[off + RING_BYTES], &len, sizeof(len));
}

static void assert_handed(const uint64_t *want, int n)
{
	assert_int_equal(nhanded, n);
	for (int k = 0; k < n; k++)
		assert_int_equal(handed[k], want[k]);
}

static void assert_all_given_back(unsigned n)
{
	for (unsigned i = 0; i < n; i++)
		assert_int_equal(fake[i].consumer, fake[i].producer);
}

static void test_merged_by_number(void **state)
{
	static const uint64_t want[] = {0, 1, 2, 3, 4, 5, 6};
	bool waiting;

	(void)state;
	setup_rings(RINGS, true);
	put(0, 0, 0), put(0, 2, 0), put(0, 5, 0);
	put(1, 1, 0), put(1, 3, 0), put(1, 4, 0);
	put(2, 6, 0);
	assert_int_equal(event_rings_consume(&rings, record, NULL, &waiting), 7);
	assert_false(waiting);
	assert_handed(want, 7);
	assert_all_given_back(RINGS);
}

/* Number 1 is reserved in ring 0 and not committed: 2 waits for it. */
static void test_waits_for_record_being_written(void **state)
{
	static const uint64_t want[] = {0, 1, 2, 3};
	uint64_t at;
	bool waiting;

	(void)state;
	setup_rings(2, true);
	put(0, 0, 0);
	at = put(0, 1, BPF_RINGBUF_BUSY_BIT);
	put(1, 2, 0), put(1, 3, 0);
	assert_int_equal(event_rings_consume(&rings, record, NULL, &waiting), 1);
	assert_true(waiting);
	assert_int_equal(fake[1].consumer, 0); /* 2 and 3 still in their ring */
	commit(0, at);
	assert_int_equal(event_rings_consume(&rings, record, NULL, &waiting), 3);
	assert_false(waiting);
	assert_handed(want, 4);
	assert_all_given_back(2);
}

/* A record being written with nothing behind it holds nothing back: it
 * is read at the next poll, which need not come sooner. */
static void test_busy_tail_not_waited_for(void **state)
{
	static const uint64_t want[] = {0};
	bool waiting;

	(void)state;
	setup_rings(2, true);
	put(0, 0, 0), put(0, 1, BPF_RINGBUF_BUSY_BIT);
	assert_int_equal(event_rings_consume(&rings, record, NULL, &waiting), 1);
	assert_false(waiting);
	assert_handed(want, 1);
}

/* Number 1 was discarded after it was taken: nothing will come with it. */
static void test_passes_number_never_committed(void **state)
{
	static const uint64_t want[] = {0, 2, 3};
	bool waiting;

	(void)state;
	setup_rings(2, true);
	put(0, 0, 0), put(0, 1, BPF_RINGBUF_DISCARD_BIT), put(0, 3, 0);
	put(1, 2, 0);
	assert_int_equal(event_rings_consume(&rings, record, NULL, &waiting), 3);
	assert_false(waiting);
	assert_handed(want, 3);
	assert_all_given_back(2);
}

/* One ring, not numbered: its own order; records across its end read
 * whole. */
static void test_one_ring_in_its_order(void **state)
{
	uint64_t want[200];
	bool waiting;
	int n = 0;

	(void)state;
	setup_rings(1, false);
	for (int round = 0; round < 4; round++) {
		for (int k = 0; k < 50; k++, n++) {
			want[n] = 1000 - (uint64_t)n; /* numbers play no part */
			put(0, want[n], 0);
		}
		assert_int_equal(event_rings_consume(&rings, record, NULL, &waiting), 50);
	}
	assert_true(fake[0].producer > RING_BYTES); /* it wrapped */
	assert_handed(want, n);
	assert_all_given_back(1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_merged_by_number),
	    cmocka_unit_test(test_waits_for_record_being_written),
	    cmocka_unit_test(test_busy_tail_not_waited_for),
	    cmocka_unit_test(test_passes_number_never_committed),
	    cmocka_unit_test(test_one_ring_in_its_order),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
