// SPDX-License-Identifier: MIT
/* Unit tests of request target -> path label normalisation. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "proto/path_norm.h"
#include "split.h"

static char out[512];

static const char *norm(const char *target)
{
	size_t n;

	memset(out, 'Z', sizeof(out));
	n = path_normalise(target, strlen(target), out, sizeof(out));
	assert_int_equal(n, strlen(out));
	return out;
}

struct pcase {
	const char *in;
	const char *want;
};

static void check_cases(const struct pcase *c, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		const char *got = norm(c[i].in);

		if (strcmp(got, c[i].want) != 0)
			fail_msg("\"%s\" -> \"%s\", want \"%s\"", c[i].in, got, c[i].want);
	}
}

#define CHECK(cases) check_cases(cases, sizeof(cases) / sizeof(cases[0]))

static void test_plain_paths(void **state)
{
	static const struct pcase cases[] = {
	    {"/", "/"},
	    {"", "/"},
	    {"/v1/chat/completions", "/v1/chat/completions"},
	    {"/v1/models", "/v1/models"},
	    {"/api/v2/", "/api/v2/"},
	    {"//double//slashes", "//double//slashes"},
	    {"/a/./b/../c", "/a/./b/../c"},
	    {"*", "*"},
	    {"relative/path", "relative/path"},
	    {"/%7Euser/x%20y", "/%7Euser/x%20y"},
	    {"/healthz", "/healthz"},
	};

	(void)state;
	CHECK(cases);
}

static void test_query_and_fragment(void **state)
{
	static const struct pcase cases[] = {
	    {"/search?q=1", "/search"},
	    {"/search?", "/search"},
	    {"/page#frag", "/page"},
	    {"/page?x=1#frag", "/page"},
	    {"/page#frag?x=1", "/page"},
	    {"?only=query", "/"},
	    {"#", "/"},
	    {"/a/123?id=456", "/a/:id"},
	    {"*?x", "*"},
	};

	(void)state;
	CHECK(cases);
}

static void test_absolute_form(void **state)
{
	static const struct pcase cases[] = {
	    {"http://example.com/v1/models", "/v1/models"},
	    {"https://example.com:8443/v1/x?y=1", "/v1/x"},
	    {"HTTP://Example.com/A", "/A"},
	    {"HtTpS://h/", "/"},
	    {"http://example.com", "/"},
	    {"http://example.com?x=/a/b", "/"},
	    {"http://example.com#/a", "/"},
	    {"http://user@h:1/users/42", "/users/:id"},
	    {"http://", "/"},
	    {"https://[::1]:8080/x", "/x"},
	    /* not absolute-form http(s): kept as a path */
	    {"ftp://h/x", "ftp://h/x"},
	    {"/http://h/x", "/http://h/x"},
	    {"http:/x", "http:/x"},
	};

	(void)state;
	CHECK(cases);
}

static void test_numeric_ids(void **state)
{
	static const struct pcase cases[] = {
	    {"/users/42", "/users/:id"},
	    {"/users/0/posts/999999999999999999999", "/users/:id/posts/:id"},
	    {"/1/2/3", "/:id/:id/:id"},
	    {"/v1", "/v1"},
	    {"/42abc", "/42abc"},
	    {"/-1", "/-1"},
	    {"/1.5", "/1.5"},
	    {"/items/42/", "/items/:id/"},
	};

	(void)state;
	CHECK(cases);
}

static void test_uuids(void **state)
{
	static const struct pcase cases[] = {
	    {"/runs/123e4567-e89b-12d3-a456-426614174000", "/runs/:id"},
	    {"/runs/123E4567-E89B-12D3-A456-426614174000/steps", "/runs/:id/steps"},
	    {"/runs/abcdefab-cdef-abcd-efab-cdefabcdefab", "/runs/:id"},
	    /* not UUIDs, but still ids by the long-token rule (they have digits) */
	    {"/runs/123e4567-e89b-12d3-a456-42661417400", "/runs/:id"},
	    {"/x/ggge4567-e89b-12d3-a456-426614174000", "/x/:id"},
	    /* no digit: only the UUID rule can catch these */
	    {"/x/abcdefab-cdef-abcd-efab-cdefabcdefa", "/x/abcdefab-cdef-abcd-efab-cdefabcdefa"},
	    {"/x/abcdefab-cdef-abcd-efab_cdefabcdefab", "/x/abcdefab-cdef-abcd-efab_cdefabcdefab"},
	    {"/x/abcdefab-cdef-abcd-efabc-defabcdefab", "/x/abcdefab-cdef-abcd-efabc-defabcdefab"},
	    {"/x/zzzz-zzzz", "/x/zzzz-zzzz"},
	};

	(void)state;
	CHECK(cases);
}

