// SPDX-License-Identifier: MIT
#include <string.h>

#include "proto/redis_conn.h"

void redis_conn_init(struct redis_conn *c, const struct redis_conn_ops *ops, void *ctx)
{
	memset(c, 0, sizeof(*c));
	c->ops = ops;
	c->ctx = ctx;
	resp_init(&c->cmds, true);
	resp_init(&c->replies, false);
}

void redis_conn_free(struct redis_conn *c)
{
	redis_queue_free(&c->queue);
}

static void obs_init(struct redis_obs *o, const struct redis_cmd *cmd, enum redis_outcome outcome,
		     const char *reason, uint64_t ts)
{
	memset(o, 0, sizeof(*o));
	o->name = cmd->name;
	o->cls = cmd->cls;
	o->outcome = outcome;
	o->reason = reason;
	o->in_tx = cmd->in_tx;
	o->t_start = cmd->t_start;
	o->t_end = ts;
	if (cmd->cls == REDIS_CLASS_PRODUCE || cmd->cls == REDIS_CLASS_LENGTH)
		o->key = &cmd->key;
}

static void report(struct redis_conn *c, const struct redis_cmd *cmd, enum redis_outcome outcome,
		   const char *reason, uint64_t ts)
{
	struct redis_obs o;

	obs_init(&o, cmd, outcome, reason, ts);
	c->ops->command(c->ctx, &o);
}

/* What the reply v tells of cmd. */
static void report_reply(struct redis_conn *c, const struct redis_cmd *cmd,
			 const struct resp_value *v, uint64_t ts)
{
	struct redis_obs o;

	obs_init(&o, cmd, REDIS_REPLIED, "", ts);
	if (resp_is_error(v)) {
		o.outcome = REDIS_FAILED;
		o.reason = v->head;
	} else if (cmd->cls == REDIS_CLASS_CACHE_READ && v->type == RESP_ARRAY && !v->nil) {
		o.misses = v->elems_nil; /* MGET, HMGET: per key or field */
		o.hits = v->count - v->elems_nil - v->elems_error;
	} else if (cmd->cls == REDIS_CLASS_CACHE_READ) {
		o.misses = v->nil;
		o.hits = !v->nil;
	} else if (cmd->cls != REDIS_CLASS_OTHER && v->type == RESP_INTEGER) {
		o.has_depth = true;
		o.depth = v->integer;
	}
	c->ops->command(c->ctx, &o);
}

/* Every command not reported yet is, so; none waits any more. */
static void flush(struct redis_conn *c, enum redis_outcome outcome, const char *reason, uint64_t ts)
{
	uint32_t i;

	for (i = 0; i < c->queue.len; i++) {
		const struct redis_cmd *cmd = redis_queue_at(&c->queue, i);

		if (cmd->state != REDIS_CMD_DONE && cmd->kind != REDIS_SUBSCRIBE)
			report(c, cmd, outcome, reason, ts);
	}
	redis_queue_clear(&c->queue);
	c->anon = 0;
}

static void unpair(struct redis_conn *c, uint64_t ts)
{
	flush(c, REDIS_UNKNOWN, "", ts);
	c->mode = REDIS_MODE_UNPAIRED;
}

/* The transaction ends: its commands still queued end so. */
static void end_tx(struct redis_conn *c, enum redis_outcome outcome, const char *reason,
		   uint64_t ts)
{
	uint32_t i;

	for (i = 0; i < c->queue.ntx; i++) {
		const struct redis_cmd *cmd = redis_queue_at(&c->queue, i);

		if (cmd->state == REDIS_CMD_QUEUED)
			report(c, cmd, outcome, reason, ts);
	}
	redis_queue_end_tx(&c->queue);
}

/* ---- replies ------------------------------------------------------------ */

static bool is_simple(const struct resp_value *v, const char *word)
{
	return v->type == RESP_SIMPLE && !strcmp(v->head, word);
}

static bool is_confirmation(const struct resp_value *v)
{
	return !v->nil && redis_kind_of(v->head) == REDIS_SUBSCRIBE;
}

/* RESET, or its reply where commands are not paired: as connected. */
static void reset(struct redis_conn *c, uint64_t ts)
{
	end_tx(c, REDIS_DISCARDED, "", ts);
	c->resp3 = false;
	c->subs = c->ssubs = 0;
	c->mode = REDIS_MODE_PAIRED;
}

/* A RESP2 confirmation counts the subscriptions left; none, and replies
 * are paired again. */
