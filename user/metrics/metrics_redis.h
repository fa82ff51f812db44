/* SPDX-License-Identifier: MIT */
/*
 * The Redis side of the catalog: cache reads, queue produces, queue
 * depths and command latency of observed Redis clients, from the
 * commands their connections pair with replies (proto/redis_conn.h).
 * Registered in the registry it is given, first label slot the target's
 * as every family about an observed process. No I/O; the caller holds
 * the lock.
 */
#ifndef SSE_METRICS_REDIS_H
#define SSE_METRICS_REDIS_H

#include "metrics/label_cap.h"
#include "metrics/registry.h"
#include "proto/redis_conn.h"

/* Distinct values per service before "other": the command names a
 * client uses, the error prefixes its produces meet. */
#define REDIS_COMMANDS_MAX 64
#define REDIS_REASONS_MAX  16

/* Why a connection's commands stopped being paired with replies
 * (sse_exporter_redis_unpaired_total). */
enum redis_unpaired {
	REDIS_UNPAIRED_GAP,   /* bytes or records not seen, outside a bulk string */
	REDIS_UNPAIRED_PARSE, /* bytes that are not RESP, or a pipeline too deep */
	REDIS_UNPAIRED_REASONS,
};

struct redis_metrics {
	struct family *hits, *misses, *attempts, *successes, *failures, *depth, *duration;
	struct family *unpaired; /* the exporter's own */
	struct label_cap commands, queues, reasons;
};

/* Registers the families in r (r->failed tells a failure); queue names
 * are capped at max_queues per service. */
int redis_metrics_init(struct redis_metrics *rm, struct registry *r, size_t max_queues);
void redis_metrics_free(struct redis_metrics *rm);

/* One command of service's connection, reported once. */
void metrics_redis_command(struct redis_metrics *rm, const char *service,
			   const struct redis_obs *o);

void metrics_redis_unpaired(struct redis_metrics *rm, enum redis_unpaired why);

/* A gone target's values leave the caps (its series are dropped). */
void redis_metrics_forget(struct redis_metrics *rm, const char *service);

/* The caps' drop counts into series_dropped (label "label"). */
void redis_metrics_sync_caps(struct redis_metrics *rm, struct family *series_dropped);

#endif
