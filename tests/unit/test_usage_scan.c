// SPDX-License-Identifier: MIT
/* Unit tests of the incremental token usage scanner. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "llm/usage_scan.h"
#include "split.h"

#define SSE  true
#define JSON false

static struct usage_scan S, other;

/* The mode of the next scans: usage_scan_init() takes it, start() cannot. */
static bool mode_sse;

static void scan_start(void *run)
{
	usage_scan_init(run, mode_sse);
}

static bool scan_feed(void *run, const char *in, size_t off, size_t len)
{
	usage_scan_feed(run, in + off, len);
	return true;
}

static void assert_same(const void *va, const void *vb)
{
	struct usage a, b;

	usage_scan_result(va, &a);
	usage_scan_result(vb, &b);
	assert_memory_equal(&a, &b, sizeof(a));
}

static const struct split_driver driver = {
    .start = scan_start,
    .feed = scan_feed,
    .same = assert_same,
    .pairs_max = 160,
};

/* Scans in every way split.h knows; all must agree. */
static void scan_n(bool sse, const char *in, size_t len)
{
	mode_sse = sse;
	split_all_ways(&driver, &S, &other, in, len);
}

static void scan(bool sse, const char *in)
{
	scan_n(sse, in, strlen(in));
}

static void assert_usage(int64_t prompt, int64_t completion, int64_t total)
{
	struct usage u;

	usage_scan_result(&S, &u);
	if (u.prompt != prompt || u.completion != completion || u.total != total)
		fail_msg("usage %lld/%lld/%lld, want %lld/%lld/%lld", (long long)u.prompt,
			 (long long)u.completion, (long long)u.total, (long long)prompt,
			 (long long)completion, (long long)total);
}

/* ---- providers ---- */

static void test_openai_stream(void **state)
{
	(void)state;
	scan(SSE,
	     "data: {\"id\":\"c1\",\"object\":\"chat.completion.chunk\",\"choices\":[{\"index\":0,"
	     "\"delta\":{\"role\":\"assistant\",\"content\":\"\"}}],\"usage\":null}\n\n"
	     "data: {\"id\":\"c1\",\"choices\":[{\"delta\":{\"content\":\"Hi\"}}],"
	     "\"usage\":null}\n\n"
	     "data: {\"id\":\"c1\",\"choices\":[{\"delta\":{},\"finish_reason\":\"stop\"}],"
	     "\"usage\":null}\n\n"
	     "data: {\"id\":\"c1\",\"choices\":[],\"usage\":{\"prompt_tokens\":12,"
	     "\"completion_tokens\":7,\"total_tokens\":19,\"prompt_tokens_details\":"
	     "{\"cached_tokens\":0},\"completion_tokens_details\":{\"reasoning_tokens\":0}}}\n\n"
	     "data: [DONE]\n\n");
	assert_usage(12, 7, 19);
}

static void test_openai_stream_without_usage(void **state)
{
	(void)state;
	scan(SSE,
	     "data: {\"choices\":[{\"delta\":{\"content\":\"Hi\"}}]}\n\n"
	     "data: {\"choices\":[{\"delta\":{},\"finish_reason\":\"stop\"}],\"usage\":null}\n\n"
	     "data: [DONE]\n\n");
	assert_usage(-1, -1, -1);
	scan(SSE, "");
	assert_usage(-1, -1, -1);
}

static void test_anthropic_stream(void **state)
{
	(void)state;
	scan(SSE,
	     "event: message_start\n"
	     "data: {\"type\":\"message_start\",\"message\":{\"id\":\"msg_1\",\"type\":\"message\","
	     "\"role\":\"assistant\",\"content\":[],\"model\":\"claude-sonnet-4\","
	     "\"usage\":{\"input_tokens\":25,\"cache_creation_input_tokens\":0,"
	     "\"cache_read_input_tokens\":0,\"output_tokens\":1}}}\n\n"
	     "event: content_block_delta\n"
	     "data: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":"
	     "\"text_delta\",\"text\":\"Hello\"}}\n\n"
	     "event: ping\ndata: {\"type\": \"ping\"}\n\n"
	     "event: message_delta\n"
	     "data: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"end_turn\"},"
	     "\"usage\":{\"output_tokens\":15}}\n\n"
	     "event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n");
	assert_usage(25, 15, 40);
}

