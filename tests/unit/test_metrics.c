// SPDX-License-Identifier: MIT
/* Unit tests of how exchanges are recorded in the metrics. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "metrics/histogram.h"
#include "metrics/metrics.h"
#include "proto/http_conn.h"
#include "compress.h"

#define N(a)  (sizeof(a) / sizeof((a)[0]))
#define MS    1000000ull
#define SVC   "svc"
#define CHAT  "/v1/chat/completions"
#define MODEL "gpt-4o"

/* ---- fixture: an http_conn wired to the metrics, as the collector does ---- */

struct fixture {
	struct metrics m;
	struct http_conn c;
	struct metrics_stream stream;
};

static void on_response(void *ctx, const struct http_exchange *x)
{
	struct fixture *f = ctx;

	metrics_response(&f->m, SVC, x, &f->stream);
}

static void on_event(void *ctx, const struct http_exchange *x, const struct sse_event *ev,
		     uint64_t ts, uint64_t prev)
{
	struct fixture *f = ctx;

	metrics_event(&f->m, SVC, x, &f->stream, ev, ts, prev);
}

static void on_end(void *ctx, const struct http_exchange *x, enum http_end why, uint64_t ts)
{
	struct fixture *f = ctx;

	metrics_end(&f->m, SVC, x, &f->stream, NULL, why, ts);
}

static const struct http_conn_ops ops = {
    .response = on_response,
    .event = on_event,
    .end = on_end,
};

static int setup_with(void **state, size_t max_paths)
{
	struct metrics_config cfg = {
	    .max_paths = max_paths,
	    .max_models = 50,
	    .idle_ns = 30000 * MS,
	};
	struct fixture *f = calloc(1, sizeof(*f));

	if (!f || metrics_init(&f->m, &cfg)) {
		free(f);
		return -1;
	}
	http_conn_init(&f->c, &ops, f, 1000 * MS);
	*state = f;
	return 0;
}

static int setup(void **state)
{
	return setup_with(state, 100);
}

static int setup_one_path(void **state)
{
	return setup_with(state, 1);
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	http_conn_release(&f->c);
	metrics_free(&f->m);
	free(f);
	return 0;
}

/* ---- looking series up without creating them ---- */

static struct family *family_named(struct metrics *m, const char *name)
{
	for (struct family *fam = m->reg.first; fam; fam = fam->next)
		if (!strcmp(fam->name, name))
			return fam;
	fail_msg("no family %s", name);
	return NULL;
}

/* The series with these label values (NULL-terminated list), or NULL. */
static struct series *find_series(struct metrics *m, const char *name, ...)
{
	struct family *fam = family_named(m, name);
	const char *want[METRIC_LABELS_MAX];
	size_t n = 0;
	va_list ap;

	va_start(ap, name);
	for (const char *v; (v = va_arg(ap, const char *));)
		want[n++] = v;
	va_end(ap);
	assert_int_equal(n, fam->nlabels);
	for (struct series *s = fam->first; s; s = s->list_next) {
		size_t i = 0;

		while (i < n && !strcmp(s->labels[i], want[i]))
			i++;
		if (i == n)
			return s;
	}
	return NULL;
}

static size_t nseries(struct metrics *m, const char *name)
{
	return family_named(m, name)->nseries;
}

#define SERIES(m, name, ...)                                                                       \
	({                                                                                         \
		struct series *s_ = find_series(m, name, __VA_ARGS__, (const char *)NULL);         \
		if (!s_)                                                                           \
			fail_msg("no series of %s", name);                                         \
		s_;                                                                                \
	})

/* A macro, so that a failure points at the test's line. */
#define assert_close(got, want)                                                                    \
	do {                                                                                       \
		double g_ = (got), w_ = (want);                                                    \
		if (fabs(g_ - w_) > 1e-9)                                                          \
			fail_msg("got %.12g, want %.12g", g_, w_);                                 \
	} while (0)

/* ---- traffic ---- */

static const char chat_body[] = "{\"model\":\"" MODEL "\",\"stream\":true,\"messages\":[]}";

static void chat_request(struct fixture *f, const char *target, uint64_t t1, uint64_t t2)
{
	char req[512];
	int n = snprintf(req, sizeof(req),
			 "POST %s HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
			 "Content-Length: %zu\r\n\r\n%s",
			 target, strlen(chat_body), chat_body);

	http_conn_request_bytes(&f->c, req, 30, t1);
	http_conn_request_bytes(&f->c, req + 30, n - 30, t2);
}

static void get_request(struct fixture *f, const char *path, uint64_t ts)
{
	char req[256];

	snprintf(req, sizeof(req), "GET %s HTTP/1.1\r\nHost: x\r\n\r\n", path);
	http_conn_request_bytes(&f->c, req, strlen(req), ts);
}

static void out(struct fixture *f, const char *s, uint64_t ts)
{
	http_conn_response_bytes(&f->c, s, strlen(s), ts);
}

