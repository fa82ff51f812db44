// SPDX-License-Identifier: MIT
/*
 * Unit tests of the RESP parser. The byte sequences are what redis-py 4.3
 * and Redis 7.0 wrote on a unix socket (strace), unless said otherwise.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "proto/resp.h"
#include "split.h"

#define S(lit) lit, sizeof(lit) - 1
#define EV_MAX 48

struct rec_ev {
	enum resp_event ev;
	struct resp_value v;
};

struct run {
	struct resp_parser p;
	bool commands;
	bool elements;
	struct rec_ev ev[EV_MAX];
	size_t n;
	bool lost;
};

static void record(struct run *r, enum resp_event ev)
{
	assert_true(r->n < EV_MAX);
	r->ev[r->n].ev = ev;
	memcpy(&r->ev[r->n].v, &r->p.val[ev == RESP_ELEMENT], sizeof(struct resp_value));
	r->n++;
}

/* Feeds one piece, every event recorded; false once lost. */
static bool run_piece(struct run *r, const char *buf, size_t len)
{
	enum resp_event ev;
	size_t used;

	do {
		ev = resp_feed(&r->p, buf, len, &used);
		buf += used;
		len -= used;
		if (ev == RESP_VALUE || ev == RESP_ELEMENT)
			record(r, ev);
	} while (ev == RESP_VALUE || ev == RESP_ELEMENT);
	r->lost = ev == RESP_LOST;
	return !r->lost;
}

static void run_start(void *run)
{
	struct run *r = run;

	resp_init(&r->p, r->commands);
	r->p.elements = r->elements;
	r->n = 0;
	r->lost = false;
}

static bool run_feed(void *run, const char *in, size_t off, size_t len)
{
	return run_piece(run, in + off, len);
}

static void assert_value_equal(const struct resp_value *a, const struct resp_value *b)
{
	size_t i;

	assert_int_equal(a->type, b->type);
	assert_int_equal(a->nil, b->nil);
	assert_string_equal(a->head, b->head);
	assert_int_equal(a->head_cut, b->head_cut);
	for (i = 0; i < RESP_ARGS; i++) {
		assert_int_equal(a->arg[i].len, b->arg[i].len);
		assert_int_equal(a->arg[i].cut, b->arg[i].cut);
		assert_memory_equal(a->arg[i].s, b->arg[i].s, a->arg[i].len + 1);
	}
	assert_int_equal(a->integer, b->integer);
	assert_int_equal(a->count, b->count);
	assert_int_equal(a->elems_nil, b->elems_nil);
	assert_int_equal(a->elems_error, b->elems_error);
}

static void run_same(const void *a, const void *b)
{
	const struct run *x = a, *y = b;
	size_t i;

	assert_int_equal(x->lost, y->lost);
	assert_int_equal(x->n, y->n);
	for (i = 0; i < x->n; i++) {
		assert_int_equal(x->ev[i].ev, y->ev[i].ev);
		assert_value_equal(&x->ev[i].v, &y->ev[i].v);
	}
}

static const struct split_driver driver = {
    .start = run_start,
    .feed = run_feed,
    .same = run_same,
    .pairs_max = 160,
};

static struct run *new_runs(bool commands, bool elements)
{
	struct run *r = calloc(2, sizeof(*r));

	assert_non_null(r);
	r[0].commands = r[1].commands = commands;
	r[0].elements = r[1].elements = elements;
	return r;
}

/* Parses in every split; returns the runs (r[0]: whole) to be freed. */
static struct run *parse_all_ways(bool commands, bool elements, const char *in, size_t len)
{
	struct run *r = new_runs(commands, elements);

	split_all_ways(&driver, &r[0], &r[1], in, len);
	return r;
}

static const struct resp_value *value(const struct run *r, size_t i, enum resp_event ev)
{
	assert_true(i < r->n);
	assert_int_equal(r->ev[i].ev, ev);
	return &r->ev[i].v;
}

static void assert_arg(const struct resp_value *v, size_t i, const char *s, size_t len)
{
	assert_int_equal(v->arg[i].len, len);
	assert_memory_equal(v->arg[i].s, s, len);
	assert_false(v->arg[i].cut);
}

/* ---- commands ---- */

