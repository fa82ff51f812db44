// SPDX-License-Identifier: MIT
/* Correlation of inbound streams with upstream calls, the provider
 * fallback, and the token usage of compressed answers. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <cmocka.h>

#include "compress.h"
#include "llm/correlate.h"
#include "llm/upstream.h"
#include "metrics/metrics.h"
#include "metrics/metrics_upstream.h"

static void test_corr_nothing_seen(void **state)
{
	struct correlation k;

	(void)state;
	corr_init(&k);
	assert_null(corr_decide(&k, false));
	assert_string_equal(corr_decide(&k, true), "unknown");
}

static void test_corr_one_provider(void **state)
{
	struct correlation k;

	(void)state;
	corr_init(&k);
	corr_note(&k, "openai");
	corr_note(&k, "openai");
	/* the fallback waits for the stream's end: a match may still come */
	assert_null(corr_decide(&k, false));
	assert_string_equal(corr_decide(&k, true), "openai");
}

static void test_corr_match_decides_at_once(void **state)
{
	struct correlation k;

	(void)state;
	corr_init(&k);
	corr_note(&k, "openai");
	corr_note(&k, "anthropic");
	corr_match(&k, "anthropic");
	corr_match(&k, "openai"); /* the first match stands */
	assert_string_equal(corr_decide(&k, false), "anthropic");
	assert_string_equal(corr_decide(&k, true), "anthropic");
}

#define SEC  1000000000ull
#define CALL 1

static void test_index_finds_what_was_learned(void **state)
{
	static struct corr_index ix;

	(void)state;
	corr_index_init(&ix);
	corr_index_learn(&ix, 10, CALL, 0xabc, "openai", 5 * SEC);
	corr_index_learn(&ix, 10, CALL, 0xdef, "anthropic", 5 * SEC);
	assert_string_equal(corr_index_find(&ix, 10, 0xabc, 6 * SEC), "openai");
	assert_string_equal(corr_index_find(&ix, 10, 0xdef, 6 * SEC), "anthropic");
	/* another process, another hash: nothing */
	assert_null(corr_index_find(&ix, 11, 0xabc, 6 * SEC));
	assert_null(corr_index_find(&ix, 10, 0x123, 6 * SEC));
	/* a record of another CPU may be slightly older than the entry */
	assert_string_equal(corr_index_find(&ix, 10, 0xabc, 5 * SEC - 1000), "openai");
}

static void test_index_data_of_several_calls_is_no_answer(void **state)
{
	static struct corr_index ix;

	(void)state;
	corr_index_init(&ix);
	/* the same call may deliver the same data twice */
	corr_index_learn(&ix, 10, 1, 0xabc, "openai", 5 * SEC);
	corr_index_learn(&ix, 10, 1, 0xabc, "openai", 5 * SEC);
	assert_string_equal(corr_index_find(&ix, 10, 0xabc, 6 * SEC), "openai");
	/* "data: [DONE]": two calls, even of one provider, and it stays so */
	corr_index_learn(&ix, 10, 1, 0xd0e, "openai", 5 * SEC);
	corr_index_learn(&ix, 10, 2, 0xd0e, "openai", 6 * SEC);
	corr_index_learn(&ix, 10, 2, 0xd0e, "openai", 7 * SEC);
	assert_null(corr_index_find(&ix, 10, 0xd0e, 7 * SEC));
	/* once the others are long gone, the hash is learned afresh */
	corr_index_learn(&ix, 10, 3, 0xd0e, "openai", 7 * SEC + CORR_INDEX_TTL_NS + 1);
	assert_string_equal(corr_index_find(&ix, 10, 0xd0e, 8 * SEC + CORR_INDEX_TTL_NS), "openai");
}

static void test_index_forgets_stale_entries(void **state)
{
	static struct corr_index ix;

	(void)state;
	corr_index_init(&ix);
	corr_index_learn(&ix, 10, CALL, 0xabc, "openai", SEC);
	assert_null(corr_index_find(&ix, 10, 0xabc, SEC + CORR_INDEX_TTL_NS + 1));
}

