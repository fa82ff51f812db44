// SPDX-License-Identifier: MIT
/*
 * The kernel's shortcut for a write holding one whole data event
 * (include/sse_fast.h) against its step loop (include/sse_scan.h): every
 * write the shortcut takes, the loop must count the same, leaving the same
 * state; writes it must leave alone, it leaves unchanged. Writes are real
 * servers' events and every one-byte change and cut of them.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "sse_fast.h"

#define TS 1000000000ull

struct side {
	struct sse_scan s;
	struct sse_stats st;
};

static __u8 buf[SCAN_PIECE + SCAN_PAD];

static void load(const char *w, size_t n)
{
	memset(buf, 0x55, sizeof(buf)); /* what follows the write is stale */
	memcpy(buf, w, n);
}

/* A stream past its first event, at a chunk and event boundary. */
static void started(struct side *k, __u8 framing)
{
	static const char first[] = "9\r\n: hello\n\n\r\n";
	__u32 pos = 0, n;

	memset(k, 0, sizeof(*k));
	sse_scan_init(&k->s, framing);
	n = framing == SCAN_CHUNKED ? sizeof(first) - 1 : 9;
	load(framing == SCAN_CHUNKED ? first : first + 3, n);
	while (pos < n)
		pos = sse_scan_step(&k->s, &k->st, buf, pos, n, TS / 2);
}

static void loop_write(struct side *k, const char *w, size_t n)
{
	__u32 pos = 0;

	load(w, n);
	while (pos < n && !sse_scan_done(&k->s) && !sse_scan_broken(&k->s))
		pos = sse_scan_step(&k->s, &k->st, buf, pos, (__u32)n, TS);
}

/* Returns whether the shortcut took the write; fails if it took it
 * otherwise than the loop would, or changed anything when it did not. */
static bool compare(__u8 framing, const char *w, size_t n)
{
	struct side fast, loop, before;
	bool took;

	started(&fast, framing);
	before = loop = fast;
	load(w, n);
	took = sse_fast_event(&fast.s, &fast.st, buf, (__u32)n, TS);
	if (!took) {
		assert_memory_equal(&fast, &before, sizeof(fast));
		return false;
	}
	loop_write(&loop, w, n);
	/* the line prefix is read only up to prefix_len, 0 here */
	assert_int_equal(loop.s.prefix_len, 0);
	memset(loop.s.prefix, 0, sizeof(loop.s.prefix));
	memset(fast.s.prefix, 0, sizeof(fast.s.prefix));
	assert_memory_equal(&fast.s, &loop.s, sizeof(fast.s));
	assert_memory_equal(&fast.st, &loop.st, sizeof(fast.st));
	return true;
}

static size_t chunk(char *out, size_t size, const char *payload)
{
	return (size_t)snprintf(out, size, "%zx\r\n%s\r\n", strlen(payload), payload);
}

static const char *const events[] = {
    "data: {\"id\":\"chatcmpl-1\",\"object\":\"chat.completion.chunk\",\"choices\":"
    "[{\"delta\":{\"content\":\"tok\"}}]}\n\n",
    "data:x\n\n",
    "data: a\ndata: b\n\n",
    "data: a\nevent: delta\nid: 7\n\n",
    "data: a\n: note\n\n",
    "data: [DONE]\n\n",
};

static void test_real_events_taken(void **state)
{
	char w[FAST_MAX + 64];

	(void)state;
	for (size_t i = 0; i < sizeof(events) / sizeof(events[0]); i++) {
		assert_true(compare(SCAN_CHUNKED, w, chunk(w, sizeof(w), events[i])));
		assert_true(compare(SCAN_CLOSE, events[i], strlen(events[i])));
	}
}

/* Sizes at the buckets' bounds (the bound itself is in its bucket), and
 * up to the largest write taken. */