static void test_gemini_stream(void **state)
{
	(void)state;
	scan(SSE, "data: {\"candidates\": [{\"content\": {\"parts\": [{\"text\": \"Hi\"}],"
		  "\"role\": \"model\"}}],\"usageMetadata\": {\"promptTokenCount\": 8,"
		  "\"totalTokenCount\": 8},\"modelVersion\": \"gemini-2.0-flash\"}\r\n\r\n"
		  "data: {\"candidates\": [{\"content\": {\"parts\": [{\"text\": \"!\"}]},"
		  "\"finishReason\": \"STOP\"}],\"usageMetadata\": {\"promptTokenCount\": 8,"
		  "\"candidatesTokenCount\": 3,\"totalTokenCount\": 11,\"promptTokensDetails\":"
		  " [{\"modality\": \"TEXT\",\"tokenCount\": 8}]}}\r\n\r\n");
	assert_usage(8, 3, 11);
}

static void test_non_streamed_json(void **state)
{
	(void)state;
	scan(JSON, "{\n  \"id\": \"chatcmpl-1\",\n  \"object\": \"chat.completion\",\n"
		   "  \"choices\": [{\"index\": 0, \"message\": {\"role\": \"assistant\",\n"
		   "    \"content\": \"The usage is {\\\"usage\\\": 1}\"}, \"finish_reason\": "
		   "\"stop\"}],\n"
		   "  \"usage\": {\"prompt_tokens\": 9, \"completion_tokens\": 12,\n"
		   "    \"total_tokens\": 21}\n}\n");
	assert_usage(9, 12, 21);
	/* Anthropic's non-streamed message: no total */
	scan(JSON, "{\"id\":\"msg\",\"content\":[{\"type\":\"text\",\"text\":\"x\"}],"
		   "\"usage\":{\"input_tokens\":3,\"output_tokens\":4}}");
	assert_usage(3, 4, 7);
	/* OpenAI responses API: usage inside "response" */
	scan(JSON, "{\"type\":\"response.completed\",\"response\":{\"output\":[],\"usage\":"
		   "{\"input_tokens\":5,\"input_tokens_details\":{\"cached_tokens\":2},"
		   "\"output_tokens\":6,\"total_tokens\":11}}}");
	assert_usage(5, 6, 11);
}

/* In JSON mode, event-stream syntax is not JSON: nothing is found. */
static void test_mode_matters(void **state)
{
	static const char in[] = "data: {\"usage\":{\"prompt_tokens\":1}}\n\n";

	(void)state;
	scan(JSON, in);
	assert_usage(-1, -1, -1);
	scan(SSE, in);
	assert_usage(1, -1, -1);
	scan(SSE, "{\"usage\":{\"prompt_tokens\":1}}\n\n");
	assert_usage(-1, -1, -1);
}

/* ---- what counts ---- */

static void test_nested_details_ignored(void **state)
{
	(void)state;
	scan(JSON, "{\"usage\":{\"prompt_tokens_details\":{\"prompt_tokens\":100,"
		   "\"total_tokens\":900},\"billed_units\":{\"input_tokens\":50,"
		   "\"output_tokens\":60},\"x\":[{\"output_tokens\":70}],\"prompt_tokens\":1}}");
	assert_usage(1, -1, -1);
	/* Cohere v2: only nested counts, so nothing */
	scan(JSON, "{\"usage\":{\"billed_units\":{\"input_tokens\":5,\"output_tokens\":6},"
		   "\"tokens\":{\"input_tokens\":7,\"output_tokens\":8}}}");
	assert_usage(-1, -1, -1);
}

static void test_token_keys_outside_usage_ignored(void **state)
{
	(void)state;
	scan(JSON, "{\"prompt_tokens\":1,\"completion_tokens\":2,\"total_tokens\":3,"
		   "\"stats\":{\"input_tokens\":4},\"usages\":{\"prompt_tokens\":5},"
		   "\"Usage\":{\"prompt_tokens\":6},\"my_usage\":{\"prompt_tokens\":7}}");
	assert_usage(-1, -1, -1);
	/* a usage array is not a usage object */
	scan(JSON, "{\"usage\":[{\"prompt_tokens\":1}],\"usage_x\":{\"total_tokens\":2}}");
	assert_usage(-1, -1, -1);
}

