// SPDX-License-Identifier: MIT
/*
 * proto/path_norm: a request target's label is NUL-terminated, of the
 * length returned, within its buffer, label-safe (printable ASCII without
 * '"', '\', '?', '#'); a smaller buffer holds its beginning (the input's
 * first byte gives that size); and a label made without replacing a byte
 * is its own label (ids stay ":id", words stay words).
 */
#include <string.h>

#include "fuzz.h"
#include "proto/path_norm.h"

#define FULL 8192 /* longer than any fuzz input: never truncates */

static bool label_safe(const char *s, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c < 0x21 || c > 0x7e || c == '"' || c == '\\' || c == '?' || c == '#')
			return false;
	}
	return true;
}

/* Whether path_normalise copies every byte of the target's path as it is. */
static bool path_safe(const char *t, size_t len)
{
	for (size_t i = 0; i < len && t[i] != '?' && t[i] != '#'; i++)
		if (!label_safe(t + i, 1))
			return false;
	return true;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static char full[FULL], small[FULL], again[FULL];
	const char *t = (const char *)data + 1;
	size_t n, m, len, small_size;

	if (size < 1 || size > FULL - 1)
		return 0;
	small_size = 1 + data[0] % 160;
	len = size - 1;
	n = path_normalise(t, len, full, sizeof(full));
	FUZZ_CHECK(n < sizeof(full) && strlen(full) == n, "length %zu, strlen %zu", n,
		   strlen(full));
	FUZZ_CHECK(n > 0 && label_safe(full, n), "label [%s] not safe", full);
	m = path_normalise(t, len, small, small_size);
	FUZZ_CHECK(m < small_size && strlen(small) == m && !memcmp(small, full, m) &&
		       m == (n < small_size ? n : small_size - 1),
		   "in %zu bytes [%s], in full [%s]", small_size, small, full);
	if (!path_safe(t, len))
		return 0;
	m = path_normalise(full, n, again, sizeof(again));
	FUZZ_CHECK(m == n && !strcmp(full, again), "[%s] normalised again is [%s]", full, again);
	return 0;
}
