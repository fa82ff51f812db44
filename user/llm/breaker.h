/* SPDX-License-Identifier: MIT */
/*
 * The circuit breaker a service would have towards one provider, inferred
 * from the outcomes of its upstream calls (sse_circuit_breaker_state):
 *
 *   closed    --N consecutive failures, first to N-th within W-->  open
 *   open      --C passed since opening-->                          half-open
 *   half-open --a success-->  closed      --a failure-->  open (C restarts)
 *   closed    --a success-->  closed, the failure streak forgotten
 *
 * While open, calls are what a real breaker would have rejected: they
 * change nothing, and the cooldown runs from the opening. Time is a
 * monotonic nanosecond count given by the caller, never read here; the
 * state read advances open to half-open by time alone. The configuration
 * is passed to every call, so that a change applies at once (N and W to
 * the next failure, C to the next read). Pure.
 */
#ifndef SSE_BREAKER_H
#define SSE_BREAKER_H

#include <stdbool.h>
#include <stdint.h>

#define BREAKER_FAILURES_MAX 64 /* the largest N: the streak's ring */

#define BREAKER_DEFAULT_FAILURES 5
#define BREAKER_DEFAULT_WINDOW	 (60ULL * 1000000000ULL)
#define BREAKER_DEFAULT_COOLDOWN (60ULL * 1000000000ULL)

/* The values of sse_circuit_breaker_state. */
enum breaker_state {
	BREAKER_CLOSED = 0,
	BREAKER_HALF_OPEN = 1,
	BREAKER_OPEN = 2,
};

struct breaker_config {
	unsigned int failures; /* N, clamped to 1..BREAKER_FAILURES_MAX */
	uint64_t window_ns;    /* W */
	uint64_t cooldown_ns;  /* C */
};

struct breaker {
	bool open;	    /* open or half-open: which one depends on the time */
	uint64_t opened_at; /* when it last opened */
	/* failure times of the current streak, the last BREAKER_FAILURES_MAX */
	uint64_t ring[BREAKER_FAILURES_MAX];
	uint8_t next;  /* slot of the next failure */
	uint8_t count; /* failures in the ring */
};

/* The defaults (docs/metrics.md, README): 5 failures within 60 s, 60 s cooldown. */
void breaker_config_default(struct breaker_config *c);

void breaker_init(struct breaker *b);
void breaker_record(struct breaker *b, const struct breaker_config *c, bool success, uint64_t now);
enum breaker_state breaker_state(const struct breaker *b, const struct breaker_config *c,
				 uint64_t now);

#endif
