// SPDX-License-Identifier: MIT
/*
 * Unit tests of the pairing of Redis commands with their replies. The
 * byte sequences are what redis-py 4.3 and Redis 7.0 wrote on a unix
 * socket (strace), unless said otherwise. A conversation is a script of
 * writes (commands) and reads (replies) with their timestamps; every
 * split of it must give the same observations.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "proto/redis_conn.h"
#include "split.h"

#define S(lit)	   lit, sizeof(lit) - 1
#define OBS_MAX	   300
#define SEG_MAX	   48
#define SCRIPT_MAX 8192

/* ---- a recorder of the observations ---- */

struct rec_obs {
	char name[RESP_HEAD_MAX];
	enum redis_class cls;
	enum redis_outcome outcome;
	char reason[RESP_HEAD_MAX];
	uint64_t hits, misses;
	bool has_key;
	char key[RESP_ARG_MAX];
	bool has_depth;
	int64_t depth;
	bool in_tx;
	uint64_t t_start, t_end;
};

/* One write of commands ('C') or read of replies ('R'). */
struct seg {
	char dir;
	size_t off, len; /* in the script's bytes */
	uint64_t ts;
};

struct script {
	struct seg seg[SEG_MAX];
	size_t nseg;
	char buf[SCRIPT_MAX];
	size_t len;
};

struct run {
	struct redis_conn c;
	const struct script *sc;
	struct rec_obs obs[OBS_MAX]; /* the first ones */
	struct rec_obs last;
	size_t n;
};

static void on_command(void *ctx, const struct redis_obs *o)
{
	struct run *r = ctx;
	struct rec_obs *x = &r->last;

	memset(x, 0, sizeof(*x));
	snprintf(x->name, sizeof(x->name), "%s", o->name);
	snprintf(x->reason, sizeof(x->reason), "%s", o->reason);
	x->cls = o->cls;
	x->outcome = o->outcome;
	x->hits = o->hits;
	x->misses = o->misses;
	x->has_key = o->key != NULL;
	if (o->key)
		memcpy(x->key, o->key->s, o->key->len);
	x->has_depth = o->has_depth;
	x->depth = o->depth;
	x->in_tx = o->in_tx;
	x->t_start = o->t_start;
	x->t_end = o->t_end;
	if (r->n < OBS_MAX)
		r->obs[r->n] = *x;
	r->n++;
}

static const struct redis_conn_ops ops = {.command = on_command};

/* ---- scripts, fed in pieces ---- */

static void add(struct script *sc, char dir, const char *s, size_t len, uint64_t ts)
{
	struct seg *g = &sc->seg[sc->nseg++];

	assert_true(sc->nseg <= SEG_MAX && sc->len + len <= SCRIPT_MAX);
	*g = (struct seg){dir, sc->len, len, ts};
	memcpy(sc->buf + sc->len, s, len);
	sc->len += len;
}

#define C(sc, lit, ts) add(sc, 'C', lit, sizeof(lit) - 1, ts)
#define R(sc, lit, ts) add(sc, 'R', lit, sizeof(lit) - 1, ts)

static void run_start(void *run)
{
	struct run *r = run;

	redis_conn_free(&r->c);
	redis_conn_init(&r->c, &ops, r);
	r->n = 0;
}

/* Feeds script bytes [off, off + len): each segment's part to its side. */
static bool run_feed(void *run, const char *in, size_t off, size_t len)
{
	struct run *r = run;
	size_t i;

	(void)in;
	for (i = 0; i < r->sc->nseg && len; i++) {
		const struct seg *g = &r->sc->seg[i];
		size_t from, to;

		if (off >= g->off + g->len || off + len <= g->off)
			continue;
		from = off > g->off ? off : g->off;
		to = off + len < g->off + g->len ? off + len : g->off + g->len;
		if (g->dir == 'C')
			redis_conn_command_bytes(&r->c, r->sc->buf + from, to - from, g->ts);
		else
			redis_conn_reply_bytes(&r->c, r->sc->buf + from, to - from, g->ts);
	}
	return true;
}

static void run_same(const void *a, const void *b)
{
	const struct run *x = a, *y = b;
	size_t i;

	assert_int_equal(x->n, y->n);
	for (i = 0; i < x->n && i < OBS_MAX; i++)
		assert_memory_equal(&x->obs[i], &y->obs[i], sizeof(x->obs[i]));
}

static const struct split_driver driver = {
    .start = run_start,
    .feed = run_feed,
    .same = run_same,
    .pairs_max = 120,
};

struct fixture {
	struct script sc;
	struct run r[2];
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	if (!f)
		return -1;
	f->r[0].sc = f->r[1].sc = &f->sc;
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	redis_conn_free(&f->r[0].c);
	redis_conn_free(&f->r[1].c);
	free(f);
	return 0;
}

