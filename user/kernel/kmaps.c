// SPDX-License-Identifier: MIT
#include <stdlib.h>
#include <string.h>

#include "kernel/kmaps.h"

int kmaps_lookup(struct kmaps *km, enum kmap map, const void *key, void *value)
{
	return km->ops->lookup(km, map, key, value);
}

int kmaps_update(struct kmaps *km, enum kmap map, const void *key, const void *value,
		 enum kmap_flag flag)
{
	return km->ops->update(km, map, key, value, flag);
}

int kmaps_delete(struct kmaps *km, enum kmap map, const void *key)
{
	return km->ops->delete (km, map, key);
}

uint32_t kmaps_entries(struct kmaps *km, enum kmap map)
{
	char key[64], next[64];
	const void *prev = NULL;
	uint32_t n = 0;

	if (km->key_size[map] > sizeof(key))
		return 0;
	while (km->ops->next_key(km, map, prev, next) == 0) {
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
