/* SPDX-License-Identifier: MIT */
/*
 * The kernel maps user space reads and writes. Every access goes through
 * here: the loader plugs in the kernel's maps (struct kmaps_ops over
 * bpf(2)), a unit test maps of its own, so that the code deciding what to
 * write needs no kernel. A failure is counted by map and operation
 * (sse_exporter_map_errors_total) and logged the first time; "no such
 * entry" and "already there" are answers, not failures. Pure: the ops do
 * the I/O.
 */
#ifndef SSE_KMAPS_H
#define SSE_KMAPS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "conn_event.h"
#include "kstream.h"

enum kmap {
	KMAP_CONNS,	    /* conn_key -> conn_info */
	KMAP_SOCK_OWNER,    /* struct sock address -> conn_key, when not in a line */
	KMAP_TRACKED_PROCS, /* tgid -> connections seen */
	KMAP_PROCS,	    /* procs_with_conns: bitmap words of tgids */
	KMAP_GATED_IDS,	    /* conn id -> conn_key: counted in the gate, not in a line */
	KMAP_ALLOWED_TGIDS, /* selection: tgid -> 1 */
	KMAP_ALLOWED_PORTS, /* selection: local port -> 1 */
	KMAP_CONNECTING,    /* connect() under way: the compat build's */
	KMAP_COUNTERS,	    /* per-CPU counters, enum counter_idx */
	KMAP_KSTREAMS,	    /* connection id -> stream counted in the kernel */
	KMAP_DETACHED,	    /* struct sock address -> conn_info: between owners */
	KMAP_CONN_SLOTS,    /* gate slot -> struct conn_slot (user/kernel/kconns.h) */
	KMAP_KLINES,	 /* kline_index() -> stream counted in the kernel (user/kernel/klines.h) */
	KMAP_GATE_LINES, /* gate_line_index() -> connection counted in the gate, its key */
	KMAP_SOCK_LINES, /* sock_line_index() -> struct sock address and its owner */
	KMAP_COUNT,
};

enum kmap_op {
	KMAP_LOOKUP, /* walks too */
	KMAP_UPDATE,
	KMAP_DELETE,
	KMAP_OPS,
};

extern const char *const kmap_op_names[KMAP_OPS];

/* How an update treats an existing entry: BPF_ANY, BPF_NOEXIST, BPF_EXIST. */
enum kmap_flag {
	KMAP_ANY,
	KMAP_NOEXIST,
	KMAP_EXIST,
};

struct kmaps;

/* 0 or -errno, as bpf(2) answers. */
struct kmaps_ops {
	int (*lookup)(struct kmaps *km, enum kmap map, const void *key, void *value);
	int (*update)(struct kmaps *km, enum kmap map, const void *key, const void *value,
		      enum kmap_flag flag);
	int (*delete)(struct kmaps *km, enum kmap map, const void *key);
	/* BPF_MAP_LOOKUP_BATCH of a hash map: the entries of whole buckets
	 * from the one at *from (from NULL: the first), at most *count of
	 * them, into keys and values; *count is set to how many, *next to
	 * where the next batch starts. -ENOENT: these were the last ones;
	 * -ENOSPC: the first bucket holds more than *count (none read). */
	int (*batch)(struct kmaps *km, enum kmap map, void *from, void *next, void *keys,
		     void *values, uint32_t *count);
	/* lookup and delete at once: the entry is the caller's alone */
	int (*take)(struct kmaps *km, enum kmap map, const void *key, void *value);
	/* the bytes of array map `map` from offset at, shared with the kernel
	 * for atomic changes until unshare; NULL if they cannot be. Mapped a
	 * page at a time, when needed: a whole array would add megabytes to
	 * the RSS. */
	void *(*share)(struct kmaps *km, enum kmap map, size_t at);
	void (*unshare)(struct kmaps *km, void *at);
};

