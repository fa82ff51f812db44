// SPDX-License-Identifier: MIT
#include <errno.h>

#include "kernel/kconns.h"

/* key's line, read whole (a copy: the kernel goes on changing it) */
static bool line_read(struct kmaps *km, const struct conn_key *key, struct conn_slot *line)
{
	uint32_t index = conn_gate_slot(key);

	return kmaps_lookup(km, KMAP_CONN_SLOTS, &index, line) == 0;
}

static bool line_owned(struct kmaps *km, const struct conn_key *key, struct conn_slot *line)
{
	return line_read(km, key, line) && line->owner == conn_key_word(key);
}

int kconns_lookup(struct kmaps *km, const struct conn_key *key, struct conn_info *info)
{
	struct conn_slot line;

	if (line_owned(km, key, &line)) {
		*info = line.info;
		return 0;
	}
	return kmaps_lookup(km, KMAP_CONNS, key, info);
}

/* An entry in the hash, counted in its line first as the kernel's are
 * (bpf/conn_store.bpf.h): never one that the count hides. */
static int hash_put(struct kmaps *km, const struct conn_key *key, const struct conn_info *info)
{
	int err = kmaps_hashed_add(km, key, 1);

	if (err)
		return err;
	err = kmaps_update(km, KMAP_CONNS, key, info, KMAP_NOEXIST);
	if (err)
		kmaps_hashed_add(km, key, -1);
	return err;
}

/* Uncounted by whoever deleted it, the kernel or us. */
static int hash_drop(struct kmaps *km, const struct conn_key *key)
{
	int err = kmaps_delete(km, KMAP_CONNS, key);

	if (!err)
		kmaps_hashed_add(km, key, -1);
	return err;
}

int kconns_adopt(struct kmaps *km, const struct conn_key *key, const struct conn_info *info)
{
	struct conn_slot line;
	int err;

	if (line_owned(km, key, &line))
		return -EEXIST;
	err = hash_put(km, key, info);
	/* the kernel made key's entry in its line meanwhile: that one is
	 * what its calls find */
	if (!err && line_owned(km, key, &line)) {
		hash_drop(km, key);
		return -EEXIST;
	}
	return err;
}

int kconns_set_proto(struct kmaps *km, const struct conn_key *key, uint64_t id, uint8_t proto)
{
	struct conn_slot line, *shared;
	struct conn_info cur;

	if (!line_owned(km, key, &line)) {
		if (kmaps_lookup(km, KMAP_CONNS, key, &cur) || cur.id != id)
			return -ENOENT;
		cur.proto = proto;
		return kmaps_update(km, KMAP_CONNS, key, &cur, KMAP_EXIST);
	}
	shared = kmaps_share_line(km, KMAP_CONN_SLOTS, conn_gate_slot(key), sizeof(*shared), 0);
	if (!shared)
		return -ENOMEM;
	/* a byte of its own, stored alone: the kernel's changes of the
	 * line's other fields stand */
	if (__atomic_load_n(&shared->owner, __ATOMIC_ACQUIRE) == conn_key_word(key) &&
	    shared->info.id == id)
		__atomic_store_n(&shared->info.proto, proto, __ATOMIC_RELEASE);
	km->ops->unshare(km, shared);
	return 0;
}

int kconns_delete(struct kmaps *km, const struct conn_key *key, uint64_t id)
{
	__u64 word = conn_key_word(key);
	struct conn_slot line, *shared;
	bool released = false;

	if (!line_owned(km, key, &line))
		return hash_drop(km, key);
	shared = kmaps_share_line(km, KMAP_CONN_SLOTS, conn_gate_slot(key), sizeof(*shared), 0);
	if (!shared)
		return -ENOMEM;
	/* the key's line may be a new connection's since it was read (its
	 * fd closed unseen, by dup2 say, and reused): checked again on the
	 * mapped line, nanoseconds before the swap, not a mapping earlier */
	if (__atomic_load_n(&shared->info.id, __ATOMIC_ACQUIRE) == id)
		released = __atomic_compare_exchange_n(&shared->owner, &word, CONN_SLOT_FREE, false,
						       __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST);
	km->ops->unshare(km, shared);
	if (!released)
		return -ENOENT;
	__atomic_fetch_add(km->slots_owned, (uint64_t)-1, __ATOMIC_SEQ_CST);
	return 0;
}

uint32_t kconns_entries(struct kmaps *km)
{
	return kmaps_entries(km, KMAP_CONNS) +
	       (uint32_t)__atomic_load_n(km->slots_owned, __ATOMIC_RELAXED);
}