static void out_chunk(struct fixture *f, const char *data, uint64_t ts)
{
	char buf[512];

	snprintf(buf, sizeof(buf), "%zx\r\n%s\r\n", strlen(data), data);
	out(f, buf, ts);
}

static const char sse_head[] = "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"
			       "Transfer-Encoding: chunked\r\n\r\n";

static const char ev1[] = "data: {\"c\":\"Hel\"}\n\n"; /* 19 bytes */
static const char hb[] = ": ping\n\n";		       /* 8 bytes */
static const char ev2[] = "data: {\"c\":\"lo\"}\n\n";  /* 18 bytes */
static const char ev3[] = "data: [DONE]\n\n";	       /* 14 bytes */

/*
 * accept 1.000 s, request 1.010..1.020, headers 1.050, data 1.100,
 * heartbeat 1.150, data 1.200, data 1.450, end 1.500.
 */
static void success_stream(struct fixture *f)
{
	chat_request(f, CHAT "?stream=1", 1010 * MS, 1020 * MS);
	out(f, sse_head, 1050 * MS);
	out_chunk(f, ev1, 1100 * MS);
	out_chunk(f, hb, 1150 * MS);
	out_chunk(f, ev2, 1200 * MS);
	out_chunk(f, ev3, 1450 * MS);
	out(f, "0\r\n\r\n", 1500 * MS);
}

/* ---- the catalog (names, types, labels, buckets: test_catalog.c) ---- */

/* Label-less counters and the caps', undecoded bodies', kubelet polls',
 * kernel stream fallbacks' and unpaired Redis connections' counters are
 * exported from zero, so that a first occurrence is an increase; every
 * other family starts empty. */
static void test_families_start_state(void **state)
{
	struct fixture *f = *state;

	for (struct family *fam = f->m.reg.first; fam; fam = fam->next) {
		assert_non_null(fam->help);
		assert_true(fam->help[0] != '\0');
		if (fam->type == METRIC_COUNTER && !fam->nlabels)
			assert_int_equal(fam->nseries, 1);
		else if (!strcmp(fam->name, "sse_exporter_series_dropped_total"))
			/* path, model, provider, command, queue_name, reason */
			assert_int_equal(fam->nseries, 6);
		else if (!strcmp(fam->name, "sse_exporter_bodies_undecoded_total"))
			assert_int_equal(fam->nseries, UNDECODED_REASONS);
		else if (!strcmp(fam->name, "sse_exporter_kubelet_polls_total"))
			assert_int_equal(fam->nseries, 2); /* success, failure */
		else if (!strcmp(fam->name, "sse_exporter_kernel_stream_fallbacks_total"))
			assert_int_equal(fam->nseries, KSTREAM_FALLBACKS);
		else if (!strcmp(fam->name, "sse_exporter_streams_undecoded_total"))
			assert_int_equal(fam->nseries, HTTP_UNDECODED_REASONS - 1);
		else if (!strcmp(fam->name, "sse_exporter_redis_unpaired_total"))
			assert_int_equal(fam->nseries, REDIS_UNPAIRED_REASONS);
		else
			assert_int_equal(fam->nseries, 0);
	}
}

static void test_family_names_unique(void **state)
{
	struct fixture *f = *state;

	for (struct family *a = f->m.reg.first; a; a = a->next)
		for (struct family *b = a->next; b; b = b->next)
			assert_string_not_equal(a->name, b->name);
}

/* ---- a successful stream ---- */

static void test_success_stream_requests_total(void **state)
{
	struct fixture *f = *state;

	success_stream(f);
	assert_close(
	    SERIES(&f->m, "sse_requests_total", SVC, CHAT, MODEL, "unknown", "success", "200")
		->value,
	    1);
	assert_int_equal(nseries(&f->m, "sse_requests_total"), 1);
	assert_int_equal(nseries(&f->m, "sse_errors_total"), 0);
	assert_int_equal(nseries(&f->m, "sse_rate_limit_exceeded_total"), 0);
}

static void test_success_stream_http_request_counted_once(void **state)
{
	struct fixture *f = *state;
	struct series *s;

	success_stream(f);
	assert_close(SERIES(&f->m, "http_requests_total", SVC, "POST", CHAT, "200")->value, 1);
	assert_int_equal(nseries(&f->m, "http_requests_total"), 1);
	/* SSE: first request byte -> response headers, not the stream */
	s = SERIES(&f->m, "http_request_duration_seconds", SVC, "POST", CHAT);
	assert_int_equal(s->count, 1);
	assert_close(s->sum, 0.040);
}

static void test_success_stream_active_gauge(void **state)
{
	struct fixture *f = *state;

	chat_request(f, CHAT, 1010 * MS, 1020 * MS);
	out(f, sse_head, 1050 * MS);
	assert_close(SERIES(&f->m, "sse_active_connections", SVC)->value, 1);
	out_chunk(f, ev1, 1100 * MS);
	out(f, "0\r\n\r\n", 1500 * MS);
	assert_close(SERIES(&f->m, "sse_active_connections", SVC)->value, 0);
}

