/* SPDX-License-Identifier: GPL-2.0 OR MIT */
/*
 * The rings that carry records to user space: one per CPU, so that CPUs
 * recording at once do not take turns at one ring's lock and bounce its
 * positions between their caches (a record cost ~2.7x as much with two
 * CPUs writing to one ring as to their own, docs/design.md). User space
 * merges the rings back into one order by a sequence number each record
 * takes once its room is reserved: a number missing from the merge then
 * belongs to a record still being written, which user space waits for.
 * The compat build, and a kernel without ring buffer dynptrs (5.19),
 * which the variable-size records need to be reserved first, have one
 * ring and no numbers.
 */
#ifndef SSE_RING_BPF_H
#define SSE_RING_BPF_H

#include "maps.bpf.h"

struct events_ring {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, EVENTS_RING_BYTES); /* the loader sets each ring's */
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY_OF_MAPS);
	__uint(max_entries, 1); /* the loader's: a ring per possible CPU, or one */
	__type(key, __u32);
	__array(values, struct events_ring);
} events SEC(".maps");

/* set by the loader: rings per CPU, whose records take sequence numbers */
const volatile bool ring_per_cpu = false;

/* a sixteenth of a ring; the loader sets it from the rings' size */
const volatile __u64 ring_wakeup_bytes = EVENTS_WAKEUP_BYTES;

/* the next record's sequence number */
COUNT_CELL(record_seq, 0)

static __always_inline void *ring_here(void)
{
	__u32 i = ring_per_cpu ? bpf_get_smp_processor_id() : 0;

	return bpf_map_lookup_elem(&events, &i);
}

/* Records become visible on the next timer poll of user space, unless
 * enough are waiting to be worth a wakeup: no wakeup per event. */
static __always_inline __u64 ring_flags(void *ring)
{
	if (bpf_ringbuf_query(ring, BPF_RB_AVAIL_DATA) >= ring_wakeup_bytes)
		return BPF_RB_FORCE_WAKEUP;
	return BPF_RB_NO_WAKEUP;
}

/* Numbers a record whose room is reserved: taken after the reservation,
 * so that a number user space has not seen yet is a record in its ring,
 * reserved and not yet committed. */
static __always_inline void record_number(struct event_hdr *h)
{
	h->seq = 0;
#if HAVE_ATOMIC_FETCH
	__u64 *next = record_seq_cell();

	if (ring_per_cpu && next)
		h->seq = __sync_fetch_and_add(next, 1);
#endif
}

/* Sends a record reserved in ring, numbered first. */
static __always_inline void record_submit(void *ring, struct event_hdr *h)
{
	record_number(h);
	bpf_ringbuf_submit(h, ring_flags(ring));
}

#if HAVE_ATOMIC_FETCH
/* rec of size bytes, reserved before it is numbered and copied (a dynptr
 * reserves a size known only at run time). */
static __always_inline bool emit_numbered(void *ring, void *rec, __u64 size)
{
	struct bpf_dynptr p;
	bool sent = false;

	if (!bpf_ringbuf_reserve_dynptr(ring, size, 0, &p)) {
		record_number(rec);
		sent = !bpf_dynptr_write(&p, 0, rec, size, 0);
	}
	if (sent)
		bpf_ringbuf_submit_dynptr(&p, ring_flags(ring));
	else
		bpf_ringbuf_discard_dynptr(&p, BPF_RB_NO_WAKEUP);
	return sent;
}
#endif

static __always_inline bool emit_to(void *ring, void *rec, __u64 size)
{
#if HAVE_ATOMIC_FETCH
	if (ring_per_cpu)
		return emit_numbered(ring, rec, size);
#endif
	((struct event_hdr *)rec)->seq = 0;
	return !bpf_ringbuf_output(ring, rec, size, ring_flags(ring));
}

/* Whether the record went out; a full ring drops it, counted. */
static __always_inline bool emit(void *rec, __u64 size)
{
	void *ring = ring_here();

	if (ring && emit_to(ring, rec, size))
		return true;
	count(CNT_EVENTS_LOST, 1);
	return false;
}

#endif
