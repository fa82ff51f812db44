// SPDX-License-Identifier: MIT
#include <stdlib.h>
#include <string.h>

#include "core/array.h"
#include "proto/redis_queue.h"

void redis_queue_free(struct redis_queue *qu)
{
	free(qu->q);
	memset(qu, 0, sizeof(*qu));
}

struct redis_cmd *redis_queue_at(struct redis_queue *qu, uint32_t i)
{
	return &qu->q[(qu->first + i) % qu->cap];
}

struct redis_cmd *redis_queue_waiting(struct redis_queue *qu)
{
	return qu->ntx < qu->len ? redis_queue_at(qu, qu->ntx) : NULL;
}

static void pop(struct redis_queue *qu)
{
	qu->first = (qu->first + 1) % qu->cap;
	qu->len--;
	qu->ntx--;
}

/* A command done stays while one before it waits for EXEC: the commands
 * a MULTI holds are together at the front. */
void redis_queue_answered(struct redis_queue *qu, bool queued)
{
	redis_queue_at(qu, qu->ntx)->state = queued ? REDIS_CMD_QUEUED : REDIS_CMD_DONE;
	qu->ntx++;
	while (qu->ntx && redis_queue_at(qu, 0)->state == REDIS_CMD_DONE)
		pop(qu);
}

void redis_queue_end_tx(struct redis_queue *qu)
{
	while (qu->ntx)
		pop(qu);
}

void redis_queue_clear(struct redis_queue *qu)
{
	qu->len = qu->ntx = 0;
}

/* Room for one more command: a full ring doubles, its part wrapped
 * around to the start moved after the rest. */
static bool grow(struct redis_queue *qu)
{
	size_t cap = qu->cap;
	void *q = qu->q;

	if (qu->len < qu->cap)
		return true;
	if (cap == REDIS_PIPELINE_MAX || array_reserve(&q, &cap, cap + 1, sizeof(*qu->q)))
		return false;
	qu->q = q;
	memcpy(qu->q + qu->cap, qu->q, qu->first * sizeof(*qu->q));
	qu->cap = cap;
	return true;
}

bool redis_queue_push(struct redis_queue *qu, const struct redis_cmd *cmd)
{
	if (!grow(qu))
		return false;
	*redis_queue_at(qu, qu->len) = *cmd;
	qu->len++;
	return true;
}
