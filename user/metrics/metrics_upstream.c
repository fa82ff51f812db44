// SPDX-License-Identifier: MIT
#include <stdio.h>
#include <string.h>

#include "metrics/metrics.h"
#include "metrics/metrics_upstream.h"

#define N(a) (sizeof(a) / sizeof((a)[0]))

static const double b_latency[] = {0.1, 0.5, 1, 2, 5, 10, 20, 30};

static const char *const l_calls[] = {"service", "provider", "model", "status"};
static const char *const l_provider[] = {"service", "provider"};
static const char *const l_provider_model[] = {"service", "provider", "model"};
static const char *const l_tokens[] = {"service", "provider", "model", "type"};
static const char *const l_reason[] = {"reason"};

static const char *const status_names[] = {
    [UPSTREAM_SUCCESS] = "success",
    [UPSTREAM_FAILURE] = "failure",
    [UPSTREAM_TIMEOUT] = "timeout",
};

static const char *const undecoded_names[UNDECODED_REASONS] = {
    [UNDECODED_BR] = "br",
    [UNDECODED_UNSUPPORTED] = "unsupported",
    [UNDECODED_INFLATE_ERROR] = "inflate_error",
    [UNDECODED_CAP] = "cap",
};

void metrics_add_upstream(struct metrics *m)
{
	struct registry *r = &m->reg;

	m->up_requests =
	    registry_add(r, "sse_provider_requests_total", "Upstream calls ended, by outcome.",
			 METRIC_COUNTER, l_calls, N(l_calls), NULL, 0);
	m->up_latency =
	    registry_add(r, "sse_provider_latency_seconds",
			 "Upstream calls: request written to response complete.", METRIC_HISTOGRAM,
			 l_provider, N(l_provider), b_latency, N(b_latency));
	m->up_ttfc = registry_add(r, "sse_provider_time_to_first_chunk_seconds",
				  "Upstream calls: request written to first SSE data event read.",
				  METRIC_HISTOGRAM, l_provider_model, N(l_provider_model),
				  metrics_ttfc_buckets, METRICS_TTFC_BUCKETS);
	m->breaker_failures =
	    registry_add(r, "sse_circuit_breaker_failures_total",
			 "Failed upstream calls: connect failure, reset, 5xx, timeout.",
			 METRIC_COUNTER, l_provider, N(l_provider), NULL, 0);
	m->breaker_state =
	    registry_add(r, "sse_circuit_breaker_state",
			 "Inferred breaker state per provider: 0 closed, 1 half-open, 2 open.",
			 METRIC_GAUGE, l_provider, N(l_provider), NULL, 0);
	m->tokens = registry_add(r, "llm_tokens_used_total",
				 "LLM tokens from usage objects of upstream responses.",
				 METRIC_COUNTER, l_tokens, N(l_tokens), NULL, 0);
	m->bodies_undecoded =
	    registry_add(r, "sse_exporter_bodies_undecoded_total",
			 "Upstream response bodies whose token usage could not be read: "
			 "content coding not decoded, or the inflated size cap reached.",
			 METRIC_COUNTER, l_reason, N(l_reason), NULL, 0);
	/* every reason from zero, so that a first occurrence is an increase */
	for (size_t i = 0; m->bodies_undecoded && i < UNDECODED_REASONS; i++)
		metric_add(m->bodies_undecoded, &undecoded_names[i], 0);
}

void metrics_upstream_undecoded(struct metrics *m, enum body_undecoded why)
{
	metric_add(m->bodies_undecoded, &undecoded_names[why], 1);
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
	} else if (why == HTTP_END_PEER_CLOSED) {
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
	if (why == HTTP_END_PEER_CLOSED) /* gave up waiting for the head */
		*o = (struct upstream_outcome){UPSTREAM_TIMEOUT, -1};
	else if (why == HTTP_END_PROCESS_EXIT)
		*o = (struct upstream_outcome){UPSTREAM_FAILURE, 0};
	else
		*o = (struct upstream_outcome){UPSTREAM_FAILURE, -1};
}

