// SPDX-License-Identifier: MIT
/* Unit tests of what a Redis command is, and what it sets up for those
 * after it. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <string.h>
#include <cmocka.h>

#include "proto/redis_cmd.h"

/* The command of an inline line, as the parser summarises it. */
static struct redis_cmd command(const char *line)
{
	struct resp_parser p;
	struct redis_cmd cmd;
	size_t used;

	resp_init(&p, true);
	assert_int_equal(resp_feed(&p, line, strlen(line), &used), RESP_VALUE);
	assert_true(redis_cmd_parse(&cmd, &p.val[0], 42));
	return cmd;
}

static void test_classes(void **state)
{
	static const struct {
		const char *line;
		enum redis_class cls;
	} cases[] = {
	    {"get k\r\n", REDIS_CLASS_CACHE_READ},     {"GETEX k\r\n", REDIS_CLASS_CACHE_READ},
	    {"HGET h f\r\n", REDIS_CLASS_CACHE_READ},  {"json.get k $\r\n", REDIS_CLASS_CACHE_READ},
	    {"MGET a b\r\n", REDIS_CLASS_CACHE_READ},  {"HMGET h a b\r\n", REDIS_CLASS_CACHE_READ},
	    {"LPUSH q a\r\n", REDIS_CLASS_PRODUCE},    {"rpush q a\r\n", REDIS_CLASS_PRODUCE},
	    {"XADD s * a 1\r\n", REDIS_CLASS_PRODUCE}, {"XLEN s\r\n", REDIS_CLASS_LENGTH},
	    {"LLEN q\r\n", REDIS_CLASS_OTHER},	       {"SET k v\r\n", REDIS_CLASS_OTHER},
	    {"GETDEL k\r\n", REDIS_CLASS_OTHER},
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct redis_cmd cmd = command(cases[i].line);

		assert_int_equal(cmd.cls, cases[i].cls);
		assert_int_equal(cmd.kind, REDIS_PLAIN);
		assert_int_equal(cmd.t_start, 42);
	}
}

/* A queue's name is kept for produces and XLEN only */
static void test_key(void **state)
{
	struct redis_cmd cmd = command("LPUSH queue:jobs a\r\n");

	(void)state;
	assert_string_equal(cmd.key.s, "queue:jobs");
	assert_string_equal(cmd.name, "LPUSH");
	cmd = command("GET cache:1\r\n");
	assert_int_equal(cmd.key.len, 0);
}

static void test_kinds(void **state)
{
	(void)state;
	assert_int_equal(command("MULTI\r\n").kind, REDIS_MULTI);
	assert_int_equal(command("exec\r\n").kind, REDIS_EXEC);
	assert_int_equal(command("PSUBSCRIBE p*\r\n").kind, REDIS_SUBSCRIBE);
	assert_int_equal(command("UNSUBSCRIBE\r\n").kind, REDIS_SUBSCRIBE);
	/* answered by an error alone */
	assert_int_equal(command("SUBSCRIBE\r\n").kind, REDIS_PLAIN);
	assert_int_equal(command("HELLO 3\r\n").arg, 3);
	assert_int_equal(command("HELLO\r\n").arg, 0);
	assert_int_equal(command("CLIENT REPLY off\r\n").arg, REDIS_REPLY_OFF);
	assert_int_equal(command("CLIENT REPLY SKIP\r\n").arg, REDIS_REPLY_SKIP);
	assert_int_equal(command("CLIENT REPLY ON\r\n").kind, REDIS_CLIENT_REPLY);
	assert_int_equal(command("CLIENT TRACKING on\r\n").kind, REDIS_PLAIN);
	assert_int_equal(command("CLIENT REPLY\r\n").kind, REDIS_PLAIN);
	assert_int_equal(redis_kind_of("SUNSUBSCRIBE"), REDIS_SUBSCRIBE);
	assert_int_equal(redis_kind_of("MESSAGE"), REDIS_PLAIN);
}

/* Which commands a MULTI holds; which CLIENT REPLY silences */
static void test_follow(void **state)
{
	static const char *const lines[] = {"GET a\r\n",
					    "MULTI\r\n",
					    "LPUSH q a\r\n",
					    "MULTI\r\n",
					    "EXEC\r\n",
					    "CLIENT REPLY SKIP\r\n",
					    "GET b\r\n",
					    "GET c\r\n",
					    "CLIENT REPLY OFF\r\n",
					    "GET d\r\n",
					    "CLIENT REPLY ON\r\n",
					    "GET e\r\n"};
	static const bool in_tx[] = {0, 0, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0};
	static const bool reply[] = {1, 1, 1, 1, 1, 0, 0, 1, 0, 0, 1, 1};
	struct redis_sent s = {0};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(lines) / sizeof(lines[0]); i++) {
		struct redis_cmd cmd = command(lines[i]);

		assert_int_equal(redis_cmd_follow(&s, &cmd), reply[i]);
		assert_int_equal(cmd.in_tx, in_tx[i]);
	}
}

/* An empty command is none: Redis skips it */
static void test_empty(void **state)
{
	struct resp_value v = {.type = RESP_ARRAY};
	struct redis_cmd cmd;

	(void)state;
	assert_false(redis_cmd_parse(&cmd, &v, 1));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_classes), cmocka_unit_test(test_key),
	    cmocka_unit_test(test_kinds),   cmocka_unit_test(test_follow),
	    cmocka_unit_test(test_empty),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
