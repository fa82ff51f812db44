/* SPDX-License-Identifier: MIT */
/*
 * The metric catalog of ../shared/spec/metrics.md and the rules that turn
 * observed exchanges into it. No I/O; the caller holds the lock.
 */
#ifndef SSE_METRICS_H
#define SSE_METRICS_H

#include "llm/breaker.h"
#include "metrics/label_cap.h"
#include "metrics/metrics_upstream.h"
#include "metrics/registry.h"
#include "proto/http_conn.h"

#define METRICS_BREAKERS_MAX 256
#define METRICS_TTFC_BUCKETS 16

/* Upstream time to first chunk has the same buckets as the inbound one. */
extern const double metrics_ttfc_buckets[METRICS_TTFC_BUCKETS];

/* Nanoseconds to seconds, exactly on bucket bounds. */
double seconds(uint64_t ns);

struct metrics_config {
	size_t max_paths;  /* per service */
	size_t max_models; /* per service */
	uint64_t idle_ns;  /* server closing a stream silent this long: timeout */
	struct breaker_config breaker;
};

/* The inferred breaker of one (service, provider). */
struct breaker_slot {
	char service[64];
	char provider[64];
	struct breaker b;
};

struct metrics {
	struct registry reg;
	struct metrics_config cfg;
	struct label_cap paths;
	struct label_cap models;
	struct label_cap providers;
	struct breaker_slot breakers[METRICS_BREAKERS_MAX];
	size_t nbreakers;

	/* server side */
	struct family *sse_active, *sse_requests, *sse_request_duration, *sse_stream_duration,
	    *sse_ttfc, *sse_gap, *sse_chunk_size, *sse_chunks, *sse_heartbeats, *sse_bytes,
	    *sse_stage, *sse_errors, *sse_rate_limited, *http_requests, *http_duration, *http_conns;

	/* client side */
	struct family *up_requests, *up_latency, *up_ttfc, *breaker_failures, *breaker_state,
	    *tokens;
	struct family *bodies_undecoded; /* the exporter's own, about upstream bodies */

	/* the exporter itself */
	struct family *build_info, *prog_attached, *events_lost, *map_entries, *map_max,
	    *series_dropped, *tracked_procs, *scrape_duration, *bytes_uncopied, *exchanges_lost,
	    *conns_untracked, *tls_libraries, *tls_unmapped;
};

/* The series one SSE stream updates on every event, resolved when its
 * response head is written: events then cost no label hashing. */
struct metrics_stream {
	const char *path;
	struct series *bytes, *heartbeats, *chunks, *chunk_size, *gap;
	/* the upstream provider, once correlation tells (NULL before): data
	 * events are held in chunks_pending until then */
	const char *provider;
	uint64_t chunks_pending;
};

int metrics_init(struct metrics *m, const struct metrics_config *cfg);
void metrics_free(struct metrics *m);

/* Connection lifecycle of an observed server. */
void metrics_conn_open(struct metrics *m, const char *service);
void metrics_conn_close(struct metrics *m, const char *service);

/* The http_conn_ops callbacks, with the connection's service; st is the
 * connection's stream cache, filled by metrics_response for SSE. */
void metrics_response(struct metrics *m, const char *service, const struct http_exchange *x,
		      struct metrics_stream *st);
void metrics_event(struct metrics *m, const char *service, const struct http_exchange *x,
		   struct metrics_stream *st, const struct sse_event *ev, uint64_t ts,
		   uint64_t prev_event);
/* provider: of a request for a stream answered without events (NULL:
 * unknown); a stream's own is in st. */
/* Counts an exchange whose outcome is unknown (outcome_lost); false when
 * it is known. */
bool metrics_lost(struct metrics *m, const char *service, const struct http_exchange *x,
		  enum http_end why);
void metrics_end(struct metrics *m, const char *service, const struct http_exchange *x,
		 struct metrics_stream *st, const char *provider, enum http_end why, uint64_t ts);

/* The `model` label of an exchange (capped; "unknown" without one). */
const char *metrics_model_label(struct metrics *m, const char *service,
				const struct http_exchange *x, bool at_end);

/* Correlation named the stream's provider: held events are counted. */
void metrics_stream_provider(struct metrics *m, const char *service, struct metrics_stream *st,
			     const char *provider);

/* Copies the label caps' drop counts into series_dropped. */
void metrics_sync_caps(struct metrics *m);

#endif
