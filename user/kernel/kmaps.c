// SPDX-License-Identifier: MIT
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "kernel/kmaps.h"
#include "kstream.h"

const char *const kmap_op_names[KMAP_OPS] = {"lookup", "update", "delete"};

/* A lookup or delete of a key the kernel removed, an update of an entry
 * gone since (KMAP_EXIST), the creation of one present (KMAP_NOEXIST). */
static bool answer(enum kmap_op op, enum kmap_flag flag, int err)
{
	if (err == -ENOENT)
		return op != KMAP_UPDATE || flag == KMAP_EXIST;
	return err == -EEXIST && op == KMAP_UPDATE && flag == KMAP_NOEXIST;
}

static int counted(struct kmaps *km, enum kmap map, enum kmap_op op, enum kmap_flag flag, int err)
{
	km->used[map][op] = true;
	if (!err || answer(op, flag, err))
		return err;
	if (!km->failed[map][op]++)
		log_warn("kernel map %s: %s failed: %s (counted in "
			 "sse_exporter_map_errors_total, not logged again)",
			 km->name[map], kmap_op_names[op], strerror(-err));
	return err;
}

int kmaps_lookup(struct kmaps *km, enum kmap map, const void *key, void *value)
{
	return counted(km, map, KMAP_LOOKUP, KMAP_ANY, km->ops->lookup(km, map, key, value));
}

int kmaps_update(struct kmaps *km, enum kmap map, const void *key, const void *value,
		 enum kmap_flag flag)
{
	return counted(km, map, KMAP_UPDATE, flag, km->ops->update(km, map, key, value, flag));
}

int kmaps_delete(struct kmaps *km, enum kmap map, const void *key)
{
	return counted(km, map, KMAP_DELETE, KMAP_ANY, km->ops->delete (km, map, key));
}

int kmaps_take(struct kmaps *km, enum kmap map, const void *key, void *value)
{
	return counted(km, map, KMAP_DELETE, KMAP_ANY, km->ops->take(km, map, key, value));
}

void kmaps_handoffs_add(struct kmaps *km, int64_t delta)
{
	__atomic_fetch_add(&km->handoffs[0], (uint64_t)delta, __ATOMIC_SEQ_CST);
}

/* Adds delta to one of the counters of key's line: the gate's, or that
 * of the slot's keys in the conns hash. */
static int line_add(struct kmaps *km, const struct conn_key *key, bool hashed, int32_t delta)
{
	struct conn_slot *line =
	    kmaps_share_line(km, KMAP_CONN_SLOTS, conn_gate_slot(key), sizeof(*line), 0);

	if (!line)
		return counted(km, KMAP_CONN_SLOTS, KMAP_UPDATE, KMAP_ANY, -ENOMEM);
	__atomic_fetch_add(hashed ? &line->hashed : &line->gate, (uint32_t)delta, __ATOMIC_SEQ_CST);
	km->ops->unshare(km, line);
	return 0;
}

int kmaps_gate_add(struct kmaps *km, const struct conn_key *key, int32_t delta)
{
	return line_add(km, key, false, delta);
}

int kmaps_hashed_add(struct kmaps *km, const struct conn_key *key, int32_t delta)
{
	return line_add(km, key, true, delta);
}

int kmaps_gate_line_take(struct kmaps *km, uint64_t id, struct conn_key *key)
{
	uint32_t index = gate_line_index(id);
	struct gate_line *shared;
	__u64 want = id;
	bool taken;

	if (__atomic_load_n(&km->gate_lines[index].id, __ATOMIC_ACQUIRE) != id)
		return -ENOENT;
	shared = kmaps_share_line(km, KMAP_GATE_LINES, index, sizeof(*shared), 0);
	if (!shared)
		return counted(km, KMAP_GATE_LINES, KMAP_UPDATE, KMAP_ANY, -ENOMEM);
	/* claimed busy, so that its key is read before anyone may count it
	 * again: the kernel hands a connection to another key by freeing
	 * its line and taking it anew */
	taken = __atomic_compare_exchange_n(&shared->id, &want, GATE_LINE_BUSY, false,
					    __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST);
	if (taken) {
		*key = shared->key;
		__atomic_store_n(&shared->id, GATE_LINE_FREE, __ATOMIC_RELEASE);
	}
	km->ops->unshare(km, shared);
	return taken ? 0 : -ENOENT;
}

