// SPDX-License-Identifier: MIT
#include <stdio.h>
#include <string.h>

#include "metrics/metrics.h"
#include "metrics/outcome.h"

#define N(a) (sizeof(a) / sizeof((a)[0]))

/* Default buckets (docs/metrics.md), in seconds or bytes. */
static const double b_request[] = {0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1,
				   2.5,	 5,	10,   30,  60,	 120, 300};
static const double b_stream[] = {0.5, 1, 2, 5, 10, 30, 60, 120, 300};
static const double b_gap[] = {0.001, 0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.15,
			       0.2,   0.3,   0.4,  0.5,	  0.75, 1,     2.5};
static const double b_size[] = {10, 50, 100, 500, 1000, 5000};
static const double b_stage[] = {0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5,
				 1,	2.5,   5,    10,    30,	  60,  120,  300};
static const double b_http[] = {0.01, 0.05, 0.1, 0.5, 1, 2, 5};

static const char *const l_service[] = {TARGET_LABELS};
static const char *const l_path[] = {TARGET_LABELS, "path"};
static const char *const l_path_model[] = {TARGET_LABELS, "path", "model"};
static const char *const l_path_provider[] = {TARGET_LABELS, "path", "provider"};
static const char *const l_requests[] = {TARGET_LABELS, "path",	  "model",
					 "provider",	"status", "code"};
static const char *const l_stage[] = {TARGET_LABELS, "stage"};
static const char *const l_errors[] = {TARGET_LABELS, "error_type", "stage"};
static const char *const l_http[] = {TARGET_LABELS, "method", "path", "status"};
static const char *const l_http_dur[] = {TARGET_LABELS, "method", "path"};
static const char *const l_build[] = {"version", "libbpf_version", "kernel"};
static const char *const l_program[] = {"program"};
static const char *const l_map[] = {"map"};
static const char *const l_map_op[] = {"map", "op"};
static const char *const l_label[] = {"label"};
static const char *const l_lost[] = {TARGET_LABELS, "reason"};
static const char *const l_result[] = {"result"};
static const char *const l_reason[] = {"reason"};
static const char *const l_feature[] = {"feature"};
static const char *const l_target_info[] = {TARGET_LABELS, "container_id", "pod_uid",
					    "image",	   "comm",	   "pid"};

#define COUNTER(name, help, labels)                                                                \
	registry_add(&m->reg, name, help, METRIC_COUNTER, labels, N(labels), NULL, 0)
#define COUNTER0(name, help) registry_add(&m->reg, name, help, METRIC_COUNTER, NULL, 0, NULL, 0)
#define GAUGE(name, help, labels)                                                                  \
	registry_add(&m->reg, name, help, METRIC_GAUGE, labels, N(labels), NULL, 0)
#define GAUGE0(name, help) registry_add(&m->reg, name, help, METRIC_GAUGE, NULL, 0, NULL, 0)
#define HISTOGRAM(name, help, labels, buckets)                                                     \
	registry_add(&m->reg, name, help, METRIC_HISTOGRAM, labels, N(labels), buckets, N(buckets))

static void add_server_side(struct metrics *m)
{
	m->sse_active = GAUGE("sse_active_connections", "SSE streams open now.", l_service);
	m->sse_requests =
	    COUNTER("sse_requests_total", "SSE requests ended, by outcome.", l_requests);
	m->sse_request_duration =
	    HISTOGRAM("sse_request_duration_seconds",
		      "SSE requests: first request byte read to stream end.", l_path, b_request);
	m->sse_stream_duration =
	    HISTOGRAM("sse_stream_duration_seconds",
		      "SSE streams: response headers written to stream end.", l_path, b_stream);
	m->sse_ttfc = HISTOGRAM("sse_time_to_first_chunk_seconds",
				"Last request byte read to first SSE data event written.",
				l_path_model, metrics_ttfc_buckets);
	m->sse_gap =
	    HISTOGRAM("sse_inter_chunk_gap_seconds",
		      "Time between consecutive SSE data events of one stream.", l_path, b_gap);
	m->sse_chunk_size = HISTOGRAM("sse_chunk_size_bytes",
				      "Size on the wire of each SSE data event.", l_path, b_size);
	m->sse_chunks = COUNTER("sse_chunks_streamed_total", "SSE data events written to clients.",
				l_path_provider);
	m->sse_heartbeats =
	    COUNTER("sse_heartbeats_total", "Comment-only SSE events (keep-alive pings).", l_path);
	m->sse_bytes = COUNTER("sse_bytes_streamed_total",
			       "SSE body bytes written to clients, without chunk framing.", l_path);
	m->sse_stage = HISTOGRAM("sse_stage_duration_seconds",
				 "Observable phases of streamed requests.", l_stage, b_stage);
	m->sse_errors =
	    COUNTER("sse_errors_total", "Failed SSE requests, by cause and phase.", l_errors);
	m->sse_rate_limited = COUNTER("sse_rate_limit_exceeded_total", "429 responses.", l_path);
	m->http_requests = COUNTER("http_requests_total", "HTTP/1.x requests answered.", l_http);
	m->http_duration = HISTOGRAM("http_request_duration_seconds",
				     "First request byte read to response complete (SSE: to "
				     "response headers).",
				     l_http_dur, b_http);
	m->http_conns = GAUGE("http_connections_active",
			      "Accepted TCP connections of observed services open now.", l_service);
}