/* redis-py's pipeline(transaction=False): three commands in one write */
static void test_pipelined_commands(void **state)
{
	static const char in[] = "*2\r\n$3\r\nGET\r\n$8\r\ncache:q1\r\n"
				 "*3\r\n$5\r\nRPUSH\r\n$10\r\nqueue:jobs\r\n$2\r\nj2\r\n"
				 "*2\r\n$3\r\nGET\r\n$8\r\ncache:zz\r\n";
	struct run *r = parse_all_ways(true, false, S(in));
	const struct resp_value *v;

	(void)state;
	assert_false(r->lost);
	assert_int_equal(r->n, 3);
	v = value(r, 0, RESP_VALUE);
	assert_int_equal(v->type, RESP_ARRAY);
	assert_string_equal(v->head, "GET");
	assert_int_equal(v->count, 2);
	assert_arg(v, 0, S("cache:q1"));
	v = value(r, 1, RESP_VALUE);
	assert_string_equal(v->head, "RPUSH");
	assert_int_equal(v->count, 3);
	assert_arg(v, 0, S("queue:jobs"));
	assert_arg(v, 1, S("j2"));
	v = value(r, 2, RESP_VALUE);
	assert_arg(v, 0, S("cache:zz"));
	assert_true(r->p.starts == 3);
	free(r);
}

/* SETEX of a value with CRLF, NUL and 0xff inside; a lower-case name */
static void test_binary_bulk_command(void **state)
{
	static const char in[] = "*4\r\n$5\r\nsetex\r\n$8\r\ncache:q1\r\n$2\r\n60\r\n"
				 "$14\r\n{\"a\":\"x\r\ny\"}\0\377\r\n";
	struct run *r = parse_all_ways(true, false, S(in));
	const struct resp_value *v;

	(void)state;
	assert_int_equal(r->n, 1);
	v = value(r, 0, RESP_VALUE);
	assert_string_equal(v->head, "SETEX");
	assert_int_equal(v->count, 4);
	assert_arg(v, 0, S("cache:q1"));
	assert_arg(v, 1, S("60"));
	free(r);
}

/* Inline commands, as telnet or nc send them; an empty line is none */
static void test_inline_commands(void **state)
{
	static const char in[] = "PING\r\n\r\nget  \tcache:q1\nlpush q a b c\r\n";
	struct run *r = parse_all_ways(true, false, S(in));
	const struct resp_value *v;

	(void)state;
	assert_int_equal(r->n, 3);
	v = value(r, 0, RESP_VALUE);
	assert_int_equal(v->type, RESP_INLINE);
	assert_string_equal(v->head, "PING");
	assert_int_equal(v->count, 1);
	v = value(r, 1, RESP_VALUE);
	assert_string_equal(v->head, "GET");
	assert_int_equal(v->count, 2);
	assert_arg(v, 0, S("cache:q1"));
	v = value(r, 2, RESP_VALUE);
	assert_string_equal(v->head, "LPUSH");
	assert_int_equal(v->count, 5);
	assert_arg(v, 1, S("a"));
	free(r);
}

/* Names and arguments are kept bounded, marked cut */
static void test_command_bounds(void **state)
{
	static const char in[] =
	    "*2\r\n$40\r\nABCDEFGHIJABCDEFGHIJABCDEFGHIJABCDEFGHIJ\r\n"
	    "$70\r\nkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkk"
	    "\r\n";
	struct run *r = parse_all_ways(true, false, S(in));
	const struct resp_value *v;

	(void)state;
	v = value(r, 0, RESP_VALUE);
	assert_int_equal(strlen(v->head), RESP_HEAD_MAX - 1);
	assert_true(v->head_cut);
	assert_int_equal(v->arg[0].len, RESP_ARG_MAX - 1);
	assert_true(v->arg[0].cut);
	free(r);
}

/* What Redis does not read from a client loses the parser: an element
 * that is not a bulk string, a nil bulk string */
static void test_command_not_resp(void **state)
{
	static const char *const bad[] = {"*2\r\n$3\r\nGET\r\n:1\r\n", "*1\r\n$-1\r\n",
					  "*1\r\n*1\r\n$1\r\na\r\n"};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct run *r = parse_all_ways(true, false, bad[i], strlen(bad[i]));

		assert_true(r->lost);
		assert_int_equal(r->n, 0);
		free(r);
	}
}

/* ---- replies ---- */

