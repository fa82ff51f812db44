// SPDX-License-Identifier: MIT
#include "kernel/klines.h"

int klines_read(struct kmaps *km, uint64_t id, struct kstream *ks)
{
	uint32_t index = kline_index(id);

	if (kmaps_lookup(km, KMAP_KLINES, &index, ks) == 0 && ks->id == id)
		return 0;
	return kmaps_lookup(km, KMAP_KSTREAMS, &id, ks);
}

/* The entry first, then the line: a write between the two still finds
 * the line and counts there, as a write under way when the entry alone
 * went did. The other way round, it would count in the entry's stale
 * copy. */
void klines_forget(struct kmaps *km, uint64_t id)
{
	kmaps_delete(km, KMAP_KSTREAMS, &id);
	kmaps_kline_release(km, id);
}