static void add_self(struct metrics *m)
{
	m->build_info = GAUGE("sse_exporter_build_info", "Build and host information.", l_build);
	m->prog_attached = GAUGE("sse_exporter_bpf_program_attached",
				 "1 for each attached eBPF program.", l_program);
	m->events_lost = COUNTER0("sse_exporter_events_lost_total",
				  "Records the kernel could not hand over: ring buffer full.");
	m->map_entries = GAUGE("sse_exporter_map_entries", "Entries in each BPF map.", l_map);
	m->map_max = GAUGE("sse_exporter_map_max_entries", "Capacity of each BPF map.", l_map);
	m->series_dropped =
	    COUNTER("sse_exporter_series_dropped_total",
		    "Label values folded into \"other\" by cardinality caps.", l_label);
	m->tracked_procs =
	    GAUGE0("sse_exporter_tracked_processes", "Processes with connections observed now.");
	m->scrape_duration = GAUGE0("sse_exporter_scrape_duration_seconds",
				    "Time to render the previous /metrics response.");
	m->bytes_uncopied = COUNTER0("sse_exporter_bytes_uncopied_total",
				     "Socket bytes beyond the per-syscall capture cap.");
	m->exchanges_lost = COUNTER("sse_exporter_exchanges_lost_total",
				    "Requests whose outcome is unknown, by why it is.", l_lost);
	m->conns_untracked = COUNTER0("sse_exporter_connections_untracked_total",
				      "Connections not followed: connection map full.");
	m->tls_libraries = GAUGE0("sse_exporter_tls_libraries",
				  "OpenSSL copies (libraries, binaries) hooked with uprobes.");
	m->tls_unmapped = COUNTER0("sse_exporter_tls_calls_unattributed_total",
				   "TLS reads and writes whose socket was unknown: not counted.");
	m->map_errors = COUNTER("sse_exporter_map_errors_total",
				"Reads and writes of BPF maps by the exporter that failed "
				"(a full map, no memory), by map and operation.",
				l_map_op);
	m->target_info = GAUGE("sse_exporter_target_info",
			       "1 per observed process: who it is (the labels every series of it "
			       "carries) and what names it (container id, pod uid, image).",
			       l_target_info);
	m->series_expired = COUNTER0("sse_exporter_series_expired_total",
				     "Series dropped because their pod or process was gone for "
				     "--series.stale-after.");
	m->kubelet_polls =
	    COUNTER("sse_exporter_kubelet_polls_total",
		    "Reads of the kubelet's /pods (--kubelet.enrich), by result.", l_result);
	m->kstreams = COUNTER0("sse_exporter_kernel_streams_total",
			       "SSE streams whose events the kernel counted.");
	m->kstream_fallbacks =
	    COUNTER("sse_exporter_kernel_stream_fallbacks_total",
		    "SSE streams the kernel did not count, or gave up, by reason.", l_reason);
	m->streams_undecoded =
	    COUNTER("sse_exporter_streams_undecoded_total",
		    "SSE streams, served or upstream, whose events could not be split out of "
		    "their compressed body, by reason.",
		    l_reason);
	m->kernel_feature =
	    GAUGE("sse_exporter_kernel_feature",
		  "1 for each kernel feature the default BPF build uses that the kernel has, "
		  "0 for those it lacks (the log says what is done instead).",
		  l_feature);
}

