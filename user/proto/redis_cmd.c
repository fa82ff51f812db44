// SPDX-License-Identifier: MIT
#include <string.h>
#include <strings.h>

#include "proto/redis_cmd.h"

struct known {
	const char *name;
	enum redis_class cls;
	enum redis_kind kind;
};

static const struct known known[] = {
    {"GET", REDIS_CLASS_CACHE_READ, REDIS_PLAIN},
    {"GETEX", REDIS_CLASS_CACHE_READ, REDIS_PLAIN},
    {"HGET", REDIS_CLASS_CACHE_READ, REDIS_PLAIN},
    {"JSON.GET", REDIS_CLASS_CACHE_READ, REDIS_PLAIN},
    {"MGET", REDIS_CLASS_CACHE_READ, REDIS_PLAIN},
    {"HMGET", REDIS_CLASS_CACHE_READ, REDIS_PLAIN},
    {"LPUSH", REDIS_CLASS_PRODUCE, REDIS_PLAIN},
    {"RPUSH", REDIS_CLASS_PRODUCE, REDIS_PLAIN},
    {"XADD", REDIS_CLASS_PRODUCE, REDIS_PLAIN},
    {"XLEN", REDIS_CLASS_LENGTH, REDIS_PLAIN},
    {"MULTI", REDIS_CLASS_OTHER, REDIS_MULTI},
    {"EXEC", REDIS_CLASS_OTHER, REDIS_EXEC},
    {"DISCARD", REDIS_CLASS_OTHER, REDIS_DISCARD},
    {"SUBSCRIBE", REDIS_CLASS_OTHER, REDIS_SUBSCRIBE},
    {"PSUBSCRIBE", REDIS_CLASS_OTHER, REDIS_SUBSCRIBE},
    {"SSUBSCRIBE", REDIS_CLASS_OTHER, REDIS_SUBSCRIBE},
    {"UNSUBSCRIBE", REDIS_CLASS_OTHER, REDIS_SUBSCRIBE},
    {"PUNSUBSCRIBE", REDIS_CLASS_OTHER, REDIS_SUBSCRIBE},
    {"SUNSUBSCRIBE", REDIS_CLASS_OTHER, REDIS_SUBSCRIBE},
    {"HELLO", REDIS_CLASS_OTHER, REDIS_HELLO},
    {"RESET", REDIS_CLASS_OTHER, REDIS_RESET},
    {"MONITOR", REDIS_CLASS_OTHER, REDIS_MONITOR},
    {"CLIENT", REDIS_CLASS_OTHER, REDIS_CLIENT_REPLY}, /* if its subcommand is REPLY */
};

static const struct known *lookup(const char *name)
{
	size_t i;

	for (i = 0; i < sizeof(known) / sizeof(known[0]); i++) {
		if (!strcmp(known[i].name, name))
			return &known[i];
	}
	return NULL;
}

enum redis_kind redis_kind_of(const char *name)
{
	const struct known *k = lookup(name);

	return k ? k->kind : REDIS_PLAIN;
}

static bool arg_is(const struct resp_value *v, int i, const char *s)
{
	return v->count > (uint64_t)i + 1 && v->arg[i].len == strlen(s) &&
	       !strcasecmp(v->arg[i].s, s);
}

/* What a HELLO or CLIENT REPLY asks for. */
static void parse_arg(struct redis_cmd *cmd, const struct resp_value *v)
{
	if (cmd->kind == REDIS_HELLO) {
		cmd->arg = arg_is(v, 0, "2") ? 2 : arg_is(v, 0, "3") ? 3 : 0;
		return;
	}
	if (!arg_is(v, 0, "REPLY") || v->count != 3)
		cmd->kind = REDIS_PLAIN;
	else if (arg_is(v, 1, "OFF"))
		cmd->arg = REDIS_REPLY_OFF;
	else if (arg_is(v, 1, "SKIP"))
		cmd->arg = REDIS_REPLY_SKIP;
	else
		cmd->arg = REDIS_REPLY_ON; /* ON, or an error: a reply comes */
}

bool redis_cmd_parse(struct redis_cmd *cmd, const struct resp_value *v, uint64_t t_start)
{
	const struct known *k = v->head_cut ? NULL : lookup(v->head);

	if (v->count == 0)
		return false;
	memset(cmd, 0, sizeof(*cmd));
	memcpy(cmd->name, v->head, sizeof(cmd->name));
	cmd->t_start = t_start;
	if (!k)
		return true;
	cmd->cls = k->cls;
	cmd->kind = k->kind;
	if (k->cls == REDIS_CLASS_PRODUCE || k->cls == REDIS_CLASS_LENGTH)
		cmd->key = v->arg[0];
	if (k->kind == REDIS_HELLO || k->kind == REDIS_CLIENT_REPLY)
		parse_arg(cmd, v);
	/* a SUBSCRIBE without a channel is answered by an error alone */
	if (k->kind == REDIS_SUBSCRIBE && v->count < 2 && strstr(k->name, "UNSUB") == NULL)
		cmd->kind = REDIS_PLAIN;
	return true;
}

bool redis_cmd_follow(struct redis_sent *s, struct redis_cmd *cmd)
{
	if (cmd->kind == REDIS_EXEC || cmd->kind == REDIS_DISCARD || cmd->kind == REDIS_RESET)
		s->tx_open = false;
	cmd->in_tx = s->tx_open;
	if (cmd->kind == REDIS_MULTI)
		s->tx_open = true;
	if (cmd->kind == REDIS_CLIENT_REPLY) {
		s->reply_mode = cmd->arg;
		return cmd->arg == REDIS_REPLY_ON;
	}
	if (cmd->kind == REDIS_RESET)
		s->reply_mode = REDIS_REPLY_ON;
	if (s->reply_mode != REDIS_REPLY_SKIP)
		return s->reply_mode == REDIS_REPLY_ON;
	s->reply_mode = REDIS_REPLY_ON;
	return false;
}
