// SPDX-License-Identifier: MIT
/*
 * ident/environ: whatever /proc/PID/environ holds, a service name comes
 * out NUL-terminated, printable, within the buffer (the input's first
 * byte sizes it), non-empty exactly when one was found, and the beginning
 * of the name a larger buffer gets.
 */
#include <string.h>

#include "fuzz.h"
#include "ident/environ.h"

#define FULL 8192

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static char full[FULL], small[FULL];
	size_t small_size;
	bool found, found_small;

	if (size < 1)
		return 0;
	small_size = 1 + data[0] % 64;
	memset(full, 'x', sizeof(full));
	found = environ_service_name((const char *)data + 1, size - 1, full, sizeof(full));
	FUZZ_CHECK(fuzz_printable(full, sizeof(full)) && found == (full[0] != '\0'),
		   "found %d, name [%.64s]", found, full);
	memset(small, 'x', sizeof(small));
	found_small = environ_service_name((const char *)data + 1, size - 1, small, small_size);
	FUZZ_CHECK(fuzz_printable(small, small_size), "name not within %zu bytes", small_size);
	FUZZ_CHECK(!found_small || (found && !strncmp(small, full, strlen(small))),
		   "in %zu bytes [%s], in full [%.64s]", small_size, small, full);
	return 0;
}
