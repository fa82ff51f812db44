/* SPDX-License-Identifier: GPL-2.0 OR MIT */
/*
 * Where the kernel keeps its connections, and the gate in front of them.
 *
 * conn_slots is direct-mapped by conn_gate_slot(): a slot's line holds
 * the gate's count for its keys and the connection of the first key to
 * claim it. A read or write finds its connection in the one line the
 * gate's load brought in, where a hash lookup would touch a bucket and an
 * element besides (each a page this VM's TLB lost at the syscall: ~80 ns
 * per tracked call, docs/design.md). Keys whose slot is taken live in
 * the conns hash, which the line counts (hashed): while it counts none, a
 * key that does not own the line has no connection, with no lookup (every
 * close() of the host asks). The compat build cannot claim a slot (no
 * compare-and-swap before 5.12) and keeps every connection in the hash;
 * user space adopts into the hash too, and reads, changes and releases
 * both (user/kernel/kconns.c).
 */
#ifndef SSE_CONN_STORE_BPF_H
#define SSE_CONN_STORE_BPF_H

#include "conn_event.h"
#include "features.bpf.h"

/* The connections whose slot another one holds. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, MAX_CONNS);
	__type(key, struct conn_key);
	__type(value, struct conn_info);
} conns SEC(".maps");

/* The gate in front of every read and write: by conn_gate_slot(), how
 * many connections whose bytes are or may be needed (proto UNKNOWN, HTTP,
 * ADOPT, TLS, RESP) are there. A call on a slot at zero needs no lookup:
 * the calls of processes without tracked connections, and those on a
 * gateway's database sockets, stop at this inlined load. A counter too
 * high only costs the lookup; one too low would hide a connection's
 * bytes, so connections are counted before their entries are made and
 * uncounted exactly once (gated_ids). Mapped by user space, which adds
 * atomically too and takes the owner word by compare-and-swap. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(map_flags, BPF_F_MMAPABLE);
	__uint(max_entries, CONN_GATE_SLOTS);
	__type(key, __u32);
	__type(value, struct conn_slot);
} conn_slots SEC(".maps");

/* Counts of the connections (include/conn_event.h), changed by atomic
 * adds on both sides: one value, so that an accept or a close finds both
 * in one line. Mapped by user space. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(map_flags, BPF_F_MMAPABLE);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct conn_counts);
} conn_counts SEC(".maps");

static __always_inline struct conn_counts *conn_counts_of(void)
{
	__u32 zero = 0;

	return bpf_map_lookup_elem(&conn_counts, &zero);
}

static __always_inline void slots_owned_add(__s64 delta)
{
	struct conn_counts *counts = conn_counts_of();

	if (counts)
		__sync_fetch_and_add(&counts->slots_owned, delta);
}

/* The connections counted in the gate, with the key each was counted
 * under: in its line of gate_lines (by id, include/conn_event.h), else in
 * the gated_ids hash. Taking an id out of either is the right to uncount
 * it: the kernel (close, a connection found PROTO_OTHER) and user space
 * (a connection it ends) race for it, and one of them wins. A line is
 * claimed and freed by compare-and-swap, where the hash's update and
 * delete each take its bucket's lock (an accept's insert was ~550 ns in
 * the nested VM, docs/design.md). Mapped by user space,
 * which frees lines the same way and adopts into the hash. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(map_flags, BPF_F_MMAPABLE);
	__uint(max_entries, GATE_LINES);
	__type(key, __u32);
	__type(value, struct gate_line);
} gate_lines SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, MAX_CONNS);
	__type(key, __u64);
	__type(value, struct conn_key);
} gated_ids SEC(".maps");

/* --bpf.max-connections, the loader's: connections counted in the gate at
 * once (conn_counts.gate_held), which the lines alone would not bound */
const volatile __u64 gate_max = MAX_CONNS;

static __always_inline struct conn_slot *conn_slot_of(const struct conn_key *key)
{
	__u32 slot = conn_gate_slot(key);

	return bpf_map_lookup_elem(&conn_slots, &slot);
}

/* The connection in a slot already looked up, or in the hash. */
static __always_inline struct conn_info *conn_in(struct conn_slot *s, const struct conn_key *key)
{
	if (s->owner == conn_key_word(key))
		return &s->info;
	return s->hashed ? bpf_map_lookup_elem(&conns, key) : NULL;
}

/* An entry in the hash, counted in its slot's line first: never an entry
 * that `hashed` hides. One made over an entry that was there already
 * leaves the count one too high, which only brings back the lookup. */
static __always_inline long conn_hash_put(struct conn_slot *s, const struct conn_key *key,
					  const struct conn_info *info, __u64 flags)
{
	long err;

	__sync_fetch_and_add(&s->hashed, 1);
	err = bpf_map_update_elem(&conns, key, info, flags);
	if (err)
		__sync_fetch_and_add(&s->hashed, -1);
	return err;
}

static __always_inline struct conn_info *conn_find(const struct conn_key *key)
{
	struct conn_slot *s = conn_slot_of(key);

	return s ? conn_in(s, key) : NULL;
}

/* The connection of a read or write, when its slot's gate is open. */
static __always_inline struct conn_info *conn_find_gated(const struct conn_key *key)
{
	struct conn_slot *s = conn_slot_of(key);

	return s && s->gate ? conn_in(s, key) : NULL;
}

/* Makes key's entry info in s, its slot, when that is free, else in the
 * hash (flags: bpf_map_update_elem's). 0, or non-zero when it could not. */
