/* SPDX-License-Identifier: MIT */
/*
 * One client connection to Redis, rebuilt from its bytes with the
 * kernel's timestamps: commands are queued as they are written
 * (pipelining) and paired in order with the replies read, and each
 * paired command is reported once through redis_conn_ops.
 *
 * MULTI: a queued command's +QUEUED is not its result; EXEC's array is,
 * element by element; DISCARD, EXEC's nil (a WATCH abort) or error drop
 * them. Pub/sub is not request/reply: (P|S)(UN)SUBSCRIBE are answered by
 * one confirmation per channel and never reported; a RESP2 connection is
 * left unpaired while subscribed (its confirmations' counts tell when it
 * is no more), a RESP3 one keeps pairing, its pushes (messages, CLIENT
 * TRACKING invalidations) skipped wherever they come. CLIENT REPLY OFF
 * and SKIP, MONITOR and RESET are followed. Pure: the caller feeds bytes
 * and the connection's end, nothing here does I/O.
 */
#ifndef SSE_REDIS_CONN_H
#define SSE_REDIS_CONN_H

#include <stdbool.h>
#include <stdint.h>

#include "proto/redis_cmd.h"
#include "proto/redis_queue.h"
#include "proto/resp.h"

enum redis_outcome {
	REDIS_REPLIED,	  /* a reply that is not an error */
	REDIS_FAILED,	  /* an error reply: reason is its prefix (ERR, OOM, MOVED) */
	REDIS_ABORTED,	  /* queued in a transaction that EXEC did not run: reason is
			   * EXEC's error prefix (EXECABORT), or "aborted" (WATCH) */
	REDIS_DISCARDED,  /* queued in a transaction that DISCARD dropped */
	REDIS_CONNECTION, /* the connection ended first: reason "connection" */
	REDIS_UNKNOWN,	  /* bytes were not seen, or a subscription came first */
};

struct redis_obs {
	const char *name; /* upper-cased */
	enum redis_class cls;
	enum redis_outcome outcome;
	const char *reason; /* "" when replied */
	uint64_t hits;	    /* a cache read's values */
	uint64_t misses;    /* ... and nils */
	/* a produce's or XLEN's key: the queue's name (bounded, as sent) */
	const struct resp_arg *key;
	bool has_depth; /* an LPUSH's, RPUSH's or XLEN's integer reply */
	int64_t depth;
	bool in_tx;	  /* run by EXEC: t_end is the end of its element */
	uint64_t t_start; /* the write that carried its first byte */
	uint64_t t_end;	  /* the read that carried its reply's last byte, or the end */
};

struct redis_conn_ops {
	void (*command)(void *ctx, const struct redis_obs *o);
};

enum redis_mode {
	REDIS_MODE_PAIRED,
	REDIS_MODE_SUBSCRIBED, /* RESP2 pub/sub: replies are not paired */
	REDIS_MODE_MONITOR,    /* MONITOR's feed: nothing is paired again */
	REDIS_MODE_UNPAIRED,   /* bytes lost, or the connection ended */
};

struct redis_conn {
	const struct redis_conn_ops *ops;
	void *ctx;
	struct resp_parser cmds;
	struct resp_parser replies;
	uint64_t t_cmd; /* the write that carried the first byte of the next command */
	enum redis_mode mode;
	bool resp3;	/* HELLO 3 answered */
	bool cmds_lost; /* commands cannot be read: those queued are paired, then none */
	struct redis_sent sent;
	int64_t subs;  /* RESP2 subscriptions, as the last confirmations counted them */
	int64_t ssubs; /* ... shard ones */
	struct redis_queue queue;
	/* commands after those of the queue, deeper than REDIS_PIPELINE_MAX:
	 * paired with their replies unreported */
	uint64_t anon;
};

void redis_conn_init(struct redis_conn *c, const struct redis_conn_ops *ops, void *ctx);

/* Frees the queue: the connection is as before init. */
void redis_conn_free(struct redis_conn *c);

/* Bytes the client wrote (commands) or read (replies), seen at ts. */
void redis_conn_command_bytes(struct redis_conn *c, const char *buf, size_t len, uint64_t ts);
void redis_conn_reply_bytes(struct redis_conn *c, const char *buf, size_t len, uint64_t ts);

/*
 * n bytes of commands or of replies went by unseen (the capture's cap):
 * inside a bulk string they are skipped. Anywhere else they are lost
 * (false, the caller counts it): lost commands leave those queued paired,
 * then none; lost replies leave the connection unpaired, what waited
 * reported unknown.
 */
bool redis_conn_command_gap(struct redis_conn *c, uint64_t n);
bool redis_conn_reply_gap(struct redis_conn *c, uint64_t n, uint64_t ts);

/* Bytes went by unseen, how many unknown (records lost whole): as above. */
void redis_conn_gap(struct redis_conn *c, uint64_t ts);

/* The connection ended: commands waiting end with REDIS_CONNECTION. */
void redis_conn_close(struct redis_conn *c, uint64_t ts);

#endif
