/* SPDX-License-Identifier: MIT */
/*
 * A TLS write made before the handshake finished (DATA_F_TENTATIVE). Such
 * a call may fail, and then the caller makes it again with the same bytes
 * first (Node retries its pending write at every turn of the handshake),
 * or it completes the handshake and its bytes go out. What follows on the
 * connection tells which: a write in the same direction that begins with
 * the same bytes is its retry (the held one failed); anything else shows
 * it was sent. Until then its bytes wait here. Pure.
 */
#ifndef SSE_TENTATIVE_WRITE_H
#define SSE_TENTATIVE_WRITE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "conn_event.h"

#define TENTATIVE_WRITE_MAX 65536 /* the TLS hooks copy no more per call */

struct tentative_write {
	char *buf;	   /* NULL while nothing is held */
	uint32_t len, cap; /* cap: the call's bytes, up to TENTATIVE_WRITE_MAX */
	int64_t ret;	   /* the call's byte count: bytes past len were not copied */
	uint64_t ts;
	uint8_t dir;
};

/* Whether ev is a record of a tentative write (the first one starts it). */
static inline bool tentative_write_is(const struct data_event *ev)
{
	return ev->flags & DATA_F_TENTATIVE;
}

/* Starts holding the write whose first record is ev; -1: out of memory. */
int tentative_write_start(struct tentative_write *h, const struct data_event *ev);

/* True when ev is a later record of the held write (and keeps it). */
bool tentative_write_continue(struct tentative_write *h, const struct data_event *ev);

/* True when ev is the first record of a write that repeats the held one. */
bool tentative_write_retried_by(const struct tentative_write *h, const struct data_event *ev);

void tentative_write_drop(struct tentative_write *h);

#endif