/* The script in every split; f->r[0] holds what the whole gave. */
static struct run *play(struct fixture *f)
{
	split_all_ways(&driver, &f->r[0], &f->r[1], f->sc.buf, f->sc.len);
	return &f->r[0];
}

static const struct rec_obs *obs(const struct run *r, size_t i, const char *name,
				 enum redis_outcome outcome)
{
	assert_true(i < r->n && i < OBS_MAX);
	assert_string_equal(r->obs[i].name, name);
	assert_int_equal(r->obs[i].outcome, outcome);
	return &r->obs[i];
}

static void assert_cache(const struct rec_obs *o, uint64_t hits, uint64_t misses)
{
	assert_int_equal(o->cls, REDIS_CLASS_CACHE_READ);
	assert_int_equal(o->hits, hits);
	assert_int_equal(o->misses, misses);
}

static void assert_depth(const struct rec_obs *o, const char *key, int64_t depth)
{
	assert_true(o->has_key);
	assert_string_equal(o->key, key);
	assert_true(o->has_depth);
	assert_int_equal(o->depth, depth);
}

static void assert_times(const struct rec_obs *o, uint64_t start, uint64_t end)
{
	assert_int_equal(o->t_start, start);
	assert_int_equal(o->t_end, end);
}

/* ---- request and reply ---- */

#define GET_Q1	"*2\r\n$3\r\nGET\r\n$8\r\ncache:q1\r\n"
#define VALUE	"$14\r\n{\"a\":\"x\r\ny\"}\0\377\r\n"
#define LPUSH_J "*3\r\n$5\r\nLPUSH\r\n$10\r\nqueue:jobs\r\n$4\r\njob1\r\n"

/* redis-py's cache-aside: a miss, SETEX, a hit; MGET and HMGET per key
 * and field; LPUSH's depth; XADD, whose depth XLEN tells */
static void test_cache_and_queue(void **state)
{
	struct fixture *f = *state;
	struct run *r;

	C(&f->sc, GET_Q1, 10);
	R(&f->sc, "$-1\r\n", 11);
	C(&f->sc,
	  "*4\r\n$5\r\nSETEX\r\n$8\r\ncache:q1\r\n$2\r\n60\r\n$14\r\n{\"a\":\"x\r\ny\"}\0\377\r\n",
	  20);
	R(&f->sc, "+OK\r\n", 21);
	C(&f->sc, GET_Q1, 30);
	R(&f->sc, VALUE, 32);
	C(&f->sc, "*4\r\n$4\r\nMGET\r\n$8\r\ncache:q1\r\n$10\r\ncache:nope\r\n$8\r\ncache:q1\r\n",
	  40);
	R(&f->sc, "*3\r\n" VALUE "$-1\r\n" VALUE, 41);
	C(&f->sc, "*4\r\n$5\r\nHMGET\r\n$1\r\nh\r\n$2\r\nf1\r\n$2\r\nf2\r\n", 50);
	R(&f->sc, "*2\r\n$2\r\nv1\r\n$-1\r\n", 51);
	C(&f->sc, LPUSH_J, 60);
	R(&f->sc, ":1\r\n", 61);
	C(&f->sc, "*5\r\n$4\r\nXADD\r\n$11\r\nstream:jobs\r\n$1\r\n*\r\n$1\r\nk\r\n$1\r\nv\r\n",
	  70);
	R(&f->sc, "$15\r\n1796359839465-0\r\n", 71);
	C(&f->sc, "*2\r\n$4\r\nXLEN\r\n$11\r\nstream:jobs\r\n", 80);
	R(&f->sc, ":1\r\n", 81);
	r = play(f);
	assert_int_equal(r->n, 8);
	assert_cache(obs(r, 0, "GET", REDIS_REPLIED), 0, 1);
	assert_times(&r->obs[0], 10, 11);
	assert_int_equal(obs(r, 1, "SETEX", REDIS_REPLIED)->cls, REDIS_CLASS_OTHER);
	assert_cache(obs(r, 2, "GET", REDIS_REPLIED), 1, 0);
	assert_times(&r->obs[2], 30, 32);
	assert_cache(obs(r, 3, "MGET", REDIS_REPLIED), 2, 1);
	assert_cache(obs(r, 4, "HMGET", REDIS_REPLIED), 1, 1);
	assert_depth(obs(r, 5, "LPUSH", REDIS_REPLIED), "queue:jobs", 1);
	assert_int_equal(r->obs[5].cls, REDIS_CLASS_PRODUCE);
	assert_false(obs(r, 6, "XADD", REDIS_REPLIED)->has_depth);
	assert_string_equal(r->obs[6].key, "stream:jobs");
	assert_depth(obs(r, 7, "XLEN", REDIS_REPLIED), "stream:jobs", 1);
	assert_int_equal(r->obs[7].cls, REDIS_CLASS_LENGTH);
}

