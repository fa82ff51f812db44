// SPDX-License-Identifier: MIT
/*
 * Inferred circuit breaker (see breaker.h). The ring always keeps the
 * last BREAKER_FAILURES_MAX failure times of the streak, not only the
 * last N, so that a larger N set at run time sees the streak as it is.
 */
#include "llm/breaker.h"

#include <string.h>

void breaker_config_default(struct breaker_config *c)
{
	c->failures = BREAKER_DEFAULT_FAILURES;
	c->window_ns = BREAKER_DEFAULT_WINDOW;
	c->cooldown_ns = BREAKER_DEFAULT_COOLDOWN;
}

void breaker_init(struct breaker *b)
{
	memset(b, 0, sizeof(*b));
}

static unsigned int failures_needed(const struct breaker_config *c)
{
	if (c->failures < 1)
		return 1;
	return c->failures > BREAKER_FAILURES_MAX ? BREAKER_FAILURES_MAX : c->failures;
}

/* Events may come slightly out of order: time never runs backwards here. */
static uint64_t since(uint64_t then, uint64_t now)
{
	return now > then ? now - then : 0;
}

static void forget_streak(struct breaker *b)
{
	b->next = 0;
	b->count = 0;
}

static void open_at(struct breaker *b, uint64_t now)
{
	b->open = true;
	b->opened_at = now;
	forget_streak(b);
}

/* The k-th latest failure of the streak, k = 1 the last one. */
static uint64_t failure_time(const struct breaker *b, unsigned int k)
{
	return b->ring[(b->next + BREAKER_FAILURES_MAX - k) % BREAKER_FAILURES_MAX];
}

static void closed_failure(struct breaker *b, const struct breaker_config *c, uint64_t now)
{
	unsigned int n = failures_needed(c);

	b->ring[b->next] = now;
	b->next = (uint8_t)((b->next + 1) % BREAKER_FAILURES_MAX);
	if (b->count < BREAKER_FAILURES_MAX)
		b->count++;
	if (b->count >= n && since(failure_time(b, n), now) <= c->window_ns)
		open_at(b, now);
}

enum breaker_state breaker_state(const struct breaker *b, const struct breaker_config *c,
				 uint64_t now)
{
	if (!b->open)
		return BREAKER_CLOSED;
	return since(b->opened_at, now) >= c->cooldown_ns ? BREAKER_HALF_OPEN : BREAKER_OPEN;
}

void breaker_record(struct breaker *b, const struct breaker_config *c, bool success, uint64_t now)
{
	switch (breaker_state(b, c, now)) {
	case BREAKER_CLOSED:
		if (success)
			forget_streak(b);
		else
			closed_failure(b, c, now);
		break;
	case BREAKER_HALF_OPEN:
		if (success)
			b->open = false; /* the streak was forgotten on opening */
		else
			open_at(b, now);
		break;
	default: /* BREAKER_OPEN: a real breaker would have rejected the call */
		break;
	}
}
