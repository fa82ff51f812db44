/* SPDX-License-Identifier: MIT */
/*
 * The commands of one Redis connection waiting for their replies, in the
 * order sent: a ring that grows with the pipeline. Those a MULTI holds
 * stay at its front once answered (+QUEUED) until EXEC, DISCARD or RESET
 * ends the transaction; the next reply answers the first command after
 * them. Pure.
 */
#ifndef SSE_REDIS_QUEUE_H
#define SSE_REDIS_QUEUE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "proto/redis_cmd.h"

/*
 * Commands waiting: the ring grows (from 16) up to this. The pairing
 * (redis_conn.h) follows deeper pipelines without keeping their commands.
 */
#define REDIS_PIPELINE_MAX 4096

/* struct redis_cmd.state */
enum redis_cmd_state {
	REDIS_CMD_WAITING, /* for its reply */
	REDIS_CMD_QUEUED,  /* +QUEUED in a MULTI: for EXEC's */
	REDIS_CMD_DONE,	   /* reported, kept only until the transaction before it ends */
};

struct redis_queue {
	struct redis_cmd *q; /* a ring of cap */
	size_t cap;
	uint32_t first; /* the oldest command */
	uint32_t ntx;	/* ... and those after it a MULTI holds, answered */
	uint32_t len;
};

/* Frees the ring: the queue is empty, as zeroed. */
void redis_queue_free(struct redis_queue *qu);

/* The i-th command from the oldest, i < len. */
struct redis_cmd *redis_queue_at(struct redis_queue *qu, uint32_t i);

/* The command the next reply answers, or NULL. */
struct redis_cmd *redis_queue_waiting(struct redis_queue *qu);

/* The waiting command was answered: it is done, or if the MULTI holds it
 * (+QUEUED) it joins those at the front. */
void redis_queue_answered(struct redis_queue *qu, bool queued);

/* The transaction ended: the commands the MULTI held leave. */
void redis_queue_end_tx(struct redis_queue *qu);

/* Every command leaves. */
void redis_queue_clear(struct redis_queue *qu);

/* Adds cmd last; false when the queue is at REDIS_PIPELINE_MAX or memory
 * ran out. */
bool redis_queue_push(struct redis_queue *qu, const struct redis_cmd *cmd);

#endif
