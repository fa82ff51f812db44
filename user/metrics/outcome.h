/* SPDX-License-Identifier: MIT */
/*
 * How an exchange ended, in the words of docs/metrics.md: the `status` of
 * sse_requests_total and the `error_type`/`stage` of sse_errors_total for
 * a served request, the `status` and breaker effect of an upstream call.
 * Pure.
 */
#ifndef SSE_OUTCOME_H
#define SSE_OUTCOME_H

#include "proto/http_conn.h"

struct outcome {
	const char *status;	/* success, failure, rate_limited, client_closed, timeout */
	const char *error_type; /* NULL when the exchange is not an error */
	const char *stage;	/* request, first_byte, streaming */
};

/* An SSE request asks for a stream or is answered with one. */
bool exchange_is_sse(const struct http_exchange *x);

/* idle_ns: a server closing a stream silent for this long timed it out. */
void outcome_classify(const struct http_exchange *x, enum http_end why, uint64_t ts,
		      uint64_t idle_ns, struct outcome *o);

enum upstream_status {
	UPSTREAM_SUCCESS,
	UPSTREAM_FAILURE,
	UPSTREAM_TIMEOUT,
	UPSTREAM_UNCOUNTED, /* bytes lost, or no request seen */
};

/* What an ended upstream call counts as. */
struct upstream_outcome {
	enum upstream_status status;
	int breaker; /* +1 success, -1 failure, 0 neither (4xx, caller died) */
};

/* The rules of docs/metrics.md's client side. The observed process is
 * the requester: REQUESTER_CLOSED means it gave up, RESPONDER_CLOSED that
 * the provider closed. */
void upstream_classify(const struct http_exchange *x, enum http_end why,
		       struct upstream_outcome *o);

/* Why nobody can tell how an exchange ended, NULL when it is known: the
 * `reason` of sse_exporter_exchanges_lost_total. "no_request": a response
 * whose request was not seen (its bytes were missed, or the connection was
 * adopted mid-exchange). */
const char *outcome_lost(const struct http_exchange *x, enum http_end why);

#endif
