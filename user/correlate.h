/* SPDX-License-Identifier: MIT */
/*
 * Which upstream call served an inbound SSE stream, for its `provider`
 * label. An asynchronous gateway serves many streams on one thread, so
 * threads say nothing; and timing and event counts, measured, named the
 * wrong provider for a fifth of the streams of a gateway with two busy
 * providers (docs/design.md). So only what is certain is said: each
 * inbound data event lists the upstream calls of the same process that
 * delivered data since the stream's request began; when all of them, over
 * the stream, belong to one provider, that is the provider. Otherwise the
 * stream is labelled "unknown": never a guess. Pure.
 */
#ifndef SSE_CORRELATE_H
#define SSE_CORRELATE_H

#include <stdbool.h>
#include <stdint.h>

#define CORR_SLOTS	  16
#define CORR_PROVIDER_MAX 64

struct corr_candidate {
	uint64_t call; /* upstream call id */
	uint32_t votes;
	char provider[CORR_PROVIDER_MAX];
};

struct correlation {
	struct corr_candidate cand[CORR_SLOTS];
	uint32_t events; /* inbound data events that looked for a call */
};

void corr_init(struct correlation *k);

/* One inbound data event: corr_event once, then corr_vote for every call
 * that could have fed it. */
void corr_event(struct correlation *k);
void corr_vote(struct correlation *k, uint64_t call, const char *provider);

/* The provider, or NULL while undecided; with final (the stream ended),
 * "unknown" instead of NULL. */
const char *corr_decide(const struct correlation *k, bool final);

#endif
