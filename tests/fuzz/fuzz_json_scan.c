// SPDX-License-Identifier: MIT
/*
 * proto/json_scan: a request body fed whole and in pieces gives the same
 * model and stream flag; the model is NUL-terminated printable ASCII.
 */
#include <string.h>

#include "fuzz.h"
#include "proto/json_scan.h"

static void feed(void *arg, const uint8_t *buf, size_t off, size_t len)
{
	json_scan_feed(arg, (const char *)buf + off, len);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct json_scan whole, split;
	struct fuzz_split s;

	if (!fuzz_split_take(&s, &data, &size))
		return 0;
	json_scan_init(&whole);
	fuzz_feed(NULL, data, size, feed, &whole);
	json_scan_init(&split);
	fuzz_feed(&s, data, size, feed, &split);
	FUZZ_CHECK(fuzz_printable(whole.model, sizeof(whole.model)), "model not printable");
	FUZZ_CHECK(whole.stream >= -1 && whole.stream <= 1, "stream %d", whole.stream);
	FUZZ_CHECK(whole.model_found == split.model_found && !strcmp(whole.model, split.model) &&
		       whole.stream == split.stream,
		   "whole: model %d [%s] stream %d; split: %d [%s] %d", whole.model_found,
		   whole.model, whole.stream, split.model_found, split.model, split.stream);
	return 0;
}
