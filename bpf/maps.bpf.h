/* SPDX-License-Identifier: GPL-2.0 OR MIT */
/*
 * Maps shared by conn_track.bpf.c and sock_io.bpf.c. Each object declares
 * them; the loader makes the second object reuse the first one's maps.
 */
#ifndef SSE_MAPS_BPF_H
#define SSE_MAPS_BPF_H

#include "conn_event.h"
#include "features.bpf.h"
#include "conn_store.bpf.h"

/* The owner of each tracked TCP socket, by its struct sock address, for
 * its state changes and for a process taking it over: in the socket's
 * line of sock_lines, claimed and freed by compare-and-swap as
 * gate_lines' are (an accept's hash update and a close's delete take a
 * bucket's lock each: ~10 % of a connection's BPF time, docs/design.md),
 * else in the
 * sock_owner hash, which conn_counts.sock_hashed counts so that a socket
 * with no line has no lookup while the hash is empty (every TCP socket
 * of the host asks at its close). The compat build (no compare-and-swap)
 * uses the hash alone. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(map_flags, BPF_F_MMAPABLE);
	__uint(max_entries, SOCK_LINES);
	__type(key, __u32);
	__type(value, struct sock_line);
} sock_lines SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, MAX_CONNS);
	__type(key, __u64);
	__type(value, struct conn_key);
} sock_owner SEC(".maps");

static __always_inline struct sock_line *sock_line_of(__u64 sk)
{
	__u32 i = sock_line_index(sk);

	return bpf_map_lookup_elem(&sock_lines, &i);
}

/* sk's owner in the hash: counted first, so that a lookup the count
 * skips finds nothing there; one put over an entry counts once. */
static __always_inline void sock_hash_put(struct conn_counts *c, __u64 sk,
					  const struct conn_key *key)
{
	bool fresh = !bpf_map_lookup_elem(&sock_owner, &sk);

	if (fresh)
		__sync_fetch_and_add(&c->sock_hashed, 1);
	if (bpf_map_update_elem(&sock_owner, &sk, key, BPF_ANY) && fresh)
		__sync_fetch_and_add(&c->sock_hashed, -1);
}

#if HAVE_ATOMIC_FETCH
/* Whether sk's owner is key from now on in its line: the line held sk
 * (a new owner, stored in one word), or was free and sk, unknown to the
 * hash, claimed it (the owner written before sk is published). */
static __always_inline bool sock_line_put(struct conn_counts *c, struct sock_line *l, __u64 sk,
					  const struct conn_key *key)
{
	if (l->sk == sk) {
		__sync_lock_test_and_set(&l->owner, conn_key_word(key));
		return true;
	}
	if ((c->sock_hashed && bpf_map_lookup_elem(&sock_owner, &sk)) ||
	    __sync_val_compare_and_swap(&l->sk, SOCK_LINE_FREE, SOCK_LINE_BUSY) != SOCK_LINE_FREE)
		return false;
	l->owner = conn_key_word(key);
	__sync_lock_test_and_set(&l->sk, sk);
	__sync_fetch_and_add(&c->sock_lines, 1);
	return true;
}

/* Whether sk's line held it, and this caller freed it. */
static __always_inline bool sock_line_drop(struct conn_counts *c, struct sock_line *l, __u64 sk)
{
	if (l->sk != sk || __sync_val_compare_and_swap(&l->sk, sk, SOCK_LINE_FREE) != sk)
		return false;
	__sync_fetch_and_add(&c->sock_lines, -1);
	return true;
}
#else
static __always_inline bool sock_line_put(struct conn_counts *c, struct sock_line *l, __u64 sk,
					  const struct conn_key *key)
{
	return false;
}

static __always_inline bool sock_line_drop(struct conn_counts *c, struct sock_line *l, __u64 sk)
{
	return false;
}
#endif

/* sk's owner is key from now on. */
static __always_inline void sock_owner_put(__u64 sk, const struct conn_key *key)
{
	struct sock_line *l = sock_line_of(sk);
	struct conn_counts *c = conn_counts_of();

	if (!l || !c || sock_line_put(c, l, sk, key))
		return;
	sock_hash_put(c, sk, key);
}

/* Whether sk has an owner, into *key. The line's sk read again after its
 * owner: a line freed and claimed by another socket in between is not
 * taken for sk's. */
static __always_inline bool sock_owner_get(__u64 sk, struct conn_key *key)
{
	struct sock_line *l = sock_line_of(sk);
	struct conn_counts *c = conn_counts_of();
	struct conn_key *hashed;
	__u64 owner;

	if (!l || !c)
		return false;
	if (l->sk == sk) {
		owner = l->owner;
		barrier();
		if (l->sk == sk) {
			*key = conn_key_of_word(owner);
			return true;
		}
	}
	hashed = c->sock_hashed ? bpf_map_lookup_elem(&sock_owner, &sk) : NULL;
	if (hashed)
		*key = *hashed;
	return hashed != NULL;
}