static void test_hex_ids(void **state)
{
	static const struct pcase cases[] = {
	    {"/blobs/deadbeefdeadbeef", "/blobs/:id"},		  /* 16 */
	    {"/blobs/deadbeefdeadbee", "/blobs/deadbeefdeadbee"}, /* 15 */
	    {"/blobs/DEADBEEFdeadbeef00", "/blobs/:id"},
	    {"/sha/e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855", "/sha/:id"},
	    {"/cafebabecafebabe/x", "/:id/x"},
	    {"/facadefacadefacade", "/:id"}, /* all hex letters, 18 */
	};

	(void)state;
	CHECK(cases);
}

static void test_token_ids(void **state)
{
	static const struct pcase cases[] = {
	    {"/files/file-abc123XYZ_def456ghi", "/files/:id"},
	    {"/chatcmpl-9a8b7c6d5e4f3g2h1i0j", "/:id"},
	    {"/x/abcdefghijklmnopqrst1", "/x/:id"},		  /* 21 with a digit */
	    {"/x/abcdefghijklmnopqrs1", "/x/:id"},		  /* 20 */
	    {"/x/abcdefghijklmnopqr1", "/x/abcdefghijklmnopqr1"}, /* 19 */
	    /* long words without digits stay */
	    {"/internationalization_settings", "/internationalization_settings"},
	    {"/v1/chat/completions-streaming-extra", "/v1/chat/completions-streaming-extra"},
	    /* a character outside [A-Za-z0-9_-] keeps it a word */
	    {"/x/abcdefghijklmnopqrs1.json", "/x/abcdefghijklmnopqrs1.json"},
	};

	(void)state;
	CHECK(cases);
}

static void test_unsafe_bytes(void **state)
{
	static const struct pcase cases[] = {
	    {"/caf\xc3\xa9", "/caf__"}, {"/a b", "/a_b"},
	    {"/a\"b\\c", "/a_b_c"},	{"/tab\there", "/tab_here"},
	    {"/\x7f\x01\xff", "/___"},	{"/ok!$&'()*+,;=:@-._~", "/ok!$&'()*+,;=:@-._~"},
	};
	static const char with_nul[] = "/a\0b/c";
	size_t n;

	(void)state;
	CHECK(cases);
	n = path_normalise(with_nul, sizeof(with_nul) - 1, out, sizeof(out));
	assert_int_equal(n, 6);
	assert_string_equal(out, "/a_b/c");
}

static void test_truncation(void **state)
{
	char small[16];
	size_t n;

	(void)state;
	memset(small, 'Z', sizeof(small));
	n = path_normalise("/v1/chat/completions", 20, small, 5);
	assert_int_equal(n, 4);
	assert_string_equal(small, "/v1/");
	assert_int_equal(small[5], 'Z'); /* nothing written past out_size */

	n = path_normalise("/users/123", 10, small, 9);
	assert_int_equal(n, 8);
	assert_string_equal(small, "/users/:");

	n = path_normalise("/abc", 4, small, 1);
	assert_int_equal(n, 0);
	assert_string_equal(small, "");

	small[0] = 'Z';
	n = path_normalise("/abc", 4, small, 0);
	assert_int_equal(n, 0);
	assert_int_equal(small[0], 'Z');

	n = path_normalise("", 0, small, 2);
	assert_int_equal(n, 1);
	assert_string_equal(small, "/");
}

static void test_len_is_respected(void **state)
{
	(void)state;
	/* only len bytes are read: the rest of the string is not the target */
	assert_int_equal(path_normalise("/users/42/extra", 9, out, sizeof(out)), 10);
	assert_string_equal(out, "/users/:id");
	assert_int_equal(path_normalise("/users/42/extra", 6, out, sizeof(out)), 6);
	assert_string_equal(out, "/users");
	assert_int_equal(path_normalise("/users/x?q", 8, out, sizeof(out)), 8);
	assert_string_equal(out, "/users/x");
	assert_int_equal(path_normalise(NULL, 0, out, sizeof(out)), 1);
	assert_string_equal(out, "/");
}