/* JSON.GET (RedisJSON, which Debian does not package: these bytes are
 * redis-py 4.3's json().get() and RedisJSON 2's replies as documented, not
 * captured): a document is a hit, nil (no such key) a miss, in RESP2 and
 * RESP3; a JSONPath that matches nothing in a document answers "[]", the
 * key was there: a hit; a legacy path that does not exist is an error,
 * neither. */
static void test_json_get(void **state)
{
	struct fixture *f = *state;
	struct run *r;

	C(&f->sc, "*3\r\n$8\r\nJSON.GET\r\n$3\r\ndoc\r\n$1\r\n$\r\n", 1);
	R(&f->sc, "$19\r\n[{\"model\":\"gpt-4\"}]\r\n", 2);
	C(&f->sc, "*3\r\n$8\r\nJSON.GET\r\n$5\r\nnodoc\r\n$1\r\n$\r\n", 3);
	R(&f->sc, "$-1\r\n", 4);
	C(&f->sc, "*3\r\n$8\r\nJSON.GET\r\n$3\r\ndoc\r\n$9\r\n$.missing\r\n", 5);
	R(&f->sc, "$2\r\n[]\r\n", 6);
	C(&f->sc, "*3\r\n$8\r\nJSON.GET\r\n$3\r\ndoc\r\n$8\r\n.missing\r\n", 7);
	R(&f->sc, "-ERR Path '.missing' does not exist\r\n", 8);
	C(&f->sc, "*2\r\n$5\r\nHELLO\r\n$1\r\n3\r\n", 9);
	R(&f->sc, "%1\r\n$5\r\nproto\r\n:3\r\n", 10);
	C(&f->sc, "*3\r\n$8\r\njson.get\r\n$5\r\nnodoc\r\n$1\r\n$\r\n", 11);
	R(&f->sc, "_\r\n", 12);
	r = play(f);
	assert_int_equal(r->n, 6);
	assert_cache(obs(r, 0, "JSON.GET", REDIS_REPLIED), 1, 0);
	assert_cache(obs(r, 1, "JSON.GET", REDIS_REPLIED), 0, 1);
	assert_cache(obs(r, 2, "JSON.GET", REDIS_REPLIED), 1, 0);
	assert_cache(obs(r, 3, "JSON.GET", REDIS_FAILED), 0, 0);
	assert_string_equal(r->obs[3].reason, "ERR");
	assert_cache(obs(r, 5, "JSON.GET", REDIS_REPLIED), 0, 1);
	assert_times(&r->obs[5], 11, 12);
}

/* redis-py's pipeline(transaction=False): three commands in one write,
 * their replies in one read */
static void test_pipeline(void **state)
{
	struct fixture *f = *state;
	struct run *r;

	C(&f->sc,
	  GET_Q1 "*3\r\n$5\r\nRPUSH\r\n$10\r\nqueue:jobs\r\n$2\r\nj2\r\n*2\r\n$3\r\nGET\r\n$8\r\n"
		 "cache:zz\r\n",
	  100);
	R(&f->sc, VALUE ":2\r\n$-1\r\n", 105);
	r = play(f);
	assert_int_equal(r->n, 3);
	assert_cache(obs(r, 0, "GET", REDIS_REPLIED), 1, 0);
	assert_depth(obs(r, 1, "RPUSH", REDIS_REPLIED), "queue:jobs", 2);
	assert_cache(obs(r, 2, "GET", REDIS_REPLIED), 0, 1);
	assert_times(&r->obs[1], 100, 105);
}

/* Commands in writes of their own, a reply read across two reads: each
 * command starts with the write of its first byte, ends with the read
 * of its reply's last */
static void test_timestamps(void **state)
{
	struct fixture *f = *state;
	struct run *r;

	C(&f->sc, "*2\r\n$3\r\nGET", 1);
	C(&f->sc, "\r\n$8\r\ncache:q1\r\n*2\r\n$3\r\nGET\r\n", 2);
	C(&f->sc, "$1\r\nk\r\n", 3);
	R(&f->sc, "$14\r\n{\"a\":", 4);
	R(&f->sc, "\"x\r\ny\"}\0\377\r\n", 5);
	R(&f->sc, "_\r\n", 6);
	r = play(f);
	assert_int_equal(r->n, 2);
	assert_times(&r->obs[0], 1, 5);
	assert_times(&r->obs[1], 2, 6);
}

/* An empty line (inline; Redis skips it) at the end of one write: the
 * command after it starts with the next write, the one that carried its
 * first byte (the fuzzer found it taken from the write before) */
static void test_timestamps_after_empty_line(void **state)
{
	struct fixture *f = *state;
	struct run *r;

	C(&f->sc, "PING\r\n\r", 1);
	C(&f->sc, "\nGET k\r\n", 2);
	C(&f->sc, "\r\n \r\n", 3);
	C(&f->sc, GET_Q1, 4);
	R(&f->sc, "+PONG\r\n$1\r\nv\r\n$-1\r\n", 5);
	r = play(f);
	assert_int_equal(r->n, 3);
	assert_times(obs(r, 0, "PING", REDIS_REPLIED), 1, 5);
	assert_times(obs(r, 1, "GET", REDIS_REPLIED), 2, 5);
	assert_times(obs(r, 2, "GET", REDIS_REPLIED), 4, 5);
}

