// SPDX-License-Identifier: MIT
#include <string.h>

#include "kernel/klines.h"

/* id's line into ks while it holds id's stream before and after the copy
 * (the kernel may give the line to another stream meanwhile; a torn copy
 * of a line it changes is what a lookup would copy too). */
static bool line_copy(struct kmaps *km, uint64_t id, struct kstream *ks)
{
	const struct kstream *line = &km->klines[kline_index(id)];

	if (__atomic_load_n(&line->id, __ATOMIC_ACQUIRE) != id)
		return false;
	memcpy(ks, line, sizeof(*ks));
	return __atomic_load_n(&line->id, __ATOMIC_ACQUIRE) == id;
}

enum kline_where klines_find(struct kmaps *km, uint64_t id, struct kstream *ks)
{
	if (line_copy(km, id, ks))
		return KLINE_LINE;
	return kmaps_lookup(km, KMAP_KSTREAMS, &id, ks) ? KLINE_NOWHERE : KLINE_HASH;
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
