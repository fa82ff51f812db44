// SPDX-License-Identifier: MIT
#include <stdbool.h>
#include <string.h>

#include "ident/json_walk.h"
#include "ident/oci_config.h"

static const struct {
	const char *key;
	size_t offset, size;
} known[] = {
#define FIELD(key, f)                                                                              \
	{                                                                                          \
		key, offsetof(struct oci_ident, f), sizeof(((struct oci_ident *)0)->f)             \
	}
    FIELD("io.kubernetes.cri.sandbox-namespace", namespace),
    FIELD("io.kubernetes.cri.sandbox-name", pod),
    FIELD("io.kubernetes.cri.container-name", container),
    FIELD("io.kubernetes.cri.image-name", image),
    FIELD("io.kubernetes.cri.container-type", container_type),
    FIELD("io.kubernetes.pod.namespace", namespace),
    FIELD("io.kubernetes.pod.name", pod),
    FIELD("io.kubernetes.container.name", container),
    FIELD("io.kubernetes.cri-o.ImageName", image),
    FIELD("io.kubernetes.cri-o.ContainerType", container_type),
#undef FIELD
};

/* One "key": value pair of the annotations object. */
static bool annotation(struct json_cursor *c, void *arg)
{
	struct oci_ident *id = arg;
	char key[64];

	if (!json_key(c, key, sizeof(key)))
		return false;
	for (size_t i = 0; i < sizeof(known) / sizeof(known[0]); i++)
		if (!strcmp(key, known[i].key) && json_peek(c, '"')) /* else skipped */
			return json_string(c, (char *)id + known[i].offset, known[i].size);
	return json_skip_value(c);
}

static bool top_member(struct json_cursor *c, void *arg)
{
	char key[16];

	if (!json_key(c, key, sizeof(key)))
		return false;
	if (!strcmp(key, "annotations") && json_eat(c, '{'))
		return json_members(c, annotation, arg);
	return json_skip_value(c);
}

int oci_config_parse(const char *json, size_t len, struct oci_ident *id)
{
	struct json_cursor c = {json, json + len};

	memset(id, 0, sizeof(*id));
	if (!json_eat(&c, '{') || !json_members(&c, top_member, id)) {
		memset(id, 0, sizeof(*id));
		return -1;
	}
	return 0;
}