/* Errors: their prefix is the reason; a cache read that failed is
 * neither a hit nor a miss; a cluster's redirection is an error */
static void test_errors(void **state)
{
	struct fixture *f = *state;
	struct run *r;

	C(&f->sc, "*3\r\n$5\r\nLPUSH\r\n$1\r\nh\r\n$1\r\nx\r\n", 1);
	R(&f->sc, "-WRONGTYPE Operation against a key holding the wrong kind of value\r\n", 2);
	C(&f->sc, LPUSH_J, 3);
	R(&f->sc, "-OOM command not allowed when used memory > 'maxmemory'.\r\n", 4);
	C(&f->sc, GET_Q1, 5);
	R(&f->sc, "-MOVED 3999 127.0.0.1:6381\r\n", 6);
	r = play(f);
	assert_int_equal(r->n, 3);
	assert_string_equal(obs(r, 0, "LPUSH", REDIS_FAILED)->reason, "WRONGTYPE");
	assert_false(r->obs[0].has_depth);
	assert_string_equal(obs(r, 1, "LPUSH", REDIS_FAILED)->reason, "OOM");
	assert_string_equal(obs(r, 2, "GET", REDIS_FAILED)->reason, "MOVED");
	assert_cache(&r->obs[2], 0, 0);
}

/* Inline commands get their replies like the others */
static void test_inline(void **state)
{
	struct fixture *f = *state;
	struct run *r;

	C(&f->sc, "PING\r\n", 1);
	R(&f->sc, "+PONG\r\n", 2);
	C(&f->sc, "get cache:q1\r\n", 3);
	R(&f->sc, "$-1\r\n", 4);
	r = play(f);
	assert_int_equal(r->n, 2);
	assert_int_equal(obs(r, 0, "PING", REDIS_REPLIED)->cls, REDIS_CLASS_OTHER);
	assert_cache(obs(r, 1, "GET", REDIS_REPLIED), 0, 1);
}

/* ---- transactions ---- */

#define MULTI	"*1\r\n$5\r\nMULTI\r\n"
#define EXEC	"*1\r\n$4\r\nEXEC\r\n"
#define LPUSH_Q "*3\r\n$5\r\nLPUSH\r\n$1\r\nq\r\n$1\r\na\r\n"

/* redis-py's pipeline(transaction=True): +QUEUED is no result, EXEC's
 * array holds them */
static void test_multi_exec(void **state)
{
	struct fixture *f = *state;
	struct run *r;

	C(&f->sc,
	  MULTI GET_Q1
	  "*3\r\n$5\r\nLPUSH\r\n$10\r\nqueue:jobs\r\n$2\r\nj3\r\n*3\r\n$4\r\nHGET\r\n$1\r\n"
	  "h\r\n$2\r\nf9\r\n" EXEC,
	  10);
	R(&f->sc, "+OK\r\n+QUEUED\r\n+QUEUED\r\n+QUEUED\r\n", 11);
	R(&f->sc, "*3\r\n" VALUE ":3\r\n$-1\r\n", 12);
	r = play(f);
	assert_int_equal(r->n, 5);
	assert_false(obs(r, 0, "MULTI", REDIS_REPLIED)->in_tx);
	assert_cache(obs(r, 1, "GET", REDIS_REPLIED), 1, 0);
	assert_true(r->obs[1].in_tx);
	assert_times(&r->obs[1], 10, 12);
	assert_depth(obs(r, 2, "LPUSH", REDIS_REPLIED), "queue:jobs", 3);
	assert_cache(obs(r, 3, "HGET", REDIS_REPLIED), 0, 1);
	assert_false(obs(r, 4, "EXEC", REDIS_REPLIED)->in_tx);
}

/* A command Redis refuses in a MULTI fails at once, and EXEC runs none */
static void test_exec_abort(void **state)
{
	struct fixture *f = *state;
	struct run *r;

	C(&f->sc, MULTI, 1);
	R(&f->sc, "+OK\r\n", 2);
	C(&f->sc, "*2\r\n$6\r\nNOSUCH\r\n$1\r\nx\r\n", 3);
	R(&f->sc, "-ERR unknown command 'NOSUCH', with args beginning with: 'x' \r\n", 4);
	C(&f->sc, LPUSH_Q, 5);
	R(&f->sc, "+QUEUED\r\n", 6);
	C(&f->sc, EXEC, 7);
	R(&f->sc, "-EXECABORT Transaction discarded because of previous errors.\r\n", 8);
	r = play(f);
	assert_int_equal(r->n, 4);
	assert_string_equal(obs(r, 1, "NOSUCH", REDIS_FAILED)->reason, "ERR");
	assert_times(&r->obs[1], 3, 4);
	assert_string_equal(obs(r, 2, "EXEC", REDIS_FAILED)->reason, "EXECABORT");
	assert_string_equal(obs(r, 3, "LPUSH", REDIS_ABORTED)->reason, "EXECABORT");
	assert_false(r->obs[3].has_depth);
}