int metrics_init(struct metrics *m, const struct metrics_config *cfg)
{
	memset(m, 0, sizeof(*m));
	m->cfg = *cfg;
	registry_init(&m->reg);
	if (metric_labels_init(&m->labels, cfg->max_paths, cfg->max_models))
		return -1;
	add_server_side(m);
	upstream_metrics_init(&m->up, &m->reg, &m->labels, &cfg->breaker);
	if (redis_metrics_init(&m->redis, &m->reg, cfg->max_paths)) {
		metrics_free(m);
		return -1;
	}
	add_self(m);
	m->up.lost = m->exchanges_lost;
	m->up.streams_undecoded = m->streams_undecoded;
	if (m->reg.failed) {
		metrics_free(m);
		return -1;
	}
	/* counters are exported from zero, not from their first event */
	for (struct family *f = m->reg.first; f; f = f->next)
		if (f->type == METRIC_COUNTER && !f->nlabels)
			metric_add(f, NULL, 0);
	metrics_sync_caps(m);
	metrics_kubelet_polls(m, 0, 0);
	for (int r = 0; r < KSTREAM_FALLBACKS; r++)
		metrics_kstream_fallback(m, r, 0);
	count_undecoded(m->streams_undecoded, NULL);
	return 0;
}

static const char *const fallback_names[KSTREAM_FALLBACKS] = {
    [KSTREAM_FELL_MAP_FULL] = "map_full", [KSTREAM_FELL_DISAGREEMENT] = "disagreement",
    [KSTREAM_FELL_FRAMING] = "framing",	  [KSTREAM_FELL_UNFOLLOWED] = "unfollowed",
    [KSTREAM_FELL_END_LOST] = "end_lost",
};

void metrics_kstream_fallback(struct metrics *m, enum kstream_fallback why, uint64_t n)
{
	metric_add(m->kstream_fallbacks, (const char *const[]){fallback_names[why]}, n);
}

void metrics_kstreams_map_full(struct metrics *m, uint64_t total)
{
	metric_set(m->kstream_fallbacks,
		   (const char *const[]){fallback_names[KSTREAM_FELL_MAP_FULL]}, total);
}

void metrics_kubelet_polls(struct metrics *m, uint64_t ok, uint64_t failed)
{
	metric_set(m->kubelet_polls, (const char *const[]){"success"}, ok);
	metric_set(m->kubelet_polls, (const char *const[]){"failure"}, failed);
}

void metrics_free(struct metrics *m)
{
	registry_free(&m->reg);
	metric_labels_free(&m->labels);
	redis_metrics_free(&m->redis);
}

void metrics_conn_open(struct metrics *m, const char *service)
{
	metric_add(m->http_conns, (const char *const[]){service}, 1);
}

void metrics_conn_close(struct metrics *m, const char *service)
{
	metric_add(m->http_conns, (const char *const[]){service}, -1);
}

/* label_*()'s at_end */
enum { LOOKUP, AT_END };

static void count_http_request(struct metrics *m, const char *service, const char *path,
			       const struct http_exchange *x, uint64_t end)
{
	char code[8];

	if (!x->has_request)
		return;
	snprintf(code, sizeof(code), "%d", x->status);
	metric_add(m->http_requests, (const char *const[]){service, x->req.method, path, code}, 1);
	metric_observe(m->http_duration, (const char *const[]){service, x->req.method, path},
		       seconds(end - x->req.t_first));
	if (x->status == 429)
		metric_add(m->sse_rate_limited, (const char *const[]){service, path}, 1);
}

static bool resolve_stream(struct metrics *m, const char *service, const struct http_exchange *x,
			   struct metrics_stream *st)
{
	const char *const sp[] = {service, label_path(&m->labels, service, x, LOOKUP)};

	st->path = sp[1];
	st->bytes = family_series(m->sse_bytes, sp);
	st->heartbeats = family_series(m->sse_heartbeats, sp);
	st->chunks = NULL; /* once the provider is known */
	st->provider = NULL;
	st->chunks_pending = 0;
	st->chunk_size = family_series(m->sse_chunk_size, sp);
	st->gap = family_series(m->sse_gap, sp);
	return st->bytes && st->heartbeats && st->chunk_size && st->gap;
}