static void subscription(struct redis_conn *c, const struct resp_value *v)
{
	if (!strcmp(v->head, "SSUBSCRIBE") || !strcmp(v->head, "SUNSUBSCRIBE"))
		c->ssubs = v->integer;
	else
		c->subs = v->integer;
	c->mode = c->subs || c->ssubs ? REDIS_MODE_SUBSCRIBED : REDIS_MODE_PAIRED;
}

/* The first confirmation of a RESP2 subscription: what was sent after
 * the command is answered as a subscribed connection is, not paired. */
static void subscribed(struct redis_conn *c, const struct resp_value *v, uint64_t ts)
{
	redis_queue_answered(&c->queue, false);
	flush(c, REDIS_UNKNOWN, "", ts);
	subscription(c, v);
}

/* EXEC's reply, its elements already paired (exec_element): what it did
 * not run was aborted. */
static void exec_reply(struct redis_conn *c, const struct redis_cmd *cmd,
		       const struct resp_value *v, uint64_t ts)
{
	report_reply(c, cmd, v, ts);
	if (resp_is_error(v))
		end_tx(c, REDIS_ABORTED, v->head, ts);
	else if (v->nil)
		end_tx(c, REDIS_ABORTED, "aborted", ts);
	else /* fewer elements than commands queued: not Redis */
		end_tx(c, REDIS_UNKNOWN, "", ts);
}

static void exec_element(struct redis_conn *c, const struct resp_value *v, uint64_t ts)
{
	uint32_t i;

	for (i = 0; i < c->queue.ntx; i++) {
		struct redis_cmd *cmd = redis_queue_at(&c->queue, i);

		if (cmd->state == REDIS_CMD_QUEUED) {
			report_reply(c, cmd, v, ts);
			cmd->state = REDIS_CMD_DONE;
			return;
		}
	}
}

static bool exec_waiting(struct redis_conn *c)
{
	const struct redis_cmd *cmd = redis_queue_waiting(&c->queue);

	return c->mode == REDIS_MODE_PAIRED && cmd && cmd->kind == REDIS_EXEC;
}

/* Replies that change how the next ones come. */
static void pair_special(struct redis_conn *c, struct redis_cmd *cmd, const struct resp_value *v,
			 uint64_t ts)
{
	bool ok = !resp_is_error(v);

	if (cmd->kind == REDIS_SUBSCRIBE && !c->resp3 && v->type == RESP_ARRAY &&
	    is_confirmation(v)) {
		subscribed(c, v, ts);
		return;
	}
	if (cmd->kind == REDIS_EXEC)
		exec_reply(c, cmd, v, ts);
	else
		report_reply(c, cmd, v, ts);
	if (cmd->kind == REDIS_DISCARD)
		end_tx(c, REDIS_DISCARDED, "", ts);
	else if (cmd->kind == REDIS_HELLO && ok && cmd->arg)
		c->resp3 = cmd->arg == 3;
	else if (cmd->kind == REDIS_RESET && ok)
		reset(c, ts);
	redis_queue_answered(&c->queue, false);
	if (cmd->kind == REDIS_MONITOR && ok) {
		flush(c, REDIS_UNKNOWN, "", ts);
		c->mode = REDIS_MODE_MONITOR;
	}
}

static void pair(struct redis_conn *c, const struct resp_value *v, uint64_t ts)
{
	struct redis_cmd *cmd = redis_queue_waiting(&c->queue);

	if (!cmd) { /* a command past q, or a reply to what was not seen */
		if (c->anon)
			c->anon--;
		return;
	}
	if (cmd->in_tx && is_simple(v, "QUEUED")) {
		redis_queue_answered(&c->queue, true);
	} else if (cmd->kind != REDIS_PLAIN) {
		pair_special(c, cmd, v, ts);
	} else {
		report_reply(c, cmd, v, ts);
		redis_queue_answered(&c->queue, false);
	}
}

/* A RESP3 push: a confirmation answers the subscription waiting (one
 * per channel: the first does); messages and invalidations are skipped. */
static void push(struct redis_conn *c, const struct resp_value *v)
{
	const struct redis_cmd *cmd = redis_queue_waiting(&c->queue);

	if (c->mode == REDIS_MODE_PAIRED && cmd && cmd->kind == REDIS_SUBSCRIBE &&
	    is_confirmation(v))
		redis_queue_answered(&c->queue, false);
}

