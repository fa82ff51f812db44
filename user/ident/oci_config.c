// SPDX-License-Identifier: MIT
#include <stdbool.h>
#include <string.h>

#include "ident/oci_config.h"
#include "proto/json_skip.h"

struct cursor {
	const char *p, *end;
};

static void blanks(struct cursor *c)
{
	while (c->p < c->end && (*c->p == ' ' || *c->p == '\t' || *c->p == '\n' || *c->p == '\r'))
		c->p++;
}

static bool eat(struct cursor *c, char want)
{
	blanks(c);
	if (c->p < c->end && *c->p == want) {
		c->p++;
		return true;
	}
	return false;
}

/* A string after its opening quote, into out (printable ASCII; anything
 * else, escaped or not, becomes '_'; truncated). */
static bool string_body(struct cursor *c, char *out, size_t size)
{
	size_t w = 0;

	while (c->p < c->end) {
		unsigned char ch = *c->p++;

		if (ch == '"') {
			if (size)
				out[w < size ? w : size - 1] = '\0';
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

static bool string(struct cursor *c, char *out, size_t size)
{
	return eat(c, '"') && string_body(c, out, size);
}

/* Any value: a string, a nested object or array, or a bare literal. */
static bool skip_value(struct cursor *c)
{
	struct json_skip k;

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
	while (c->p < c->end && *c->p != ',' && *c->p != '}' && *c->p != ']')
		c->p++;
	return true;
}

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
static bool annotation(struct cursor *c, struct oci_ident *id)
{
	char key[64];

	if (!string(c, key, sizeof(key)) || !eat(c, ':'))
		return false;
	for (size_t i = 0; i < sizeof(known) / sizeof(known[0]); i++)
		if (!strcmp(key, known[i].key)) {
			struct cursor at = *c;

			if (eat(&at, '"')) /* a string: taken; else skipped */
				return string(c, (char *)id + known[i].offset, known[i].size);
		}
	return skip_value(c);
}

/* The members of an object after its '{', each handed to member(). */
static bool members(struct cursor *c, bool (*member)(struct cursor *, struct oci_ident *),
		    struct oci_ident *id)
{
	if (eat(c, '}'))
		return true;
	do {
		if (!member(c, id))
			return false;
	} while (eat(c, ','));
	return eat(c, '}');
}

static bool annotations(struct cursor *c, struct oci_ident *id)
{
	return eat(c, '{') && members(c, annotation, id);
}

static bool top_member(struct cursor *c, struct oci_ident *id)
{
	char key[16];

	if (!string(c, key, sizeof(key)) || !eat(c, ':'))
		return false;
	blanks(c);
	if (!strcmp(key, "annotations") && c->p < c->end && *c->p == '{')
		return annotations(c, id);
	return skip_value(c);
}

int oci_config_parse(const char *json, size_t len, struct oci_ident *id)
{
	struct cursor c = {json, json + len};

	memset(id, 0, sizeof(*id));
	if (!eat(&c, '{') || !members(&c, top_member, id)) {
		memset(id, 0, sizeof(*id));
		return -1;
	}
	return 0;
}