void metrics_stream_provider(struct metrics *m, const char *service, struct metrics_stream *st,
			     const char *provider)
{
	if (st->provider || !st->bytes)
		return;
	st->provider = label_provider(&m->labels, service, provider, true);
	st->chunks =
	    family_series(m->sse_chunks, (const char *const[]){service, st->path, st->provider});
	if (st->chunks)
		st->chunks->value += st->chunks_pending;
	st->chunks_pending = 0;
}

void metrics_response(struct metrics *m, const char *service, const struct http_exchange *x,
		      struct metrics_stream *st)
{
	if (!x->sse)
		return;
	if (!resolve_stream(m, service, x, st))
		memset(st, 0, sizeof(*st)); /* out of memory: events go uncounted */
	metric_add(m->sse_active, (const char *const[]){service}, 1);
	/* stream lifetimes stay out of the HTTP histogram */
	count_http_request(m, service, label_path(&m->labels, service, x, LOOKUP), x, x->t_headers);
}

/* The stream's first data event, written at ts: once per stream whose
 * request was read whole. */
static void observe_ttfc(struct metrics *m, const char *service, const struct http_exchange *x,
			 const struct metrics_stream *st, uint64_t ts)
{
	if (x->has_request && x->req.complete)
		metric_observe(m->sse_ttfc,
			       (const char *const[]){service, st->path,
						     label_model(&m->labels, service, x, LOOKUP)},
			       seconds(ts - x->req.t_last));
}

void metrics_event(struct metrics *m, const char *service, const struct http_exchange *x,
		   struct metrics_stream *st, const struct sse_event *ev, uint64_t ts,
		   uint64_t prev_event)
{
	if (!st->bytes)
		return;
	/* the bytes of a coded body, as written, are counted at its end */
	if (x->coding == HTTP_CODING_IDENTITY)
		st->bytes->value += ev->size;
	if (ev->kind == SSE_EVENT_HEARTBEAT) {
		st->heartbeats->value++;
		return;
	}
	if (ev->kind != SSE_EVENT_DATA)
		return;
	if (st->chunks)
		st->chunks->value++;
	else
		st->chunks_pending++;
	series_observe(m->sse_chunk_size, st->chunk_size, ev->size);
	if (prev_event)
		series_observe(m->sse_gap, st->gap, seconds(ts - prev_event));
	else
		observe_ttfc(m, service, x, st, ts);
}

static void add_counts(const struct family *f, struct series *s, const __u64 *was, const __u64 *now,
		       double sum)
{
	uint64_t counts[SSE_GAP_BUCKETS + 1];

	for (size_t i = 0; i <= f->nbounds && i <= SSE_GAP_BUCKETS; i++)
		counts[i] = now[i] - was[i];
	series_add_counts(f, s, counts, sum);
}

void metrics_stream_figures(struct metrics *m, const char *service, const struct http_exchange *x,
			    struct metrics_stream *st, const struct sse_stats *was,
			    const struct sse_stats *now)
{
	uint64_t chunks = now->data_events - was->data_events;

	if (!st->bytes)
		return;
	st->bytes->value += now->event_bytes - was->event_bytes;
	st->heartbeats->value += now->heartbeats - was->heartbeats;
	if (st->chunks)
		st->chunks->value += chunks;
	else
		st->chunks_pending += chunks;
	add_counts(m->sse_chunk_size, st->chunk_size, was->size, now->size,
		   now->size_sum - was->size_sum);
	add_counts(m->sse_gap, st->gap, was->gap, now->gap,
		   seconds(now->gap_sum_ns - was->gap_sum_ns));
	if (!was->t_first_data && now->t_first_data)
		observe_ttfc(m, service, x, st, now->t_first_data);
}

static void stage(struct metrics *m, const char *service, const char *name, uint64_t from,
		  uint64_t to)
{
	if (from && to >= from)
		metric_observe(m->sse_stage, (const char *const[]){service, name},
			       seconds(to - from));
}

