/* SPDX-License-Identifier: MIT */
/*
 * Upstream calls: the HTTP/1.x requests observed processes send on
 * connections they opened. Each client connection gets an upstream_call
 * that receives its http_conn callbacks (requests are what the process
 * writes, responses what it reads), extracts token usage from response
 * bodies, remembers the data events it reads for the correlation of
 * inbound streams with upstream calls, and sits in a per-process index
 * for that correlation's fallback.
 */
#ifndef SSE_UPSTREAM_H
#define SSE_UPSTREAM_H

#include <stdbool.h>
#include <stdint.h>

#include "conn_event.h"
#include "llm/correlate.h"
#include "llm/provider.h"
#include "llm/usage_scan.h"
#include "metrics/metrics_upstream.h"
#include "proto/body_inflate.h"
#include "proto/http_conn.h"

#define UPSTREAM_BUCKETS 1024
#define UPSTREAM_LEARNED 128 /* remembered address -> provider pairs */
#define UPSTREAM_ENDED	 256 /* calls remembered after they ended */

struct upstream_call {
	struct upstream_call *next, **pprev; /* in the index, by process */
	struct upstream_index *idx;
	uint32_t tgid;
	const char *service;
	struct conn_addr remote;
	char provider[PROVIDER_NAME_MAX];
	struct usage_scan usage;
	bool usage_on;
	uint64_t t_last_data; /* last response data (SSE data event or body bytes) read */
	uint64_t call;	      /* number of the exchange under way, for the correlation */

	/* a gzip or deflate body, inflated for the usage scan */
	struct body_inflate inflate;
	/* the body's usage is unreadable past here (and counted) */
	bool undecoded;
};

struct learned_addr {
	struct conn_addr addr;
	char provider[PROVIDER_NAME_MAX];
};

/* A call that ended (or a connect that failed): its connection may be
 * gone before the gateway answers its own client. */
struct ended_call {
	uint32_t tgid;
	uint64_t t_end;
	char provider[PROVIDER_NAME_MAX];
};

struct upstream_index {
	struct upstream_metrics *m;
	const struct provider_map *providers;
	struct upstream_call *buckets[UPSTREAM_BUCKETS];
	struct learned_addr learned[UPSTREAM_LEARNED];
	unsigned int learned_next;
	struct ended_call ended[UPSTREAM_ENDED];
	unsigned int ended_next;
	struct corr_index events; /* data events read, by hash */
	uint64_t calls;		  /* exchanges answered so far */
};

extern const struct http_conn_ops upstream_ops;

void upstream_index_init(struct upstream_index *idx, struct upstream_metrics *m,
			 const struct provider_map *providers);

void upstream_call_init(struct upstream_call *u, struct upstream_index *idx, uint32_t tgid,
			const char *service, const struct conn_addr *remote);
void upstream_call_release(struct upstream_call *u);

/* A connect to remote failed: a failed call, provider by address. */
void upstream_connect_failed(struct upstream_index *idx, uint32_t tgid, const char *service,
			     const struct conn_addr *remote, uint64_t ts);

/* The upstream calls of process tgid, and of others sharing its bucket:
 * callers check tgid. */
const struct upstream_call *upstream_first(const struct upstream_index *idx, uint32_t tgid);

/* Correlation fallback: notes in k the provider of every call of process
 * tgid that read data (live calls) or ended (calls ended or connects
 * failed lately) at or after since. */
void upstream_note_since(const struct upstream_index *idx, uint32_t tgid, uint64_t since,
			 struct correlation *k);

#endif