/* The pipeline's replies: a binary bulk string, an integer, a nil */
static void test_pipelined_replies(void **state)
{
	static const char in[] = "$14\r\n{\"a\":\"x\r\ny\"}\0\377\r\n:2\r\n$-1\r\n";
	struct run *r = parse_all_ways(false, false, S(in));
	const struct resp_value *v;

	(void)state;
	assert_int_equal(r->n, 3);
	v = value(r, 0, RESP_VALUE);
	assert_int_equal(v->type, RESP_BULK);
	assert_false(v->nil);
	v = value(r, 1, RESP_VALUE);
	assert_int_equal(v->type, RESP_INTEGER);
	assert_int_equal(v->integer, 2);
	v = value(r, 2, RESP_VALUE);
	assert_int_equal(v->type, RESP_BULK);
	assert_true(v->nil);
	free(r);
}

/* MGET's array: which keys were nil, in RESP2 and in RESP3 */
static void test_mget_replies(void **state)
{
	static const char in[] = "*3\r\n$14\r\n{\"a\":\"x\r\ny\"}\0\377\r\n$-1\r\n"
				 "$14\r\n{\"a\":\"x\r\ny\"}\0\377\r\n"
				 "*2\r\n$2\r\nv2\r\n_\r\n";
	struct run *r = parse_all_ways(false, false, S(in));
	const struct resp_value *v;

	(void)state;
	assert_int_equal(r->n, 2);
	v = value(r, 0, RESP_VALUE);
	assert_int_equal(v->type, RESP_ARRAY);
	assert_int_equal(v->count, 3);
	assert_int_equal(v->elems_nil, 1);
	v = value(r, 1, RESP_VALUE);
	assert_int_equal(v->count, 2);
	assert_int_equal(v->elems_nil, 1);
	free(r);
}

/* Error prefixes; RESP3's bulk error */
static void test_errors(void **state)
{
	static const char in[] =
	    "-WRONGTYPE Operation against a key holding the wrong kind of value\r\n"
	    "-OOM command not allowed when used memory > 'maxmemory'.\r\n"
	    "-MOVED 3999 127.0.0.1:6381\r\n"
	    "-EXECABORT Transaction discarded because of previous errors.\r\n"
	    "-ERR\r\n"
	    "!21\r\nSYNTAX invalid syntax\r\n";
	static const char *const heads[] = {"WRONGTYPE", "OOM", "MOVED",
					    "EXECABORT", "ERR", "SYNTAX"};
	struct run *r = parse_all_ways(false, false, S(in));
	size_t i;

	(void)state;
	assert_int_equal(r->n, 6);
	for (i = 0; i < 6; i++) {
		assert_true(resp_is_error(&r->ev[i].v));
		assert_string_equal(r->ev[i].v.head, heads[i]);
	}
	assert_int_equal(r->ev[5].v.type, RESP_BULK_ERROR);
	free(r);
}

/* Nil in both protocols */
static void test_nils(void **state)
{
	static const char in[] = "$-1\r\n*-1\r\n_\r\n$0\r\n\r\n*0\r\n";
	static const enum resp_type types[] = {RESP_BULK, RESP_ARRAY, RESP_NULL, RESP_BULK,
					       RESP_ARRAY};
	struct run *r = parse_all_ways(false, false, S(in));
	size_t i;

	(void)state;
	assert_int_equal(r->n, 5);
	for (i = 0; i < 5; i++) {
		assert_int_equal(r->ev[i].v.type, types[i]);
		assert_int_equal(r->ev[i].v.nil, i < 3);
	}
	free(r);
}

/* RESP3 after HELLO 3: its map, a set, a double, the DEBUG PROTOCOL
 * replies (bignum, boolean, verbatim with an LF inside, null) */