/* sk has no owner any more. */
static __always_inline void sock_owner_drop(__u64 sk)
{
	struct sock_line *l = sock_line_of(sk);
	struct conn_counts *c = conn_counts_of();

	if (!l || !c || sock_line_drop(c, l, sk))
		return;
	if (c->sock_hashed && !bpf_map_delete_elem(&sock_owner, &sk))
		__sync_fetch_and_add(&c->sock_hashed, -1);
}

/* A map called NAME of one bit per tgid, with FLAGS (BPF_F_MMAPABLE: user
 * space maps it): bit_test(), bit_set() and bit_clear() below. */
#define PID_BITMAP(name, flags)                                                                    \
	struct {                                                                                   \
		__uint(type, BPF_MAP_TYPE_ARRAY);                                                  \
		__uint(map_flags, flags);                                                          \
		__uint(max_entries, PID_BITMAP_WORDS);                                             \
		__type(key, __u32);                                                                \
		__type(value, __u64);                                                              \
	} name SEC(".maps");

/* tgid -> number of tracked connections: exit events only for these */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, MAX_CONNS);
	__type(key, __u32);
	__type(value, __u64);
} tracked_procs SEC(".maps");

/* One bit per tgid: the process owns tracked connections. An array lookup
 * is inlined by the verifier, so the TLS library hooks of the many
 * processes that own none leave after a few instructions, before any
 * hash lookup. A stale bit only costs that lookup; a missing one hides
 * the process's TLS plaintext. Mapped by user space, which sets bits of
 * adopted connections' processes with atomic ors, as the kernel does: a
 * read-modify-write through bpf(2) could drop a bit the kernel set
 * meanwhile. */
PID_BITMAP(procs_with_conns, BPF_F_MMAPABLE)

static __always_inline __u64 *bitmap_word(void *map, __u32 id)
{
	__u32 word = id / 64;

	return bpf_map_lookup_elem(map, &word);
}

static __always_inline bool bit_test(void *map, __u32 id)
{
	__u64 *w = bitmap_word(map, id);

	return w && (*w & (1ull << (id % 64)));
}

#if HAVE_ATOMIC_FETCH
static __always_inline void bit_set(void *map, __u32 id)
{
	__u64 *w = bitmap_word(map, id);

	if (w && !(*w & (1ull << (id % 64))))
		__sync_fetch_and_or(w, 1ull << (id % 64));
}

static __always_inline void bit_clear(void *map, __u32 id)
{
	__u64 *w = bitmap_word(map, id);

	if (w && (*w & (1ull << (id % 64))))
		__sync_fetch_and_and(w, ~(1ull << (id % 64)));
}
#endif

/* Whether the process owns tracked connections: its bit, or without
 * atomic or and and (compat build) its tracked_procs entry, a hash lookup
 * at every library call of every process. */
static __always_inline bool proc_has_conns(__u32 tgid)
{
#if HAVE_ATOMIC_FETCH
	return bit_test(&procs_with_conns, tgid);
#else
	return bpf_map_lookup_elem(&tracked_procs, &tgid);
#endif
}

static __always_inline void proc_mark(__u32 tgid, bool owns)
{
#if HAVE_ATOMIC_FETCH
	if (owns)
		bit_set(&procs_with_conns, tgid);
	else
		bit_clear(&procs_with_conns, tgid);
#endif
}

/* One bit per tgid: the process has had an upstream call, a client
 * connection found to carry HTTP or TLS, until it exits. The first writes
 * of a stream the kernel counts are copied for correlation
 * (user/llm/correlate.c), which matches a stream's events with those its
 * own process read from upstream calls: a process that never made one,
 * an inference server, has nothing to match them with. A stale bit only
 * costs those copies; a missing one, a relayed stream's provider found by
 * its content. Mapped by user space, which sets the bits of adopted
 * upstream connections' processes. */
PID_BITMAP(upstream_procs, BPF_F_MMAPABLE)

static __always_inline void upstream_mark(__u32 tgid)
{
#if HAVE_ATOMIC_FETCH
	bit_set(&upstream_procs, tgid);
#endif
}

/* Marks info's process when info turns out to be an upstream call. */
static __always_inline void upstream_note(__u32 tgid, const struct conn_info *info)
{
	if (info->role == ROLE_CLIENT && (info->proto == PROTO_HTTP || info->proto == PROTO_TLS))
		upstream_mark(tgid);
}

static __always_inline void upstream_clear(__u32 tgid)
{
#if HAVE_ATOMIC_FETCH
	bit_clear(&upstream_procs, tgid);
#endif
}

/* Whether the process may have read events to relay from an upstream
 * call; without atomic or (compat build), always. */
static __always_inline bool proc_has_upstream(__u32 tgid)
{
#if HAVE_ATOMIC_FETCH
	return bit_test(&upstream_procs, tgid);
#else
	return true;
#endif
}

