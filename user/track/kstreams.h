/* SPDX-License-Identifier: MIT */
/*
 * Streams the kernel counts (include/kstream.h), seen from user space: its
 * start and end records, the agreement of its head with user space's
 * parse, its figures read from the kstreams map for streams still open
 * and before a connection's exchanges end, each added to the metrics once.
 */
#ifndef SSE_KSTREAMS_H
#define SSE_KSTREAMS_H

#include "kstream.h"
#include "track/collector.h"

void kstream_on_start(struct collector *c, const struct kstream_start_event *ev);
void kstream_on_end(struct collector *c, const struct kstream_end_event *ev);

/* e's response head was parsed: a stream the kernel armed is followed by
 * it if user space read the head the same way, else given up. */
void kstream_on_response(struct collector *c, struct conn_entry *e, const struct http_exchange *x);

/* A plain copy of e's response side came while the kernel counts: the
 * stream's end record was lost. Ends the exchange as lost. */
void kstream_check_copy(struct collector *c, struct conn_entry *e, const struct data_event *ev);

/* Records of e were lost (DATA_F_GAP): if the kernel no longer counts its
 * stream, the end record was one of them. Ends the exchange as lost. */
void kstream_check_gap(struct collector *c, struct conn_entry *e, uint64_t ts);

/* Before e's exchanges end with the connection: the kernel's last figures. */
void kstream_settle(struct collector *c, struct conn_entry *e);

/* The figures of every stream the kernel counts, read unlocked into the
 * collector's copy (returns how many), then added under the lock. */
size_t kstreams_read(struct collector *c);
void kstreams_apply(struct collector *c, size_t n);

#endif
