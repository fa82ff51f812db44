/* SPDX-License-Identifier: MIT */
/*
 * A connection's bytes to its HTTP or Redis parser. One syscall's bytes come as
 * records with offsets into it and the syscall's full count (conn_event.h):
 * bytes that never came (lost records, the capture cap) are skipped by
 * count, so that the parser keeps its framing where it can and knows it
 * lost sync where it cannot. TLS writes made during the handshake wait
 * for what follows them (tentative_write.h).
 */
#ifndef SSE_CONN_BYTES_H
#define SSE_CONN_BYTES_H

#include <stdbool.h>
#include <stdint.h>

#include "track/conn_table.h"

/* Requests are what a server reads and what a client writes. */
bool conn_carries_requests(const struct conn_entry *e, uint8_t dir);

/* Bytes of one direction that were not seen. */
void conn_skip(struct conn_entry *e, uint8_t dir, uint64_t n, uint64_t ts);

/* One record of a syscall's bytes. */
void conn_feed_bytes(struct conn_entry *e, const struct data_event *ev);

/* The syscall whose records were arriving is over: what never came of it
 * is skipped. */
void conn_finish_syscall(struct conn_entry *e, uint64_t ts);

/* Holds ev when it is part of a tentative write, and settles a held write
 * by what ev shows. Returns true when ev was taken. */
bool conn_hold_tentative(struct conn_entry *e, const struct data_event *ev);

/* Records of e were lost whole before ev (DATA_F_GAP), or before its
 * close record (ev NULL): what was under way is lost, the parser
 * resynchronises (http_conn_gap). */
void conn_gap(struct conn_entry *e, const struct data_event *ev, uint64_t ts);

#endif
