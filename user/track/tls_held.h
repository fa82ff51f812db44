/* SPDX-License-Identifier: MIT */
/*
 * TLS plaintext written by an SSL object before its socket was known (the
 * first write on a connection older than the exporter, DATA_F_HELD
 * records): kept by the SSL object's address until an EV_TLS_LINK record
 * names the connection, then replayed as that connection's records.
 * Bounded: a few writes of at most a few records each; what is dropped
 * unclaimed (evicted or too old) is counted.
 */
#ifndef SSE_TLS_HELD_H
#define SSE_TLS_HELD_H

#include <stddef.h>
#include <stdint.h>

#include "conn_event.h"

#define TLS_HELD_SLOTS	64
#define TLS_HELD_TTL_NS (10ull * 1000000000ull)

struct tls_held_slot {
	uint32_t tgid;
	uint64_t ssl; /* 0: free */
	uint64_t ts;  /* of its first record */
	char *buf;    /* records, each after its size, 8-byte aligned */
	size_t len, cap;
};

struct tls_held {
	struct tls_held_slot slots[TLS_HELD_SLOTS];
	uint64_t dropped; /* held writes never claimed */
};

typedef void (*tls_held_fn)(void *ctx, struct data_event *ev, size_t size);

void tls_held_init(struct tls_held *h);
void tls_held_free(struct tls_held *h);

/* Keeps a DATA_F_HELD record (h.conn_id is the SSL object). */
void tls_held_add(struct tls_held *h, const struct data_event *ev, size_t size);

/* Hands every record held for (tgid, ssl) to fn, in order, as records of
 * connection conn_id on fd, then forgets them. Returns how many. */
size_t tls_held_take(struct tls_held *h, uint32_t tgid, uint64_t ssl, uint64_t conn_id, int32_t fd,
		     tls_held_fn fn, void *ctx);

/* Drops what was held longer than TLS_HELD_TTL_NS before now. */
void tls_held_expire(struct tls_held *h, uint64_t now);

#endif
