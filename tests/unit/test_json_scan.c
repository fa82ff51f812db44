// SPDX-License-Identifier: MIT
/* Unit tests of the incremental top-level "model"/"stream" JSON scanner. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "proto/json_scan.h"
#include "split.h"

static struct json_scan S, other;

static void scan_start(void *run)
{
	json_scan_init(run);
}

static bool scan_feed(void *run, const char *in, size_t off, size_t len)
{
	json_scan_feed(run, in + off, len);
	return true; /* a failed scan ignores the rest by itself */
}

static void assert_same(const void *va, const void *vb)
{
	const struct json_scan *a = va, *b = vb;

	assert_int_equal(a->failed, b->failed);
	assert_int_equal(a->model_found, b->model_found);
	assert_string_equal(a->model, b->model);
	assert_int_equal(a->stream, b->stream);
}

static const struct split_driver driver = {
    .start = scan_start,
    .feed = scan_feed,
    .same = assert_same,
    .pairs_max = 200,
};

/* Whole, every split point, every pair of split points (short), bytewise. */
static void scan(const char *in)
{
	split_all_ways(&driver, &S, &other, in, strlen(in));
}

static void assert_model(const char *want)
{
	assert_true(S.model_found);
	assert_string_equal(S.model, want);
}

static void test_basic(void **state)
{
	(void)state;
	scan("{\"model\":\"gpt-4o\",\"stream\":true}");
	assert_false(S.failed);
	assert_model("gpt-4o");
	assert_int_equal(S.stream, 1);

	scan("{\"stream\":false,\"model\":\"llama-3.1-8b\"}");
	assert_model("llama-3.1-8b");
	assert_int_equal(S.stream, 0);
}

static void test_whitespace(void **state)
{
	(void)state;
	scan(" \r\n\t{ \n\"model\" \t:\r\n \"m\" , \"stream\"\n:\ntrue\n}\n ");
	assert_false(S.failed);
	assert_model("m");
	assert_int_equal(S.stream, 1);
}

static void test_absent_and_empty(void **state)
{
	(void)state;
	scan("{}");
	assert_false(S.failed);
	assert_false(S.model_found);
	assert_string_equal(S.model, "");
	assert_int_equal(S.stream, -1);

	scan("{\"messages\":[],\"max_tokens\":5}");
	assert_false(S.failed);
	assert_false(S.model_found);
	assert_int_equal(S.stream, -1);

	scan("{\"model\":\"\"}");
	assert_model("");

	/* nothing yet: not a failure */
	scan("");
	assert_false(S.failed);
	scan("  \n");
	assert_false(S.failed);
}

static void test_stream_values(void **state)
{
	static const struct {
		const char *in;
		int want;
	} cases[] = {
	    {"{\"stream\":true}", 1},
	    {"{\"stream\":false}", 0},
	    {"{\"stream\": true }", 1},
	    {"{\"stream\":\"true\"}", -1},
	    {"{\"stream\":1}", -1},
	    {"{\"stream\":0}", -1},
	    {"{\"stream\":null}", -1},
	    {"{\"stream\":tru}", -1},
	    {"{\"stream\":truee}", -1},
	    {"{\"stream\":falsey}", -1},
	    {"{\"stream\":True}", -1},
	    {"{\"stream\":{\"a\":true}}", -1},
	    {"{\"stream\":[true]}", -1},
	    {"{\"Stream\":true}", -1},
	    {"{\"streams\":true}", -1},
	    {"{\"stream_options\":true}", -1},
	    {"{\"stream\":\"x\",\"stream\":false}", 0},
	    {"{\"stream\":true,\"stream\":false}", 1},
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		scan(cases[i].in);
		if (S.stream != cases[i].want)
			fail_msg("%s: stream %d, want %d", cases[i].in, S.stream, cases[i].want);
	}
	/* truncated body: the literal never ended */
	scan("{\"stream\":true");
	assert_int_equal(S.stream, -1);
}

