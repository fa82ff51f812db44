// SPDX-License-Identifier: MIT
/*
 * ident/json_walk, the cursor the /proc and runtime-state readers share:
 * walking any text (every object's keys and string values read into small
 * buffers) never moves the cursor past its end, and every string read is
 * NUL-terminated printable ASCII within its buffer; a value skipped is
 * self-delimiting: the bytes it took, alone, are skipped the same way.
 */
#include <string.h>

#include "fuzz.h"
#include "ident/json_walk.h"

#define DEPTH_MAX 64 /* the walk's own recursion; json_skip_value goes deeper */

struct walk {
	const char *end;
	unsigned int depth;
};

static bool value(struct json_cursor *c, void *arg);

static void check_cursor(const struct json_cursor *c, const struct walk *w)
{
	FUZZ_CHECK(c->p <= w->end && c->end == w->end, "the cursor went past the end");
}

static bool member(struct json_cursor *c, void *arg)
{
	char key[8];

	memset(key, 'x', sizeof(key));
	if (!json_key(c, key, sizeof(key)))
		return false;
	FUZZ_CHECK(fuzz_printable(key, sizeof(key)), "key not printable or not terminated");
	return value(c, arg);
}

static bool value(struct json_cursor *c, void *arg)
{
	struct walk *w = arg;
	char str[8];
	bool ok;

	check_cursor(c, w);
	if (w->depth >= DEPTH_MAX)
		return json_skip_value(c);
	w->depth++;
	if (json_eat(c, '{')) {
		ok = json_members(c, member, w);
	} else if (json_eat(c, '[')) {
		ok = json_elements(c, value, w);
	} else if (json_peek(c, '"')) {
		memset(str, 'x', sizeof(str));
		ok = json_string(c, str, sizeof(str));
		FUZZ_CHECK(!ok || fuzz_printable(str, sizeof(str)), "string not printable");
	} else {
		ok = json_skip_value(c);
	}
	w->depth--;
	check_cursor(c, w);
	return ok;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *text = (const char *)data;
	struct json_cursor c = {text, text + size}, alone;
	struct walk w = {text + size, 0};
	size_t took;

	value(&c, &w);
	c = (struct json_cursor){text, text + size};
	if (!json_skip_value(&c))
		return 0;
	check_cursor(&c, &w);
	took = (size_t)(c.p - text);
	alone = (struct json_cursor){text, text + took};
	FUZZ_CHECK(json_skip_value(&alone) && alone.p == text + took,
		   "a value of %zu bytes is not skipped alone", took);
	return 0;
}
