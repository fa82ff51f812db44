/* SPDX-License-Identifier: MIT */
/*
 * Incremental scanner of a JSON request body for the two top-level fields
 * the metrics use: "model" (a string) and "stream" (a boolean). Bounded
 * memory, any split of the input, never reads past what it is given.
 * Nested objects and arrays are skipped; a "model" inside them does not
 * count. Pure.
 */
#ifndef SSE_JSON_SCAN_H
#define SSE_JSON_SCAN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "proto/json_skip.h"

#define JSON_MODEL_MAX 64

struct json_scan {
	/* scanner state (internal) */
	uint8_t state;
	struct json_skip skip; /* a nested value being skipped */
	bool escape;	       /* previous string byte was a backslash */
	uint8_t esc_hex;       /* hex digits of a \uXXXX escape still expected */
	uint16_t esc_value;    /* code unit of that escape so far */
	uint8_t key_len;
	char key[8]; /* current top-level key, only if short */
	bool key_overflow;
	uint8_t lit_len;
	char lit[6];	   /* literal being read (true/false) */
	uint8_t want;	   /* which value the current key asks for */
	uint8_t model_len; /* bytes of model[] written so far */
	bool failed;	   /* not JSON (or too deep): scanning stopped */

	/* results */
	char model[JSON_MODEL_MAX]; /* NUL-terminated, printable ASCII only */
	bool model_found;
	int stream; /* -1 absent, 0 false, 1 true */
};

void json_scan_init(struct json_scan *s);
void json_scan_feed(struct json_scan *s, const char *buf, size_t len);

#endif
