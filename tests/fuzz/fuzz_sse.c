// SPDX-License-Identifier: MIT
/*
 * proto/sse: an event-stream body fed whole and in pieces gives the same
 * events (kind, size, data hash, in order) and the same data bytes; the
 * events' sizes add up to no more than the body, and each data event's
 * hash is that of the data bytes handed out for it.
 */
#include <string.h>

#include "fuzz.h"
#include "proto/sse.h"

struct run {
	struct sse_splitter s;
	size_t events;
	uint64_t events_hash; /* of every event's kind, size and data hash */
	uint64_t event_bytes;
	uint64_t data_hash; /* of the data handed out for the event being read */
	uint64_t all_data;  /* of all the data handed out */
};

static void on_data(void *arg, const char *buf, size_t len)
{
	struct run *r = arg;

	FUZZ_CHECK(len > 0, "an empty data span");
	r->data_hash = fuzz_hash(r->data_hash, buf, len);
	r->all_data = fuzz_hash(r->all_data, buf, len);
}

static void on_event(void *arg, const struct sse_event *ev)
{
	struct run *r = arg;
	uint64_t key[3] = {ev->kind, ev->size, ev->data_hash};

	FUZZ_CHECK(ev->size > 0, "an event of no bytes");
	FUZZ_CHECK(ev->kind != SSE_EVENT_DATA || ev->data_hash == r->data_hash,
		   "the event's hash is not its data's");
	r->data_hash = FUZZ_HASH_INIT;
	r->events++;
	r->event_bytes += ev->size;
	r->events_hash = fuzz_hash(r->events_hash, key, sizeof(key));
}

static void feed(void *arg, const uint8_t *buf, size_t off, size_t len)
{
	struct run *r = arg;

	sse_feed(&r->s, (const char *)buf + off, len, on_event, r);
}

static void run(void *arg, struct fuzz_split *s, const uint8_t *buf, size_t len)
{
	struct run *r = arg;
	memset(r, 0, sizeof(*r));
	sse_splitter_init(&r->s, on_data);
	r->events_hash = r->data_hash = r->all_data = FUZZ_HASH_INIT;
	fuzz_feed(s, buf, len, feed, r);
	sse_finish(&r->s, on_event, r);
	FUZZ_CHECK(r->event_bytes <= len, "events of %llu bytes in a body of %zu",
		   (unsigned long long)r->event_bytes, len);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct run whole, split;

	if (!fuzz_whole_and_split(data, size, run, &whole, &split))
		return 0;
	FUZZ_CHECK(whole.events == split.events && whole.events_hash == split.events_hash &&
		       whole.all_data == split.all_data,
		   "%zu events whole, %zu split (or their sizes, kinds or data differ)",
		   whole.events, split.events);
	return 0;
}
