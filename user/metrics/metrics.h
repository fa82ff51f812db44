/* SPDX-License-Identifier: MIT */
/*
 * The metric catalog of docs/metrics.md and the rules that turn observed
 * exchanges into it. No I/O; the caller holds the lock.
 */
#ifndef SSE_METRICS_H
#define SSE_METRICS_H

#include "llm/breaker.h"
#include "metrics/labels.h"
#include "metrics/metrics_redis.h"
#include "metrics/metrics_upstream.h"
#include "metrics/registry.h"
#include "proto/http_conn.h"

struct metrics_config {
	size_t max_paths;  /* per service */
	size_t max_models; /* per service */
	uint64_t idle_ns;  /* server closing a stream silent this long: timeout */
	struct breaker_config breaker;
};

struct metrics {
	struct registry reg;
	struct metrics_config cfg;
	struct metric_labels labels;

	/* server side */
	struct family *sse_active, *sse_requests, *sse_request_duration, *sse_stream_duration,
	    *sse_ttfc, *sse_gap, *sse_chunk_size, *sse_chunks, *sse_heartbeats, *sse_bytes,
	    *sse_stage, *sse_errors, *sse_rate_limited, *http_requests, *http_duration, *http_conns;

	struct upstream_metrics up; /* client side */
	struct redis_metrics redis; /* Redis clients */

	/* the exporter itself */
	struct family *build_info, *prog_attached, *events_lost, *map_entries, *map_max,
	    *series_dropped, *tracked_procs, *scrape_duration, *bytes_uncopied, *exchanges_lost,
	    *conns_untracked, *tls_libraries, *tls_unmapped, *map_errors, *target_info,
	    *series_expired, *kubelet_polls, *kstreams, *kstream_fallbacks, *kernel_feature,
	    *streams_undecoded;
};

/* Why a stream was not counted in the kernel, or not to its end
 * (sse_exporter_kernel_stream_fallbacks_total). */
enum kstream_fallback {
	KSTREAM_FELL_MAP_FULL,	   /* no room in the kstreams map: copied instead */
	KSTREAM_FELL_DISAGREEMENT, /* user space read the head otherwise */
	KSTREAM_FELL_FRAMING,	   /* the chunk framing broke */
	KSTREAM_FELL_UNFOLLOWED,   /* a write the kernel could not read whole */
	KSTREAM_FELL_END_LOST,	   /* the end record was lost */
	KSTREAM_FALLBACKS,
};

void metrics_kstream_fallback(struct metrics *m, enum kstream_fallback why, uint64_t n);
/* The kernel's count of streams it had no room for. */
void metrics_kstreams_map_full(struct metrics *m, uint64_t total);

/* What sse_exporter_target_info tells of one observed process beside its
 * target key ("" for what does not apply). */
struct target_facts {
	const char *container_id, *pod_uid, *image, *comm;
	int pid;
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
void metrics_end(struct metrics *m, const char *service, const struct http_exchange *x,
		 struct metrics_stream *st, const char *provider, enum http_end why, uint64_t ts);

/* What the kernel counted on a stream (include/kstream.h) between the
 * figures was and now, added as metrics_event would have one event at a
 * time. */
void metrics_stream_figures(struct metrics *m, const char *service, const struct http_exchange *x,
			    struct metrics_stream *st, const struct sse_stats *was,
			    const struct sse_stats *now);

/* Correlation named the stream's provider: held events are counted. */
void metrics_stream_provider(struct metrics *m, const char *service, struct metrics_stream *st,
			     const char *provider);

/* An observed process appears in, and leaves, sse_exporter_target_info. */
void metrics_target_up(struct metrics *m, const char *key, const struct target_facts *f);
void metrics_target_down(struct metrics *m, const char *key, const struct target_facts *f);

/* A target without processes for --series.stale-after: its series and
 * label caps are dropped, the series counted in series_expired. */
void metrics_forget_target(struct metrics *m, const char *key);

/* The kubelet poller's counts so far. */
void metrics_kubelet_polls(struct metrics *m, uint64_t ok, uint64_t failed);

/* Copies the label caps' drop counts into series_dropped. */
void metrics_sync_caps(struct metrics *m);

#endif