static void on_reply(struct redis_conn *c, const struct resp_value *v, uint64_t ts)
{
	if (v->type == RESP_PUSH) {
		push(c, v);
		return;
	}
	switch (c->mode) {
	case REDIS_MODE_PAIRED:
		pair(c, v, ts);
		break;
	case REDIS_MODE_SUBSCRIBED:
		if (v->type == RESP_ARRAY && is_confirmation(v))
			subscription(c, v);
		else if (is_simple(v, "RESET"))
			reset(c, ts);
		break;
	case REDIS_MODE_MONITOR:
		if (is_simple(v, "RESET"))
			reset(c, ts);
		break;
	default:
		break;
	}
}

static void reply_event(struct redis_conn *c, enum resp_event ev, uint64_t ts)
{
	if (ev == RESP_VALUE)
		on_reply(c, &c->replies.val[0], ts);
	else if (ev == RESP_ELEMENT)
		exec_element(c, &c->replies.val[1], ts);
	else if (ev == RESP_LOST)
		unpair(c, ts);
}

void redis_conn_reply_bytes(struct redis_conn *c, const char *buf, size_t len, uint64_t ts)
{
	enum resp_event ev;
	size_t used;

	if (c->mode == REDIS_MODE_UNPAIRED)
		return;
	do {
		c->replies.elements = exec_waiting(c);
		ev = resp_feed(&c->replies, buf, len, &used);
		if (used) { /* buf may be NULL with len 0: no offset to add */
			buf += used;
			len -= used;
		}
		reply_event(c, ev, ts);
	} while (ev == RESP_VALUE || ev == RESP_ELEMENT);
}

bool redis_conn_reply_gap(struct redis_conn *c, uint64_t n, uint64_t ts)
{
	enum resp_event ev;

	if (c->mode == REDIS_MODE_UNPAIRED)
		return true;
	c->replies.elements = exec_waiting(c);
	ev = resp_skip(&c->replies, n);
	reply_event(c, ev, ts);
	if (ev == RESP_VALUE || ev == RESP_ELEMENT)
		redis_conn_reply_bytes(c, NULL, 0, ts); /* what the string ended */
	return ev != RESP_LOST;
}

/* ---- commands ----------------------------------------------------------- */

static void enqueue(struct redis_conn *c, const struct redis_cmd *cmd)
{
	if (c->anon || !redis_queue_push(&c->queue, cmd)) {
		if (cmd->kind != REDIS_PLAIN || cmd->in_tx)
			unpair(c, cmd->t_start);
		else
			c->anon++;
		return;
	}
}

static void on_command(struct redis_conn *c, const struct resp_value *v)
{
	struct redis_cmd cmd;

	if (!redis_cmd_parse(&cmd, v, c->t_cmd))
		return;
	/* while replies are not paired, none is waited for: a RESET's shows */
	if (redis_cmd_follow(&c->sent, &cmd) && c->mode == REDIS_MODE_PAIRED)
		enqueue(c, &cmd);
}

void redis_conn_command_bytes(struct redis_conn *c, const char *buf, size_t len, uint64_t ts)
{
	enum resp_event ev;
	uint64_t starts;
	size_t used;

	if (c->mode == REDIS_MODE_UNPAIRED || c->cmds_lost)
		return;
	do {
		starts = c->cmds.starts;
		ev = resp_feed(&c->cmds, buf, len, &used);
		if (c->cmds.starts != starts) /* the next command began in this write */
			c->t_cmd = ts;
		if (used) { /* buf may be NULL with len 0: no offset to add */
			buf += used;
			len -= used;
		}
		if (ev == RESP_VALUE)
			on_command(c, &c->cmds.val[0]);
	} while (ev == RESP_VALUE);
	c->cmds_lost = ev == RESP_LOST;
}

bool redis_conn_command_gap(struct redis_conn *c, uint64_t n)
{
	enum resp_event ev;

	if (c->mode == REDIS_MODE_UNPAIRED || c->cmds_lost)
		return true;
	ev = resp_skip(&c->cmds, n);
	if (ev == RESP_VALUE)
		on_command(c, &c->cmds.val[0]);
	c->cmds_lost = ev == RESP_LOST;
	return !c->cmds_lost;
}

/* ---- the connection ----------------------------------------------------- */

void redis_conn_gap(struct redis_conn *c, uint64_t ts)
{
	unpair(c, ts);
}

void redis_conn_close(struct redis_conn *c, uint64_t ts)
{
	flush(c, REDIS_CONNECTION, "connection", ts);
	c->mode = REDIS_MODE_UNPAIRED;
}