static void test_nested_not_found(void **state)
{
	(void)state;
	scan("{\"a\":{\"model\":\"inner\",\"stream\":true}}");
	assert_false(S.failed);
	assert_false(S.model_found);
	assert_int_equal(S.stream, -1);

	scan("{\"messages\":[{\"role\":\"user\",\"model\":\"x\"}],\"model\":\"outer\"}");
	assert_model("outer");

	scan("{\"tools\":[[[{\"model\":\"deep\"}]]],\"n\":[1,2,{\"stream\":false}],"
	     "\"stream\":true}");
	assert_false(S.model_found);
	assert_int_equal(S.stream, 1);
}

static void test_strings_in_nested(void **state)
{
	(void)state;
	/* brackets and quotes inside strings do not count */
	scan("{\"a\":\"}{][\\\"\",\"model\":\"m1\"}");
	assert_model("m1");
	scan("{\"a\":[\"]\\\"}\",{\"b\":\"{\\\\\"}],\"model\":\"m2\"}");
	assert_model("m2");
	scan("{\"a\":{\"s\":\"\\u007d\\\\\",\"t\":\"\\\"}\"},\"model\":\"m3\"}");
	assert_model("m3");
	scan("{\"a\":[\"\\\\\\\"]\"],\"model\":\"m4\"}");
	assert_model("m4");
}

static void test_deep_nesting(void **state)
{
	static char in[70000];
	size_t n = 0, i;

	(void)state;
	n += (size_t)snprintf(in, sizeof(in), "{\"a\":");
	for (i = 0; i < 30000; i++)
		in[n++] = (i & 1) ? '{' : '[';
	n += (size_t)snprintf(in + n, sizeof(in) - n, "\"model\":\"deep\"");
	for (i = 30000; i-- > 0;)
		in[n++] = (i & 1) ? '}' : ']';
	n += (size_t)snprintf(in + n, sizeof(in) - n, ",\"model\":\"top\",\"stream\":false}");
	split_feed_whole(&driver, &S, in, n);
	assert_false(S.failed);
	assert_model("top");
	assert_int_equal(S.stream, 0);
	split_check_sparse(&driver, &S, &other, in, n, 997);
}

static void test_model_escapes(void **state)
{
	static const struct {
		const char *in;
		const char *want;
	} cases[] = {
	    {"{\"model\":\"gpt\\\"4\"}", "gpt\"4"},
	    {"{\"model\":\"a\\\\b\"}", "a\\b"},
	    {"{\"model\":\"a\\/b\"}", "a/b"},
	    {"{\"model\":\"\\u0041\\u0062c\"}", "Abc"},
	    {"{\"model\":\"\\u004A\\u004a\"}", "JJ"},
	    {"{\"model\":\"x\\u00e9y\"}", "x_y"},
	    {"{\"model\":\"\\u0000\"}", "_"},
	    {"{\"model\":\"a\\nb\\tc\\r\\b\\f\"}", "a_b_c___"},
	    {"{\"model\":\"caf\xc3\xa9\"}", "caf__"},
	    {"{\"model\":\"\\ud83d\\ude00!\"}", "__!"},
	    {"{\"model\":\"a\x01\x7f b\"}", "a__ b"},
	    {"{\"model\":\"meta-llama/Llama-3.1-8B-Instruct\"}",
	     "meta-llama/Llama-3.1-8B-Instruct"},
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		scan(cases[i].in);
		if (S.failed || !S.model_found || strcmp(S.model, cases[i].want) != 0)
			fail_msg("%s: model \"%s\", want \"%s\"", cases[i].in, S.model,
				 cases[i].want);
	}
}

static void test_bad_escapes_fail(void **state)
{
	static const char *const bad[] = {
	    "{\"model\":\"\\x41\"}",
	    "{\"model\":\"\\u00g0\"}",
	    "{\"mo\\qdel\":\"x\"}",
	    "{\"model\":\"\\U0041\"}",
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		scan(bad[i]);
		if (!S.failed || S.model_found)
			fail_msg("accepted: %s", bad[i]);
	}
}

