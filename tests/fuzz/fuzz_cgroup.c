// SPDX-License-Identifier: MIT
/*
 * ident/cgroup: whatever /proc/PID/cgroup holds (a container may name its
 * own cgroups), what comes out is well formed: a pod uid is a dashed UUID
 * of lower-case hex, a container id 64 of them with a runtime, a unit
 * NAME.service in the characters systemd allows (it becomes the service
 * label). The most specific line wins: the result is that of one line.
 */
#include <string.h>

#include "fuzz.h"
#include "ident/cgroup.h"

static bool lower_hex(char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
}

static bool unit_char(char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	       strchr(":-_.\\@", c);
}

static void check(const struct cgroup_ident *id)
{
	size_t n;

	n = strlen(id->pod_uid);
	FUZZ_CHECK(n == 0 || n == 36, "pod uid [%s]", id->pod_uid);
	for (size_t i = 0; i < n; i++) {
		bool dash = i == 8 || i == 13 || i == 18 || i == 23;

		FUZZ_CHECK(dash ? id->pod_uid[i] == '-' : lower_hex(id->pod_uid[i]), "pod uid [%s]",
			   id->pod_uid);
	}
	n = strlen(id->container_id);
	FUZZ_CHECK((n == 0) == (id->runtime == RUNTIME_NONE) && (n == 0 || n == 64),
		   "container id [%s], runtime %d", id->container_id, id->runtime);
	for (size_t i = 0; i < n; i++)
		FUZZ_CHECK(lower_hex(id->container_id[i]), "container id [%s]", id->container_id);
	FUZZ_CHECK(id->runtime <= RUNTIME_PODMAN, "runtime %d", id->runtime);
	n = strlen(id->unit);
	FUZZ_CHECK(n == 0 || (n > strlen(".service") && !strcmp(id->unit + n - 8, ".service")),
		   "unit [%s]", id->unit);
	for (size_t i = 0; i < n; i++)
		FUZZ_CHECK(unit_char(id->unit[i]), "unit byte 0x%02x", (unsigned char)id->unit[i]);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const struct cgroup_ident none;
	struct cgroup_ident all, line;
	const char *text = (const char *)data, *end = text + size;

	cgroup_ident_parse(text, size, &all);
	check(&all);
	/* one of the lines gives the same, or none gives anything */
	while (text < end) {
		const char *nl = memchr(text, '\n', end - text);
		size_t n = nl ? (size_t)(nl - text) : (size_t)(end - text);

		cgroup_ident_parse(text, n, &line);
		if (!memcmp(&line, &all, sizeof(line)))
			return 0;
		text += n + 1;
	}
	FUZZ_CHECK(!memcmp(&all, &none, sizeof(all)), "no line gives [%s] [%s] [%s]", all.pod_uid,
		   all.container_id, all.unit);
	return 0;
}
