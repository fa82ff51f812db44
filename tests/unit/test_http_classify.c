// SPDX-License-Identifier: MIT
/*
 * Unit tests of include/http_classify.h and include/resp_classify.h, the
 * first-bytes tests that the kernel programs and user space share. Every buffer is given so that a
 * read past its length shows (copies_agree()).
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "http_classify.h"
#include "resp_classify.h"

#define N(a) (sizeof(a) / sizeof((a)[0]))

/* What either classifier may look at. */
#define CLASSIFY_LEN (HTTP_CLASSIFY_LEN + RESP_CLASSIFY_LEN)

static const char *const request_starts[] = {
    "GET ", "POST ", "PUT ", "DELETE ", "PATCH ", "HEAD ", "OPTIONS ", "CONNECT ", "TRACE ",
};

/*
 * Calls f on two copies of the len bytes at s: one in a heap block of
 * exactly that size (ASan sees a read past len), one followed by bytes no
 * start has (a read past len changes the answer); both must agree.
 */
static bool copies_agree(bool (*f)(const char *, size_t), const char *s, size_t len)
{
	char *exact = malloc(len ? len : 1);
	char *poisoned = malloc(len + CLASSIFY_LEN);
	bool r;

	assert_non_null(exact);
	assert_non_null(poisoned);
	memcpy(exact, s, len);
	memcpy(poisoned, s, len);
	memset(poisoned + len, 0xff, CLASSIFY_LEN);
	r = f(exact, len);
	assert_int_equal(r, f(poisoned, len));
	free(exact);
	free(poisoned);
	return r;
}

static bool request_n(const char *s, size_t len)
{
	return copies_agree(http_looks_like_request, s, len);
}

static bool response_n(const char *s, size_t len)
{
	return copies_agree(http_looks_like_response, s, len);
}

static bool command_n(const char *s, size_t len)
{
	return copies_agree(resp_looks_like_command, s, len);
}

static bool command(const char *s)
{
	return command_n(s, strlen(s));
}

static bool request(const char *s)
{
	return request_n(s, strlen(s));
}

static bool response(const char *s)
{
	return response_n(s, strlen(s));
}

/* The kernel looks at no more than HTTP_CLASSIFY_LEN bytes of a call. */
static void test_longest_start_fits(void **state)
{
	size_t i;

	(void)state;
	for (i = 0; i < N(request_starts); i++)
		assert_true(strlen(request_starts[i]) <= HTTP_CLASSIFY_LEN);
	assert_true(strlen(HTTP_VERSION_PREFIX) <= HTTP_CLASSIFY_LEN);
}

static void test_every_method(void **state)
{
	char line[64];
	size_t i;

	(void)state;
	for (i = 0; i < N(request_starts); i++) {
		snprintf(line, sizeof(line), "%s/v1/chat HTTP/1.1\r\n", request_starts[i]);
		if (!request(line))
			fail_msg("rejected: %s", line);
		if (!request(request_starts[i]))
			fail_msg("rejected: \"%s\"", request_starts[i]);
		if (response(line))
			fail_msg("a response: %s", line);
	}
	assert_true(request("OPTIONS * HTTP/1.1\r\n"));
	assert_true(request("CONNECT api.openai.com:443 HTTP/1.1\r\n"));
}

/* A first read shorter than its method is taken at its word. */
static void test_prefixes_too_short(void **state)
{
	size_t i, n;

	(void)state;
	for (i = 0; i < N(request_starts); i++) {
		for (n = 1; n < strlen(request_starts[i]); n++) {
			if (!request_n(request_starts[i], n))
				fail_msg("rejected %zu bytes of %s", n, request_starts[i]);
		}
	}
	assert_false(request_n("GET ", 0));
	assert_false(request(""));
}

/* The space after the method is part of the start. */
static void test_method_without_space(void **state)
{
	static const char *const no[] = {
	    "GETX /",	 "GET/",   "GET\t/",  "POSTX", "OPTIONSX",
	    "CONNECTED", "HEADER", "DELETED", "PUTS",  "GET\r\n",
	};
	size_t i;

	(void)state;
	for (i = 0; i < N(no); i++) {
		if (request(no[i]))
			fail_msg("accepted: %s", no[i]);
	}
}

/* Methods are case-sensitive (RFC 9110 9.1). */
static void test_lowercase(void **state)
{
	static const char *const no[] = {
	    "get /", "Get /", "gET /", "post /", "options *", "connect a:443", "http/1.1 200",
	};
	size_t i;

	(void)state;
	for (i = 0; i < N(no); i++) {
		if (request(no[i]) || response(no[i]))
			fail_msg("accepted: %s", no[i]);
	}
}