static void test_keys_in_strings_ignored(void **state)
{
	(void)state;
	scan(JSON, "{\"text\":\"\\\"usage\\\":{\\\"prompt_tokens\\\":99}\","
		   "\"a\":[\"usage\",{\"k\":\"{\\\"usage\\\":{\\\"total_tokens\\\":98}}\"}],"
		   "\"usage\":{\"note\":\"\\\"prompt_tokens\\\":97,\",\"completion_tokens\":2}}");
	assert_usage(-1, 2, -1);
	/* a string value of a token key does not count, nor "usage":"..." */
	scan(JSON, "{\"usage\":{\"prompt_tokens\":\"5\"}}");
	assert_usage(-1, -1, -1);
	scan(JSON, "{\"usage\":\"{\\\"prompt_tokens\\\":5}\"}");
	assert_usage(-1, -1, -1);
	/* braces and backslashes at the end of strings */
	scan(JSON, "{\"s\":\"}}\\\\\",\"usage\":{\"t\":\"\\\\\",\"total_tokens\":4}}");
	assert_usage(-1, -1, 4);
}

static void test_escaped_keys(void **state)
{
	(void)state;
	/* escapes in a key make it none of ours; in values, they are skipped */
	scan(JSON, "{\"usag\\u0065\":{\"prompt_tokens\":3},\"usage\":{\"prompt\\u005ftokens\":4,"
		   "\"total_tokens\\\"\":5,\"\\\\\":\"\\\\\",\"completion_tokens\":6}}");
	assert_usage(-1, 6, -1);
	scan(JSON, "{\"usage\":{\"prompt_tokens\\u0000\":3,\"prompt_tokens\xc3\xa9\":4,"
		   "\"prompt_tokens\\\"\":5,\"\xc3\xa9\":\"\\u00e9\\\"\",\"total_tokens\":6}}");
	assert_usage(-1, -1, 6);
}

static void test_number_forms(void **state)
{
	static const struct {
		const char *value;
		int64_t want;
	} cases[] = {
	    {"0", 0},
	    {"42", 42},
	    {" 42 ", 42},
	    {"1099511627776", 1099511627776LL}, /* 2^40 */
	    {"1099511627777", -1},
	    {"99999999999999999999999999", -1},
	    {"-1", -1},
	    {"1.5", -1},
	    {"1e3", -1},
	    {"10.0", -1},
	    {"null", -1},
	    {"true", -1},
	    {"\"7\"", -1},
	    {"[7]", -1},
	    {"{\"v\":7}", -1},
	};
	char in[128];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct usage u;

		snprintf(in, sizeof(in), "{\"usage\":{\"prompt_tokens\":%s}}", cases[i].value);
		scan(JSON, in);
		usage_scan_result(&S, &u);
		if (u.prompt != cases[i].want)
			fail_msg("%s: prompt %lld, want %lld", in, (long long)u.prompt,
				 (long long)cases[i].want);
	}
	/* a number only counts once delimited */
	scan(JSON, "{\"usage\":{\"prompt_tokens\":123");
	assert_usage(-1, -1, -1);
}

static void test_usage_null_and_odd_values(void **state)
{
	(void)state;
	scan(JSON, "{\"usage\":null,\"x\":{\"usage\":5},\"y\":{\"usage\":\"s\"},"
		   "\"z\":{\"usage\":[]},\"w\":{\"usage\":{}}}");
	assert_usage(-1, -1, -1);
	/* usage at any depth, even inside arrays */
	scan(JSON, "[1,{\"a\":[{\"b\":{\"usage\":{\"total_tokens\":8}}}]}]");
	assert_usage(-1, -1, 8);
	/* a usage object inside a usage object counts too */
	scan(JSON, "{\"usage\":{\"usage\":{\"prompt_tokens\":2},\"completion_tokens\":3}}");
	assert_usage(2, 3, 5);
}

