/* SPDX-License-Identifier: MIT */
/* Growable arrays: the capacity doubles, so that appends cost O(1). */
#ifndef SSE_ARRAY_H
#define SSE_ARRAY_H

#include <stddef.h>

/* Makes room for need elements of size bytes in *arr (capacity *cap).
 * Returns -1, with *arr and *cap as they were, when memory runs out. */
int array_reserve(void **arr, size_t *cap, size_t need, size_t size);

#endif