static void test_garbage(void **state)
{
	static const char *const no[] = {
	    "\x16\x03\x01\x02\x00", /* TLS ClientHello */
	    "PRI * HTTP/2.0\r\n",   /* HTTP/2 preface */
	    "PROPFIND / HTTP/1.1",  /* WebDAV */
	    " GET /",		    /* leading space */
	    "\r\nGET /",	    /* leading empty line */
	    "*1\r\n$4\r\nPING\r\n", /* Redis */
	    "SSH-2.0-OpenSSH_9.2",
	    "FOO /",
	    "X",
	    "data: {}\n\n",
	    ": ping\n\n",
	};
	size_t i;

	(void)state;
	for (i = 0; i < N(no); i++) {
		if (request(no[i]) || response(no[i]))
			fail_msg("accepted: %s", no[i]);
	}
	assert_false(request_n("\0\0\0\0\0\0\0\0", 8));
	assert_false(response_n("\0\0\0\0\0\0\0\0", 8));
}

/* Changing any one byte of a start makes it something else. */
static void test_every_byte_matters(void **state)
{
	char buf[HTTP_CLASSIFY_LEN];
	size_t i, pos;
	int c;

	(void)state;
	for (i = 0; i < N(request_starts); i++) {
		size_t n = strlen(request_starts[i]);

		for (pos = 0; pos < n; pos++) {
			for (c = 0; c < 256; c++) {
				if (c == (unsigned char)request_starts[i][pos])
					continue;
				memcpy(buf, request_starts[i], n);
				buf[pos] = (char)c;
				if (request_n(buf, n))
					fail_msg("%s with byte %zu = %d accepted",
						 request_starts[i], pos, c);
			}
		}
	}
}

static void test_responses(void **state)
{
	static const char *const yes[] = {
	    "HTTP/1.1 200 OK\r\n",
	    "HTTP/1.0 404 Not Found\r\n",
	    "HTTP/1.1 101 Switching",
	    "HTTP/1.",
	    "HTTP/1",
	    "HTTP/",
	    "HTT",
	    "H",
	};
	static const char *const no[] = {
	    "HTTP/2 200", "HTTP/2.0 200",   "HTTX",	 "HTTPS",
	    "ICY 200 OK", "GET / HTTP/1.1", " HTTP/1.1",
	};
	size_t i;

	(void)state;
	for (i = 0; i < N(yes); i++) {
		if (!response(yes[i]))
			fail_msg("rejected: %s", yes[i]);
		if (request(yes[i]) && strcmp(yes[i], "H"))
			fail_msg("a request: %s", yes[i]);
	}
	for (i = 0; i < N(no); i++) {
		if (response(no[i]))
			fail_msg("accepted: %s", no[i]);
	}
	assert_false(response(""));
	/* one byte may be either: the direction of the transfer decides */
	assert_true(request("H") && response("H"));
}

/* Only len bytes count, whatever follows them in memory. */
static void test_len_bounds_the_look(void **state)
{
	(void)state;
	assert_true(request_n("GEX", 2));
	assert_false(request_n("GEX", 3));
	assert_true(request_n("OPTIONS?", 7));
	assert_false(request_n("OPTIONS?", 8));
	assert_true(response_n("HTTP/2", 5));
	assert_false(response_n("HTTP/2", 6));
}

/*
 * The kernel sees at most HTTP_CLASSIFY_LEN bytes of a transfer, user
 * space all of them: both must reach the same answer for any bytes.
 */
static void test_kernel_view_agrees(void **state)
{
	static const char *const samples[] = {
	    "GET /v1/models HTTP/1.1\r\n",
	    "OPTIONS * HTTP/1.1",
	    "CONNECT h:443 HTTP/1.1",
	    "OPTIONSX / HTTP/1.1",
	    "HTTP/1.1 200 OK",
	    "HTTP/2 200",
	    "DELETE /x",
	    "TRACE / HTTP/1.1",
	    "PATCHY",
	};
	unsigned char buf[32];
	size_t i, j, len;

	(void)state;
	for (i = 0; i < N(samples); i++) {
		len = strlen(samples[i]);
		for (j = 0; j <= len; j++) {
			size_t k = j < HTTP_CLASSIFY_LEN ? j : HTTP_CLASSIFY_LEN;

			assert_int_equal(request_n(samples[i], j), request_n(samples[i], k));
			assert_int_equal(response_n(samples[i], j), response_n(samples[i], k));
		}
	}
	srand(10);
	for (i = 0; i < 100000; i++) {
		len = (size_t)rand() % sizeof(buf);
		for (j = 0; j < len; j++) /* mostly the letters of the starts */
			buf[j] = rand() % 4 ? "GETPOSUDLACHINRX/1. "[rand() % 20] : rand() % 256;
		j = len < HTTP_CLASSIFY_LEN ? len : HTTP_CLASSIFY_LEN;
		assert_int_equal(request_n((char *)buf, len), request_n((char *)buf, j));
		assert_int_equal(response_n((char *)buf, len), response_n((char *)buf, j));
	}
}