static void test_long_target(void **state)
{
	static char in[10000];
	char dst[256];
	size_t n;

	(void)state;
	in[0] = '/';
	memset(in + 1, 'z', sizeof(in) - 1); /* 'a' would be a hex id */
	n = path_normalise(in, sizeof(in), dst, sizeof(dst));
	assert_int_equal(n, sizeof(dst) - 1);
	assert_int_equal(strlen(dst), sizeof(dst) - 1);

	/* thousands of id segments */
	for (n = 0; n + 2 <= sizeof(in); n += 2) {
		in[n] = '/';
		in[n + 1] = '7';
	}
	n = path_normalise(in, sizeof(in), dst, sizeof(dst));
	assert_int_equal(n, sizeof(dst) - 1);
	assert_memory_equal(dst, "/:id/:id/", 9);
}

/* ---- robustness ---- */

/* A label within its buffer, of safe bytes, whatever the input. */
static void check_random(char *in, size_t len, unsigned int iter)
{
	char dst[80];
	size_t size = split_rnd() % sizeof(dst), i, n;

	if (iter % 8 == 0 && len > 8)
		memcpy(in, (iter & 8) ? "http://" : "https:/", 7);
	memset(dst, 'Z', sizeof(dst));
	n = path_normalise(in, len, dst, size);
	if (size == 0) {
		assert_int_equal(n, 0);
		assert_int_equal(dst[0], 'Z');
		return;
	}
	assert_true(n < size);
	assert_int_equal(strlen(dst), n);
	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)dst[i];

		assert_true(c >= 0x21 && c <= 0x7e && c != '"' && c != '\\' && c != '?' &&
			    c != '#');
	}
	for (i = size; i < sizeof(dst); i++)
		assert_int_equal(dst[i], 'Z');
	/* with room to spare, a non-empty label always begins like the path */
	if (size >= 2)
		assert_true(n >= 1);
}

static void test_random_targets(void **state)
{
	static const char alphabet[] = "/?#:0123456789abcdefABCDEF-_xyzhtps.\"\\ ";
	static char in[300];

	(void)state;
	split_random_inputs(in, sizeof(in), alphabet, sizeof(alphabet) - 1, 100000, check_random);
}

static void key_is(const char *key, const char *want)
{
	char out[64];

	assert_int_equal(key_normalise(key, strlen(key), out, sizeof(out)), strlen(want));
	assert_string_equal(out, want);
}

/* Redis keys: parts split by ':' (and '/'), ids collapsed as in paths. */
static void test_redis_keys(void **state)
{
	char out[8];

	(void)state;
	key_is("jobs", "jobs");
	key_is("queue:jobs", "queue:jobs");
	key_is("tenant:42:events", "tenant::id:events");
	key_is("q:550e8400-e29b-41d4-a716-446655440000", "q::id");
	key_is("stream/0123456789abcdef01", "stream/:id");
	key_is("a::b", "a::b");
	key_is("v1:jobs", "v1:jobs");
	key_is("bad key\"\\", "bad_key__");
	key_is("", "");
	/* bytes after a NUL are still read, the NUL made safe */
	assert_int_equal(key_normalise("a\0:7", 4, out, sizeof(out)), 6);
	assert_string_equal(out, "a_::id");
	assert_int_equal(key_normalise("queue:jobs", 10, out, sizeof(out)), 7);
	assert_string_equal(out, "queue:j");
	assert_int_equal(key_normalise(NULL, 3, out, sizeof(out)), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_plain_paths),	  cmocka_unit_test(test_query_and_fragment),
	    cmocka_unit_test(test_absolute_form), cmocka_unit_test(test_numeric_ids),
	    cmocka_unit_test(test_uuids),	  cmocka_unit_test(test_hex_ids),
	    cmocka_unit_test(test_token_ids),	  cmocka_unit_test(test_unsafe_bytes),
	    cmocka_unit_test(test_truncation),	  cmocka_unit_test(test_len_is_respected),
	    cmocka_unit_test(test_long_target),	  cmocka_unit_test(test_random_targets),
	    cmocka_unit_test(test_redis_keys),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