/* EXEC's nil after a WATCH, in RESP2 and RESP3; DISCARD */
static void test_watch_discard(void **state)
{
	static const char *const nils[] = {"*-1\r\n", "_\r\n"};
	struct fixture *f = *state;
	struct run *r;
	size_t i;

	for (i = 0; i < 2; i++) {
		memset(&f->sc, 0, sizeof(f->sc));
		C(&f->sc, "*2\r\n$5\r\nWATCH\r\n$1\r\nk\r\n" MULTI LPUSH_Q EXEC, 1);
		R(&f->sc, "+OK\r\n+OK\r\n+QUEUED\r\n", 2);
		add(&f->sc, 'R', nils[i], strlen(nils[i]), 3);
		C(&f->sc, MULTI LPUSH_Q "*1\r\n$7\r\nDISCARD\r\n", 4);
		R(&f->sc, "+OK\r\n+QUEUED\r\n+OK\r\n", 5);
		r = play(f);
		assert_int_equal(r->n, 7);
		obs(r, 2, "EXEC", REDIS_REPLIED);
		assert_string_equal(obs(r, 3, "LPUSH", REDIS_ABORTED)->reason, "aborted");
		assert_times(&r->obs[3], 1, 3);
		obs(r, 5, "DISCARD", REDIS_REPLIED);
		assert_true(obs(r, 6, "LPUSH", REDIS_DISCARDED)->in_tx);
	}
}

/* ---- not request/reply ---- */

/* RESP2 pub/sub: confirmations, messages and PING's answer while
 * subscribed pair with nothing; once none is left, replies pair again */
static void test_subscribed_resp2(void **state)
{
	struct fixture *f = *state;
	struct run *r;

	C(&f->sc, GET_Q1 "*3\r\n$9\r\nSUBSCRIBE\r\n$3\r\nch1\r\n$3\r\nch2\r\n", 1);
	R(&f->sc, "$-1\r\n*3\r\n$9\r\nsubscribe\r\n$3\r\nch1\r\n:1\r\n", 2);
	R(&f->sc, "*3\r\n$9\r\nsubscribe\r\n$3\r\nch2\r\n:2\r\n", 3);
	R(&f->sc, "*3\r\n$7\r\nmessage\r\n$3\r\nch1\r\n$-1\r\n", 4);
	C(&f->sc, "*1\r\n$4\r\nPING\r\n", 5);
	R(&f->sc, "*2\r\n$4\r\npong\r\n$0\r\n\r\n", 6);
	C(&f->sc, GET_Q1, 7);
	R(&f->sc,
	  "-ERR Can't execute 'get': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / "
	  "QUIT / RESET are allowed in this context\r\n",
	  8);
	C(&f->sc, "*2\r\n$10\r\nSSUBSCRIBE\r\n$2\r\nsh\r\n*1\r\n$11\r\nUNSUBSCRIBE\r\n", 9);
	R(&f->sc, "*3\r\n$10\r\nssubscribe\r\n$2\r\nsh\r\n:1\r\n", 10);
	R(&f->sc,
	  "*3\r\n$11\r\nunsubscribe\r\n$3\r\nch2\r\n:1\r\n*3\r\n$11\r\nunsubscribe\r\n$3\r\n"
	  "ch1\r\n:0\r\n",
	  11);
	C(&f->sc, "*1\r\n$12\r\nSUNSUBSCRIBE\r\n", 12);
	R(&f->sc, "*3\r\n$12\r\nsunsubscribe\r\n$2\r\nsh\r\n:0\r\n", 13);
	C(&f->sc, GET_Q1, 14);
	R(&f->sc, VALUE, 15);
	r = play(f);
	assert_int_equal(r->n, 2);
	assert_cache(obs(r, 0, "GET", REDIS_REPLIED), 0, 1);
	assert_cache(obs(r, 1, "GET", REDIS_REPLIED), 1, 0);
	assert_times(&r->obs[1], 14, 15);
}

/* RESP3 after HELLO 3: pushes (invalidations, confirmations, messages)
 * come between replies and pair with nothing; the connection keeps
 * pairing while subscribed */