struct kmaps {
	const struct kmaps_ops *ops;
	/* filled by the owner; a map the loaded build lacks has no name */
	int fd[KMAP_COUNT];
	const char *name[KMAP_COUNT];
	uint32_t key_size[KMAP_COUNT];
	uint32_t value_size[KMAP_COUNT];
	uint32_t max_entries[KMAP_COUNT];
	uint32_t batch; /* entries a count reads at a time: KMAPS_BATCH but in unit tests */
	int ncpus;	/* values of KMAP_COUNTERS per key */
	/* conn_counts' counts (include/conn_event.h), mapped: changed by
	 * atomic adds on both sides */
	uint64_t *slots_owned;
	uint64_t *gate_held;
	uint64_t *sock_lines;
	uint64_t *sock_hashed;
	/* procs_with_conns' PID_BITMAP_WORDS words, mapped: bits set by
	 * atomic ors on both sides */
	uint64_t *procs;
	/* upstream_procs' PID_BITMAP_WORDS words, mapped likewise: processes
	 * with upstream calls, whose streams' first writes the kernel copies
	 * for correlation */
	uint64_t *upstreams;
	/* handoffs[0]: entries of KMAP_DETACHED, mapped likewise */
	uint64_t *handoffs;
	/* klines' KLINES lines, mapped read-only: the figures of open streams
	 * are read there at each refresh, no syscall per stream (pages touched
	 * count in the RSS: 328 bytes a stream) */
	const struct kstream *klines;
	/* gate_lines' GATE_LINES lines, mapped read-only: whether a
	 * connection's id is there is a load, no syscall */
	const struct gate_line *gate_lines;
	/* operations made, whose failures are then exported (from zero) */
	bool used[KMAP_COUNT][KMAP_OPS];
	uint64_t failed[KMAP_COUNT][KMAP_OPS];
};

/* Whether the loaded build has map (the default build lacks
 * KMAP_CONNECTING). */
static inline bool kmaps_has(const struct kmaps *km, enum kmap map)
{
	return km->name[map] != NULL;
}

/* Line index of array map `map`, whose lines are size bytes, shared (see
 * kmaps_ops.share) from offset within it. */
static inline void *kmaps_share_line(struct kmaps *km, enum kmap map, uint32_t index, size_t size,
				     size_t offset)
{
	return km->ops->share(km, map, (size_t)index * size + offset);
}

int kmaps_lookup(struct kmaps *km, enum kmap map, const void *key, void *value);
int kmaps_update(struct kmaps *km, enum kmap map, const void *key, const void *value,
		 enum kmap_flag flag);
int kmaps_delete(struct kmaps *km, enum kmap map, const void *key);
/* Lookup and delete as one: 0 when the entry was there, and is gone. A
 * delete that the kernel may race for is its right (gated_ids, detached). */
int kmaps_take(struct kmaps *km, enum kmap map, const void *key, void *value);

/* Adds delta to key's counter in the gate (conn_slots), or to that of
 * its slot's entries in the conns hash: 0, or -errno when its line
 * cannot be mapped (counted). */
int kmaps_gate_add(struct kmaps *km, const struct conn_key *key, int32_t delta);
int kmaps_hashed_add(struct kmaps *km, const struct conn_key *key, int32_t delta);

/* Takes connection id out of its line of gate_lines, if it is there:
 * 0 and the key it was counted under in *key, the right to uncount it;
 * -ENOENT, or -errno when the line cannot be mapped (counted). */
int kmaps_gate_line_take(struct kmaps *km, uint64_t id, struct conn_key *key);

/* Counts one connection more in gate_held, unless as many as gated_ids
 * holds (--bpf.max-connections) are counted already: 0, or -E2BIG. */
int kmaps_gate_held_take(struct kmaps *km);
void kmaps_gate_held_drop(struct kmaps *km);

/* Forgets sk's owner while it is key (sk's line, or its sock_owner
 * entry): 0, -ENOENT, or -errno when the line cannot be mapped (counted). */
int kmaps_sock_owner_forget(struct kmaps *km, uint64_t sk, const struct conn_key *key);

/* Frees klines' line of connection id's stream if the line is still
 * id's: 0, or -errno when it cannot be mapped (counted). */
int kmaps_kline_release(struct kmaps *km, uint64_t id);

/* Sets tgid's bit in procs_with_conns. */
void kmaps_procs_mark(struct kmaps *km, uint32_t tgid);

/* Sets tgid's bit in upstream_procs. */
void kmaps_upstream_mark(struct kmaps *km, uint32_t tgid);

/* Adds delta to the count of detached connections (bpf/maps.bpf.h). */
void kmaps_handoffs_add(struct kmaps *km, int64_t delta);

/* Entries a count reads per syscall: 10,000 connections in ten, with
 * buffers of ~60 KB (conns) to ~340 KB (kstreams) for the read. */
#define KMAPS_BATCH 1024

/* Entries in map now, a hash map (read by batches). */
uint32_t kmaps_entries(struct kmaps *km, enum kmap map);

/* Sum over CPUs of each kernel counter. Returns -1, out not to be used,
 * when one cannot be read: a counter read as 0 would go backwards. */
int kmaps_counters(struct kmaps *km, uint64_t out[CNT_MAX]);

#endif
