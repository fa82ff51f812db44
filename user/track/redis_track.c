// SPDX-License-Identifier: MIT
#include <stdlib.h>

#include "resp_classify.h"
#include "track/collector.h"
#include "track/kernel_sync.h"
#include "track/redis_track.h"

static void on_command(void *ctx, const struct redis_obs *o)
{
	struct conn_entry *e = ctx;

	metrics_redis_command(&e->c->m->redis, e->target->key, o);
}

static const struct redis_conn_ops redis_ops = {
    .command = on_command,
};

bool redis_track_claims(const struct conn_entry *e, const struct data_event *ev)
{
	return e->info.role == ROLE_CLIENT && ev->dir == DIR_OUT && !ev->offset &&
	       resp_looks_like_command(ev->data, ev->len);
}

int redis_track_start(struct conn_entry *e)
{
	e->redis = calloc(1, sizeof(*e->redis));
	if (!e->redis)
		return -1;
	redis_conn_init(&e->redis->conn, &redis_ops, e);
	return 0;
}

void redis_track_free(struct redis_track *t)
{
	if (t)
		redis_conn_free(&t->conn);
	free(t);
}

/*
 * After each step: a connection that lost sync is counted once (why: the
 * step that lost it). Replies still come for the commands queued before
 * commands were lost; once none waits, or replies are lost, nothing more
 * can be paired and the kernel stops copying (PROTO_OTHER).
 */
static void check_sync(struct conn_entry *e, enum redis_unpaired why)
{
	struct redis_track *t = e->redis;
	bool paired = t->conn.mode != REDIS_MODE_UNPAIRED;

	if (t->ended || (paired && !t->conn.cmds_lost))
		return;
	if (!t->unpaired)
		metrics_redis_unpaired(&e->c->m->redis, why);
	t->unpaired = true;
	if (paired && t->conn.queue.len)
		return;
	t->ended = true;
	kernel_set_proto(e->c, e, PROTO_OTHER);
}

void redis_track_bytes(struct conn_entry *e, bool commands, const char *buf, size_t len,
		       uint64_t ts)
{
	if (commands)
		redis_conn_command_bytes(&e->redis->conn, buf, len, ts);
	else
		redis_conn_reply_bytes(&e->redis->conn, buf, len, ts);
	check_sync(e, REDIS_UNPAIRED_PARSE);
}

void redis_track_skip(struct conn_entry *e, bool commands, uint64_t n, uint64_t ts)
{
	if (commands)
		redis_conn_command_gap(&e->redis->conn, n);
	else
		redis_conn_reply_gap(&e->redis->conn, n, ts);
	check_sync(e, REDIS_UNPAIRED_GAP);
}

void redis_track_gap(struct conn_entry *e, uint64_t ts)
{
	redis_conn_gap(&e->redis->conn, ts);
	check_sync(e, REDIS_UNPAIRED_GAP);
}

void redis_track_close(struct conn_entry *e, uint64_t ts)
{
	e->redis->ended = true;
	redis_conn_close(&e->redis->conn, ts);
}
