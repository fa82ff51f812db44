// SPDX-License-Identifier: MIT
/*
 * ident/oci_config: whatever a bundle's config.json holds, every field
 * comes out NUL-terminated printable ASCII within its array, all empty
 * when the text is refused.
 */
#include <string.h>

#include "fuzz.h"
#include "ident/oci_config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const struct oci_ident none;
	struct oci_ident id;
	int rc;

	memset(&id, 'x', sizeof(id));
	rc = oci_config_parse((const char *)data, size, &id);
	FUZZ_CHECK(rc == 0 || !memcmp(&id, &none, sizeof(id)), "refused, yet fields set");
	FUZZ_CHECK(fuzz_printable(id.namespace, sizeof(id.namespace)) &&
		       fuzz_printable(id.pod, sizeof(id.pod)) &&
		       fuzz_printable(id.container, sizeof(id.container)) &&
		       fuzz_printable(id.image, sizeof(id.image)) &&
		       fuzz_printable(id.container_type, sizeof(id.container_type)),
		   "a field is not printable or not terminated");
	return 0;
}