static void test_resp3_push(void **state)
{
	struct fixture *f = *state;
	struct run *r;

	C(&f->sc, "*2\r\n$5\r\nHELLO\r\n$1\r\n3\r\n", 1);
	R(&f->sc,
	  "%7\r\n$6\r\nserver\r\n$5\r\nredis\r\n$7\r\nversion\r\n$6\r\n7.0.15\r\n$5\r\nproto\r\n"
	  ":3\r\n$2\r\nid\r\n:7\r\n$4\r\nmode\r\n$10\r\nstandalone\r\n$4\r\nrole\r\n$6\r\n"
	  "master\r\n$7\r\nmodules\r\n*0\r\n",
	  2);
	C(&f->sc,
	  "*3\r\n$6\r\nCLIENT\r\n$8\r\nTRACKING\r\n$2\r\non\r\n*2\r\n$3\r\nGET\r\n$1\r\nk\r\n", 3);
	R(&f->sc, "+OK\r\n$1\r\nv\r\n", 4);
	C(&f->sc, "*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$2\r\nv2\r\n*2\r\n$3\r\nGET\r\n$1\r\nk\r\n", 5);
	R(&f->sc, "+OK\r\n>2\r\n$10\r\ninvalidate\r\n*1\r\n$1\r\nk\r\n$2\r\nv2\r\n", 6);
	C(&f->sc, "*3\r\n$9\r\nSUBSCRIBE\r\n$3\r\nch1\r\n$3\r\nch2\r\n" GET_Q1, 7);
	R(&f->sc,
	  ">3\r\n$9\r\nsubscribe\r\n$3\r\nch1\r\n:1\r\n>3\r\n$9\r\nsubscribe\r\n$3\r\nch2\r\n:2"
	  "\r\n>3\r\n$7\r\nmessage\r\n$3\r\nch1\r\n$2\r\nhi\r\n_\r\n",
	  8);
	C(&f->sc, "*3\r\n$4\r\nMGET\r\n$1\r\nk\r\n$5\r\nnokey\r\n", 9);
	R(&f->sc, "*2\r\n$2\r\nv2\r\n_\r\n", 10);
	r = play(f);
	assert_int_equal(r->n, 7);
	obs(r, 0, "HELLO", REDIS_REPLIED);
	assert_true(f->r[0].c.resp3);
	obs(r, 1, "CLIENT", REDIS_REPLIED);
	assert_cache(obs(r, 2, "GET", REDIS_REPLIED), 1, 0);
	obs(r, 3, "SET", REDIS_REPLIED);
	assert_cache(obs(r, 4, "GET", REDIS_REPLIED), 1, 0);
	assert_times(&r->obs[4], 5, 6);
	assert_cache(obs(r, 5, "GET", REDIS_REPLIED), 0, 1);
	assert_times(&r->obs[5], 7, 8);
	assert_cache(obs(r, 6, "MGET", REDIS_REPLIED), 1, 1);
}

/* CLIENT REPLY OFF and SKIP: the commands they silence get no reply */
static void test_client_reply(void **state)
{
	struct fixture *f = *state;
	struct run *r;

	C(&f->sc, "*3\r\n$6\r\nCLIENT\r\n$5\r\nREPLY\r\n$3\r\nOFF\r\n" LPUSH_Q GET_Q1, 1);
	C(&f->sc, "*3\r\n$6\r\nCLIENT\r\n$5\r\nreply\r\n$2\r\nON\r\n" GET_Q1, 2);
	C(&f->sc, "*3\r\n$6\r\nCLIENT\r\n$5\r\nREPLY\r\n$4\r\nSKIP\r\n" GET_Q1 LPUSH_Q, 3);
	R(&f->sc, "+OK\r\n$-1\r\n:4\r\n", 4);
	r = play(f);
	assert_int_equal(r->n, 3);
	obs(r, 0, "CLIENT", REDIS_REPLIED);
	assert_cache(obs(r, 1, "GET", REDIS_REPLIED), 0, 1);
	assert_depth(obs(r, 2, "LPUSH", REDIS_REPLIED), "q", 4);
}

/* MONITOR's feed pairs with nothing; RESET ends it */
static void test_monitor(void **state)
{
	struct fixture *f = *state;
	struct run *r;

	C(&f->sc, "*1\r\n$7\r\nMONITOR\r\n", 1);
	R(&f->sc, "+OK\r\n+1796359839.465 [0 unix:/tmp/r.sock] \"get\" \"k\"\r\n", 2);
	C(&f->sc, GET_Q1, 3);
	C(&f->sc, "*1\r\n$5\r\nRESET\r\n", 4);
	R(&f->sc, "+RESET\r\n", 5);
	C(&f->sc, GET_Q1, 6);
	R(&f->sc, "$-1\r\n", 7);
	r = play(f);
	assert_int_equal(r->n, 2);
	obs(r, 0, "MONITOR", REDIS_REPLIED);
	assert_cache(obs(r, 1, "GET", REDIS_REPLIED), 0, 1);
}

/* ---- ends and losses ---- */

/* The connection ends with commands waiting, one queued in a MULTI:
 * they end with it */
