// SPDX-License-Identifier: MIT
/*
 * ident/docker_config: whatever config.v2.json holds, the name comes out
 * NUL-terminated printable ASCII within the buffer, without its leading
 * '/', non-empty exactly when found.
 */
#include <string.h>

#include "fuzz.h"
#include "ident/docker_config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char name[48];
	bool found;

	memset(name, 'x', sizeof(name));
	found = docker_container_name((const char *)data, size, name, sizeof(name));
	FUZZ_CHECK(fuzz_printable(name, sizeof(name)), "name not printable or not terminated");
	FUZZ_CHECK(found == (name[0] != '\0'), "found %d, name [%s]", found, name);
	return 0;
}