int kmaps_gate_held_take(struct kmaps *km)
{
	if (__atomic_fetch_add(km->gate_held, 1, __ATOMIC_SEQ_CST) <
	    km->max_entries[KMAP_GATED_IDS])
		return 0;
	kmaps_gate_held_drop(km);
	return -E2BIG;
}

void kmaps_gate_held_drop(struct kmaps *km)
{
	__atomic_fetch_sub(km->gate_held, 1, __ATOMIC_SEQ_CST);
}

/* sk's line, shared, holds it: its owner freed if it is still word. The
 * line is claimed busy while the owner is compared; a process taking the
 * socket over then finds the line busy and puts its owner in the hash,
 * where it stays the socket's once the line is freed. */
static int sock_line_forget(struct kmaps *km, uint32_t index, uint64_t sk, uint64_t word)
{
	struct sock_line *shared = kmaps_share_line(km, KMAP_SOCK_LINES, index, sizeof(*shared), 0);
	__u64 want = sk;
	bool freed = false;

	if (!shared)
		return counted(km, KMAP_SOCK_LINES, KMAP_UPDATE, KMAP_ANY, -ENOMEM);
	if (__atomic_compare_exchange_n(&shared->sk, &want, SOCK_LINE_BUSY, false, __ATOMIC_SEQ_CST,
					__ATOMIC_SEQ_CST)) {
		freed = __atomic_load_n(&shared->owner, __ATOMIC_ACQUIRE) == word;
		__atomic_store_n(&shared->sk, freed ? SOCK_LINE_FREE : sk, __ATOMIC_RELEASE);
	}
	km->ops->unshare(km, shared);
	if (!freed)
		return -ENOENT;
	__atomic_fetch_sub(km->sock_lines, 1, __ATOMIC_SEQ_CST);
	return 0;
}

int kmaps_sock_owner_forget(struct kmaps *km, uint64_t sk, const struct conn_key *key)
{
	uint32_t index = sock_line_index(sk);
	uint64_t word = conn_key_word(key);
	struct sock_line line;
	struct conn_key owner;

	if (kmaps_lookup(km, KMAP_SOCK_LINES, &index, &line) == 0 && line.sk == sk)
		return line.owner == word ? sock_line_forget(km, index, sk, word) : -ENOENT;
	if (!__atomic_load_n(km->sock_hashed, __ATOMIC_RELAXED) ||
	    kmaps_lookup(km, KMAP_SOCK_OWNER, &sk, &owner) || conn_key_word(&owner) != word ||
	    kmaps_delete(km, KMAP_SOCK_OWNER, &sk))
		return -ENOENT;
	__atomic_fetch_sub(km->sock_hashed, 1, __ATOMIC_SEQ_CST);
	return 0;
}

int kmaps_kline_release(struct kmaps *km, uint64_t id)
{
	__u64 *shared = kmaps_share_line(km, KMAP_KLINES, kline_index(id), sizeof(struct kstream),
					 offsetof(struct kstream, id));
	__u64 want = id;

	if (!shared)
		return counted(km, KMAP_KLINES, KMAP_UPDATE, KMAP_ANY, -ENOMEM);
	/* only id's: the line may be another connection's stream by now */
	__atomic_compare_exchange_n(shared, &want, 0, false, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST);
	km->ops->unshare(km, shared);
	return 0;
}

/* An atomic or, as the kernel sets bits: a read-modify-write through
 * bpf(2) could drop a bit the kernel set meanwhile. */
static void bitmap_mark(uint64_t *words, uint32_t tgid)
{
	uint64_t bit = 1ull << (tgid % 64);
	uint64_t *word;

	if (tgid / 64 >= PID_BITMAP_WORDS)
		return;
	word = &words[tgid / 64];
	if (!(__atomic_load_n(word, __ATOMIC_RELAXED) & bit))
		__atomic_fetch_or(word, bit, __ATOMIC_SEQ_CST);
}

