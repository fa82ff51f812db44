/* SPDX-License-Identifier: MIT */
/*
 * Turns an HTTP request target into a low-cardinality `path` label:
 * query and fragment removed, absolute-form reduced to its path, id-like
 * segments (all digits, UUIDs, hex strings of 16+ characters, and long
 * mixed tokens with digits) collapsed to ":id", bytes that are not
 * printable ASCII replaced by '_'. Redis keys (queue names) likewise.
 * Pure.
 */
#ifndef SSE_PATH_NORM_H
#define SSE_PATH_NORM_H

#include <stddef.h>

/* Writes the label into out (always NUL-terminated); returns its length. */
size_t path_normalise(const char *target, size_t len, char *out, size_t out_size);

/* Where the parts of a Redis key name end, by convention ("queue:jobs",
 * "tenant:42:events"). */
#define KEY_SEPARATORS ":/"

/* The same for a Redis key (a queue's name): its parts split by
 * KEY_SEPARATORS, ids among them collapsed to ":id". */
size_t key_normalise(const char *key, size_t len, char *out, size_t out_size);

#endif