static void test_connection_end(void **state)
{
	struct fixture *f = *state;
	struct run *r;

	C(&f->sc, LPUSH_J MULTI LPUSH_Q GET_Q1, 1);
	R(&f->sc, ":7\r\n+OK\r\n+QUEUED\r\n", 2);
	r = play(f);
	redis_conn_close(&r->c, 9);
	assert_int_equal(r->n, 4);
	assert_depth(obs(r, 0, "LPUSH", REDIS_REPLIED), "queue:jobs", 7);
	assert_string_equal(obs(r, 2, "LPUSH", REDIS_CONNECTION)->reason, "connection");
	assert_times(&r->obs[2], 1, 9);
	assert_true(r->obs[2].in_tx);
	obs(r, 3, "GET", REDIS_CONNECTION);
	redis_conn_reply_bytes(&r->c, S("+OK\r\n"), 10);
	assert_int_equal(r->n, 4);
}

/* A GET's 100000-byte value, its first 4096 bytes captured: the rest is
 * skipped, the value is a hit, the next reply pairs */
static void test_huge_value(void **state)
{
	struct fixture *f = *state;
	char *big = malloc(4096 + 16);
	struct run *r = &f->r[0];
	size_t n;

	assert_non_null(big);
	n = (size_t)sprintf(big, "$100000\r\n");
	memset(big + n, 'x', 4096 - n);
	run_start(r);
	redis_conn_command_bytes(&r->c, S(GET_Q1 GET_Q1), 1);
	redis_conn_reply_bytes(&r->c, big, 4096, 2);
	assert_true(redis_conn_reply_gap(&r->c, 100000 + n + 2 - 4096, 2));
	redis_conn_reply_bytes(&r->c, S("$-1\r\n"), 3);
	assert_int_equal(r->n, 2);
	assert_cache(obs(r, 0, "GET", REDIS_REPLIED), 1, 0);
	assert_times(&r->obs[0], 1, 2);
	assert_cache(obs(r, 1, "GET", REDIS_REPLIED), 0, 1);

	/* an LPUSH of a large job: its name and queue were captured */
	redis_conn_command_bytes(&r->c, S("*3\r\n$5\r\nLPUSH\r\n$10\r\nqueue:jobs\r\n$70000\r\n{"),
				 4);
	assert_true(redis_conn_command_gap(&r->c, 70000 - 1 + 2));
	redis_conn_reply_bytes(&r->c, S(":12\r\n"), 5);
	assert_depth(obs(r, 2, "LPUSH", REDIS_REPLIED), "queue:jobs", 12);
	assert_times(&r->obs[2], 4, 5);
	free(big);
}

/* Reply bytes lost past a value: what waited is unknown, and nothing is
 * paired again */
static void test_reply_lost(void **state)
{
	struct fixture *f = *state;
	struct run *r = &f->r[0];

	run_start(r);
	redis_conn_command_bytes(&r->c, S(GET_Q1 LPUSH_J GET_Q1), 1);
	redis_conn_reply_bytes(&r->c, S("$10\r\nabc"), 2);
	assert_false(redis_conn_reply_gap(&r->c, 10, 2));
	assert_int_equal(r->n, 3);
	obs(r, 0, "GET", REDIS_UNKNOWN);
	assert_cache(&r->obs[0], 0, 0);
	obs(r, 1, "LPUSH", REDIS_UNKNOWN);
	redis_conn_command_bytes(&r->c, S(GET_Q1), 3);
	redis_conn_reply_bytes(&r->c, S("$-1\r\n$-1\r\n"), 4);
	redis_conn_close(&r->c, 5);
	assert_int_equal(r->n, 3);
}

/* Records lost whole: the same */
static void test_gap(void **state)
{
	struct fixture *f = *state;
	struct run *r = &f->r[0];

	run_start(r);
	redis_conn_command_bytes(&r->c, S(LPUSH_J), 1);
	redis_conn_gap(&r->c, 2);
	redis_conn_reply_bytes(&r->c, S(":1\r\n"), 3);
	assert_int_equal(r->n, 1);
	obs(r, 0, "LPUSH", REDIS_UNKNOWN);
}

/* Commands that cannot be read: those read before pair, nothing after */
static void test_commands_lost(void **state)
{
	struct fixture *f = *state;
	struct run *r;

	C(&f->sc, GET_Q1 "*2\r\n:1\r\n", 1);
	C(&f->sc, GET_Q1, 2);
	R(&f->sc, "$-1\r\n-ERR Protocol error: expected '$', got ':'\r\n", 3);
	R(&f->sc, "$-1\r\n", 4);
	r = play(f);
	assert_int_equal(r->n, 1);
	assert_cache(obs(r, 0, "GET", REDIS_REPLIED), 0, 1);
	assert_true(r->c.cmds_lost);
	assert_true(redis_conn_command_gap(&r->c, 5)); /* no loss of its own */
}