/* First writes of Redis clients: redis-cli 7's COMMAND DOCS (seen with
 * strace here) and AUTH; as the other clients' sources write them,
 * redis-py 5's HELLO and CLIENT SETINFO, go-redis's HELLO 3 with AUTH,
 * ioredis's INFO, a Jedis pipeline of SETs; and the count's longest
 * form. */
static const char *const redis_firsts[] = {
    "*2\r\n$5\r\nHELLO\r\n$1\r\n3\r\n",
    "*4\r\n$6\r\nCLIENT\r\n$7\r\nSETINFO\r\n$8\r\nLIB-NAME\r\n$8\r\nredis-py\r\n",
    "*3\r\n$7\r\nCOMMAND\r\n$4\r\nDOCS\r\n",
    "*3\r\n$4\r\nAUTH\r\n$7\r\ndefault\r\n$6\r\nsecret\r\n",
    "*5\r\n$5\r\nhello\r\n$1\r\n3\r\n$4\r\nauth\r\n",
    "*1\r\n$4\r\ninfo\r\n",
    "*3\r\n$3\r\nSET\r\n$1\r\na\r\n$1\r\n1\r\n*3\r\n$3\r\nSET\r\n",
    "*12\r\n$4\r\nMSET\r\n",
    "*123456789\r\n$",
};

static void test_redis_commands(void **state)
{
	size_t i, n;

	(void)state;
	for (i = 0; i < N(redis_firsts); i++) {
		/* taken at any length: a client may write in pieces */
		for (n = 1; n <= strlen(redis_firsts[i]); n++)
			if (!command_n(redis_firsts[i], n))
				fail_msg("rejected %zu bytes of %s", n, redis_firsts[i]);
		if (request(redis_firsts[i]) || response(redis_firsts[i]))
			fail_msg("HTTP: %s", redis_firsts[i]);
	}
	assert_false(command(""));
	for (i = 0; i < N(request_starts); i++)
		assert_false(command(request_starts[i]));
}

/* What is not a client's command: replies, inline commands, other
 * protocols, and counts Redis would refuse or skip. */
static void test_redis_near_misses(void **state)
{
	static const char *const no[] = {
	    "PING\r\n",			  /* inline */
	    "+PONG\r\n",		  /* replies */
	    "$5\r\nhello\r\n",		  /* a bare bulk string */
	    "*0\r\n",			  /* an empty array: skipped by Redis */
	    "*-1\r\n",			  /* a nil array */
	    "*01\r\n$4\r\nPING\r\n",	  /* a leading zero */
	    "*1234567890\r\n$",		  /* 10 digits */
	    "*1\n$4\nPING\n",		  /* LF alone */
	    "*1\r\n*1\r\n$4\r\nPING\r\n", /* nested */
	    "*1\r\n:1\r\n",		  /* an integer argument */
	    "*2 \r\n$",			  /* a space */
	    "*\r\n$",
	    "**",
	    "\x16\x03\x01\x02\x00", /* TLS ClientHello */
	    "GET / HTTP/1.1\r\n",
	};
	size_t i;

	(void)state;
	for (i = 0; i < N(no); i++)
		if (command(no[i]))
			fail_msg("accepted: %s", no[i]);
	assert_false(command_n("*1\r\n$", 0));
	/* only len bytes count */
	assert_true(command_n("*1\r\nX", 4));
	assert_false(command_n("*1\r\nX", 5));
}

/* The kernel sees at most RESP_CLASSIFY_LEN bytes: its answer is the
 * answer on all of them. */
static void test_redis_kernel_view_agrees(void **state)
{
	unsigned char buf[40];
	size_t i, j, len;

	(void)state;
	srand(15);
	for (i = 0; i < 100000; i++) {
		len = (size_t)rand() % sizeof(buf);
		for (j = 0; j < len; j++) /* mostly the bytes of a start */
			buf[j] = rand() % 8 ? "*$\r\n0123456789"[rand() % 14] : rand() % 256;
		if (len && rand() % 2)
			buf[0] = '*';
		j = len < RESP_CLASSIFY_LEN ? len : RESP_CLASSIFY_LEN;
		assert_int_equal(command_n((char *)buf, len), command_n((char *)buf, j));
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_longest_start_fits),
	    cmocka_unit_test(test_every_method),
	    cmocka_unit_test(test_prefixes_too_short),
	    cmocka_unit_test(test_method_without_space),
	    cmocka_unit_test(test_lowercase),
	    cmocka_unit_test(test_garbage),
	    cmocka_unit_test(test_every_byte_matters),
	    cmocka_unit_test(test_responses),
	    cmocka_unit_test(test_len_bounds_the_look),
	    cmocka_unit_test(test_kernel_view_agrees),
	    cmocka_unit_test(test_redis_commands),
	    cmocka_unit_test(test_redis_near_misses),
	    cmocka_unit_test(test_redis_kernel_view_agrees),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
