/* SPDX-License-Identifier: MIT */
/*
 * Streams the kernel counts itself. When a server writes a response head
 * that starts an SSE stream (sse_head.h), the kernel arms the connection:
 * from then on each write of the body goes through sse_scan.h in the
 * kernel, and only the stream's start and end reach user space.
 * User space walks the kstreams map for streams still open (at its
 * periodic sync), reads each one's figures from its line of klines or its
 * entry, and takes the final figures from the end record.
 *
 * The start is the head write's copy, its first record out marked with
 * the framing (data_event.kstart): user space parses the head, and the
 * body bytes of that write are the kernel's. A stream is armed only if
 * its body goes on past that write, and stays armed only if that record
 * goes out: a record of its own would cost a lock and a copy more per
 * stream (docs/design.md).
 * An end record comes before the copy of the write it ended in, if that
 * write is copied: after a complete body, when bytes follow it (user
 * space skips the first rest_off); after a give-up, all of it.
 */
#ifndef SSE_KSTREAM_H
#define SSE_KSTREAM_H

#include "conn_event.h"
#include "sse_scan.h"

#define KSTREAMS_MAX   16384
#define KLINES_BITS    14
#define KLINES	       (1u << KLINES_BITS)
#define KLINE_BUSY     (~0ull) /* a line being made: no connection's */
#define KSTREAM_COPIES 4       /* body writes still copied, for correlation */
#define KSTREAM_STEPS  32768   /* scan steps per write: beyond, the stream is given up */
#define KSTREAM_BYTES  (CAPTURE_SEGS_MAX * CAPTURE_SEG_MAX) /* as the copy path's cap */

/* A stream's state: in its line of klines (kline_index), or in the
 * kstreams hash by connection id when another stream holds that line. */
struct kstream {
	struct sse_scan scan;
	struct sse_stats stats;
	__u64 t_armed;
	__u64 id; /* klines: the connection whose stream it is; 0: free, or KLINE_BUSY */
	__u8 copies_left;
	__u8 pad[3];
	/* bytes of the writes counted here and not copied, mod 2^32 */
	__u32 wire_out;
};

/* Connection ids are handed out in sequence: streams open at once take
 * distinct lines unless KLINES connections came between them. */
static inline __u32 kline_index(__u64 conn_id)
{
	return conn_id & (KLINES - 1);
}

enum kstream_end_reason {
	KSTREAM_COMPLETE = 0,	/* the body ended as framed */
	KSTREAM_FRAMING = 1,	/* the chunk framing broke */
	KSTREAM_UNFOLLOWED = 2, /* a write the kernel could not read whole */
	KSTREAM_REASONS,
};

struct kstream_end_event {
	struct event_hdr h;
	__s32 fd;
	__u32 rest_off; /* KSTREAM_COMPLETE: where the body ended in the write */
	__u8 reason;	/* enum kstream_end_reason */
	/* TCP: the peer had acknowledged every byte written when the body
	 * ended (its FIN came after the body's end, or it still reads) */
	__u8 peer_had_all;
	__u8 pad[2];
	/* bytes of the stream's writes that left no copy, this one's
	 * included unless it is copied (mod 2^32): with the copies', what
	 * the owner wrote, which a client's FIN is placed against */
	__u32 wire_out;
	struct sse_stats stats;
};

#define KSTREAM_LAYOUT(type, size) _Static_assert(sizeof(struct type) == (size), #type " layout")
KSTREAM_LAYOUT(sse_scan, 48);
KSTREAM_LAYOUT(sse_stats, 256);
KSTREAM_LAYOUT(kstream, 48 + 256 + 24);
KSTREAM_LAYOUT(kstream_end_event, 48 + 256);
#undef KSTREAM_LAYOUT

#endif