static void test_max_aggregation(void **state)
{
	(void)state;
	/* running usage on every chunk, and a smaller one out of order */
	scan(SSE, "data: {\"usage\":{\"prompt_tokens\":10,\"completion_tokens\":1,"
		  "\"total_tokens\":11}}\n\n"
		  "data: {\"usage\":{\"prompt_tokens\":10,\"completion_tokens\":5,"
		  "\"total_tokens\":15}}\n\n"
		  "data: {\"usage\":{\"prompt_tokens\":10,\"completion_tokens\":3,"
		  "\"total_tokens\":13}}\n\n");
	assert_usage(10, 5, 15);
	/* total seen is kept even when prompt + completion differ */
	scan(JSON, "{\"usage\":{\"prompt_tokens\":2,\"completion_tokens\":3,\"total_tokens\":9}}");
	assert_usage(2, 3, 9);
	/* one side only: no total */
	scan(JSON, "{\"usage\":{\"completion_tokens\":3}}");
	assert_usage(-1, 3, -1);
	/* several JSON texts in a row (NDJSON) */
	scan(JSON, "{\"usage\":{\"prompt_tokens\":1}}\n{\"usage\":{\"completion_tokens\":2}}\n");
	assert_usage(1, 2, 3);
}

/* ---- event stream syntax ---- */

static void test_line_ends(void **state)
{
	static const char *const ins[] = {
	    "data: {\"usage\":{\"prompt_tokens\":4}}\r\n\r\n"
	    "data: {\"usage\":{\"completion_tokens\":5}}\r\n\r\n",
	    "data: {\"usage\":{\"prompt_tokens\":4}}\r\r"
	    "data: {\"usage\":{\"completion_tokens\":5}}\r\r",
	    "data: {\"usage\":{\"prompt_tokens\":4}}\n\r"
	    "data: {\"usage\":{\"completion_tokens\":5}}\r\n\n",
	    /* no final blank line: the JSON was complete all the same */
	    "data:{\"usage\":{\"prompt_tokens\":4}}\r\rdata:{\"usage\":{\"completion_tokens\":5}}",
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(ins) / sizeof(ins[0]); i++) {
		scan(SSE, ins[i]);
		assert_usage(4, 5, 9);
	}
}

static void test_multi_line_data(void **state)
{
	(void)state;
	scan(SSE, "data: {\"usage\":\n"
		  "data:   {\"prompt_tokens\":\n"
		  ": a comment between data lines\n"
		  "event: x\n"
		  "data: 21,\"total_tokens\"\r"
		  "data\n"
		  "data: :30}}\n\n");
	assert_usage(21, -1, 30);
	/* CRLF is one line end, not a line end and a blank line */
	scan(SSE, "data: {\"usage\":\r\ndata: {\"prompt_tokens\":3}}\r\n\r\n");
	assert_usage(3, -1, -1);
	scan(SSE, "data: {\"usage\":\r\rdata: {\"prompt_tokens\":3}}\r\n\r\n");
	assert_usage(-1, -1, -1);
	/* a CR ends a line: "1\n2" is a number, then a syntax error */
	scan(SSE, "data: {\"usage\":{\"prompt_tokens\":1\rdata:2}}\n\n");
	assert_usage(1, -1, -1);
	/* the joining "\n" ends a number */
	scan(SSE, "data: {\"usage\":{\"prompt_tokens\":1\ndata: ,\"total_tokens\":5}}\n\n");
	assert_usage(1, -1, 5);
}

static void test_fields_that_are_not_data(void **state)
{
	(void)state;
	scan(SSE, "event: {\"usage\":{\"prompt_tokens\":1}}\n"
		  "id: {\"usage\":{\"prompt_tokens\":2}}\n"
		  ":{\"usage\":{\"prompt_tokens\":3}}\n"
		  "datax: {\"usage\":{\"prompt_tokens\":4}}\n"
		  "Data: {\"usage\":{\"prompt_tokens\":5}}\n"
		  " data: {\"usage\":{\"prompt_tokens\":6}}\n"
		  "dat: {\"usage\":{\"prompt_tokens\":7}}\n\n");
	assert_usage(-1, -1, -1);
	/* only one space after the colon is dropped; more is JSON whitespace */
	scan(SSE, "data:   {\"usage\":{\"prompt_tokens\":8}}\n\n");
	assert_usage(8, -1, -1);
}