static void test_resp3_types(void **state)
{
	static const char in[] =
	    "%7\r\n$6\r\nserver\r\n$5\r\nredis\r\n$7\r\nversion\r\n$6\r\n7.0.15\r\n$5\r\nproto\r\n"
	    ":3\r\n$2\r\nid\r\n:7\r\n$4\r\nmode\r\n$10\r\nstandalone\r\n$4\r\nrole\r\n$6\r\nmaster"
	    "\r\n$7\r\nmodules\r\n*0\r\n"
	    "~1\r\n$1\r\nx\r\n,1.5\r\n(1234567999999999999999999999999999999\r\n#t\r\n"
	    "=29\r\ntxt:This is a verbatim\nstring\r\n_\r\n";
	static const enum resp_type types[] = {
	    RESP_MAP, RESP_SET, RESP_DOUBLE, RESP_BIGNUM, RESP_BOOLEAN, RESP_VERBATIM, RESP_NULL};
	struct run *r = parse_all_ways(false, false, S(in));
	size_t i;

	(void)state;
	assert_int_equal(r->n, 7);
	for (i = 0; i < 7; i++)
		assert_int_equal(r->ev[i].v.type, types[i]);
	assert_int_equal(r->ev[0].v.count, 14);
	assert_string_equal(r->ev[0].v.head, "SERVER");
	assert_int_equal(r->ev[0].v.integer, 7); /* its last integer: the client id */
	free(r);
}

/* A push between replies is a value of its own, marked so */
static void test_push_between_replies(void **state)
{
	static const char in[] = "+OK\r\n>2\r\n$10\r\ninvalidate\r\n*1\r\n$1\r\nk\r\n$2\r\nv2\r\n";
	struct run *r = parse_all_ways(false, false, S(in));

	(void)state;
	assert_int_equal(r->n, 3);
	assert_string_equal(value(r, 0, RESP_VALUE)->head, "OK");
	assert_int_equal(r->ev[1].v.type, RESP_PUSH);
	assert_string_equal(r->ev[1].v.head, "INVALIDATE");
	assert_int_equal(r->ev[2].v.type, RESP_BULK);
	free(r);
}

/* An attribute is no value: the reply it annotates is, at the top and
 * inside an array */
static void test_attributes(void **state)
{
	static const char in[] = "|1\r\n$14\r\nkey-popularity\r\n*2\r\n$7\r\nkey:123\r\n:90\r\n"
				 "$39\r\nSome real reply following the attribute\r\n"
				 "*2\r\n|1\r\n+a\r\n_\r\n:5\r\n|0\r\n:6\r\n";
	struct run *r = parse_all_ways(false, false, S(in));
	const struct resp_value *v;

	(void)state;
	assert_int_equal(r->n, 2);
	v = value(r, 0, RESP_VALUE);
	assert_int_equal(v->type, RESP_BULK);
	assert_int_equal(v->integer, 0);
	v = value(r, 1, RESP_VALUE);
	assert_int_equal(v->type, RESP_ARRAY);
	assert_int_equal(v->count, 2);
	assert_int_equal(v->elems_nil, 0);
	assert_int_equal(v->integer, 6);
	free(r);
}

/* Nested arrays end where they should; depth 32 is read, 33 is not */
static void test_nesting(void **state)
{
	static const char in[] = "*3\r\n*2\r\n:1\r\n*1\r\n$1\r\nx\r\n*0\r\n$3\r\na\r\n\r\n:9\r\n";
	struct run *r = parse_all_ways(false, false, S(in));
	char deep[RESP_DEPTH_MAX * 4 + 8];
	size_t i;

	(void)state;
	assert_int_equal(r->n, 2);
	assert_int_equal(r->ev[0].v.count, 3);
	assert_int_equal(r->ev[1].v.integer, 9);
	free(r);

	for (i = 0; i < RESP_DEPTH_MAX; i++)
		memcpy(deep + 4 * i, "*1\r\n", 4);
	memcpy(deep + 4 * i, ":1\r\n", 4);
	r = parse_all_ways(false, false, deep, 4 * i + 4);
	assert_int_equal(r->n, 1);
	assert_false(r->lost);
	free(r);
	memcpy(deep + 4 * i, "*1\r\n:1\r\n", 8);
	r = parse_all_ways(false, false, deep, 4 * i + 8);
	assert_true(r->lost);
	free(r);
}

/* EXEC's array, its elements reported one by one: a bulk string, an
 * integer, a nil, an MGET inside, an error */