static void test_index_full_keeps_the_newest(void **state)
{
	static struct corr_index ix;
	uint64_t n = 4 * CORR_INDEX_SLOTS, found = 0;

	(void)state;
	corr_index_init(&ix);
	for (uint64_t i = 0; i < n; i++)
		corr_index_learn(&ix, 10, CALL, i * 0x9e3779b97f4a7c15ull, "openai", SEC + i);
	assert_string_equal(corr_index_find(&ix, 10, (n - 1) * 0x9e3779b97f4a7c15ull, SEC + n),
			    "openai");
	for (uint64_t i = n - 64; i < n; i++)
		found += corr_index_find(&ix, 10, i * 0x9e3779b97f4a7c15ull, SEC + n) != NULL;
	assert_int_equal(found, 64);
}

static void test_corr_two_providers_never_guess(void **state)
{
	struct correlation k;

	(void)state;
	corr_init(&k);
	corr_note(&k, "openai");
	corr_note(&k, "anthropic");
	corr_note(&k, "openai");
	assert_null(corr_decide(&k, false)); /* a match may still come */
	assert_string_equal(corr_decide(&k, true), "unknown");
}

/* ---- fallback: calls busy while a request ran ---- */

struct note_fixture {
	struct metrics m;
	struct upstream_index idx;
	struct upstream_call call;
};

static struct note_fixture *note_setup(void)
{
	struct metrics_config cfg = {.max_paths = 10, .max_models = 10, .idle_ns = 1000000000};
	struct note_fixture *f = calloc(1, sizeof(*f));
	const struct conn_addr remote = {.family = AF_INET, .port = 443, .addr = {10, 0, 0, 1}};

	assert_non_null(f);
	assert_int_equal(metrics_init(&f->m, &cfg), 0);
	upstream_index_init(&f->idx, &f->m.up, NULL);
	upstream_call_init(&f->call, &f->idx, 7, "gw", &remote);
	snprintf(f->call.provider, sizeof(f->call.provider), "openai");
	return f;
}

static void note_teardown(struct note_fixture *f)
{
	upstream_call_release(&f->call);
	metrics_free(&f->m);
	free(f);
}

static const char *noted(struct note_fixture *f, uint32_t tgid, uint64_t since)
{
	static struct correlation k;

	corr_init(&k);
	upstream_note_since(&f->idx, tgid, since, &k);
	return corr_decide(&k, true);
}

/* A live call that read data during the request names its provider;
 * one that read before it, or another process's, does not. */
static void test_note_live_calls(void **state)
{
	struct note_fixture *f = note_setup();

	(void)state;
	f->call.t_last_data = 500;
	assert_string_equal(noted(f, 7, 400), "openai");
	assert_string_equal(noted(f, 7, 600), "unknown");
	assert_string_equal(noted(f, 8, 400), "unknown");
	note_teardown(f);
}

/* A connect that failed is remembered after it ended, with the provider
 * of its address (a user mapping here). */
static void test_note_ended_calls(void **state)
{
	struct note_fixture *f = note_setup();
	const struct conn_addr dead = {.family = AF_INET, .port = 443, .addr = {10, 0, 0, 2}};

	(void)state;
	upstream_connect_failed(&f->idx, 9, "gw", &dead, 1000);
	assert_string_equal(noted(f, 9, 900), "10.0.0.2");
	assert_string_equal(noted(f, 9, 1001), "unknown");
	upstream_connect_failed(&f->idx, 7, "gw", &dead, 1000);
	f->call.t_last_data = 1000;
	assert_string_equal(noted(f, 7, 900), "unknown"); /* two providers: no guess */
	note_teardown(f);
}

/* ---- usage of compressed answers, through upstream_ops ---- */

#define SVC "svc"

static const char answer[] =
    "{\"id\":\"chatcmpl-1\",\"object\":\"chat.completion\",\"model\":\"gpt-4o\","
    "\"choices\":[{\"index\":0,\"message\":{\"role\":\"assistant\",\"content\":\"Hi\"}}],"
    "\"usage\":{\"prompt_tokens\":940,\"completion_tokens\":803,\"total_tokens\":1743}}";