static void observe_stages(struct metrics *m, const char *service, const struct http_exchange *x,
			   uint64_t end)
{
	const struct http_request *r = &x->req;

	if (x->has_request && r->first_of_conn)
		stage(m, service, "queue", x->t_accept, r->t_first);
	if (x->has_request && r->complete && x->responded)
		stage(m, service, "first_byte", r->t_last, x->t_headers);
	if (x->responded && x->t_first_data)
		stage(m, service, "first_chunk", x->t_headers, x->t_first_data);
	stage(m, service, "streaming", x->t_first_data, end);
	if (x->has_request)
		stage(m, service, "total", r->t_first, end);
}

static void end_sse(struct metrics *m, const char *service, const char *path,
		    const struct http_exchange *x, const char *provider, enum http_end why,
		    uint64_t ts)
{
	struct outcome o;
	char code[8];

	outcome_classify(x, why, ts, m->cfg.idle_ns, &o);
	snprintf(code, sizeof(code), "%d", x->responded ? x->status : 0);
	metric_add(m->sse_requests,
		   (const char *const[]){service, path, label_model(&m->labels, service, x, AT_END),
					 provider, o.status, code},
		   1);
	if (x->has_request)
		metric_observe(m->sse_request_duration, (const char *const[]){service, path},
			       seconds(ts - x->req.t_first));
	if (x->sse)
		metric_observe(m->sse_stream_duration, (const char *const[]){service, path},
			       seconds(ts - x->t_headers));
	if (o.error_type)
		metric_add(m->sse_errors, (const char *const[]){service, o.error_type, o.stage}, 1);
	observe_stages(m, service, x, ts);
}

void metrics_end(struct metrics *m, const char *service, const struct http_exchange *x,
		 struct metrics_stream *st, const char *provider, enum http_end why, uint64_t ts)
{
	const char *path = label_path(&m->labels, service, x, AT_END);

	count_undecoded(m->streams_undecoded, x);
	if (x->sse && !st->provider)
		metrics_stream_provider(m, service, st, "unknown");
	if (x->sse) {
		metric_add(m->sse_active, (const char *const[]){service}, -1);
		if (x->body_bytes > x->event_bytes) /* bytes after the last event */
			metric_add(m->sse_bytes, (const char *const[]){service, path},
				   x->body_bytes - x->event_bytes);
	} else if (x->responded) {
		count_http_request(m, service, path, x, ts);
	}
	/* a stream is counted without its request: only missed bytes lose it */
	if ((http_end_lost(why) || !x->sse) && count_lost(m->exchanges_lost, service, x, why))
		return;
	if (!exchange_is_sse(x))
		return;
	if (x->sse)
		provider = st->provider;
	else if (provider)
		provider = label_provider(&m->labels, service, provider, true);
	end_sse(m, service, path, x, provider ? provider : "unknown", why, ts);
}

void metrics_sync_caps(struct metrics *m)
{
	metric_set(m->series_dropped, (const char *const[]){"path"}, m->labels.paths.dropped);
	metric_set(m->series_dropped, (const char *const[]){"model"}, m->labels.models.dropped);
	metric_set(m->series_dropped, (const char *const[]){"provider"},
		   m->labels.providers.dropped);
	redis_metrics_sync_caps(&m->redis, m->series_dropped);
}

/* The info series' label values; pid is written into buf. */
static void target_info_values(const char *key, const struct target_facts *f, char *buf,
			       size_t size, const char *values[6])
{
	snprintf(buf, size, "%d", f->pid);
	values[0] = key;
	values[1] = f->container_id;
	values[2] = f->pod_uid;
	values[3] = f->image;
	values[4] = f->comm;
	values[5] = buf;
}

void metrics_target_up(struct metrics *m, const char *key, const struct target_facts *f)
{
	const char *values[6];
	char pid[16];

	target_info_values(key, f, pid, sizeof(pid), values);
	metric_set(m->target_info, values, 1);
}

void metrics_target_down(struct metrics *m, const char *key, const struct target_facts *f)
{
	const char *values[6];
	char pid[16];

	target_info_values(key, f, pid, sizeof(pid), values);
	family_remove(m->target_info, values);
}

void metrics_forget_target(struct metrics *m, const char *key)
{
	metric_add(m->series_expired, NULL, registry_drop(&m->reg, TARGET_LABELS, key));
	metric_labels_forget(&m->labels, key);
	metrics_upstream_forget(&m->up, key);
	redis_metrics_forget(&m->redis, key);
}