/* Replies that are not RESP */
static void test_garbage_replies(void **state)
{
	struct fixture *f = *state;
	struct run *r;

	C(&f->sc, GET_Q1 LPUSH_J, 1);
	R(&f->sc, "HTTP/1.1 400 Bad Request\r\n\r\n", 2);
	r = play(f);
	assert_int_equal(r->n, 2);
	obs(r, 0, "GET", REDIS_UNKNOWN);
	assert_times(&r->obs[0], 1, 2);
	obs(r, 1, "LPUSH", REDIS_UNKNOWN);
}

/* The queue grows with a pipeline, wrapped around its ring or not */
static void test_queue_grows(void **state)
{
	struct fixture *f = *state;
	struct run *r = &f->r[0];
	char buf[64];
	int i, n;

	run_start(r);
	for (i = 0; i < 30; i++) {
		n = snprintf(buf, sizeof(buf), "*3\r\n$5\r\nLPUSH\r\n$%d\r\nq%d\r\n$1\r\nx\r\n",
			     i < 10 ? 2 : 3, i);
		redis_conn_command_bytes(&r->c, buf, n, 1);
		if (i > 4 && i < 10)
			redis_conn_reply_bytes(&r->c, buf, sprintf(buf, ":%d\r\n", i - 5), 2);
	}
	for (i = 5; i < 30; i++)
		redis_conn_reply_bytes(&r->c, buf, sprintf(buf, ":%d\r\n", i), 3);
	assert_int_equal(r->n, 30);
	for (i = 0; i < 30; i++) {
		sprintf(buf, "q%d", i);
		assert_depth(obs(r, i, "LPUSH", REDIS_REPLIED), buf, i);
	}
}

/* A pipeline deeper than the queue: commands past it pair unreported;
 * a MULTI past it cannot be followed */
static void test_deep_pipeline(void **state)
{
	struct fixture *f = *state;
	struct run *r = &f->r[0];
	size_t i;

	run_start(r);
	for (i = 0; i < REDIS_PIPELINE_MAX + 3; i++)
		redis_conn_command_bytes(&r->c, S(GET_Q1), 1);
	for (i = 0; i < REDIS_PIPELINE_MAX + 3; i++)
		redis_conn_reply_bytes(&r->c, S("$-1\r\n"), 2);
	assert_int_equal(r->n, REDIS_PIPELINE_MAX);
	redis_conn_command_bytes(&r->c, S(LPUSH_J), 3);
	redis_conn_reply_bytes(&r->c, S(":5\r\n"), 4);
	assert_int_equal(r->n, REDIS_PIPELINE_MAX + 1);
	assert_string_equal(r->last.name, "LPUSH");
	assert_depth(&r->last, "queue:jobs", 5);

	for (i = 0; i < REDIS_PIPELINE_MAX; i++)
		redis_conn_command_bytes(&r->c, S(GET_Q1), 5);
	redis_conn_command_bytes(&r->c, S(MULTI), 5);
	assert_int_equal(r->n, 2 * REDIS_PIPELINE_MAX + 1);
	assert_string_equal(r->last.name, "GET");
	assert_int_equal(r->last.outcome, REDIS_UNKNOWN);
}

/* Mutated replies of a transaction: every split agrees, whatever they
 * pair with (make unit-san: nothing read out of bounds) */
static struct fixture *mutated;

static void check_mutation(char *buf, size_t len, unsigned int iter)
{
	struct fixture *f = mutated;

	(void)iter;
	memset(&f->sc, 0, sizeof(f->sc));
	C(&f->sc, MULTI GET_Q1 LPUSH_J EXEC "*1\r\n$4\r\nMGET\r\n", 1);
	add(&f->sc, 'R', buf, len, 2);
	split_feed_whole(&driver, &f->r[0], f->sc.buf, f->sc.len);
	split_check_random(&driver, &f->r[0], &f->r[1], f->sc.buf, f->sc.len);
	redis_conn_close(&f->r[0].c, 3);
}

static void test_mutations(void **state)
{
	static const char alphabet[] = "*$+-:_>%\r\n0123456789QUEUEDOKsubscribe";
	static const char seed[] =
	    "+OK\r\n+QUEUED\r\n+QUEUED\r\n>2\r\n$10\r\ninvalidate\r\n*1\r\n$1\r\nk"
	    "\r\n*2\r\n" VALUE ":3\r\n*3\r\n$-1\r\n_\r\n$1\r\na\r\n";
	char buf[sizeof(seed)];

	mutated = *state;
	split_mutations(buf, seed, sizeof(seed) - 1, alphabet, sizeof(alphabet) - 1, 4, 2000,
			check_mutation);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_cache_and_queue, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_json_get, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_pipeline, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_timestamps, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_timestamps_after_empty_line, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_errors, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_inline, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_multi_exec, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_exec_abort, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_watch_discard, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_subscribed_resp2, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_resp3_push, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_client_reply, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_monitor, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_connection_end, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_huge_value, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_reply_lost, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_gap, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_commands_lost, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_garbage_replies, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_queue_grows, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_deep_pipeline, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_mutations, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
