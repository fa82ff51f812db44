// SPDX-License-Identifier: MIT
#include <string.h>

#include "ident/json_walk.h"
#include "ident/podman_names.h"

#define ID_MAX 65

/* One container's entry as it is read. */
struct entry {
	char id[ID_MAX + 1]; /* one more: a longer id must not match */
	char *name;
	size_t size;
	bool named;
};

static bool first_name(struct json_cursor *c, void *arg)
{
	struct entry *e = arg;

	if (e->named || !json_peek(c, '"'))
		return json_skip_value(c);
	e->named = true;
	return json_string(c, e->name, e->size);
}

static bool member(struct json_cursor *c, void *arg)
{
	struct entry *e = arg;
	char key[8];

	if (!json_key(c, key, sizeof(key)))
		return false;
	if (!strcmp(key, "id") && json_peek(c, '"'))
		return json_string(c, e->id, sizeof(e->id));
	if (!strcmp(key, "names") && json_eat(c, '['))
		return json_elements(c, first_name, e);
	return json_skip_value(c);
}

struct search {
	const char *id;
	char *out;
	size_t size;
	bool found;
};

static bool container(struct json_cursor *c, void *arg)
{
	struct search *s = arg;
	struct entry e = {.name = s->out, .size = s->size};

	if (s->found) /* the rest is not read for names */
		return json_skip_value(c);
	if (!json_eat(c, '{') || !json_members(c, member, &e))
		return false;
	s->found = e.named && !strcmp(e.id, s->id);
	return true;
}

bool podman_container_name(const char *json, size_t len, const char *id, char *out, size_t size)
{
	struct json_cursor c = {json, json + len};
	struct search s = {id, out, size, false};

	if (!size)
		return false;
	if (!json_eat(&c, '[') || !json_elements(&c, container, &s) || !s.found) {
		out[0] = '\0';
		return false;
	}
	return true;
}
