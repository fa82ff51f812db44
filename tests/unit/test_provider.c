// SPDX-License-Identifier: MIT
/* Unit tests of the provider label mapping. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "llm/provider.h"

static struct provider_map M;

static void assert_name(const struct provider_map *m, const char *host, const char *want)
{
	char out[PROVIDER_NAME_MAX];

	memset(out, 'X', sizeof(out));
	assert_ptr_equal(provider_name(m, host, out), out);
	if (strcmp(out, want) != 0)
		fail_msg("%s: \"%s\", want \"%s\"", host ? host : "(null)", out, want);
}

static void add_ok(const char *spec)
{
	const char *why = NULL;

	if (provider_map_add(&M, spec, &why) != 0)
		fail_msg("%s: %s", spec, why);
}

/* Every built-in host, each in another form: case, port and a trailing dot do not matter. */
static void test_builtins(void **state)
{
	static const char *const cases[][2] = {
	    {"api.openai.com", "openai"},
	    {"API.ANTHROPIC.COM", "anthropic"},
	    {"api.cohere.com:443", "cohere"},
	    {"api.cohere.ai.", "cohere"},
	    {"GenerativeLanguage.googleapis.com.:443", "gemini"},
	    {"api.deepseek.com:8443", "deepseek"},
	    {"Api.Groq.Com.", "groq"},
	    {"api.mistral.ai:junk", "mistral"},
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		assert_name(NULL, cases[i][0], cases[i][1]);
		assert_name(&M, cases[i][0], cases[i][1]);
	}
}

static void test_unknown_hosts(void **state)
{
	static const char *const cases[][2] = {
	    {"localhost", "localhost"},
	    {"LocalHost:8000", "localhost"},
	    {"vllm.internal.", "vllm.internal"},
	    {"10.0.0.7:8080", "10.0.0.7"},
	    {"[::1]:8443", "___1_"},
	    {"[::1]", "___1_"},
	    {"::1", "__1"},
	    {"my_host", "my_host"},
	    {"we!rd/ho st", "we_rd_ho_st"},
	    {"caf\xc3\xa9.example", "caf__.example"},
	    /* near misses of built-ins are just hosts */
	    {"openai.com", "openai.com"},
	    {"api.openai.com.evil.example", "api.openai.com.evil.example"},
	    {"xapi.openai.com", "xapi.openai.com"},
	    {"api.openai.co", "api.openai.co"},
	    /* no host at all */
	    {"", "unknown"},
	    {":443", "unknown"},
	    {".", "unknown"},
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		assert_name(NULL, cases[i][0], cases[i][1]);
	assert_name(NULL, NULL, "unknown");
}

static void test_long_host_truncated(void **state)
{
	char host[300], want[PROVIDER_NAME_MAX];

	(void)state;
	memset(host, 'A', sizeof(host) - 1);
	host[sizeof(host) - 1] = '\0';
	memset(want, 'a', sizeof(want) - 1);
	want[sizeof(want) - 1] = '\0';
	assert_name(NULL, host, want);
	/* the cut is in the label, not in the matching */
	memcpy(host + 250, ":8080", 6);
	assert_name(NULL, host, want);
}

static void test_user_map(void **state)
{
	static const char *const want[][2] = {
	    {"llm.corp.example", "corp"},
	    {"LLM.corp.example.:443", "corp"},
	    {"127.0.0.1:8443", "local"},
	    /* an entry with a port matches only that port */
	    {"127.0.0.1", "127.0.0.1"},
	    {"127.0.0.1:8444", "127.0.0.1"},
	    {"azure.openai.example", "Azure-OpenAI"},
	    {"[::1]:9000", "v6"},
	    {"[::1]:9001", "___1_"},
	    /* built-ins still apply */
	    {"api.groq.com", "groq"},
	};
	size_t i;

	(void)state;
	provider_map_init(&M);
	add_ok("llm.corp.example=corp");
	add_ok("127.0.0.1:8443=local");
	add_ok("Azure.OpenAI.example.=Azure-OpenAI");
	add_ok("[::1]:9000=v6");
	for (i = 0; i < sizeof(want) / sizeof(want[0]); i++)
		assert_name(&M, want[i][0], want[i][1]);
}

static void test_user_map_precedence(void **state)
{
	(void)state;
	provider_map_init(&M);
	add_ok("gw.example:8443=gw-tls");
	add_ok("gw.example=gw");
	add_ok("api.openai.com=my-openai");
	assert_name(&M, "gw.example:8443", "gw-tls");
	assert_name(&M, "gw.example:80", "gw");
	assert_name(&M, "gw.example", "gw");
	/* user entries win over built-ins */
	assert_name(&M, "api.openai.com:443", "my-openai");
	/* the same host and port again: the last one wins, no new entry */
	add_ok("GW.example.=gw2");
	add_ok("gw.example:8443=gw-tls2");
	assert_int_equal(M.count, 3);
	assert_name(&M, "gw.example", "gw2");
	assert_name(&M, "gw.example:8443", "gw-tls2");
}

static void test_user_map_errors(void **state)
{
	static const char *const bad[] = {
	    "",
	    "host",
	    "=name",
	    "host=",
	    ":443=name",
	    ".=name",
	    "host:0=name",
	    "host:65536=name",
	    "host:=name",
	    "host:12a=name",
	    "host:123456=name",
	    "::1=name",
	    "[::1=name",
	    "[::1]x=name",
	    "[]=name",
	    "ho st=name",
	    "host/x=name",
	    "host=na me",
	    "host=na\tme",
	    "host=caf\xc3\xa9",
	    "host=0123456789012345678901234567890123456789012345678901234567890123",
	};
	const char *why;
	char host[300];
	size_t i;

	(void)state;
	provider_map_init(&M);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		why = NULL;
		if (provider_map_add(&M, bad[i], &why) == 0)
			fail_msg("accepted: %s", bad[i]);
		assert_non_null(why);
	}
	assert_int_equal(M.count, 0);
	/* a NULL why is fine */
	assert_int_equal(provider_map_add(&M, "x", NULL), -1);

	/* host length: 253 fits, 254 does not */
	memset(host, 'h', 253);
	strcpy(host + 253, "=n");
	add_ok(host);
	memset(host, 'h', 254);
	strcpy(host + 254, "=n");
	assert_int_equal(provider_map_add(&M, host, &why), -1);
	/* name length: 63 fits; '=' in a name is kept */
	add_ok("h=012345678901234567890123456789012345678901234567890123456789012");
	add_ok("h2=a=b");
	assert_name(&M, "h2", "a=b");
}

static void test_user_map_full(void **state)
{
	char spec[64];
	const char *why = NULL;
	unsigned int i;

	(void)state;
	provider_map_init(&M);
	for (i = 0; i < PROVIDER_MAP_MAX; i++) {
		snprintf(spec, sizeof(spec), "h%u.example=p%u", i, i);
		add_ok(spec);
	}
	assert_int_equal(provider_map_add(&M, "one.more=x", &why), -1);
	assert_non_null(why);
	/* replacing an existing entry still works when full */
	add_ok("h7.example=seven");
	assert_name(&M, "h7.example", "seven");
	assert_name(&M, "h63.example", "p63");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_builtins),
	    cmocka_unit_test(test_unknown_hosts),
	    cmocka_unit_test(test_long_host_truncated),
	    cmocka_unit_test(test_user_map),
	    cmocka_unit_test(test_user_map_precedence),
	    cmocka_unit_test(test_user_map_errors),
	    cmocka_unit_test(test_user_map_full),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
