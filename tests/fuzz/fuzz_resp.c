// SPDX-License-Identifier: MIT
/*
 * proto/resp and proto/redis_conn, a whole client connection to Redis:
 * its writes (commands), reads (replies) and bytes not seen (the
 * capture's cap, records lost), in the order the input gives, then its
 * end. Each write and read is fed whole and in the pieces the split cuts
 * it into (a syscall's bytes reach the parsers in records and segments),
 * with its one timestamp: the commands paired, and all each report says
 * (name, class, outcome, reason, hits, misses, key, depth, transaction,
 * times), must be the same, in the same order, and so must the
 * connection's state after. Then what goes out is bounded and safe: a
 * reply is paired only with a command written before it, hits and misses
 * come of cache reads answered, and the labels metrics_redis makes of the
 * reports (command, reason, queue_name) are printable without a quote or
 * backslash, within their bounds.
 *
 * The input after the split bytes is a script of steps, each a byte
 * (kind: its low two bits; v: the rest, 0-63) and what it says:
 * 0: a write of the next v + 1 bytes; 1: a read of them; 2: v^3 + 1
 * command bytes not seen; 3: v^3 + 1 reply bytes not seen, or with v 0
 * records lost whole.
 */
#include <string.h>

#include "fuzz.h"
#include "metrics/metrics_redis.h"
#include "proto/redis_conn.h"

#define T_STEP	  10 /* timestamps: one step after the other */
#define SERVICE	  "svc"
#define QUEUES	  8
#define LABEL_MAX (3 * RESP_ARG_MAX)

struct run {
	struct redis_conn c;
	struct fuzz_split *split;
	struct redis_metrics *rm; /* the whole run's reports go to the metrics */
	uint64_t ts;
	bool replies; /* the step being fed is a read */
	size_t reports;
	uint64_t log; /* hash of every report */
};

static void hash_str(struct run *r, const char *s)
{
	r->log = fuzz_hash(r->log, s, strlen(s) + 1);
}

static void check_report(const struct run *r, const struct redis_obs *o)
{
	bool answered = o->outcome == REDIS_REPLIED || o->outcome == REDIS_FAILED;

	FUZZ_CHECK(!answered || (o->t_start <= o->t_end && o->t_end == r->ts),
		   "%s answered at %llu, written at %llu, read at %llu", o->name,
		   (unsigned long long)o->t_end, (unsigned long long)o->t_start,
		   (unsigned long long)r->ts);
	FUZZ_CHECK(!(o->hits || o->misses) ||
		       (o->cls == REDIS_CLASS_CACHE_READ && o->outcome == REDIS_REPLIED),
		   "%s (class %d, outcome %d) has %llu hits and %llu misses", o->name, o->cls,
		   o->outcome, (unsigned long long)o->hits, (unsigned long long)o->misses);
	FUZZ_CHECK(!o->has_depth || o->key, "%s has a depth without a key", o->name);
	FUZZ_CHECK(strlen(o->name) < RESP_HEAD_MAX && strlen(o->reason) < RESP_HEAD_MAX,
		   "a name or reason past its bound");
}

static void on_command(void *ctx, const struct redis_obs *o)
{
	struct run *r = ctx;
	uint64_t what[] = {o->cls,   o->outcome, o->hits,    o->misses, o->has_depth,
			   o->depth, o->in_tx,	 o->t_start, o->t_end,	o->key != NULL};

	check_report(r, o);
	r->reports++;
	r->log = fuzz_hash(r->log, what, sizeof(what));
	hash_str(r, o->name);
	hash_str(r, o->reason);
	if (o->key) {
		uint64_t cut = o->key->cut;

		r->log = fuzz_hash(r->log, o->key->s, o->key->len);
		r->log = fuzz_hash(r->log, &cut, sizeof(cut));
	}
	if (r->rm)
		metrics_redis_command(r->rm, SERVICE, o);
}

static const struct redis_conn_ops ops = {.command = on_command};

static void feed(void *arg, const uint8_t *buf, size_t off, size_t len)
{
	struct run *r = arg;
	const char *p = (const char *)buf + off;

	if (r->replies)
		redis_conn_reply_bytes(&r->c, p, len, r->ts);
	else
		redis_conn_command_bytes(&r->c, p, len, r->ts);
}

/* One step at data[0]; returns the bytes it took. */
static size_t step(struct run *r, const uint8_t *data, size_t size)
{
	unsigned int kind = data[0] & 3, v = data[0] >> 2;
	uint64_t unseen = (uint64_t)v * v * v + 1;
	size_t len = v + 1 < size - 1 ? v + 1 : size - 1;

	r->ts += T_STEP;
	switch (kind) {
	case 0:
	case 1:
		r->replies = kind == 1;
		fuzz_feed(r->split, data + 1, len, feed, r);
		return 1 + len;
	case 2:
		redis_conn_command_gap(&r->c, unseen);
		return 1;
	default:
		if (v)
			redis_conn_reply_gap(&r->c, unseen, r->ts);
		else
			redis_conn_gap(&r->c, r->ts);
		return 1;
	}
}

static void run(void *arg, struct fuzz_split *s, const uint8_t *buf, size_t len)
{
	struct run *r = arg;
	struct redis_metrics *rm = r->rm;
	size_t off = 0;

	redis_conn_free(&r->c);
	memset(r, 0, sizeof(*r));
	r->rm = s ? NULL : rm;
	r->split = s;
	r->log = FUZZ_HASH_INIT;
	redis_conn_init(&r->c, &ops, r);
	while (off < len)
		off += step(r, buf + off, len - off);
	r->ts += T_STEP;
	redis_conn_close(&r->c, r->ts);
	r->rm = rm;
}

/* The state the connection ended in, as far as it does not depend on
 * where its last values were cut. */
static uint64_t state_hash(const struct redis_conn *c)
{
	uint64_t what[] = {c->mode, c->resp3, c->cmds_lost, c->queue.len,
			   c->anon, c->subs,  c->ssubs};

	return fuzz_hash(FUZZ_HASH_INIT, what, sizeof(what));
}

static bool label_safe(const char *s)
{
	size_t n = strlen(s);

	return n < LABEL_MAX && fuzz_printable(s, n + 1) && !strpbrk(s, "\"\\");
}

/* Every label value of the Redis families but the service's. */
static void check_labels(const struct registry *reg)
{
	for (const struct family *f = reg->first; f; f = f->next) {
		for (const struct series *s = f->first; s; s = s->list_next) {
			for (size_t i = 1; i < f->nlabels; i++)
				FUZZ_CHECK(label_safe(s->labels[i]),
					   "%s{%s=\"%s\"}: not label-safe", f->name,
					   f->label_names[i], s->labels[i]);
		}
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct run whole, split;
	struct redis_metrics rm;
	struct registry reg;

	registry_init(&reg);
	FUZZ_CHECK(!redis_metrics_init(&rm, &reg, QUEUES), "no memory for the metrics");
	whole.rm = &rm;
	if (fuzz_whole_and_split(data, size, run, &whole, &split)) {
		FUZZ_CHECK(whole.reports == split.reports && whole.log == split.log,
			   "%zu reports whole, %zu split (or what they said differs)",
			   whole.reports, split.reports);
		FUZZ_CHECK(state_hash(&whole.c) == state_hash(&split.c),
			   "the connection ended otherwise whole and split");
		check_labels(&reg);
	}
	whole.rm = NULL;
	redis_conn_free(&whole.c);
	redis_conn_free(&split.c);
	redis_metrics_free(&rm);
	registry_free(&reg);
	return 0;
}