static void test_elements(void **state)
{
	static const char in[] = "*5\r\n$14\r\n{\"a\":\"x\r\ny\"}\0\377\r\n:3\r\n$-1\r\n"
				 "*2\r\n$1\r\na\r\n$-1\r\n-WRONGTYPE Operation\r\n+OK\r\n";
	struct run *r = parse_all_ways(false, true, S(in));
	const struct resp_value *v;

	(void)state;
	assert_int_equal(r->n, 7);
	assert_int_equal(value(r, 0, RESP_ELEMENT)->type, RESP_BULK);
	assert_int_equal(value(r, 1, RESP_ELEMENT)->integer, 3);
	assert_true(value(r, 2, RESP_ELEMENT)->nil);
	v = value(r, 3, RESP_ELEMENT);
	assert_int_equal(v->count, 2);
	assert_int_equal(v->elems_nil, 1);
	v = value(r, 4, RESP_ELEMENT);
	assert_true(resp_is_error(v));
	assert_string_equal(v->head, "WRONGTYPE");
	v = value(r, 5, RESP_VALUE);
	assert_int_equal(v->count, 5);
	assert_int_equal(v->elems_nil, 1);
	assert_int_equal(v->elems_error, 1);
	assert_string_equal(value(r, 6, RESP_VALUE)->head, "OK");
	free(r);
}

/* Integers at both ends of int64; one past them is not read */
static void test_integers(void **state)
{
	static const char in[] = ":9223372036854775807\r\n:-9223372036854775808\r\n:0\r\n";
	struct run *r = parse_all_ways(false, false, S(in));

	(void)state;
	assert_int_equal(r->n, 3);
	assert_true(r->ev[0].v.integer == INT64_MAX);
	assert_true(r->ev[1].v.integer == INT64_MIN);
	free(r);
	r = parse_all_ways(false, false, S(":9223372036854775808\r\n"));
	assert_true(r->lost);
	free(r);
}

/* ---- bytes not seen ---- */

static enum resp_event skip_then(struct run *r, uint64_t n)
{
	enum resp_event ev = resp_skip(&r->p, n);

	if (ev == RESP_VALUE || ev == RESP_ELEMENT) {
		record(r, ev);
		run_piece(r, NULL, 0);
	}
	return ev;
}

/* A GET's 100000-byte reply of which the first bytes were captured: the
 * rest, its CRLF included, is skipped and the next reply read */
static void test_skip_bulk(void **state)
{
	static const char head[] = "$100000\r\n{\"choices\":[";
	struct run *r = new_runs(false, false);
	size_t cut;

	(void)state;
	for (cut = 0; cut <= 2; cut++) {
		run_start(r);
		run_piece(r, S(head));
		assert_int_equal(skip_then(r, 100000 - 12 - cut), RESP_MORE);
		assert_true(r->p.bulk_left == 2 + cut); /* still inside the string */
		assert_int_equal(skip_then(r, 2 + cut), RESP_VALUE);
		run_piece(r, S("$-1\r\n"));
		assert_int_equal(r->n, 2);
		assert_int_equal(r->ev[0].v.type, RESP_BULK);
		assert_true(r->ev[1].v.nil);
	}
	/* bytes skipped in the middle; what follows is read */
	run_start(r);
	run_piece(r, S("*2\r\n$10\r\nab"));
	assert_int_equal(skip_then(r, 4), RESP_MORE);
	run_piece(r, S("cdef\r\n:1\r\n"));
	assert_int_equal(r->n, 1);
	assert_int_equal(r->ev[0].v.count, 2);
	free(r);
}

/* A command's long value, captured in part: its name and key were */
static void test_skip_command_value(void **state)
{
	static const char head[] = "*3\r\n$5\r\nLPUSH\r\n$10\r\nqueue:jobs\r\n$65536\r\n{\"job\"";
	struct run *r = new_runs(true, false);

	(void)state;
	run_start(r);
	run_piece(r, S(head));
	assert_int_equal(skip_then(r, 65536 - 6 + 2), RESP_VALUE);
	assert_string_equal(r->ev[0].v.head, "LPUSH");
	assert_arg(&r->ev[0].v, 0, S("queue:jobs"));
	assert_true(r->ev[0].v.arg[1].cut);
	free(r);
}

/* Bytes not seen beyond a bulk string, or outside one, lose the parser */
static void test_skip_lost(void **state)
{
	struct run *r = new_runs(false, false);

	(void)state;
	run_start(r);
	run_piece(r, S("$10\r\nab"));
	assert_int_equal(skip_then(r, 11), RESP_LOST);
	assert_false(run_piece(r, S("+OK\r\n")));
	assert_int_equal(r->n, 0);

	run_start(r);
	assert_int_equal(skip_then(r, 0), RESP_MORE);
	assert_int_equal(skip_then(r, 1), RESP_LOST);

	run_start(r);
	run_piece(r, S("*2\r\n:1"));
	assert_int_equal(skip_then(r, 3), RESP_LOST);
	free(r);
}

