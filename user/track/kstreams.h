/* SPDX-License-Identifier: MIT */
/*
 * Streams the kernel counts (include/kstream.h), seen from user space: its
 * start (on the head's copy) and end records, the agreement of its head
 * with user space's parse, its figures read from the kstreams map for
 * streams still open and before a connection's exchanges end, each added
 * to the metrics once.
 */
#ifndef SSE_KSTREAMS_H
#define SSE_KSTREAMS_H

#include "kstream.h"
#include "track/collector.h"

/* The kernel armed a stream with the head that ev copies (ev->kstart):
 * told before ev itself is read. */
void kstream_on_start(struct collector *c, const struct data_event *ev);
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

/* The client left e (its FIN, a reset, EOF read): e's exchange ends as
 * why at ts once the kernel's last figures are in. A write of the body
 * may still be under way: its bytes went out, the client read them and
 * left, and its exit probe, which counts them, has not run yet (or runs
 * now). The kernel's entry stays, and the close waits for a point after
 * which no write of the stream can be: the stream's end record (the
 * kernel ended it), the owner's own failed write or closing
 * (kstream_settle), the connection's end (kstream_close), or the gap that
 * shows the end record lost. True when the kernel does not count e's
 * stream: the caller ends the exchange now. */
bool kstream_client_left(struct conn_entry *e, enum http_end why, uint64_t ts);

/* The same race on the copy path: the record of the client's FIN goes
 * out from the softirq that took it, the copy of a write at the write's
 * exit, which may come after it though the client read the write's bytes
 * and then left. So the kernel tells how many bytes the owner had written
 * when the FIN came (kstream_fin_seen, the FIN's record), each copy how
 * many it wrote (kstream_copy_arrives, every record), and the client's
 * leaving is put off until the copies of those bytes are in: the next
 * call ends the exchange as the client's leaving did, unless the copies
 * ended it first. A stream the kernel counted tells the bytes of its
 * writes that left no copy in its end record (kstream_on_end). Not for
 * TLS (its copies are plaintext, the sequence counts records), a
 * connection older than the exporter, or one whose writes went
 * unrecorded (lost records, a stream whose end record never came): there
 * the leaving ends the exchange when its record comes. */
void kstream_fin_seen(struct conn_entry *e, uint32_t out_seq);
void kstream_copy_arrives(struct conn_entry *e, const struct data_event *ev);

/* The owner's own act on e (its write failed: the client is gone; it ends
 * the TLS session) ends e's exchange as why at ts, after any write of its
 * own: the kernel's last figures, its counting stopped, then a close the
 * client's leaving put off, as that leaving. False when the kernel ended
 * the stream already and its end record is still to come: the client may
 * read the body's end, leave and be seen to before the write's exit probe
 * ends the stream (or the server may end the body after the client
 * left). The caller leaves the connection open: that record's figures
 * come first, then the close as why at ts (a lost record: the gap that
 * shows it). */
bool kstream_settle(struct collector *c, struct conn_entry *e, enum http_end why, uint64_t ts);

/* e's connection ends: the kernel's last figures, its entry gone, then a
 * close put off; an end record still to come would find no connection:
 * the exchange is lost, counted. */
void kstream_close(struct collector *c, struct conn_entry *e, uint64_t ts);

/* Streams whose figures are read, then added, at a time: a scrape waits
 * for no more, and the copy is ~86 KB. */
#define KSTREAMS_BATCH 256

/* Streams whose ids the first room made holds; doubled as needed, and
 * kept (8 bytes a stream). */
#define FIGURES_ROOM0 8

/* The figures of the streams the kernel counts that user space knows
 * of, from the from-th on (from 0: listed now, the lock taken for that
 * only), a batch of them at most, read into the collector's copy
 * (c->kread); returns how many were found. kstreams_apply adds those n,
 * under the lock. */
size_t kstreams_read(struct collector *c, size_t from);
void kstreams_apply(struct collector *c, size_t n, uint64_t now);

/* How long a close put off for the kernel's last figures waits for the
 * server to end, fail or close the stream: a write whose exit probe ran
 * as the client left is counted within microseconds, and a server that
 * neither writes nor closes must not keep the stream active. */
#define KLEFT_GRACE_NS 1000000000ull

/* Every stream the kernel counts, read, then added KSTREAMS_BATCH at a
 * time under the lock; closes put off (for the kernel's figures or for
 * copies) since before now minus KLEFT_GRACE_NS happen. Returns how many
 * were read from their lines: klines' fill, without a second read. */
size_t kstreams_refresh(struct collector *c, uint64_t now);

#endif