static void test_success_stream_ttfc_once(void **state)
{
	struct fixture *f = *state;
	struct series *s;

	success_stream(f);
	s = SERIES(&f->m, "sse_time_to_first_chunk_seconds", SVC, CHAT, MODEL);
	assert_int_equal(s->count, 1);
	assert_close(s->sum, 0.080); /* last request byte -> first data event */
	assert_int_equal(nseries(&f->m, "sse_time_to_first_chunk_seconds"), 1);
}

static void test_success_stream_gaps_n_minus_1(void **state)
{
	struct fixture *f = *state;
	const struct family *gap = family_named(&f->m, "sse_inter_chunk_gap_seconds");
	struct series *s;

	success_stream(f);
	s = SERIES(&f->m, "sse_inter_chunk_gap_seconds", SVC, CHAT);
	assert_int_equal(s->count, 2);
	assert_close(s->sum, 0.100 + 0.250);
	assert_int_equal(s->buckets[histogram_bucket(gap->bounds, gap->nbounds, 0.1)], 1);
	assert_int_equal(s->buckets[histogram_bucket(gap->bounds, gap->nbounds, 0.25)], 1);
}

static void test_success_stream_chunks_and_sizes(void **state)
{
	struct fixture *f = *state;
	struct series *s;

	success_stream(f);
	assert_close(SERIES(&f->m, "sse_chunks_streamed_total", SVC, CHAT, "unknown")->value, 3);
	assert_close(SERIES(&f->m, "sse_heartbeats_total", SVC, CHAT)->value, 1);
	s = SERIES(&f->m, "sse_chunk_size_bytes", SVC, CHAT);
	assert_int_equal(s->count, 3);
	assert_close(s->sum, 19 + 18 + 14);
	assert_int_equal(s->buckets[1], 3); /* 10 < size <= 50 */
}

static void test_success_stream_bytes(void **state)
{
	struct fixture *f = *state;

	success_stream(f);
	/* every body byte, heartbeat included, no chunk framing */
	assert_close(SERIES(&f->m, "sse_bytes_streamed_total", SVC, CHAT)->value, 19 + 8 + 18 + 14);
}

/* Body bytes after the last complete event still count as streamed. */
static void test_bytes_include_unterminated_tail(void **state)
{
	struct fixture *f = *state;

	chat_request(f, CHAT, 1010 * MS, 1020 * MS);
	out(f, sse_head, 1050 * MS);
	out_chunk(f, ev1, 1100 * MS);
	out_chunk(f, "data: partial\n", 1200 * MS); /* 14 bytes, never ended */
	out(f, "0\r\n\r\n", 1300 * MS);
	assert_close(SERIES(&f->m, "sse_bytes_streamed_total", SVC, CHAT)->value, 19 + 14);
	assert_close(SERIES(&f->m, "sse_chunks_streamed_total", SVC, CHAT, "unknown")->value, 1);
}

/* A gzip stream: its events' sizes are the inflated ones, its bytes
 * streamed the body's as written. */
static void test_gzip_stream_sizes_and_bytes(void **state)
{
	static const char plain[] = "data: {\"c\":\"Hel\"}\n\n: ping\n\ndata: [DONE]\n\n";
	static const char head[] = "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"
				   "Content-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n\r\n";
	struct fixture *f = *state;
	unsigned char z[256];
	size_t n = compress_as(GZIP_BITS, plain, strlen(plain), z, sizeof(z));
	char size_line[16];
	struct series *s;

	chat_request(f, CHAT, 1010 * MS, 1020 * MS);
	out(f, head, 1050 * MS);
	snprintf(size_line, sizeof(size_line), "%zx\r\n", n);
	out(f, size_line, 1100 * MS);
	http_conn_response_bytes(&f->c, (const char *)z, n, 1100 * MS);
	out(f, "\r\n0\r\n\r\n", 1200 * MS);
	s = SERIES(&f->m, "sse_chunk_size_bytes", SVC, CHAT);
	assert_int_equal(s->count, 2);
	assert_close(s->sum, 19 + 14);
	assert_close(SERIES(&f->m, "sse_heartbeats_total", SVC, CHAT)->value, 1);
	assert_close(SERIES(&f->m, "sse_bytes_streamed_total", SVC, CHAT)->value, n);
	assert_close(SERIES(&f->m, "sse_exporter_streams_undecoded_total", "limit")->value, 0);
}

/* A stream in Brotli: counted, without events, and as undecoded. */
static void test_brotli_stream_undecoded(void **state)
{
	struct fixture *f = *state;

	chat_request(f, CHAT, 1010 * MS, 1020 * MS);
	out(f,
	    "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nContent-Encoding: br\r\n"
	    "Transfer-Encoding: chunked\r\n\r\n",
	    1050 * MS);
	out_chunk(f, ev1, 1100 * MS);
	out(f, "0\r\n\r\n", 1200 * MS);
	assert_close(
	    SERIES(&f->m, "sse_requests_total", SVC, CHAT, MODEL, "unknown", "success", "200")
		->value,
	    1);
	assert_close(SERIES(&f->m, "sse_exporter_streams_undecoded_total", "br")->value, 1);
	assert_close(SERIES(&f->m, "sse_exporter_streams_undecoded_total", "unsupported")->value,
		     0);
	assert_close(SERIES(&f->m, "sse_bytes_streamed_total", SVC, CHAT)->value, strlen(ev1));
}