static void test_sizes_at_bounds(void **state)
{
	static const size_t sizes[] = {10, 11, 50, 51, 100, 101, 500, 501};
	char payload[FAST_MAX], w[FAST_MAX + 64];
	struct side k;

	(void)state;
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		size_t n = sizes[i];

		memset(payload, 'x', n);
		memcpy(payload, "data:", 5);
		payload[n - 2] = payload[n - 1] = '\n';
		payload[n] = '\0';
		n = chunk(w, sizeof(w), payload);
		assert_int_equal(compare(SCAN_CHUNKED, w, n), n <= FAST_MAX);
		started(&k, SCAN_CHUNKED);
		load(w, n);
		if (sse_fast_event(&k.s, &k.st, buf, (__u32)n, TS))
			assert_int_equal(k.st.size_sum, sizes[i]);
	}
}

/* Writes the loop must have: several events, a heartbeat, CR line ends,
 * a chunk cut short or longer than the write, a size line with an
 * extension, a body's last chunk. */
static void test_others_left(void **state)
{
	static const char *const writes[] = {
	    "e\r\ndata: a\n\ndata: b\n\n\r\n",
	    "8\r\n: ping\n\n\r\n",
	    "b\r\ndata: a\r\n\r\n\r\n",
	    "a\r\ndata: a\n\n\r\n",
	    "8\r\ndata: a\n\r\n",
	    "9;x=1\r\ndata: a\n\n\r\n",
	    "0\r\n\r\n",
	    "9\r\ndata: a\n\n",
	    "9\r\ndata: a\n\n\r\n9\r\ndata: b\n\n\r\n",
	    "9\r\ndatx: a\n\n\r\n",
	};

	(void)state;
	for (size_t i = 0; i < sizeof(writes) / sizeof(writes[0]); i++)
		assert_false(compare(SCAN_CHUNKED, writes[i], strlen(writes[i])));
}

/* Not between events or chunks (an event held for an LF is not ended):
 * the loop's. */
static void test_mid_stream_left(void **state)
{
	static const char ev[] = "9\r\ndata: a\n\n\r\n";
	struct side k;

	(void)state;
	assert_true(compare(SCAN_CHUNKED, ev, sizeof(ev) - 1));
	started(&k, SCAN_CHUNKED);
	loop_write(&k, "5\r\ndata:", 8); /* in a chunk, in a line */
	load(ev, sizeof(ev) - 1);
	assert_false(sse_fast_event(&k.s, &k.st, buf, sizeof(ev) - 1, TS));
	started(&k, SCAN_CHUNKED);
	loop_write(&k, "c\r\ndata: one\r\n\r\r\n", 17); /* an event held for an LF */
	assert_true(k.s.flags & SCAN_HELD);
	load(ev, sizeof(ev) - 1);
	assert_false(sse_fast_event(&k.s, &k.st, buf, sizeof(ev) - 1, TS));
	memset(&k, 0, sizeof(k));
	sse_scan_init(&k.s, SCAN_CHUNKED); /* a byte order mark may come */
	assert_false(sse_fast_event(&k.s, &k.st, buf, sizeof(ev) - 1, TS));
}

/* Every byte of real writes changed to each byte that matters, and every
 * cut: whatever the shortcut takes, the loop counts alike. */
static void test_mutations_agree(void **state)
{
	static const char swaps[] = {'\r', '\n', ':', 'x', '0', 'a', ';', ' '};
	char w[FAST_MAX + 64];
	size_t taken = 0, tried = 0;

	(void)state;
	for (size_t e = 0; e < sizeof(events) / sizeof(events[0]); e++) {
		for (int f = SCAN_CHUNKED; f <= SCAN_CLOSE; f++) {
			size_t n = f == SCAN_CHUNKED
				       ? chunk(w, sizeof(w), events[e])
				       : (size_t)snprintf(w, sizeof(w), "%s", events[e]);

			for (size_t cut = 1; cut <= n; cut++, tried++)
				taken += compare((__u8)f, w, cut);
			for (size_t i = 0; i < n; i++) {
				char was = w[i];

				for (size_t c = 0; c < sizeof(swaps); c++, tried++) {
					w[i] = swaps[c];
					taken += compare((__u8)f, w, n);
				}
				w[i] = was;
			}
		}
	}
	assert_true(taken > 0 && taken < tried);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_real_events_taken), cmocka_unit_test(test_sizes_at_bounds),
	    cmocka_unit_test(test_others_left),	      cmocka_unit_test(test_mid_stream_left),
	    cmocka_unit_test(test_mutations_agree),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
