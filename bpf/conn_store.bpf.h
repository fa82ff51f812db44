/* SPDX-License-Identifier: GPL-2.0 OR MIT */
/*
 * Where the kernel keeps its connections, and the gate in front of them.
 */
#ifndef SSE_CONN_STORE_BPF_H
#define SSE_CONN_STORE_BPF_H

#include "conn_event.h"
#include "features.bpf.h"

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, MAX_CONNS);
	__type(key, struct conn_key);
	__type(value, struct conn_info);
} conns SEC(".maps");

/* The gate in front of the conns lookup of every read and write: by
 * conn_gate_slot(), how many connections whose bytes are or may be needed
 * (proto UNKNOWN, HTTP, ADOPT, TLS, RESP) are there. A call on a slot at
 * zero needs no lookup: the calls of processes without tracked
 * connections, and those on a gateway's database sockets, stop at this
 * inlined load. A counter too high only costs the lookup; one too low
 * would hide a connection's bytes, so connections are counted before
 * their entries are made and uncounted exactly once (gated_ids). Mapped
 * by user space, which adds atomically too; 64-bit counters, since an
 * array's elements are 8-byte aligned in the mapping. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(map_flags, BPF_F_MMAPABLE);
	__uint(max_entries, CONN_GATE_SLOTS);
	__type(key, __u32);
	__type(value, __u64);
} conn_gate SEC(".maps");

/* conn id -> key: the connections counted in conn_gate. Deleting an id
 * is the right to uncount it: the kernel (close, a connection found
 * PROTO_OTHER) and user space (a connection it ends) race for it, and a
 * delete succeeds once. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, MAX_CONNS);
	__type(key, __u64);
	__type(value, struct conn_key);
} gated_ids SEC(".maps");

static __always_inline __u64 *gate_counter(const struct conn_key *key)
{
	__u32 slot = conn_gate_slot(key);

	return bpf_map_lookup_elem(&conn_gate, &slot);
}

static __always_inline bool gate_open(const struct conn_key *key)
{
	__u64 *n = gate_counter(key);

	return n && *n;
}

static __always_inline void gate_release(const struct conn_key *key, __u64 id)
{
	__u64 *n = gate_counter(key);

	if (n && !bpf_map_delete_elem(&gated_ids, &id))
		__sync_fetch_and_add(n, -1);
}

/* Counts a new connection in conn_gate, before its entry is made: never
 * an entry whose bytes its gate hides. */
static __always_inline bool gate_take(const struct conn_key *key, __u64 id)
{
	__u64 *n = gate_counter(key);

	if (!n)
		return false;
	__sync_fetch_and_add(n, 1);
	if (!bpf_map_update_elem(&gated_ids, &id, key, BPF_NOEXIST))
		return true;
	__sync_fetch_and_add(n, -1);
	return false;
}

#endif