/* ---- what is not RESP ---- */

static void test_garbage(void **state)
{
	static const char *const bad[] = {
	    "hello\r\n",
	    "+OK\n",
	    ":12a\r\n",
	    "#x\r\n",
	    "_x\r\n",
	    "$3\r\nabcd\r\n",
	    "*-2\r\n",
	    "$4294967297\r\n",
	    "*?\r\n",
	    "$?\r\n",
	    "$99999999999999999999\r\n",
	    ":\r\n",
	    "%-1\r\n",
	    "+O\rK\r\n",
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct run *r = parse_all_ways(false, false, bad[i], strlen(bad[i]));

		assert_true(r->lost);
		assert_int_equal(r->n, 0);
		free(r);
	}
}

/* A line longer than RESP_LINE_MAX, without its end */
static void test_long_line(void **state)
{
	size_t len = RESP_LINE_MAX + 2;
	char *in = malloc(len);
	struct run *r = new_runs(false, false);

	(void)state;
	assert_non_null(in);
	in[0] = '+';
	memset(in + 1, 'a', len - 1);
	split_feed_whole(&driver, &r[0], in, len);
	assert_true(r[0].lost);
	split_check_sparse(&driver, &r[0], &r[1], in, len, 4099);
	in[0] = 'P'; /* an inline command as long */
	r[0].commands = r[1].commands = true;
	split_feed_whole(&driver, &r[0], in, len);
	assert_true(r[0].lost);
	free(in);
	free(r);
}

static struct run *random_runs;

static void check_random(char *buf, size_t len, unsigned int iter)
{
	struct run *r = random_runs;

	r[0].commands = r[1].commands = iter & 1;
	r[0].elements = r[1].elements = iter & 2;
	split_feed_whole(&driver, &r[0], buf, len);
	split_check_random(&driver, &r[0], &r[1], buf, len);
}

/* Random bytes of RESP's alphabet, and mutations of real traffic: every
 * split agrees, nothing reads out of bounds (make unit-san) */
static void test_random(void **state)
{
	static const char alphabet[] = "*$+-:_,#(!=%~|>\r\n0123456789-1tfab ";
	static const char seed[] = "*5\r\n$14\r\n{\"a\":\"x\r\ny\"}\0\377\r\n:3\r\n$-1\r\n"
				   "*2\r\n$1\r\na\r\n_\r\n-WRONGTYPE Operation\r\n"
				   ">2\r\n$10\r\ninvalidate\r\n*1\r\n$1\r\nk\r\n"
				   "|1\r\n+a\r\n:1\r\n%1\r\n$1\r\nk\r\n~1\r\n,1.5\r\n";
	char buf[256];

	(void)state;
	random_runs = new_runs(false, false);
	split_random_inputs(buf, sizeof(buf), alphabet, sizeof(alphabet) - 1, 3000, check_random);
	split_mutations(buf, seed, sizeof(seed) - 1, alphabet, sizeof(alphabet) - 1, 4, 3000,
			check_random);
	free(random_runs);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_pipelined_commands),
	    cmocka_unit_test(test_binary_bulk_command),
	    cmocka_unit_test(test_inline_commands),
	    cmocka_unit_test(test_command_bounds),
	    cmocka_unit_test(test_command_not_resp),
	    cmocka_unit_test(test_pipelined_replies),
	    cmocka_unit_test(test_mget_replies),
	    cmocka_unit_test(test_errors),
	    cmocka_unit_test(test_nils),
	    cmocka_unit_test(test_resp3_types),
	    cmocka_unit_test(test_push_between_replies),
	    cmocka_unit_test(test_attributes),
	    cmocka_unit_test(test_nesting),
	    cmocka_unit_test(test_elements),
	    cmocka_unit_test(test_integers),
	    cmocka_unit_test(test_skip_bulk),
	    cmocka_unit_test(test_skip_command_value),
	    cmocka_unit_test(test_skip_lost),
	    cmocka_unit_test(test_garbage),
	    cmocka_unit_test(test_long_line),
	    cmocka_unit_test(test_random),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