/* A client connection to api.openai.com: the process writes requests and
 * reads answers, so requests go in and answers out, as the collector
 * feeds them. Static: the index is large. */
static struct {
	struct metrics m;
	struct upstream_index idx;
	struct upstream_call u;
	struct http_conn c;
	uint64_t now;
} F;

static int up_start(const struct conn_addr *remote)
{
	struct metrics_config cfg = {.max_paths = 10, .max_models = 10, .idle_ns = 30 * SEC};

	memset(&F, 0, sizeof(F));
	if (metrics_init(&F.m, &cfg))
		return -1;
	upstream_index_init(&F.idx, &F.m.up, NULL);
	upstream_call_init(&F.u, &F.idx, 10, SVC, remote);
	http_conn_init(&F.c, &upstream_ops, &F.u, SEC);
	F.now = 2 * SEC;
	return 0;
}

static int up_setup(void **state)
{
	const struct conn_addr remote = {.family = AF_INET, .port = 443, .addr = {10, 0, 0, 1}};

	(void)state;
	return up_start(&remote);
}

/* The same client over a unix socket: no address, no port. */
static int up_setup_unix(void **state)
{
	const struct conn_addr remote = {.family = AF_UNIX};

	(void)state;
	return up_start(&remote);
}

static int up_teardown(void **state)
{
	(void)state;
	http_conn_release(&F.c);
	upstream_call_release(&F.u);
	metrics_free(&F.m);
	return 0;
}

static void call_request(void)
{
	static const char body[] = "{\"model\":\"gpt-4o\",\"messages\":[]}";
	char req[256];
	int n = snprintf(req, sizeof(req),
			 "POST /v1/chat/completions HTTP/1.1\r\nHost: api.openai.com\r\n"
			 "Content-Type: application/json\r\nContent-Length: %zu\r\n\r\n%s",
			 strlen(body), body);

	http_conn_request_bytes(&F.c, req, (size_t)n, F.now += SEC / 10);
}

/* An answer with this coding and body, the body read in two pieces. */
static void call_answer(const char *coding, const void *body, size_t len)
{
	char head[256];
	int n = snprintf(head, sizeof(head),
			 "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
			 "Content-Encoding: %s\r\nContent-Length: %zu\r\n\r\n",
			 coding, len);

	call_request();
	http_conn_response_bytes(&F.c, head, (size_t)n, F.now += SEC / 10);
	http_conn_response_bytes(&F.c, body, len / 3, F.now += SEC / 10);
	http_conn_response_bytes(&F.c, (const char *)body + len / 3, len - len / 3,
				 F.now += SEC / 10);
}

/* The value of the series of family name whose labels are want[], or -1. */
static double value_of(const char *name, const char *const *want)
{
	for (struct family *f = F.m.reg.first; f; f = f->next) {
		if (strcmp(f->name, name))
			continue;
		for (struct series *s = f->first; s; s = s->list_next) {
			size_t i = 0;

			while (i < f->nlabels && !strcmp(s->labels[i], want[i]))
				i++;
			if (i == f->nlabels)
				return s->value;
		}
	}
	return -1;
}

static double tokens(const char *type)
{
	return value_of("llm_tokens_used_total",
			(const char *const[]){SVC, "openai", "gpt-4o", type});
}

static double undecoded(const char *reason)
{
	return value_of("sse_exporter_bodies_undecoded_total", (const char *const[]){reason});
}

static void test_gzip_answer_tokens(void **state)
{
	unsigned char z[512];
	size_t n = compress_as(GZIP_BITS, answer, strlen(answer), z, sizeof(z));

	(void)state;
	call_answer("gzip", z, n);
	assert_true(tokens("prompt") == 940);
	assert_true(tokens("completion") == 803);
	assert_true(tokens("total") == 1743);
	assert_false(F.u.inflate.z_live); /* freed at the call's end */
	/* every reason is exported, from zero */
	assert_true(undecoded("br") == 0 && undecoded("unsupported") == 0 &&
		    undecoded("inflate_error") == 0 && undecoded("cap") == 0);
	/* the next answer on the connection starts afresh */
	call_answer("x-gzip", z, n);
	assert_true(tokens("prompt") == 2 * 940);
}

