/* SPDX-License-Identifier: MIT */
/*
 * A cursor over a whole JSON text in memory, for the few fields identity
 * needs from runtime state files (a bundle's config.json, podman's
 * containers.json): strings copied as printable ASCII, everything else
 * skipped, never a read past the end. Pure.
 */
#ifndef SSE_JSON_WALK_H
#define SSE_JSON_WALK_H

#include <stdbool.h>
#include <stddef.h>

struct json_cursor {
	const char *p, *end;
};

/* Skips blanks; true (and consumed) when the next byte is want. */
bool json_eat(struct json_cursor *c, char want);
/* Skips blanks; true when the next byte is want (not consumed). */
bool json_peek(struct json_cursor *c, char want);

/* A string into out (printable ASCII, other bytes and escapes as '_',
 * truncated to size - 1); out may be NULL with size 0 to skip it. */
bool json_string(struct json_cursor *c, char *out, size_t size);

/* An object member's key into key (as json_string) and its ':'. */
bool json_key(struct json_cursor *c, char *key, size_t size);

/* Any value: a string, an object or array, a bare literal. */
bool json_skip_value(struct json_cursor *c);

/* The members of an object after its '{' (or the elements of an array
 * after its '['), each handed to one() with arg; up to the closing
 * bracket, which is consumed. */
bool json_members(struct json_cursor *c, bool (*one)(struct json_cursor *, void *), void *arg);
bool json_elements(struct json_cursor *c, bool (*one)(struct json_cursor *, void *), void *arg);

#endif
