/* SPDX-License-Identifier: MIT */
/*
 * What a Redis command is, from its summary (proto/resp.h): to the
 * metrics, a cache read, a queue produce or a queue's length; to the
 * pairing of commands with replies, whether it changes how replies come
 * (transactions, pub/sub, protocol, CLIENT REPLY, MONITOR). Pure.
 */
#ifndef SSE_REDIS_CMD_H
#define SSE_REDIS_CMD_H

#include <stdbool.h>
#include <stdint.h>

#include "proto/resp.h"

enum redis_class {
	REDIS_CLASS_OTHER,
	/* GET, GETEX, HGET, JSON.GET: a nil reply is a miss; MGET, HMGET:
	 * each nil element is */
	REDIS_CLASS_CACHE_READ,
	REDIS_CLASS_PRODUCE, /* LPUSH, RPUSH, XADD */
	/*
	 * XLEN: XADD answers with the entry's id, not the stream's length,
	 * so a stream's depth is what XLEN answers on that key; LLEN is not
	 * read (LPUSH and RPUSH answer with the list's length).
	 */
	REDIS_CLASS_LENGTH,
};

enum redis_kind {
	REDIS_PLAIN,
	REDIS_MULTI,
	REDIS_EXEC,
	REDIS_DISCARD,
	/* (P|S)(UN)SUBSCRIBE: answered by confirmations (RESP2 arrays,
	 * RESP3 pushes), one per channel, not by a reply */
	REDIS_SUBSCRIBE,
	REDIS_HELLO,
	REDIS_RESET,
	REDIS_MONITOR,
	REDIS_CLIENT_REPLY,
};

enum redis_reply_mode {
	REDIS_REPLY_ON,
	REDIS_REPLY_OFF,  /* no replies until CLIENT REPLY ON */
	REDIS_REPLY_SKIP, /* none for the next command */
};

/* One command sent, waiting for its reply. */
struct redis_cmd {
	char name[RESP_HEAD_MAX]; /* upper-cased, cut to size */
	struct resp_arg key;	  /* its first argument (a queue's name) */
	uint8_t cls;		  /* enum redis_class */
	uint8_t kind;		  /* enum redis_kind */
	uint8_t arg;		  /* HELLO: the protocol asked (0: none); CLIENT REPLY: the mode */
	uint8_t state;		  /* the pairing's (redis_conn.c) */
	bool in_tx;		  /* sent between MULTI and EXEC or DISCARD */
	uint64_t t_start;	  /* the write that carried its first byte */
};

/* What the commands sent set up for those after them. */
struct redis_sent {
	bool tx_open;	    /* MULTI sent, EXEC or DISCARD not yet */
	uint8_t reply_mode; /* CLIENT REPLY: enum redis_reply_mode */
};

/*
 * cmd is sent after those s followed: whether it is in a MULTI, and
 * whether a reply comes (CLIENT REPLY OFF and SKIP silence commands, and
 * themselves). cmd's effect on those after it is added to s.
 */
bool redis_cmd_follow(struct redis_sent *s, struct redis_cmd *cmd);

/* The command v sent at t_start. False when it is none (an empty array,
 * which Redis skips). */
bool redis_cmd_parse(struct redis_cmd *cmd, const struct resp_value *v, uint64_t t_start);

/* The kind of the command named name (upper-cased): a pub/sub
 * confirmation's head is the name of the command it confirms. */
enum redis_kind redis_kind_of(const char *name);

#endif
