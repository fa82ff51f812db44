// SPDX-License-Identifier: MIT
#include "proto/json_skip.h"

void json_skip_start(struct json_skip *k)
{
	*k = (struct json_skip){.depth = 1};
}

enum json_skip_step json_skip_byte(struct json_skip *k, unsigned char c)
{
	if (k->in_string) {
		if (k->escape)
			k->escape = false; /* \uXXXX needs nothing: hex has no '"' */
		else if (c == '\\')
			k->escape = true;
		else if (c == '"')
			k->in_string = false;
		return JSON_SKIP_MORE;
	}
	if (c == '"') {
		k->in_string = true;
	} else if (c == '{' || c == '[') {
		if (k->depth == UINT32_MAX)
			return JSON_SKIP_TOO_DEEP;
		k->depth++;
	} else if ((c == '}' || c == ']') && --k->depth == 0) {
		return JSON_SKIP_DONE;
	}
	return JSON_SKIP_MORE;
}