static void test_key_escapes(void **state)
{
	(void)state;
	scan("{\"mod\\u0065l\":\"x\",\"\\u0073tream\":true}");
	assert_model("x");
	assert_int_equal(S.stream, 1);
	/* a non-ASCII escape can never be one of our keys */
	scan("{\"model\\u0100\":\"x\"}");
	assert_false(S.model_found);
	assert_false(S.failed);
}

static void test_long_keys(void **state)
{
	(void)state;
	scan("{\"model_name\":\"x\",\"modelxx\":\"y\",\"streaming\":true,"
	     "\"a_very_long_key_that_overflows\":\"z\",\"model\":\"ok\"}");
	assert_model("ok");
	assert_int_equal(S.stream, -1);
	scan("{\"modelmodel\":\"x\"}");
	assert_false(S.model_found);
	scan("{\"mode\":\"x\",\"\":\"y\"}");
	assert_false(S.model_found);
	assert_false(S.failed);
}

static void test_model_truncated(void **state)
{
	char in[300], want[JSON_MODEL_MAX];

	(void)state;
	memset(want, 'm', sizeof(want) - 1);
	want[sizeof(want) - 1] = '\0';
	snprintf(in, sizeof(in), "{\"model\":\"%s%s\",\"stream\":true}", want, "EXTRA-TAIL");
	scan(in);
	assert_model(want);
	assert_int_equal(strlen(S.model), JSON_MODEL_MAX - 1);
	assert_int_equal(S.stream, 1);
}

static void test_first_occurrence_wins(void **state)
{
	(void)state;
	scan("{\"model\":\"a\",\"model\":\"b\"}");
	assert_model("a");
	/* a first "model" that is not a string does not count */
	scan("{\"model\":null,\"model\":\"b\"}");
	assert_model("b");
	scan("{\"model\":{\"x\":1},\"model\":\"c\"}");
	assert_model("c");
	/* the value is only found once its string is complete */
	scan("{\"model\":\"partial");
	assert_false(S.model_found);
}

static void test_not_an_object(void **state)
{
	static const char *const bad[] = {
	    "[1,2,3]",
	    "\"model\"",
	    "model=x&stream=true",
	    "hello",
	    "123",
	    "null",
	    "\xef\xbb\xbf{\"model\":\"bom\"}",
	    "\x16\x03\x01",
	    "<xml/>",
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		scan(bad[i]);
		if (!S.failed || S.model_found || S.stream != -1)
			fail_msg("accepted: %s", bad[i]);
	}
}

static void test_syntax_errors(void **state)
{
	(void)state;
	scan("{\"a\" 1,\"model\":\"x\"}");
	assert_true(S.failed);
	assert_false(S.model_found);
	scan("{model:\"x\"}");
	assert_true(S.failed);
	scan("{\"a\":1 \"model\":\"x\"}");
	assert_true(S.failed);
	scan("{\"a\":}");
	assert_true(S.failed);
	scan("{,}");
	assert_true(S.failed);
	/* what was found before the error stays */
	scan("{\"model\":\"x\",\"stream\":true,}");
	assert_true(S.failed);
	assert_model("x");
	assert_int_equal(S.stream, 1);
	/* a failed scan ignores what follows */
	json_scan_feed(&S, "{\"model\":\"y\"}", 13);
	assert_model("x");
}

static void test_rest_after_object_ignored(void **state)
{
	(void)state;
	scan("{\"model\":\"a\"}{\"model\":\"b\",\"stream\":true}");
	assert_false(S.failed);
	assert_model("a");
	assert_int_equal(S.stream, -1);
	scan("{\"model\":\"a\"}\n garbage \x01");
	assert_false(S.failed);
	assert_model("a");
}

