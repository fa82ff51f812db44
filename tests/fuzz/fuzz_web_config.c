// SPDX-License-Identifier: MIT
/*
 * web/web_config's reader, from memory as web_config_load hands it the
 * file: any text gives a configuration or an error message (NUL-terminated,
 * within its buffer, empty only for a configuration), never both, and
 * nothing leaks either way (LeakSanitizer).
 */
#include <string.h>

#include "fuzz.h"
#include "web/web_config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char err[96], *text = malloc(size + 1);
	struct web_config *w;

	if (!text)
		return 0;
	memcpy(text, data, size);
	text[size] = '\0';
	memset(err, 'x', sizeof(err));
	w = web_config_parse(text, err, sizeof(err));
	FUZZ_CHECK(memchr(err, '\0', sizeof(err)), "error message not terminated");
	FUZZ_CHECK(!w == !!err[0], "configuration %p, error [%s]", (void *)w, err);
	web_config_free(w);
	free(text);
	return 0;
}
