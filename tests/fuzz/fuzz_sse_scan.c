// SPDX-License-Identifier: MIT
/*
 * The kernel's stream scanner (include/sse_scan.h, include/chunk_frame.h)
 * against user space's parsers (proto/chunked, proto/sse, the metrics'
 * buckets), through tests/unit/scan_twins.h as test_sse_scan.c has them:
 * a body (chunked or until close, the input's first byte after the split
 * says which) written in the split's pieces must give both the same
 * counts, bytes, times, buckets and end of body; and the kernel's counts
 * and end of body must not depend on the split.
 */
#include "fuzz.h"
#include "metrics/metrics.h"
#include "../unit/scan_twins.h"

struct twins {
	struct scanner k;
	struct reference r;
	unsigned int writes;
};

/* writes 0, 1, 3, 6, ... ms apart: gaps of several buckets */
static void feed(void *arg, const uint8_t *in, size_t off, size_t len)
{
	struct twins *t = arg;
	uint64_t ts = 1000000000ull + (uint64_t)t->writes * (t->writes + 1) / 2 * 1000000ull;

	if (t->r.o.done || t->r.o.broken)
		return;
	t->writes++;
	scan_write(&t->k, (const char *)in, off, len, ts);
	ref_write(&t->r, (const char *)in, off, len, ts);
}

static struct outcome run(struct fuzz_split *s, __u8 framing, const uint8_t *in, size_t len)
{
	static struct twins t;
	const struct outcome *k = &t.k.o, *r = &t.r.o;

	twins_start(&t.k, &t.r, framing);
	t.writes = 0;
	fuzz_feed(s, in, len, feed, &t);
	twins_end(&t.k, &t.r);
	FUZZ_CHECK(!memcmp(k, r, sizeof(*k)),
		   "kernel: events %llu hb %llu body %llu ev %llu done %d broken %d rest %zu; "
		   "user: %llu %llu %llu %llu %d %d %zu (or times or buckets differ)",
		   (unsigned long long)k->st.data_events, (unsigned long long)k->st.heartbeats,
		   (unsigned long long)k->st.body_bytes, (unsigned long long)k->st.event_bytes,
		   k->done, k->broken, k->rest, (unsigned long long)r->st.data_events,
		   (unsigned long long)r->st.heartbeats, (unsigned long long)r->st.body_bytes,
		   (unsigned long long)r->st.event_bytes, r->done, r->broken, r->rest);
	return *k;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	static struct metrics m;
	struct metrics_config cfg = {.max_paths = 10, .max_models = 10, .idle_ns = 1};

	(void)argc;
	(void)argv;
	if (metrics_init(&m, &cfg))
		abort();
	gap_bounds = m.sse_gap->bounds;
	size_bounds = m.sse_chunk_size->bounds;
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct outcome whole, split;
	struct fuzz_split s;
	uint8_t mode;
	__u8 framing;

	if (!fuzz_split_take_mode(&s, &data, &size, &mode))
		return 0;
	framing = mode & 1 ? SCAN_CHUNKED : SCAN_CLOSE;
	whole = run(NULL, framing, data, size);
	split = run(&s, framing, data, size);
	FUZZ_CHECK(whole.st.data_events == split.st.data_events &&
		       whole.st.heartbeats == split.st.heartbeats &&
		       whole.st.body_bytes == split.st.body_bytes &&
		       whole.st.event_bytes == split.st.event_bytes &&
		       whole.st.size_sum == split.st.size_sum && whole.done == split.done &&
		       whole.broken == split.broken && whole.rest == split.rest,
		   "the kernel's counts differ whole and split");
	return 0;
}