static void test_numbers_and_literals(void **state)
{
	(void)state;
	scan("{\"t\":-1.5e+10,\"u\":null,\"v\":true,\"w\":0,\"model\":\"n\",\"stream\":false}");
	assert_false(S.failed);
	assert_model("n");
	assert_int_equal(S.stream, 0);
}

static void test_realistic_body(void **state)
{
	(void)state;
	scan("{\n  \"model\": \"Qwen/Qwen2.5-7B-Instruct\",\n  \"messages\": [\n"
	     "    {\"role\": \"system\", \"content\": \"Say \\\"model\\\": no.\"},\n"
	     "    {\"role\": \"user\", \"content\": [{\"type\": \"text\", \"text\": \"hi\"}]}\n"
	     "  ],\n  \"temperature\": 0.7,\n  \"stream\": true,\n"
	     "  \"stream_options\": {\"include_usage\": true}\n}\n");
	assert_false(S.failed);
	assert_model("Qwen/Qwen2.5-7B-Instruct");
	assert_int_equal(S.stream, 1);
}

/* ---- robustness ---- */

static void check_random(char *buf, size_t len, unsigned int iter)
{
	size_t i;

	(void)iter;
	split_feed_whole(&driver, &S, buf, len);
	assert_true(S.stream >= -1 && S.stream <= 1);
	assert_true(memchr(S.model, 0, sizeof(S.model)) != NULL);
	for (i = 0; S.model[i]; i++)
		assert_true(S.model[i] >= 0x20 && S.model[i] < 0x7f);
	split_check_random(&driver, &S, &other, buf, len);
}

/* Half of them start like an object, to get past the first byte. */
static void check_random_object(char *buf, size_t len, unsigned int iter)
{
	if (len > 0 && (iter & 1))
		buf[0] = '{';
	check_random(buf, len, iter);
}

static void test_random_bytes(void **state)
{
	static const char alphabet[] = "{}[]\":,\\ \nu0aemodlstrufn";
	static char buf[300];

	(void)state;
	split_random_inputs(buf, sizeof(buf), alphabet, sizeof(alphabet) - 1, 20000,
			    check_random_object);
}

static void test_mutated_bodies(void **state)
{
	static const char seed[] =
	    "{\"messages\":[{\"role\":\"user\",\"content\":\"a\\\"}b\"}],\"model\":"
	    "\"gp\\u0074-4\\\\o\",\"n\":-1.0e3,\"stream\":true,\"x\":{\"model\":\"no\"}}";
	static const char alphabet[] = "{}[]\":,\\ u";
	static char buf[sizeof(seed)];

	(void)state;
	scan(seed);
	assert_model("gpt-4\\o");
	assert_int_equal(S.stream, 1);
	split_mutations(buf, seed, sizeof(seed) - 1, alphabet, sizeof(alphabet) - 1, 3, 20000,
			check_random);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_basic),
	    cmocka_unit_test(test_whitespace),
	    cmocka_unit_test(test_absent_and_empty),
	    cmocka_unit_test(test_stream_values),
	    cmocka_unit_test(test_nested_not_found),
	    cmocka_unit_test(test_strings_in_nested),
	    cmocka_unit_test(test_deep_nesting),
	    cmocka_unit_test(test_model_escapes),
	    cmocka_unit_test(test_bad_escapes_fail),
	    cmocka_unit_test(test_key_escapes),
	    cmocka_unit_test(test_long_keys),
	    cmocka_unit_test(test_model_truncated),
	    cmocka_unit_test(test_first_occurrence_wins),
	    cmocka_unit_test(test_not_an_object),
	    cmocka_unit_test(test_syntax_errors),
	    cmocka_unit_test(test_rest_after_object_ignored),
	    cmocka_unit_test(test_numbers_and_literals),
	    cmocka_unit_test(test_realistic_body),
	    cmocka_unit_test(test_random_bytes),
	    cmocka_unit_test(test_mutated_bodies),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