static __always_inline long conn_insert(struct conn_slot *s, const struct conn_key *key,
					const struct conn_info *info, __u64 flags)
{
#if HAVE_ATOMIC_FETCH
	/* claimed busy while its connection is written, then published: a
	 * reader never matches a half-written line */
	if (__sync_val_compare_and_swap(&s->owner, CONN_SLOT_FREE, CONN_SLOT_BUSY) ==
	    CONN_SLOT_FREE) {
		s->info = *info;
		__sync_lock_test_and_set(&s->owner, conn_key_word(key));
		slots_owned_add(1);
		return 0;
	}
#endif
	return conn_hash_put(s, key, info, flags);
}

/* Makes key's entry info, unless key has one. 0, or non-zero when it could not. */
static __always_inline long conn_add(const struct conn_key *key, const struct conn_info *info)
{
	struct conn_slot *s = conn_slot_of(key);

	if (!s || conn_in(s, key))
		return -1;
	return conn_insert(s, key, info, BPF_NOEXIST);
}

/* Makes key's entry info, over the one key has if any, whose id goes to
 * *stale (0: none), found in the same look as the slot's. 0, or non-zero
 * when it could not. */
static __always_inline long conn_replace(const struct conn_key *key, const struct conn_info *info,
					 __u64 *stale)
{
	struct conn_slot *s = conn_slot_of(key);
	struct conn_info *old;

	*stale = 0;
	if (!s)
		return -1;
	old = conn_in(s, key);
	if (!old)
		return conn_insert(s, key, info, BPF_ANY);
	*stale = old->id;
	*old = *info;
	return 0;
}

/* Deletes key's entry: 0 for the one caller that did. */
static __always_inline long conn_drop(const struct conn_key *key)
{
	struct conn_slot *s = conn_slot_of(key);

	if (!s)
		return -1;
#if HAVE_ATOMIC_FETCH
	__u64 word = conn_key_word(key);

	if (s->owner == word) {
		if (__sync_val_compare_and_swap(&s->owner, word, CONN_SLOT_FREE) != word)
			return -1;
		slots_owned_add(-1);
		return 0;
	}
#endif
	if (bpf_map_delete_elem(&conns, key))
		return -1;
	__sync_fetch_and_add(&s->hashed, -1);
	return 0;
}

static __always_inline __u32 *gate_counter(const struct conn_key *key)
{
	struct conn_slot *s = conn_slot_of(key);

	return s ? &s->gate : NULL;
}

#if HAVE_ATOMIC_FETCH
static __always_inline struct gate_line *gate_line_of(__u64 id)
{
	__u32 i = gate_line_index(id);

	return bpf_map_lookup_elem(&gate_lines, &i);
}

/* Whether id's line was free and now holds it, key written before id is
 * published: a reader that finds id finds its key. */
static __always_inline bool gate_line_take(const struct conn_key *key, __u64 id)
{
	struct gate_line *g = gate_line_of(id);

	if (!g ||
	    __sync_val_compare_and_swap(&g->id, GATE_LINE_FREE, GATE_LINE_BUSY) != GATE_LINE_FREE)
		return false;
	g->key = *key;
	__sync_lock_test_and_set(&g->id, id);
	return true;
}

/* Whether id was in its line, and this caller took it out. */
static __always_inline bool gate_line_release(__u64 id)
{
	struct gate_line *g = gate_line_of(id);

	return g && g->id == id && __sync_val_compare_and_swap(&g->id, id, GATE_LINE_FREE) == id;
}
#else
/* The compat build has no compare-and-swap: the hash alone. */
static __always_inline bool gate_line_take(const struct conn_key *key, __u64 id)
{
	return false;
}

static __always_inline bool gate_line_release(__u64 id)
{
	return false;
}
#endif

static __always_inline __u64 *gate_held_cell(void)
{
	struct conn_counts *counts = conn_counts_of();

	return counts ? &counts->gate_held : NULL;
}

/* Whether one connection more may be counted in the gate; counted if so.
 * The compat build adds without reading the sum (no fetch-and-add before
 * 5.12): its connections all go to gated_ids, whose size bounds them. */
static __always_inline bool gate_held_take(void)
{
	__u64 *held = gate_held_cell();

	if (!held)
		return false;
#if HAVE_ATOMIC_FETCH
	if (__sync_fetch_and_add(held, 1) < gate_max)
		return true;
	__sync_fetch_and_add(held, -1);
	return false;
#else
	__sync_fetch_and_add(held, 1);
	return true;
#endif
}

static __always_inline void gate_held_drop(void)
{
	__u64 *held = gate_held_cell();

	if (held)
		__sync_fetch_and_add(held, -1);
}

static __always_inline void gate_release(const struct conn_key *key, __u64 id)
{
	__u32 *n = gate_counter(key);

	if (n && (gate_line_release(id) || !bpf_map_delete_elem(&gated_ids, &id))) {
		__sync_fetch_and_add(n, -1);
		gate_held_drop();
	}
}

/* Counts a new connection in the gate, before its entry is made: never
 * an entry whose bytes its gate hides. */
static __always_inline bool gate_take(const struct conn_key *key, __u64 id)
{
	__u32 *n = gate_counter(key);

	if (!n || !gate_held_take())
		return false;
	__sync_fetch_and_add(n, 1);
	if (gate_line_take(key, id) || !bpf_map_update_elem(&gated_ids, &id, key, BPF_NOEXIST))
		return true;
	__sync_fetch_and_add(n, -1);
	gate_held_drop();
	return false;
}

#endif