static const char *provider_label(struct metrics *m, const char *service, const char *provider,
				  bool at_end)
{
	return label_cap_admit(&m->providers, service, provider, at_end);
}

static struct breaker_slot *breaker_of(struct metrics *m, const char *service, const char *provider)
{
	struct breaker_slot *s;

	for (size_t i = 0; i < m->nbreakers; i++) {
		s = &m->breakers[i];
		if (!strcmp(s->service, service) && !strcmp(s->provider, provider))
			return s;
	}
	if (m->nbreakers == METRICS_BREAKERS_MAX)
		return NULL;
	s = &m->breakers[m->nbreakers++];
	snprintf(s->service, sizeof(s->service), "%s", service);
	snprintf(s->provider, sizeof(s->provider), "%s", provider);
	breaker_init(&s->b);
	return s;
}

static void set_breaker_gauge(struct metrics *m, const struct breaker_slot *s, uint64_t now)
{
	metric_set(m->breaker_state, (const char *const[]){s->service, s->provider},
		   breaker_state(&s->b, &m->cfg.breaker, now));
}

static void breaker_note(struct metrics *m, const char *service, const char *provider, int result,
			 uint64_t ts)
{
	struct breaker_slot *s;

	if (result < 0)
		metric_add(m->breaker_failures, (const char *const[]){service, provider}, 1);
	if (!result)
		return;
	s = breaker_of(m, service, provider);
	if (!s)
		return;
	breaker_record(&s->b, &m->cfg.breaker, result > 0, ts);
	set_breaker_gauge(m, s, ts);
}

void metrics_breakers_refresh(struct metrics *m, uint64_t now)
{
	for (size_t i = 0; i < m->nbreakers; i++)
		set_breaker_gauge(m, &m->breakers[i], now);
}

void metrics_upstream_first_chunk(struct metrics *m, const char *service, const char *provider,
				  const struct http_exchange *x, uint64_t ts)
{
	if (!x->has_request || !x->req.complete || ts < x->req.t_last)
		return;
	metric_observe(m->up_ttfc,
		       (const char *const[]){service, provider_label(m, service, provider, false),
					     metrics_model_label(m, service, x, false)},
		       seconds(ts - x->req.t_last));
}

static void add_tokens(struct metrics *m, const char *const *labels3, const struct usage *u)
{
	const int64_t v[] = {u->prompt, u->completion, u->total};
	const char *const types[] = {"prompt", "completion", "total"};

	for (size_t i = 0; i < N(v); i++)
		if (v[i] > 0)
			metric_add(
			    m->tokens,
			    (const char *const[]){labels3[0], labels3[1], labels3[2], types[i]},
			    v[i]);
}

void metrics_upstream_end(struct metrics *m, const char *service, const char *provider,
			  const struct http_exchange *x, enum http_end why, uint64_t ts,
			  const struct usage *usage)
{
	struct upstream_outcome o;
	const char *p, *model;

	upstream_classify(x, why, &o);
	if (o.status == UPSTREAM_UNCOUNTED) {
		metrics_lost(m, service, x, why);
		return;
	}
	p = provider_label(m, service, provider, true);
	model = metrics_model_label(m, service, x, true);
	metric_add(m->up_requests, (const char *const[]){service, p, model, status_names[o.status]},
		   1);
	if (x->responded && x->req.complete && ts >= x->req.t_last)
		metric_observe(m->up_latency, (const char *const[]){service, p},
			       seconds(ts - x->req.t_last));
	if (usage)
		add_tokens(m, (const char *const[]){service, p, model}, usage);
	breaker_note(m, service, p, o.breaker, ts);
}

void metrics_upstream_connect_failed(struct metrics *m, const char *service, const char *provider,
				     uint64_t ts)
{
	const char *p = provider_label(m, service, provider, true);

	metric_add(m->up_requests, (const char *const[]){service, p, "unknown", "failure"}, 1);
	breaker_note(m, service, p, -1, ts);
}