/* A per-CPU area of one value_type called NAME, and NAME_area() that
 * finds it. */
#define PERCPU_AREA(value_type, name)                                                              \
	struct {                                                                                   \
		__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);                                           \
		__uint(max_entries, 1);                                                            \
		__type(key, __u32);                                                                \
		__type(value, value_type);                                                         \
	} name SEC(".maps");                                                                       \
                                                                                                   \
	static __always_inline value_type *name##_area(void)                                       \
	{                                                                                          \
		__u32 zero = 0;                                                                    \
                                                                                                   \
		return bpf_map_lookup_elem(&name, &zero);                                          \
	}

/* A map of one __u64 called NAME, shared by all CPUs (changed by atomic
 * adds), with FLAGS (BPF_F_MMAPABLE: user space maps it), and NAME_cell()
 * that finds it. */
#define COUNT_CELL(name, flags)                                                                    \
	struct {                                                                                   \
		__uint(type, BPF_MAP_TYPE_ARRAY);                                                  \
		__uint(map_flags, flags);                                                          \
		__uint(max_entries, 1);                                                            \
		__type(key, __u32);                                                                \
		__type(value, __u64);                                                              \
	} name SEC(".maps");                                                                       \
                                                                                                   \
	static __always_inline __u64 *name##_cell(void)                                            \
	{                                                                                          \
		__u32 zero = 0;                                                                    \
                                                                                                   \
		return bpf_map_lookup_elem(&name, &zero);                                          \
	}

static __always_inline void proc_conns_add(__u32 tgid, __s64 delta)
{
	__u64 one = 1, *n = bpf_map_lookup_elem(&tracked_procs, &tgid);

	if (n)
		__sync_fetch_and_add(n, delta);
	else if (delta > 0)
		bpf_map_update_elem(&tracked_procs, &tgid, &one, BPF_NOEXIST);
}

/* struct sock address -> a tracked connection whose owner closed its fd
 * while the socket lived on in another one: a process forked with it, one
 * it was passed to (SCM_RIGHTS), a dup. Whoever uses it next owns it
 * (handoff.bpf.h). */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, MAX_CONNS);
	__type(key, __u64);
	__type(value, struct conn_info);
} detached SEC(".maps");

/* Heirs: processes forked by one with tracked connections, which hold
 * their sockets too. Their calls on fds that are not tracked look for the
 * socket's connection (handoff.bpf.h). */
#if HAVE_ATOMIC_FETCH
PID_BITMAP(heirs, 0)

static __always_inline bool heir_test(__u32 tgid)
{
	return bit_test(&heirs, tgid);
}

static __always_inline void heir_mark(__u32 tgid)
{
	bit_set(&heirs, tgid);
}

static __always_inline void heir_clear(__u32 tgid)
{
	bit_clear(&heirs, tgid);
}
#else
/* Without atomic or and and, forks on two CPUs could each drop the
 * other's bit of a word: heirs are entries of a hash, looked up only
 * while there are any (heir_count[0], changed by plain atomic adds). A
 * process forked while it is full is no heir: its calls take a
 * connection over only once its parent closed its fd (detached). */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, MAX_CONNS);
	__type(key, __u32);
	__type(value, __u8);
} heirs SEC(".maps");

COUNT_CELL(heir_count, 0)

static __always_inline bool heir_test(__u32 tgid)
{
	__u64 *n = heir_count_cell();

	return n && *n && bpf_map_lookup_elem(&heirs, &tgid);
}

static __always_inline void heir_mark(__u32 tgid)
{
	__u64 *n = heir_count_cell();
	__u8 one = 1;

	if (n && !bpf_map_update_elem(&heirs, &tgid, &one, BPF_NOEXIST))
		__sync_fetch_and_add(n, 1);
}

static __always_inline void heir_clear(__u32 tgid)
{
	__u64 *n = heir_count_cell();

	if (n && *n && !bpf_map_delete_elem(&heirs, &tgid))
		__sync_fetch_and_add(n, -1);
}
#endif

/* [0]: entries in detached. While there are any, every call on an fd
 * that is not tracked looks for its socket's connection: any process may
 * hold the socket. Mapped by user space, which expires entries nobody
 * takes. */
COUNT_CELL(handoffs, BPF_F_MMAPABLE)

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, CNT_MAX);
	__type(key, __u32);
	__type(value, __u64);
} counters SEC(".maps");

static __always_inline void count(__u32 idx, __u64 n)
{
	__u64 *v = bpf_map_lookup_elem(&counters, &idx);

	if (v)
		*v += n;
}

static __always_inline struct conn_key current_key(int fd)
{
	struct conn_key key = {
	    .tgid = bpf_get_current_pid_tgid() >> 32,
	    .fd = fd,
	};
	return key;
}

#endif
