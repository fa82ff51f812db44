// SPDX-License-Identifier: MIT
/*
 * llm/usage_scan: a response body, JSON or an event stream (the input's
 * first byte after the split says which), fed whole and in pieces gives
 * the same usage; each figure is -1 or a count within USAGE_TOKENS_MAX,
 * and a total not seen is the sum of the two others.
 */
#include <string.h>

#include "fuzz.h"
#include "llm/usage_scan.h"

static void feed(void *arg, const uint8_t *buf, size_t off, size_t len)
{
	usage_scan_feed(arg, (const char *)buf + off, len);
}

static bool in_range(int64_t v)
{
	return v >= -1 && v <= (int64_t)USAGE_TOKENS_MAX;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct usage_scan whole, split;
	struct usage a, b;
	struct fuzz_split s;
	uint8_t mode;

	if (!fuzz_split_take_mode(&s, &data, &size, &mode))
		return 0;
	usage_scan_init(&whole, mode & 1);
	fuzz_feed(NULL, data, size, feed, &whole);
	usage_scan_init(&split, mode & 1);
	fuzz_feed(&s, data, size, feed, &split);
	usage_scan_result(&whole, &a);
	usage_scan_result(&split, &b);
	FUZZ_CHECK(in_range(whole.max.prompt) && in_range(whole.max.completion) &&
		       in_range(whole.max.total),
		   "figures out of range");
	FUZZ_CHECK(whole.max.total >= 0 || a.total == -1 || a.total == a.prompt + a.completion,
		   "total %lld without one seen", (long long)a.total);
	FUZZ_CHECK(!memcmp(&a, &b, sizeof(a)), "whole: %lld %lld %lld; split: %lld %lld %lld",
		   (long long)a.prompt, (long long)a.completion, (long long)a.total,
		   (long long)b.prompt, (long long)b.completion, (long long)b.total);
	return 0;
}
