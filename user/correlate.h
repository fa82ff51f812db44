/* SPDX-License-Identifier: MIT */
/*
 * Which upstream call served an inbound SSE stream, for its `provider`
 * label. An asynchronous gateway serves many streams on one thread, so
 * threads say nothing; what links a stream to its upstream call is time:
 * a gateway forwards each upstream event soon after reading it, so the
 * upstream call that delivered data last before an inbound event was
 * written is, more often than any other, the one feeding that stream.
 * Each inbound data event votes for that call; a call wins with a clear
 * majority. When every upstream call under way belongs to one provider,
 * no vote is needed. Otherwise it stays undecided, and a stream that ends
 * undecided is labelled "unknown": never a guess. docs/design.md has the
 * reasoning and the measured accuracy. Pure.
 */
#ifndef SSE_CORRELATE_H
#define SSE_CORRELATE_H

#include <stdbool.h>
#include <stdint.h>

#define CORR_SLOTS	  8
#define CORR_PROVIDER_MAX 64
#define CORR_MIN_VOTES	  3 /* a winner needs this many votes ... */
#define CORR_MARGIN	  2 /* ... and this many times the runner-up's */

struct corr_candidate {
	uint64_t call; /* upstream call id */
	uint32_t votes;
	char provider[CORR_PROVIDER_MAX];
};

struct correlation {
	struct corr_candidate cand[CORR_SLOTS];
	uint32_t votes;	  /* events that saw an upstream call */
	bool mixed;	  /* calls of more than one provider were under way */
	char only[CORR_PROVIDER_MAX]; /* the provider, while not mixed */
};

void corr_init(struct correlation *k);

/* One inbound data event: call delivered upstream data last before it;
 * mixed says calls of another provider were under way as well. */
void corr_vote(struct correlation *k, uint64_t call, const char *provider, bool mixed);

/* The provider, or NULL while undecided; with final (the stream ended),
 * "unknown" instead of NULL. */
const char *corr_decide(const struct correlation *k, bool final);

#endif
