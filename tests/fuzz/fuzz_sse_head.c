// SPDX-License-Identifier: MIT
/*
 * The kernel's test of a response head that arms a stream
 * (include/sse_head.h) against user space's head parser, as
 * tests/unit/test_sse_head.c has it: a write the kernel follows must be a
 * 2xx event-stream response of identity coding to user space too, of the
 * same head length and framing. A step that makes no progress shows as a
 * timeout.
 */
#include "fuzz.h"
#include "../unit/head_verdict.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct verdict k = kernel_verdict((const char *)data, size), u;

	FUZZ_CHECK(k.head_len <= size, "a head of %u bytes in %zu", k.head_len, size);
	if (!k.framing)
		return 0;
	u = user_verdict((const char *)data, size);
	FUZZ_CHECK(k.framing == u.framing && k.head_len == u.head_len,
		   "kernel: framing %u head %u; user space: %u %u", k.framing, k.head_len,
		   u.framing, u.head_len);
	return 0;
}