static void test_success_stream_durations(void **state)
{
	struct fixture *f = *state;
	struct series *s;

	success_stream(f);
	s = SERIES(&f->m, "sse_request_duration_seconds", SVC, CHAT);
	assert_int_equal(s->count, 1);
	assert_close(s->sum, 0.490);
	s = SERIES(&f->m, "sse_stream_duration_seconds", SVC, CHAT);
	assert_int_equal(s->count, 1);
	assert_close(s->sum, 0.450);
}

static void test_success_stream_stages(void **state)
{
	static const struct {
		const char *stage;
		double seconds;
	} want[] = {
	    {"queue", 0.010},	  {"first_byte", 0.030}, {"first_chunk", 0.050},
	    {"streaming", 0.400}, {"total", 0.490},
	};
	struct fixture *f = *state;

	success_stream(f);
	for (size_t i = 0; i < N(want); i++) {
		struct series *s = SERIES(&f->m, "sse_stage_duration_seconds", SVC, want[i].stage);

		assert_int_equal(s->count, 1);
		assert_close(s->sum, want[i].seconds);
	}
	assert_int_equal(nseries(&f->m, "sse_stage_duration_seconds"), N(want));
}

/* The queue stage belongs to the first request of a connection only. */
static void test_second_stream_has_no_queue_stage(void **state)
{
	struct fixture *f = *state;

	success_stream(f);
	chat_request(f, CHAT, 2000 * MS, 2001 * MS);
	out(f, sse_head, 2100 * MS);
	out_chunk(f, ev1, 2200 * MS);
	out(f, "0\r\n\r\n", 2300 * MS);
	assert_int_equal(SERIES(&f->m, "sse_stage_duration_seconds", SVC, "queue")->count, 1);
	assert_int_equal(SERIES(&f->m, "sse_stage_duration_seconds", SVC, "total")->count, 2);
	assert_close(
	    SERIES(&f->m, "sse_requests_total", SVC, CHAT, MODEL, "unknown", "success", "200")
		->value,
	    2);
	assert_close(SERIES(&f->m, "http_requests_total", SVC, "POST", CHAT, "200")->value, 2);
}

/* ---- other outcomes ---- */

/* The chat request counted once as status with code, and its error once. */
static void assert_failed(struct fixture *f, const char *status, const char *code,
			  const char *error_type, const char *stage)
{
	assert_close(
	    SERIES(&f->m, "sse_requests_total", SVC, CHAT, MODEL, "unknown", status, code)->value,
	    1);
	assert_close(SERIES(&f->m, "sse_errors_total", SVC, error_type, stage)->value, 1);
}

/* A chat stream that has sent one event, at 1100 ms. */
static void one_event_stream(struct fixture *f)
{
	chat_request(f, CHAT, 1010 * MS, 1020 * MS);
	out(f, sse_head, 1050 * MS);
	out_chunk(f, ev1, 1100 * MS);
}

static void test_rate_limited_json_answer(void **state)
{
	struct fixture *f = *state;

	chat_request(f, CHAT, 1010 * MS, 1020 * MS);
	out(f,
	    "HTTP/1.1 429 Too Many Requests\r\nContent-Type: application/json\r\n"
	    "Content-Length: 2\r\n\r\n{}",
	    1030 * MS);
	assert_close(
	    SERIES(&f->m, "sse_requests_total", SVC, CHAT, MODEL, "unknown", "rate_limited", "429")
		->value,
	    1);
	assert_close(SERIES(&f->m, "sse_rate_limit_exceeded_total", SVC, CHAT)->value, 1);
	assert_close(SERIES(&f->m, "http_requests_total", SVC, "POST", CHAT, "429")->value, 1);
	assert_int_equal(nseries(&f->m, "sse_active_connections"), 0);
	assert_int_equal(nseries(&f->m, "sse_errors_total"), 0);
	assert_int_equal(nseries(&f->m, "sse_stream_duration_seconds"), 0);
}

static void test_server_error_answer(void **state)
{
	struct fixture *f = *state;

	chat_request(f, CHAT, 1010 * MS, 1020 * MS);
	out(f, "HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\n\r\n", 1030 * MS);
	assert_failed(f, "failure", "503", "server_error", "first_byte");
}

static void test_client_disconnect_mid_stream(void **state)
{
	struct fixture *f = *state;

	one_event_stream(f);
	http_conn_close(&f->c, HTTP_END_REQUESTER_CLOSED, 1200 * MS);
	assert_failed(f, "client_closed", "200", "client_disconnect", "streaming");
	assert_close(SERIES(&f->m, "sse_active_connections", SVC)->value, 0);
}

