/* SPDX-License-Identifier: MIT */
/*
 * The client side of the catalog: upstream calls of observed processes,
 * their outcome, latency, tokens, and the circuit breaker such a client
 * would be running. No I/O; the caller holds the lock.
 */
#ifndef SSE_METRICS_UPSTREAM_H
#define SSE_METRICS_UPSTREAM_H

#include "llm/usage_scan.h"
#include "proto/http_conn.h"

struct metrics;

enum upstream_status {
	UPSTREAM_SUCCESS,
	UPSTREAM_FAILURE,
	UPSTREAM_TIMEOUT,
	UPSTREAM_UNCOUNTED, /* bytes lost, or no request seen */
};

/* What an ended call counts as. */
struct upstream_outcome {
	enum upstream_status status;
	int breaker; /* +1 success, -1 failure, 0 neither (4xx, caller died) */
};

/* Pure: the rules of the spec's client section. x is seen from the
 * caller: its request was written, its response read. why is in the
 * caller's terms: PEER_CLOSED means the caller gave up, SERVER_CLOSE that
 * the provider closed. */
void upstream_classify(const struct http_exchange *x, enum http_end why,
		       struct upstream_outcome *o);

void metrics_add_upstream(struct metrics *m);

/* The first upstream SSE data event of a call was read at ts. */
void metrics_upstream_first_chunk(struct metrics *m, const char *service, const char *provider,
				  const struct http_exchange *x, uint64_t ts);

/* A call ended; usage may be NULL. */
void metrics_upstream_end(struct metrics *m, const char *service, const char *provider,
			  const struct http_exchange *x, enum http_end why, uint64_t ts,
			  const struct usage *usage);

/* A connect that failed: a failed call with no request. */
void metrics_upstream_connect_failed(struct metrics *m, const char *service, const char *provider,
				     uint64_t ts);

/* Why the token usage of an upstream response body could not be read. */
enum body_undecoded {
	UNDECODED_BR,		 /* Brotli: not decoded */
	UNDECODED_UNSUPPORTED,	 /* another coding, or a chain of codings */
	UNDECODED_INFLATE_ERROR, /* gzip or deflate that zlib refused */
	UNDECODED_CAP,		 /* inflated past BODY_INFLATE_CAP_BYTES */
	UNDECODED_REASONS,
};

void metrics_upstream_undecoded(struct metrics *m, enum body_undecoded why);

/* Moves open breakers to half-open as time passes. */
void metrics_breakers_refresh(struct metrics *m, uint64_t now);

#endif
