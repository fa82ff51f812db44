// SPDX-License-Identifier: MIT
#include "ident/json_walk.h"
#include "proto/json_skip.h"

static void blanks(struct json_cursor *c)
{
	while (c->p < c->end && (*c->p == ' ' || *c->p == '\t' || *c->p == '\n' || *c->p == '\r'))
		c->p++;
}

bool json_peek(struct json_cursor *c, char want)
{
	blanks(c);
	return c->p < c->end && *c->p == want;
}

bool json_eat(struct json_cursor *c, char want)
{
	if (!json_peek(c, want))
		return false;
	c->p++;
	return true;
}

/* After the opening quote. */
static bool string_body(struct json_cursor *c, char *out, size_t size)
{
	size_t w = 0;

	while (c->p < c->end) {
		unsigned char ch = *c->p++;

		if (ch == '"') {
			if (size)
				out[w] = '\0';
			return true;
		}
		if (ch == '\\') {
			if (c->p >= c->end)
				return false;
			ch = *c->p++;
			if (ch == 'u') {
				if (c->end - c->p < 4)
					return false;
				c->p += 4;
				ch = '_';
			} else if (ch != '"' && ch != '\\' && ch != '/') {
				ch = '_'; /* \n \t ... */
			}
		}
		if (w + 1 < size)
			out[w++] = ch >= 0x20 && ch < 0x7f ? ch : '_';
	}
	return false;
}

bool json_string(struct json_cursor *c, char *out, size_t size)
{
	return json_eat(c, '"') && string_body(c, out, size);
}

bool json_skip_value(struct json_cursor *c)
{
	struct json_skip k;
	const char *start;

	blanks(c);
	if (c->p >= c->end)
		return false;
	if (*c->p == '"') {
		c->p++;
		return string_body(c, NULL, 0);
	}
	if (*c->p == '{' || *c->p == '[') {
		json_skip_start(&k);
		for (c->p++; c->p < c->end; c->p++) {
			enum json_skip_step s = json_skip_byte(&k, *c->p);

			if (s == JSON_SKIP_TOO_DEEP)
				return false;
			if (s == JSON_SKIP_DONE) {
				c->p++;
				return true;
			}
		}
		return false;
	}
	start = c->p;
	while (c->p < c->end && *c->p != ',' && *c->p != '}' && *c->p != ']')
		c->p++;
	return c->p > start; /* no bytes, no value: {"a":} is not JSON */
}

static bool items(struct json_cursor *c, char close, bool (*one)(struct json_cursor *, void *),
		  void *arg)
{
	if (json_eat(c, close))
		return true;
	do {
		if (!one(c, arg))
			return false;
	} while (json_eat(c, ','));
	return json_eat(c, close);
}

bool json_members(struct json_cursor *c, bool (*one)(struct json_cursor *, void *), void *arg)
{
	return items(c, '}', one, arg);
}

bool json_elements(struct json_cursor *c, bool (*one)(struct json_cursor *, void *), void *arg)
{
	return items(c, ']', one, arg);
}

bool json_key(struct json_cursor *c, char *key, size_t size)
{
	return json_string(c, key, size) && json_eat(c, ':');
}