void kmaps_procs_mark(struct kmaps *km, uint32_t tgid)
{
	bitmap_mark(km->procs, tgid);
}

void kmaps_upstream_mark(struct kmaps *km, uint32_t tgid)
{
	bitmap_mark(km->upstreams, tgid);
}

/* A read of a hash map's entries a batch at a time: a syscall per batch,
 * where a walk over the keys took one per entry (and a lookup another).
 * The kernel reads bucket by bucket, so an entry deleted meanwhile does
 * not restart the read, and copies buckets whole: keys and values grow
 * when one holds more entries than they do. */
struct kmaps_batch {
	void *keys, *values; /* cap entries each (allocated at the first read) */
	size_t cap;
	size_t n;      /* of them read by the last read */
	uint64_t next; /* where the next read starts: the kernel's bucket number */
	bool started, done;
};

/* Room for cap entries of map in b. */
static int batch_reserve(struct kmaps *km, enum kmap map, struct kmaps_batch *b, size_t cap)
{
	void *keys = realloc(b->keys, cap * km->key_size[map]), *values;

	if (!keys)
		return -ENOMEM;
	b->keys = keys;
	values = realloc(b->values, cap * km->value_size[map]);
	if (!values)
		return -ENOMEM;
	b->values = values;
	b->cap = cap;
	return 0;
}

/* One read, its buffers grown while the bucket it starts at does not fit
 * in them: no bucket holds more entries than the map. */
static int batch_fitted(struct kmaps *km, enum kmap map, struct kmaps_batch *b, uint32_t *count)
{
	int err = b->keys ? 0 : batch_reserve(km, map, b, b->cap ? b->cap : 1);

	while (!err) {
		*count = (uint32_t)b->cap;
		err = km->ops->batch(km, map, b->started ? &b->next : NULL, &b->next, b->keys,
				     b->values, count);
		if (err != -ENOSPC || b->cap >= km->max_entries[map])
			break;
		err = batch_reserve(km, map, b, 2 * b->cap);
	}
	return err;
}

/* The next entries of map into b, from the first ones: 0 (b->done once
 * the last are read), or -errno, counted as a failed lookup, b->n 0. */
static int batch_read(struct kmaps *km, enum kmap map, struct kmaps_batch *b)
{
	uint32_t count = 0;
	int err;

	b->n = 0;
	if (b->done)
		return 0;
	err = batch_fitted(km, map, b, &count);
	if (err == -ENOENT) { /* these were the last */
		b->done = true;
		err = 0;
	}
	if (counted(km, map, KMAP_LOOKUP, KMAP_ANY, err))
		return err;
	b->n = count;
	b->started = true;
	return 0;
}

static void batch_free(struct kmaps_batch *b)
{
	free(b->keys);
	free(b->values);
	b->keys = b->values = NULL;
}

uint32_t kmaps_entries(struct kmaps *km, enum kmap map)
{
	size_t n = 0, max = km->max_entries[map];
	struct kmaps_batch b = {.cap = km->batch < max ? km->batch : max};

	/* bounded whatever the kernel answers: the map holds max at most,
	 * and a read that brings nothing ends it (the kernel's never does
	 * without saying it was the last, ENOENT) */
	while (!b.done && n < max && batch_read(km, map, &b) == 0 && b.n)
		n += b.n;
	batch_free(&b);
	return (uint32_t)(n < max ? n : max);
}

int kmaps_counters(struct kmaps *km, uint64_t out[CNT_MAX])
{
	uint64_t *vals;
	int err = 0;

	if (km->ncpus <= 0)
		return -1;
	vals = calloc(km->ncpus, sizeof(*vals));
	if (!vals)
		return -1;
	for (uint32_t i = 0; i < CNT_MAX; i++) {
		if (kmaps_lookup(km, KMAP_COUNTERS, &i, vals)) {
			err = -1;
			break;
		}
		out[i] = 0;
		for (int c = 0; c < km->ncpus; c++)
			out[i] += vals[c];
	}
	free(vals);
	return err;
}