/* What cannot be read is counted once per body, and no tokens come of it. */
static void test_undecoded_answers_counted(void **state)
{
	unsigned char z[512];
	size_t n = compress_as(GZIP_BITS, answer, strlen(answer), z, sizeof(z));

	(void)state;
	call_answer("br", z, n);
	assert_true(undecoded("br") == 1);
	call_answer("gzip, br", z, n);
	assert_true(undecoded("unsupported") == 1);
	call_answer("gzip", answer, strlen(answer)); /* says gzip, is not */
	assert_true(undecoded("inflate_error") == 1);
	assert_true(tokens("prompt") == -1);
	assert_true(undecoded("cap") == 0);
	/* the call itself is counted all the same */
	assert_true(value_of("sse_provider_requests_total",
			     (const char *const[]){SVC, "openai", "gpt-4o", "success"}) == 3);
}

/* A body cut short keeps zlib's state until the connection goes. */
static void test_cut_body_released(void **state)
{
	unsigned char z[512];
	size_t n = compress_as(GZIP_BITS, answer, strlen(answer), z, sizeof(z));
	char head[256];
	int hn = snprintf(head, sizeof(head),
			  "HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\n"
			  "Content-Length: %zu\r\n\r\n",
			  n);

	(void)state;
	call_request();
	http_conn_response_bytes(&F.c, head, (size_t)hn, F.now += SEC / 10);
	http_conn_response_bytes(&F.c, (const char *)z, n / 2, F.now += SEC / 10);
	assert_true(F.u.inflate.z_live);
	upstream_call_release(&F.u); /* valgrind tells whether it leaked */
	assert_false(F.u.inflate.z_live);
}

static double calls(const char *provider, const char *status)
{
	return value_of("sse_provider_requests_total",
			(const char *const[]){SVC, provider, "gpt-4o", status});
}

/* A call over a unix socket is named by its Host header alone (no ":0");
 * one that ends unanswered has no address to be named by, and the socket
 * teaches none: "unknown", not the provider of the call before it nor
 * "0.0.0.0". */
static void test_unix_socket_calls(void **state)
{
	unsigned char z[512];
	size_t n = compress_as(GZIP_BITS, answer, strlen(answer), z, sizeof(z));

	(void)state;
	call_answer("gzip", z, n);
	assert_true(calls("openai", "success") == 1);
	assert_true(tokens("total") == 1743);
	call_request();
	http_conn_close(&F.c, HTTP_END_RESPONDER_CLOSED, F.now += SEC / 10);
	assert_true(calls("unknown", "failure") == 1);
	assert_true(calls("openai", "failure") == -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_corr_nothing_seen),
	    cmocka_unit_test(test_corr_one_provider),
	    cmocka_unit_test(test_corr_two_providers_never_guess),
	    cmocka_unit_test(test_corr_match_decides_at_once),
	    cmocka_unit_test(test_index_finds_what_was_learned),
	    cmocka_unit_test(test_index_data_of_several_calls_is_no_answer),
	    cmocka_unit_test(test_index_forgets_stale_entries),
	    cmocka_unit_test(test_index_full_keeps_the_newest),
	    cmocka_unit_test(test_note_live_calls),
	    cmocka_unit_test(test_note_ended_calls),
	    cmocka_unit_test_setup_teardown(test_gzip_answer_tokens, up_setup, up_teardown),
	    cmocka_unit_test_setup_teardown(test_undecoded_answers_counted, up_setup, up_teardown),
	    cmocka_unit_test_setup_teardown(test_cut_body_released, up_setup, up_teardown),
	    cmocka_unit_test_setup_teardown(test_unix_socket_calls, up_setup_unix, up_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