static void test_byte_order_mark(void **state)
{
	(void)state;
	scan(SSE, "\xef\xbb\xbf"
		  "data: {\"usage\":{\"prompt_tokens\":1}}\n\n");
	assert_usage(1, -1, -1);
	/* a partial one is part of a field name: that line is no data line */
	scan(SSE, "\xef\xbb"
		  "data: {\"usage\":{\"prompt_tokens\":1}}\n\n"
		  "data: {\"usage\":{\"completion_tokens\":2}}\n\n");
	assert_usage(-1, 2, -1);
	/* only the first one is dropped */
	scan(SSE, "\xef\xbb\xbf\xef\xbb\xbf"
		  "data: {\"usage\":{\"prompt_tokens\":1}}\n\n");
	assert_usage(-1, -1, -1);
}

static void test_broken_event_then_good(void **state)
{
	(void)state;
	scan(SSE, "data: {\"usage\":{\"prompt_tokens\":\"unterminated\n\n"
		  "data: {\"usage\":{\"completion_tokens\":6}}\n\n");
	assert_usage(-1, 6, -1);
	scan(SSE, "data: {\"usage\":{\"prompt_tokens\":3,]]]\n\n"
		  "data: [DONE]\n\n"
		  "data: not json at all {\"usage\":{\"prompt_tokens\":50}}\n\n"
		  "data: {\"usage\":{\"completion_tokens\":6}}\n\n");
	assert_usage(3, 6, 9);
	/* an event left deep in nesting does not leave its depth behind */
	scan(SSE, "data: [[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[\n\n"
		  "data: {\"a\":{\"usage\":{\"total_tokens\":7}}}\n\n");
	assert_usage(-1, -1, 7);
}

/* ---- robustness ---- */

static void test_deep_nesting(void **state)
{
	static char in[100000];
	size_t n = 0, i, depth;

	(void)state;
	/* usage just inside the depth cap counts, just beyond it does not */
	for (depth = USAGE_DEPTH_MAX - 2; depth <= USAGE_DEPTH_MAX + 1; depth++) {
		n = 0;
		for (i = 0; i < depth; i++)
			n += (size_t)snprintf(in + n, sizeof(in) - n, "{\"a\":");
		n += (size_t)snprintf(in + n, sizeof(in) - n,
				      "{\"usage\":{\"prompt_tokens\":1}},\"b\":[\"]\"]");
		for (i = 0; i < depth; i++)
			in[n++] = '}';
		scan_n(JSON, in, n);
		/* the usage object is at depth + 2 */
		assert_usage(depth + 2 <= USAGE_DEPTH_MAX ? 1 : -1, -1, -1);
	}
	/* far deeper than the cap, then a usage object after it */
	n = (size_t)snprintf(in, sizeof(in), "{\"x\":");
	for (i = 0; i < 30000; i++)
		in[n++] = '[';
	n += (size_t)snprintf(in + n, sizeof(in) - n, "{\"usage\":{\"prompt_tokens\":5}}");
	for (i = 0; i < 30000; i++)
		in[n++] = ']';
	n += (size_t)snprintf(in + n, sizeof(in) - n, ",\"usage\":{\"total_tokens\":6}}");
	mode_sse = JSON;
	split_feed_whole(&driver, &S, in, n);
	assert_usage(-1, -1, 6);
	split_check_sparse(&driver, &S, &other, in, n, 997);
}

static void test_garbage(void **state)
{
	static const char bin[] = "\x00\x01\xff\xfe{\"usage\":{\"prompt_tokens\":1}}\x00\n\n";

	(void)state;
	scan_n(JSON, bin, sizeof(bin) - 1);
	assert_usage(-1, -1, -1);
	scan_n(SSE, bin, sizeof(bin) - 1);
	assert_usage(-1, -1, -1);
	/* after a garbage event, a good one counts */
	scan(SSE, "data: \x01\x02\xff}}]]\"\\\n\ndata: {\"usage\":{\"prompt_tokens\":1}}\n\n");
	assert_usage(1, -1, -1);
	/* a failed JSON body stays failed */
	scan(JSON, "<html>{\"usage\":{\"prompt_tokens\":1}}</html>");
	assert_usage(-1, -1, -1);
	scan(JSON, "{\"usage\":{\"prompt_tokens\":1}]{\"usage\":{\"completion_tokens\":1}}");
	assert_usage(1, -1, -1);
	/* words that are not JSON literals */
	scan(JSON, "usage {\"usage\":{\"prompt_tokens\":1}}");
	assert_usage(-1, -1, -1);
	scan(JSON, "nul {\"usage\":{\"prompt_tokens\":1}}");
	assert_usage(-1, -1, -1);
	scan(JSON, "nulls {\"usage\":{\"prompt_tokens\":1}}");
	assert_usage(-1, -1, -1);
	scan(JSON, "null true false 1 {\"usage\":{\"prompt_tokens\":1}}");
	assert_usage(1, -1, -1);
}

