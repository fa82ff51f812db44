// SPDX-License-Identifier: MIT
#include <stdio.h>
#include <string.h>

#include "metrics/metrics_upstream.h"
#include "metrics/outcome.h"

#define N(a) (sizeof(a) / sizeof((a)[0]))

static const double b_latency[] = {0.1, 0.5, 1, 2, 5, 10, 20, 30};

static const char *const l_calls[] = {TARGET_LABELS, "provider", "model", "status"};
static const char *const l_provider[] = {TARGET_LABELS, "provider"};
static const char *const l_provider_model[] = {TARGET_LABELS, "provider", "model"};
static const char *const l_tokens[] = {TARGET_LABELS, "provider", "model", "type"};
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

void upstream_metrics_init(struct upstream_metrics *u, struct registry *r,
			   struct metric_labels *labels, const struct breaker_config *breaker)
{
	u->labels = labels;
	u->breaker = *breaker;
	u->nbreakers = 0;
	u->requests =
	    registry_add(r, "sse_provider_requests_total", "Upstream calls ended, by outcome.",
			 METRIC_COUNTER, l_calls, N(l_calls), NULL, 0);
	u->latency =
	    registry_add(r, "sse_provider_latency_seconds",
			 "Upstream calls: request written to response complete.", METRIC_HISTOGRAM,
			 l_provider, N(l_provider), b_latency, N(b_latency));
	u->ttfc = registry_add(r, "sse_provider_time_to_first_chunk_seconds",
			       "Upstream calls: request written to first SSE data event read.",
			       METRIC_HISTOGRAM, l_provider_model, N(l_provider_model),
			       metrics_ttfc_buckets, METRICS_TTFC_BUCKETS);
	u->breaker_failures =
	    registry_add(r, "sse_circuit_breaker_failures_total",
			 "Failed upstream calls: connect failure, reset, 5xx, timeout.",
			 METRIC_COUNTER, l_provider, N(l_provider), NULL, 0);
	u->breaker_state =
	    registry_add(r, "sse_circuit_breaker_state",
			 "Inferred breaker state per provider: 0 closed, 1 half-open, 2 open.",
			 METRIC_GAUGE, l_provider, N(l_provider), NULL, 0);
	u->tokens = registry_add(r, "llm_tokens_used_total",
				 "LLM tokens from usage objects of upstream responses.",
				 METRIC_COUNTER, l_tokens, N(l_tokens), NULL, 0);
	u->bodies_undecoded =
	    registry_add(r, "sse_exporter_bodies_undecoded_total",
			 "Upstream response bodies whose token usage could not be read: "
			 "content coding not decoded, or the inflated size cap reached.",
			 METRIC_COUNTER, l_reason, N(l_reason), NULL, 0);
	/* every reason from zero, so that a first occurrence is an increase */
	for (size_t i = 0; u->bodies_undecoded && i < UNDECODED_REASONS; i++)
		metric_add(u->bodies_undecoded, &undecoded_names[i], 0);
}

void metrics_upstream_undecoded(struct upstream_metrics *u, enum body_undecoded why)
{
	metric_add(u->bodies_undecoded, &undecoded_names[why], 1);
}

static struct breaker_slot *breaker_of(struct upstream_metrics *u, const char *service,
				       const char *provider)
{
	struct breaker_slot *s;

	for (size_t i = 0; i < u->nbreakers; i++) {
		s = &u->breakers[i];
		if (!strcmp(s->service, service) && !strcmp(s->provider, provider))
			return s;
	}
	if (u->nbreakers == METRICS_BREAKERS_MAX)
		return NULL;
	s = &u->breakers[u->nbreakers++];
	snprintf(s->service, sizeof(s->service), "%s", service);
	snprintf(s->provider, sizeof(s->provider), "%s", provider);
	breaker_init(&s->b);
	return s;
}

static void set_breaker_gauge(struct upstream_metrics *u, const struct breaker_slot *s,
			      uint64_t now)
{
	metric_set(u->breaker_state, (const char *const[]){s->service, s->provider},
		   breaker_state(&s->b, &u->breaker, now));
}

static void breaker_note(struct upstream_metrics *u, const char *service, const char *provider,
			 int result, uint64_t ts)
{
	struct breaker_slot *s;

	if (result < 0)
		metric_add(u->breaker_failures, (const char *const[]){service, provider}, 1);
	if (!result)
		return;
	s = breaker_of(u, service, provider);
	if (!s)
		return;
	breaker_record(&s->b, &u->breaker, result > 0, ts);
	set_breaker_gauge(u, s, ts);
}

void metrics_breakers_refresh(struct upstream_metrics *u, uint64_t now)
{
	for (size_t i = 0; i < u->nbreakers; i++)
		set_breaker_gauge(u, &u->breakers[i], now);
}

void metrics_upstream_first_chunk(struct upstream_metrics *u, const char *service,
				  const char *provider, const struct http_exchange *x, uint64_t ts)
{
	if (!x->has_request || !x->req.complete || ts < x->req.t_last)
		return;
	metric_observe(u->ttfc,
		       (const char *const[]){service,
					     label_provider(u->labels, service, provider, false),
					     label_model(u->labels, service, x, false)},
		       seconds(ts - x->req.t_last));
}

static void add_tokens(struct upstream_metrics *u, const char *const *labels3,
		       const struct usage *usage)
{
	const int64_t v[] = {usage->prompt, usage->completion, usage->total};
	const char *const types[] = {"prompt", "completion", "total"};

	for (size_t i = 0; i < N(v); i++)
		if (v[i] > 0)
			metric_add(
			    u->tokens,
			    (const char *const[]){labels3[0], labels3[1], labels3[2], types[i]},
			    v[i]);
}

void metrics_upstream_end(struct upstream_metrics *u, const char *service, const char *provider,
			  const struct http_exchange *x, enum http_end why, uint64_t ts,
			  const struct usage *usage)
{
	struct upstream_outcome o;
	const char *p, *model;

	count_undecoded(u->streams_undecoded, x);
	upstream_classify(x, why, &o);
	if (o.status == UPSTREAM_UNCOUNTED) {
		count_lost(u->lost, service, x, why);
		return;
	}
	p = label_provider(u->labels, service, provider, true);
	model = label_model(u->labels, service, x, true);
	metric_add(u->requests, (const char *const[]){service, p, model, status_names[o.status]},
		   1);
	if (x->responded && x->req.complete && ts >= x->req.t_last)
		metric_observe(u->latency, (const char *const[]){service, p},
			       seconds(ts - x->req.t_last));
	if (usage)
		add_tokens(u, (const char *const[]){service, p, model}, usage);
	breaker_note(u, service, p, o.breaker, ts);
}

void metrics_upstream_connect_failed(struct upstream_metrics *u, const char *service,
				     const char *provider, uint64_t ts)
{
	const char *p = label_provider(u->labels, service, provider, true);

	metric_add(u->requests, (const char *const[]){service, p, "unknown", "failure"}, 1);
	breaker_note(u, service, p, -1, ts);
}

void metrics_upstream_forget(struct upstream_metrics *u, const char *service)
{
	size_t kept = 0;

	for (size_t i = 0; i < u->nbreakers; i++)
		if (strcmp(u->breakers[i].service, service))
			u->breakers[kept++] = u->breakers[i];
	u->nbreakers = kept;
}
