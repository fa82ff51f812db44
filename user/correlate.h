/* SPDX-License-Identifier: MIT */
/*
 * Which upstream provider served an inbound SSE stream, for its `provider`
 * label. An asynchronous gateway serves many streams on one thread, so
 * threads say nothing; and timing and event counts, measured, named the
 * wrong provider for a fifth of the streams of a gateway with two busy
 * providers (docs/design.md). So only what is certain is said: each
 * inbound data event looks at the upstream calls of the same process that
 * delivered data since the stream's request began; when all of them, over
 * the stream, belong to one provider, that is the provider. Once two
 * providers were seen the stream is "unknown" for good: never a guess.
 * Pure.
 */
#ifndef SSE_CORRELATE_H
#define SSE_CORRELATE_H

#include <stdbool.h>

#define CORR_PROVIDER_MAX 64

struct correlation {
	bool seen;  /* an upstream call could have fed the stream */
	bool mixed; /* calls of more than one provider could have */
	char provider[CORR_PROVIDER_MAX];
};

void corr_init(struct correlation *k);

/* An upstream call of this provider could have fed the stream. */
void corr_note(struct correlation *k, const char *provider);

/* The provider, or NULL while undecided; with final (the stream ended),
 * "unknown" instead of NULL. */
const char *corr_decide(const struct correlation *k, bool final);

#endif
