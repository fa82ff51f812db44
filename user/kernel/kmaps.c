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

int kmaps_gate_add(struct kmaps *km, const struct conn_key *key, int64_t delta)
{
	struct conn_slot *line = km->ops->slot_map(km, conn_gate_slot(key));

	if (!line)
		return counted(km, KMAP_CONN_SLOTS, KMAP_UPDATE, KMAP_ANY, -ENOMEM);
	__atomic_fetch_add(&line->gate, (uint64_t)delta, __ATOMIC_SEQ_CST);
	km->ops->slot_unmap(km, line);
	return 0;
}

int kmaps_kline_release(struct kmaps *km, uint64_t id)
{
	__u64 *shared = km->ops->kline_map(km, kline_index(id)), want = id;

	if (!shared)
		return counted(km, KMAP_KLINES, KMAP_UPDATE, KMAP_ANY, -ENOMEM);
	/* only id's: the line may be another connection's stream by now */
	__atomic_compare_exchange_n(shared, &want, 0, false, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST);
	km->ops->kline_unmap(km, shared);
	return 0;
}

void kmaps_procs_mark(struct kmaps *km, uint32_t tgid)
{
	uint64_t bit = 1ull << (tgid % 64);
	uint64_t *word;

	if (tgid / 64 >= PID_BITMAP_WORDS)
		return;
	word = &km->procs[tgid / 64];
	if (!(__atomic_load_n(word, __ATOMIC_RELAXED) & bit))
		__atomic_fetch_or(word, bit, __ATOMIC_SEQ_CST);
}

uint32_t kmaps_entries(struct kmaps *km, enum kmap map)
{
	char key[64], next[64];
	const void *prev = NULL;
	uint32_t n = 0;

	if (km->key_size[map] > sizeof(key))
		return 0;
	/* bounded: the kernel deleting the key walked from restarts the walk */
	while (n < km->max_entries[map] && counted(km, map, KMAP_LOOKUP, KMAP_ANY,
						   km->ops->next_key(km, map, prev, next)) == 0) {
		memcpy(key, next, km->key_size[map]);
		prev = key;
		n++;
	}
	return n;
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
