// SPDX-License-Identifier: MIT
#include <stddef.h>

#include "metrics/outcome.h"

bool exchange_is_sse(const struct http_exchange *x)
{
	return x->sse || (x->has_request && x->req.wants_stream);
}

static const char *stage_of(const struct http_exchange *x)
{
	if (x->has_request && !x->req.complete)
		return "request";
	if (!x->t_first_data)
		return "first_byte";
	return "streaming";
}

static void by_status(int code, struct outcome *o)
{
	if (code == 429) {
		o->status = "rate_limited";
	} else if (code == 408 || code == 504) {
		o->status = "timeout";
		o->error_type = "timeout";
	} else if (code >= 500) {
		o->status = "failure";
		o->error_type = "server_error";
	} else if (code >= 400) {
		o->status = "failure";
	} else {
		o->status = "success";
	}
}

void outcome_classify(const struct http_exchange *x, enum http_end why, uint64_t ts,
		      uint64_t idle_ns, struct outcome *o)
{
	o->status = "failure";
	o->error_type = NULL;
	o->stage = stage_of(x);
	switch (why) {
	case HTTP_END_COMPLETE:
	case HTTP_END_LOST_BYTES:
	case HTTP_END_LOST_FRAMING:
	case HTTP_END_LOST_CLOSE:
		by_status(x->status, o);
		break;
	case HTTP_END_REQUESTER_CLOSED:
		o->status = "client_closed";
		o->error_type = "client_disconnect";
		break;
	case HTTP_END_RESET:
		o->status = "client_closed";
		o->error_type = "connection_reset";
		break;
	case HTTP_END_RESPONDER_CLOSED:
		if (x->responded && ts - x->t_last_write >= idle_ns) {
			o->status = "timeout";
			o->error_type = "timeout";
		} else {
			o->error_type = "stream_truncated";
		}
		break;
	case HTTP_END_PROCESS_EXIT:
		o->error_type = "stream_truncated";
		break;
	}
}

static void classify_answered(const struct http_exchange *x, enum http_end why,
			      struct upstream_outcome *o)
{
	if (x->status == 408 || x->status == 504) {
		*o = (struct upstream_outcome){UPSTREAM_TIMEOUT, -1};
	} else if (x->status >= 500) {
		*o = (struct upstream_outcome){UPSTREAM_FAILURE, -1};
	} else if (x->status >= 400) {
		*o = (struct upstream_outcome){UPSTREAM_FAILURE, 0};
	} else if (why == HTTP_END_COMPLETE) {
		*o = (struct upstream_outcome){UPSTREAM_SUCCESS, 1};
	} else if (why == HTTP_END_REQUESTER_CLOSED) {
		*o = (struct upstream_outcome){UPSTREAM_TIMEOUT, -1};
	} else if (why == HTTP_END_PROCESS_EXIT) {
		*o = (struct upstream_outcome){UPSTREAM_FAILURE, 0};
	} else { /* reset, or the provider closed before the body ended */
		*o = (struct upstream_outcome){UPSTREAM_FAILURE, -1};
	}
}

void upstream_classify(const struct http_exchange *x, enum http_end why, struct upstream_outcome *o)
{
	if (http_end_lost(why) || !x->has_request) {
		*o = (struct upstream_outcome){UPSTREAM_UNCOUNTED, 0};
		return;
	}
	if (x->responded) {
		classify_answered(x, why, o);
		return;
	}
	if (why == HTTP_END_REQUESTER_CLOSED) /* gave up waiting for the head */
		*o = (struct upstream_outcome){UPSTREAM_TIMEOUT, -1};
	else if (why == HTTP_END_PROCESS_EXIT)
		*o = (struct upstream_outcome){UPSTREAM_FAILURE, 0};
	else
		*o = (struct upstream_outcome){UPSTREAM_FAILURE, -1};
}

const char *outcome_lost(const struct http_exchange *x, enum http_end why)
{
	switch (why) {
	case HTTP_END_LOST_BYTES:
		return "bytes_missed";
	case HTTP_END_LOST_FRAMING:
		return "framing";
	case HTTP_END_LOST_CLOSE:
		return "close_unseen";
	default:
		return x->responded && !x->has_request ? "no_request" : NULL;
	}
}