static void test_server_close_after_idle_is_timeout(void **state)
{
	struct fixture *f = *state;

	one_event_stream(f);
	http_conn_close(&f->c, HTTP_END_RESPONDER_CLOSED, 1100 * MS + f->m.cfg.idle_ns);
	assert_failed(f, "timeout", "200", "timeout", "streaming");
}

static void test_server_close_early_is_truncated(void **state)
{
	struct fixture *f = *state;

	one_event_stream(f);
	http_conn_close(&f->c, HTTP_END_RESPONDER_CLOSED, 1200 * MS);
	assert_failed(f, "failure", "200", "stream_truncated", "streaming");
}

static void test_unanswered_stream_request_code_0(void **state)
{
	struct fixture *f = *state;

	chat_request(f, CHAT, 1010 * MS, 1020 * MS);
	http_conn_close(&f->c, HTTP_END_REQUESTER_CLOSED, 1100 * MS);
	assert_failed(f, "client_closed", "0", "client_disconnect", "first_byte");
	assert_int_equal(nseries(&f->m, "http_requests_total"), 0);
}

static void test_plain_request_only_http_metrics(void **state)
{
	struct fixture *f = *state;
	struct series *s;

	get_request(f, "/health", 1010 * MS);
	out(f, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok", 1030 * MS);
	assert_close(SERIES(&f->m, "http_requests_total", SVC, "GET", "/health", "200")->value, 1);
	s = SERIES(&f->m, "http_request_duration_seconds", SVC, "GET", "/health");
	assert_int_equal(s->count, 1);
	assert_close(s->sum, 0.020);
	assert_int_equal(nseries(&f->m, "sse_requests_total"), 0);
	assert_int_equal(nseries(&f->m, "sse_active_connections"), 0);
	assert_int_equal(nseries(&f->m, "sse_stage_duration_seconds"), 0);
}

static void test_plain_request_response_end_times(void **state)
{
	struct fixture *f = *state;

	get_request(f, "/big", 1000 * MS);
	out(f, "HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nab", 1100 * MS);
	out(f, "cd", 1600 * MS);
	/* non-SSE: first request byte -> response complete */
	assert_close(SERIES(&f->m, "http_request_duration_seconds", SVC, "GET", "/big")->sum, 0.6);
}

static void test_model_unknown_when_absent(void **state)
{
	struct fixture *f = *state;
	static const char req[] = "GET /events HTTP/1.1\r\nAccept: text/event-stream\r\n\r\n";

	http_conn_request_bytes(&f->c, req, strlen(req), 1010 * MS);
	out(f, sse_head, 1050 * MS);
	out_chunk(f, ev1, 1100 * MS);
	out(f, "0\r\n\r\n", 1200 * MS);
	assert_close(SERIES(&f->m, "sse_requests_total", SVC, "/events", "unknown", "unknown",
			    "success", "200")
			 ->value,
		     1);
	assert_int_equal(
	    SERIES(&f->m, "sse_time_to_first_chunk_seconds", SVC, "/events", "unknown")->count, 1);
}

/* An answer whose request was missed has no outcome to tell, unless it is
 * a stream: that is counted from its own bytes. */
static void test_unasked_answer_is_lost_unless_a_stream(void **state)
{
	struct fixture *f = *state;

	out(f, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok", 1000 * MS);
	assert_close(SERIES(&f->m, "sse_exporter_exchanges_lost_total", SVC, "no_request")->value,
		     1);
	out(f, sse_head, 1100 * MS);
	out(f, "0\r\n\r\n", 1200 * MS);
	assert_close(SERIES(&f->m, "sse_exporter_exchanges_lost_total", SVC, "no_request")->value,
		     1);
	assert_int_equal(nseries(&f->m, "sse_requests_total"), 1);
}

static void test_lost_exchange_counted(void **state)
{
	struct fixture *f = *state;

	chat_request(f, CHAT, 1010 * MS, 1020 * MS);
	out(f, sse_head, 1050 * MS);
	http_conn_response_gap(&f->c, 100, 1100 * MS);
	assert_close(SERIES(&f->m, "sse_exporter_exchanges_lost_total", SVC, "bytes_missed")->value,
		     1);
	assert_int_equal(nseries(&f->m, "sse_requests_total"), 0);
	assert_close(SERIES(&f->m, "sse_active_connections", SVC)->value, 0);
}

static void test_connections_gauge(void **state)
{
	struct fixture *f = *state;

	metrics_conn_open(&f->m, SVC);
	metrics_conn_open(&f->m, SVC);
	metrics_conn_open(&f->m, "other-svc");
	metrics_conn_close(&f->m, SVC);
	assert_close(SERIES(&f->m, "http_connections_active", SVC)->value, 1);
	assert_close(SERIES(&f->m, "http_connections_active", "other-svc")->value, 1);
}

static void test_path_cap_folds_into_other(void **state)
{
	struct fixture *f = *state;

	get_request(f, "/a", 1000 * MS);
	out(f, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", 1001 * MS);
	get_request(f, "/b", 1002 * MS);
	out(f, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", 1003 * MS);
	assert_close(SERIES(&f->m, "http_requests_total", SVC, "GET", "/a", "200")->value, 1);
	assert_close(SERIES(&f->m, "http_requests_total", SVC, "GET", "other", "200")->value, 1);
	assert_null(find_series(&f->m, "http_requests_total", SVC, "GET", "/b", "200", NULL));
	metrics_sync_caps(&f->m);
	assert_true(SERIES(&f->m, "sse_exporter_series_dropped_total", "path")->value >= 1);
	assert_close(SERIES(&f->m, "sse_exporter_series_dropped_total", "model")->value, 0);
}

/*
 * One folded value in one exchange is one drop in
 * sse_exporter_series_dropped_total, however many callbacks (response,
 * every event, end) look the capped label up.
 */
static void test_series_dropped_counts_folded_value_once(void **state)
{
	struct fixture *f = *state;

	get_request(f, "/a", 1000 * MS);
	out(f, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", 1001 * MS);
	get_request(f, "/stream", 1002 * MS);
	out(f, sse_head, 1003 * MS);
	out_chunk(f, ev1, 1004 * MS);
	out_chunk(f, ev2, 1005 * MS);
	out_chunk(f, ev3, 1006 * MS);
	out(f, "0\r\n\r\n", 1007 * MS);
	assert_close(SERIES(&f->m, "sse_chunks_streamed_total", SVC, "other", "unknown")->value, 3);
	metrics_sync_caps(&f->m);
	assert_close(SERIES(&f->m, "sse_exporter_series_dropped_total", "path")->value, 1);
}

/*
 * An adopted stream gets no response callback, yet its end lowers
 * sse_active_connections: adopting must raise the gauge, so that it comes
 * back to 0, not -1.
 */
static void test_adopted_stream_active_gauge_balanced(void **state)
{
	struct fixture *f = *state;
	static const char first[] = "data: {\"c\":\"x\"}\n\n";

	http_conn_adopt(&f->c, first, strlen(first), 1000 * MS);
	out(f, first, 1000 * MS);
	out(f, "data: {\"c\":\"y\"}\n\n", 1100 * MS);
	http_conn_close(&f->c, HTTP_END_REQUESTER_CLOSED, 1200 * MS);
	assert_close(SERIES(&f->m, "sse_requests_total", SVC, "unknown", "unknown", "unknown",
			    "client_closed", "200")
			 ->value,
		     1);
	assert_close(SERIES(&f->m, "sse_chunks_streamed_total", SVC, "unknown", "unknown")->value,
		     2);
	assert_close(SERIES(&f->m, "sse_active_connections", SVC)->value, 0);
}

/*
 * A duration equal to a bucket bound counts in that bucket: ns * 1e-9 is
 * not exact (75000000 * 1e-9 = 0.07500000000000001, also 0.06, 0.15, 0.3,
 * 7.5, 30, 60, 120), ns / 1e9 is.
 */
static void test_duration_equal_to_bound_in_that_bucket(void **state)
{
	struct fixture *f = *state;
	struct series *s;

	chat_request(f, CHAT, 1010 * MS, 1020 * MS);
	out(f, sse_head, 1050 * MS);
	out_chunk(f, ev1, 1080 * MS); /* TTFC exactly 60 ms */
	out_chunk(f, ev2, 1155 * MS); /* gap exactly 75 ms */
	out(f, "0\r\n\r\n", 1200 * MS);
	s = SERIES(&f->m, "sse_inter_chunk_gap_seconds", SVC, CHAT);
	assert_int_equal(s->count, 1);
	assert_int_equal(s->buckets[5], 1); /* le="0.075" */
	s = SERIES(&f->m, "sse_time_to_first_chunk_seconds", SVC, CHAT, MODEL);
	assert_int_equal(s->count, 1);
	assert_int_equal(s->buckets[5], 1); /* le="0.06" */
}

/* ---- figures the kernel counted (include/kstream.h) ---- */

/* The kernel's figures of success_stream's first n events. */
static struct sse_stats kernel_saw(size_t n)
{
	static const struct {
		size_t size;
		uint64_t ts;
		bool heartbeat;
	} evs[] = {
	    {sizeof(ev1) - 1, 1100 * MS, false},
	    {sizeof(hb) - 1, 1150 * MS, true},
	    {sizeof(ev2) - 1, 1200 * MS, false},
	    {sizeof(ev3) - 1, 1450 * MS, false},
	};
	struct sse_stats st = {0};

	for (size_t i = 0; i < n && i < N(evs); i++) {
		if (evs[i].heartbeat)
			st.heartbeats++;
		else
			scan_data_event(&st, evs[i].size, evs[i].ts);
		st.event_bytes += evs[i].size;
	}
	st.body_bytes = st.event_bytes;
	return st;
}

static void assert_same_histogram(struct metrics *a, struct metrics *b, const char *name)
{
	const struct family *fa = family_named(a, name), *fb = family_named(b, name);
	const struct series *sa = fa->first, *sb = fb->first;

	assert_int_equal(fa->nseries, 1);
	assert_int_equal(fb->nseries, 1);
	assert_int_equal(sa->count, sb->count);
	assert_close(sa->sum, sb->sum);
	for (size_t i = 0; i <= fa->nbounds; i++)
		assert_int_equal(sa->buckets[i], sb->buckets[i]);
}

/* Figures added in two steps show as the same events read one at a time:
 * sizes, gaps, the time to the first, heartbeats, bytes, data events. */
static void test_stream_figures_as_events(void **state)
{
	static const char *const names[] = {"sse_chunk_size_bytes", "sse_inter_chunk_gap_seconds",
					    "sse_time_to_first_chunk_seconds"};
	struct fixture *f = *state, *k;
	struct sse_stats none = {0}, some = kernel_saw(2), all = kernel_saw(4);

	assert_int_equal(setup((void **)&k), 0);
	chat_request(k, CHAT "?stream=1", 1010 * MS, 1020 * MS);
	out(k, sse_head, 1050 * MS);
	metrics_stream_figures(&k->m, SVC, &k->c.x, &k->stream, &none, &some);
	assert_int_equal(k->stream.chunks_pending, 1);
	metrics_stream_figures(&k->m, SVC, &k->c.x, &k->stream, &some, &all);
	metrics_stream_figures(&k->m, SVC, &k->c.x, &k->stream, &all, &all);
	assert_int_equal(k->stream.chunks_pending, 3);
	out(k, "0\r\n\r\n", 1500 * MS);
	success_stream(f);
	for (size_t i = 0; i < N(names); i++)
		assert_same_histogram(&f->m, &k->m, names[i]);
	assert_int_equal(SERIES(&k->m, "sse_time_to_first_chunk_seconds", SVC, CHAT, MODEL)->count,
			 1);
	assert_close(SERIES(&k->m, "sse_heartbeats_total", SVC, CHAT)->value, 1);
	assert_close(SERIES(&k->m, "sse_bytes_streamed_total", SVC, CHAT)->value,
		     SERIES(&f->m, "sse_bytes_streamed_total", SVC, CHAT)->value);
	assert_close(SERIES(&k->m, "sse_chunks_streamed_total", SVC, CHAT, "unknown")->value, 3);
	teardown((void **)&k);
}

/* ---- Redis clients (metrics_redis) ---- */

static void redis_obs(struct fixture *f, const char *name, enum redis_class cls,
		      enum redis_outcome outcome, const char *reason)
{
	struct redis_obs o = {.name = name,
			      .cls = cls,
			      .outcome = outcome,
			      .reason = reason,
			      .t_start = 1000 * MS,
			      .t_end = 1002 * MS};

	metrics_redis_command(&f->m.redis, SVC, &o);
}

/* Every outcome of a produce: attempts all, success or failure by
 * reason as it came, sanitised; not run or not known: attempts only. */
static void test_redis_produce_outcomes(void **state)
{
	struct fixture *f = *state;
	static const enum redis_outcome outcomes[] = {
	    REDIS_REPLIED, REDIS_FAILED,     REDIS_FAILED,    REDIS_ABORTED,
	    REDIS_ABORTED, REDIS_CONNECTION, REDIS_DISCARDED, REDIS_UNKNOWN,
	};
	static const char *const reasons[] = {
	    "", "MOVED", "A B\"\\.", "EXECABORT", "aborted", "connection", "", "",
	};

	for (size_t i = 0; i < N(outcomes); i++)
		redis_obs(f, "XADD", REDIS_CLASS_PRODUCE, outcomes[i], reasons[i]);
	assert_true(SERIES(&f->m, "sse_queue_produce_attempts_total", SVC, "redis")->value == 8);
	assert_true(SERIES(&f->m, "sse_queue_produce_success_total", SVC, "redis")->value == 1);
	assert_int_equal(nseries(&f->m, "sse_queue_produce_failures_total"), 5);
	assert_non_null(find_series(&f->m, "sse_queue_produce_failures_total", SVC, "redis",
				    "A_B___", (const char *)NULL));
	assert_non_null(find_series(&f->m, "sse_queue_produce_failures_total", SVC, "redis",
				    "connection", (const char *)NULL));
	/* timed: answered, errors included */
	assert_int_equal(SERIES(&f->m, "sse_redis_command_duration_seconds", SVC, "XADD")->count,
			 3);
	assert_close(SERIES(&f->m, "sse_redis_command_duration_seconds", SVC, "XADD")->sum, 0.006);
}

/* Command names beyond the cap fold into "other", counted as dropped;
 * "connection" is never folded. */
static void test_redis_caps(void **state)
{
	struct fixture *f = *state;
	char name[16];

	for (int i = 0; i <= REDIS_REASONS_MAX; i++) {
		snprintf(name, sizeof(name), "E%d", i);
		redis_obs(f, "RPUSH", REDIS_CLASS_PRODUCE, REDIS_FAILED, name);
	}
	redis_obs(f, "RPUSH", REDIS_CLASS_PRODUCE, REDIS_CONNECTION, "connection");
	assert_true(
	    SERIES(&f->m, "sse_queue_produce_failures_total", SVC, "redis", "other")->value == 1);
	assert_true(
	    SERIES(&f->m, "sse_queue_produce_failures_total", SVC, "redis", "connection")->value ==
	    1);
	/* RPUSH and as many more: the last one is folded */
	for (int i = 0; i < REDIS_COMMANDS_MAX; i++) {
		snprintf(name, sizeof(name), "CMD%d", i);
		redis_obs(f, name, REDIS_CLASS_OTHER, REDIS_REPLIED, "");
	}
	assert_non_null(find_series(&f->m, "sse_redis_command_duration_seconds", SVC, "other",
				    (const char *)NULL));
	metrics_sync_caps(&f->m);
	assert_true(SERIES(&f->m, "sse_exporter_series_dropped_total", "command")->value == 1);
	assert_true(SERIES(&f->m, "sse_exporter_series_dropped_total", "reason")->value == 1);
	metrics_forget_target(&f->m, SVC); /* the caps forget it too */
	redis_obs(f, "NEW", REDIS_CLASS_OTHER, REDIS_REPLIED, "");
	assert_non_null(find_series(&f->m, "sse_redis_command_duration_seconds", SVC, "NEW",
				    (const char *)NULL));
}

/* A queue's depth under its normalised name; cache reads' hits and
 * misses only when answered. */
static void test_redis_depth_and_cache(void **state)
{
	struct fixture *f = *state;
	struct resp_arg key = {.s = "jobs:1234", .len = 9};
	struct redis_obs o = {.name = "LPUSH",
			      .cls = REDIS_CLASS_PRODUCE,
			      .outcome = REDIS_REPLIED,
			      .reason = "",
			      .key = &key,
			      .has_depth = true,
			      .depth = 12};

	metrics_redis_command(&f->m.redis, SVC, &o);
	assert_true(SERIES(&f->m, "sse_queue_depth", SVC, "jobs::id")->value == 12);
	o = (struct redis_obs){.name = "MGET",
			       .cls = REDIS_CLASS_CACHE_READ,
			       .outcome = REDIS_REPLIED,
			       .reason = "",
			       .hits = 2,
			       .misses = 1};
	metrics_redis_command(&f->m.redis, SVC, &o);
	o.outcome = REDIS_UNKNOWN;
	metrics_redis_command(&f->m.redis, SVC, &o);
	assert_true(SERIES(&f->m, "sse_cache_hits_total", SVC, "L2")->value == 2);
	assert_true(SERIES(&f->m, "sse_cache_misses_total", SVC, "L2")->value == 1);
}

int main(void)
{
#define T(name)	 cmocka_unit_test_setup_teardown(name, setup, teardown)
#define T1(name) cmocka_unit_test_setup_teardown(name, setup_one_path, teardown)
	const struct CMUnitTest tests[] = {
	    T(test_families_start_state),
	    T(test_family_names_unique),
	    T(test_success_stream_requests_total),
	    T(test_success_stream_http_request_counted_once),
	    T(test_success_stream_active_gauge),
	    T(test_success_stream_ttfc_once),
	    T(test_success_stream_gaps_n_minus_1),
	    T(test_success_stream_chunks_and_sizes),
	    T(test_success_stream_bytes),
	    T(test_bytes_include_unterminated_tail),
	    T(test_gzip_stream_sizes_and_bytes),
	    T(test_brotli_stream_undecoded),
	    T(test_success_stream_durations),
	    T(test_success_stream_stages),
	    T(test_second_stream_has_no_queue_stage),
	    T(test_rate_limited_json_answer),
	    T(test_server_error_answer),
	    T(test_client_disconnect_mid_stream),
	    T(test_server_close_after_idle_is_timeout),
	    T(test_server_close_early_is_truncated),
	    T(test_unanswered_stream_request_code_0),
	    T(test_plain_request_only_http_metrics),
	    T(test_plain_request_response_end_times),
	    T(test_model_unknown_when_absent),
	    T(test_lost_exchange_counted),
	    T(test_unasked_answer_is_lost_unless_a_stream),
	    T(test_connections_gauge),
	    T1(test_path_cap_folds_into_other),
	    T1(test_series_dropped_counts_folded_value_once),
	    T(test_adopted_stream_active_gauge_balanced),
	    T(test_duration_equal_to_bound_in_that_bucket),
	    T(test_stream_figures_as_events),
	    T(test_redis_produce_outcomes),
	    T(test_redis_caps),
	    T(test_redis_depth_and_cache),
	};
#undef T
#undef T1

	return cmocka_run_group_tests(tests, NULL, NULL);
}
