/* SPDX-License-Identifier: MIT */
/*
 * A client connection recognised as Redis by its first write
 * (include/resp_classify.h, the kernel's test on the same bytes): its
 * bytes go to a redis_conn instead of an http_conn, each paired command
 * to the metrics. A connection whose commands can no longer be paired is
 * counted once, and the kernel stops copying it when nothing it waits
 * for can come any more.
 */
#ifndef SSE_REDIS_TRACK_H
#define SSE_REDIS_TRACK_H

#include <stdbool.h>
#include <stdint.h>

#include "proto/redis_conn.h"
#include "track/conn_table.h"

struct redis_track {
	struct redis_conn conn;
	bool unpaired; /* counted in sse_exporter_redis_unpaired_total */
	bool ended;    /* closed, or no longer copied */
};

/* Whether ev, the first record of e seen, starts a Redis client's
 * connection. */
bool redis_track_claims(const struct conn_entry *e, const struct data_event *ev);

/* e's redis_track; -1 without memory. */
int redis_track_start(struct conn_entry *e);

/* Frees t (NULL is none). */
void redis_track_free(struct redis_track *t);

/* e's bytes: commands (the client's writes) or replies, seen or not. */
void redis_track_bytes(struct conn_entry *e, bool commands, const char *buf, size_t len,
		       uint64_t ts);
void redis_track_skip(struct conn_entry *e, bool commands, uint64_t n, uint64_t ts);

/* Records of e were lost whole. */
void redis_track_gap(struct conn_entry *e, uint64_t ts);

/* e ended: the commands waiting end with it. */
void redis_track_close(struct conn_entry *e, uint64_t ts);

#endif