/* A long realistic stream: many chunks, usage in the last one. */
static void test_long_stream(void **state)
{
	static char in[200000];
	size_t n = 0, i;

	(void)state;
	for (i = 0; i < 1000; i++)
		n += (size_t)snprintf(in + n, sizeof(in) - n,
				      "data: {\"choices\":[{\"delta\":{\"content\":\"tok %zu "
				      "\\\"usage\\\"\"}}],\"usage\":null}\n\n",
				      i);
	n += (size_t)snprintf(in + n, sizeof(in) - n,
			      "data: {\"choices\":[],\"usage\":{\"prompt_tokens\":100,"
			      "\"completion_tokens\":1000}}\n\ndata: [DONE]\n\n");
	mode_sse = SSE;
	split_feed_whole(&driver, &S, in, n);
	assert_usage(100, 1000, 1100);
	split_check_random(&driver, &S, &other, in, n);
}

/* Odd inputs as an event stream, even ones as JSON. */
static void check_random(char *buf, size_t len, unsigned int iter)
{
	struct usage u;

	mode_sse = iter & 1;
	split_feed_whole(&driver, &S, buf, len);
	usage_scan_result(&S, &u);
	assert_true(u.prompt >= -1 && u.prompt <= (int64_t)USAGE_TOKENS_MAX);
	assert_true(u.completion >= -1 && u.completion <= (int64_t)USAGE_TOKENS_MAX);
	assert_true(u.total >= -1 && u.total <= 2 * (int64_t)USAGE_TOKENS_MAX);
	split_check_random(&driver, &S, &other, buf, len);
}

static void test_random_bytes(void **state)
{
	static const char alphabet[] = "{}[]\":,\\ \n\r0123456789udata:sgeprompt_tokens";
	static char buf[300];

	(void)state;
	split_random_inputs(buf, sizeof(buf), alphabet, sizeof(alphabet) - 1, 20000, check_random);
}

static void test_mutated_streams(void **state)
{
	static const char seed[] =
	    "event: message_start\r\ndata: {\"message\":{\"usage\":{\"input_tokens\":25,"
	    "\"output_tokens\":1}}}\r\n\r\n: ping\ndata: {\"s\":\"a\\\"}\",\"usage\":\n"
	    "data: {\"output_tokens\":15,\"x\":{\"input_tokens\":9}}}\n\ndata: [DONE]\n\n";
	static const char alphabet[] = "{}[]\":,\\ \r\n9";
	static char buf[sizeof(seed)];

	(void)state;
	scan(SSE, seed);
	assert_usage(25, 15, 40);
	split_mutations(buf, seed, sizeof(seed) - 1, alphabet, sizeof(alphabet) - 1, 3, 20000,
			check_random);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_openai_stream),
	    cmocka_unit_test(test_openai_stream_without_usage),
	    cmocka_unit_test(test_anthropic_stream),
	    cmocka_unit_test(test_gemini_stream),
	    cmocka_unit_test(test_non_streamed_json),
	    cmocka_unit_test(test_mode_matters),
	    cmocka_unit_test(test_nested_details_ignored),
	    cmocka_unit_test(test_token_keys_outside_usage_ignored),
	    cmocka_unit_test(test_keys_in_strings_ignored),
	    cmocka_unit_test(test_escaped_keys),
	    cmocka_unit_test(test_number_forms),
	    cmocka_unit_test(test_usage_null_and_odd_values),
	    cmocka_unit_test(test_max_aggregation),
	    cmocka_unit_test(test_line_ends),
	    cmocka_unit_test(test_multi_line_data),
	    cmocka_unit_test(test_fields_that_are_not_data),
	    cmocka_unit_test(test_byte_order_mark),
	    cmocka_unit_test(test_broken_event_then_good),
	    cmocka_unit_test(test_deep_nesting),
	    cmocka_unit_test(test_garbage),
	    cmocka_unit_test(test_long_stream),
	    cmocka_unit_test(test_random_bytes),
	    cmocka_unit_test(test_mutated_streams),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
