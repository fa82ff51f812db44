/* SPDX-License-Identifier: MIT */
/*
 * The client side of the catalog: upstream calls of observed processes,
 * their outcome, latency, tokens, and the circuit breaker such a client
 * would be running. Registered in the registry it is given, with the
 * labels the server side shares. No I/O; the caller holds the lock.
 */
#ifndef SSE_METRICS_UPSTREAM_H
#define SSE_METRICS_UPSTREAM_H

#include "llm/breaker.h"
#include "llm/usage_scan.h"
#include "metrics/labels.h"
#include "metrics/registry.h"
#include "proto/http_conn.h"

#define METRICS_BREAKERS_MAX 256

/* The inferred breaker of one (service, provider). */
struct breaker_slot {
	char service[TARGET_KEY_MAX];
	char provider[64];
	struct breaker b;
};

struct upstream_metrics {
	struct family *requests, *latency, *ttfc, *breaker_failures, *breaker_state, *tokens;
	struct family *bodies_undecoded;  /* the exporter's own, about upstream bodies */
	struct family *lost;		  /* the owner's lost-exchange counter, set by it */
	struct family *streams_undecoded; /* the owner's, set by it */
	struct metric_labels *labels;
	struct breaker_config breaker;
	struct breaker_slot breakers[METRICS_BREAKERS_MAX];
	size_t nbreakers;
};

/* Registers the families in r (r->failed tells a failure). */
void upstream_metrics_init(struct upstream_metrics *u, struct registry *r,
			   struct metric_labels *labels, const struct breaker_config *breaker);

/* The first upstream SSE data event of a call was read at ts. */
void metrics_upstream_first_chunk(struct upstream_metrics *u, const char *service,
				  const char *provider, const struct http_exchange *x, uint64_t ts);

/* A call ended; usage may be NULL. */
void metrics_upstream_end(struct upstream_metrics *u, const char *service, const char *provider,
			  const struct http_exchange *x, enum http_end why, uint64_t ts,
			  const struct usage *usage);

/* A connect that failed: a failed call with no request. */
void metrics_upstream_connect_failed(struct upstream_metrics *u, const char *service,
				     const char *provider, uint64_t ts);

/* Why the token usage of an upstream response body could not be read. */
enum body_undecoded {
	UNDECODED_BR,		 /* Brotli: not decoded */
	UNDECODED_UNSUPPORTED,	 /* another coding, or a chain of codings */
	UNDECODED_INFLATE_ERROR, /* gzip or deflate that zlib refused */
	UNDECODED_CAP,		 /* inflated past BODY_INFLATE_CAP_BYTES */
	UNDECODED_REASONS,
};

void metrics_upstream_undecoded(struct upstream_metrics *u, enum body_undecoded why);

/* A gone target's breakers are forgotten (its series are dropped). */
void metrics_upstream_forget(struct upstream_metrics *u, const char *service);

/* Moves open breakers to half-open as time passes. */
void metrics_breakers_refresh(struct upstream_metrics *u, uint64_t now);

#endif
