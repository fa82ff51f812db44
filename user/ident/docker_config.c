// SPDX-License-Identifier: MIT
#include <string.h>

#include "ident/docker_config.h"
#include "ident/json_walk.h"

struct name_out {
	char *out;
	size_t size;
	bool found;
};

static bool member(struct json_cursor *c, void *arg)
{
	struct name_out *n = arg;
	char key[8];

	if (!json_key(c, key, sizeof(key)))
		return false;
	if (strcmp(key, "Name") || !json_peek(c, '"'))
		return json_skip_value(c);
	n->found = json_string(c, n->out, n->size);
	return n->found;
}

bool docker_container_name(const char *json, size_t len, char *out, size_t size)
{
	struct json_cursor c = {json, json + len};
	struct name_out n = {out, size, false};

	if (!size)
		return false;
	out[0] = '\0';
	if (!json_eat(&c, '{') || !json_members(&c, member, &n) || !n.found) {
		out[0] = '\0';
		return false;
	}
	if (out[0] == '/')
		memmove(out, out + 1, strlen(out));
	return out[0] != '\0';
}
