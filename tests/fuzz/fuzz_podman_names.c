// SPDX-License-Identifier: MIT
/*
 * ident/podman_names: whatever containers.json holds, the name comes out
 * NUL-terminated printable ASCII within the buffer, empty when none is
 * found. The input's first byte is the length of the id looked for, the
 * bytes after it the id, the rest the file.
 */
#include <string.h>

#include "fuzz.h"
#include "ident/podman_names.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char id[80], name[48];
	size_t id_len;
	bool found;

	if (size < 1)
		return 0;
	id_len = data[0] % sizeof(id);
	if (size - 1 < id_len)
		return 0;
	memcpy(id, data + 1, id_len);
	id[id_len] = '\0';
	memset(name, 'x', sizeof(name));
	found = podman_container_name((const char *)data + 1 + id_len, size - 1 - id_len, id, name,
				      sizeof(name));
	FUZZ_CHECK(fuzz_printable(name, sizeof(name)), "name not printable or not terminated");
	FUZZ_CHECK(found || !name[0], "not found, yet name [%s]", name);
	return 0;
}
