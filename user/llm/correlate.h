/* SPDX-License-Identifier: MIT */
/*
 * Which upstream provider served an inbound SSE stream, for its `provider`
 * label. An asynchronous gateway serves many streams on one thread, so
 * threads say nothing, and timing and event counts named the wrong
 * provider for a fifth of the streams of a gateway with two busy
 * providers (docs/design.md). What does tell is content: a gateway that
 * relays events passes their data on unchanged. Every data event read
 * from an upstream call is remembered by a hash of its data, per process,
 * with the call's provider; an inbound stream whose data event has the
 * hash of one that a single upstream call delivered was served by that
 * call's provider. Data that several calls delivered ("[DONE]", a
 * provider's fixed events) is no evidence: a call not seen (lost events,
 * a TLS library not hooked) may have delivered it too. Providers put a
 * unique id in every event (OpenAI) or in the first (Anthropic).
 *
 * A stream none of whose events matched (a gateway that rewrites events)
 * falls back to the calls of the same process that delivered data while
 * it ran: when all of them, over the stream, belong to one provider, that
 * is the provider. Otherwise "unknown": never a guess. Pure.
 */
#ifndef SSE_CORRELATE_H
#define SSE_CORRELATE_H

#include <stdbool.h>
#include <stdint.h>

#define CORR_PROVIDER_MAX 64
#define CORR_INDEX_SLOTS  8192
#define CORR_INDEX_TTL_NS (30ull * 1000000000ull)

struct correlation {
	bool matched; /* content matched: matched_provider is the answer */
	bool seen;    /* an upstream call could have fed the stream */
	bool mixed;   /* calls of more than one provider could have */
	char matched_provider[CORR_PROVIDER_MAX];
	char provider[CORR_PROVIDER_MAX]; /* of the calls seen, unless mixed */
};

void corr_init(struct correlation *k);

/* A data event of the stream was data an upstream call of this provider
 * delivered. */
void corr_match(struct correlation *k, const char *provider);

/* Fallback: an upstream call of this provider delivered data while the
 * stream ran. */
void corr_note(struct correlation *k, const char *provider);

/* The provider, or NULL while undecided; with final (the stream ended),
 * the fallback's answer or "unknown" instead of NULL. */
const char *corr_decide(const struct correlation *k, bool final);

/* Upstream data events by hash: process, call, provider, last seen. */
struct corr_entry {
	uint64_t hash;
	uint64_t t_ns;
	uint64_t call; /* upstream_call's number */
	uint32_t tgid;
	bool common; /* delivered by more than one call */
	char provider[CORR_PROVIDER_MAX];
};

struct corr_index {
	struct corr_entry slots[CORR_INDEX_SLOTS];
};

void corr_index_init(struct corr_index *ix);
void corr_index_learn(struct corr_index *ix, uint32_t tgid, uint64_t call, uint64_t hash,
		      const char *provider, uint64_t now_ns);

/* The provider of the one call that delivered data of this hash to
 * process tgid in the last CORR_INDEX_TTL_NS, or NULL. */
const char *corr_index_find(const struct corr_index *ix, uint32_t tgid, uint64_t hash,
			    uint64_t now_ns);

#endif
