/* SPDX-License-Identifier: MIT */
/*
 * The kernel's stream scanner (include/sse_scan.h) and user space's
 * parsers (proto/chunked.c, proto/sse.c, the metrics' histogram buckets)
 * fed the same writes of a body, each into an outcome that must be the
 * other's: tests/unit/test_sse_scan.c cuts its cases every way,
 * tests/fuzz/fuzz_sse_scan.c as the fuzz data says. The includer sets
 * gap_bounds and size_bounds to the metrics' own.
 */
#ifndef SSE_TEST_SCAN_TWINS_H
#define SSE_TEST_SCAN_TWINS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "metrics/histogram.h"
#include "proto/chunked.h"
#include "proto/sse.h"
#include "sse_scan.h"

struct outcome {
	struct sse_stats st;
	bool done;
	bool broken;
	size_t rest; /* offset in the input just past the body, when done */
};

/* ---- the kernel's way: pieces of a write in a padded buffer ---------- */

struct scanner {
	struct sse_scan s;
	struct outcome o;
};

static void scan_write(struct scanner *k, const char *in, size_t off, size_t len, uint64_t ts)
{
	static __u8 buf[SCAN_PIECE + SCAN_PAD];
	size_t done = 0;

	k->o.st.t_last_write = ts;
	while (done < len && !k->o.done && !k->o.broken) {
		__u32 n = len - done < SCAN_PIECE ? len - done : SCAN_PIECE, pos = 0;

		memset(buf, 0x55, sizeof(buf)); /* what follows the piece is stale */
		memcpy(buf, in + off + done, n);
		while (pos < n && !sse_scan_done(&k->s) && !sse_scan_broken(&k->s))
			pos = sse_scan_step(&k->s, &k->o.st, buf, pos, n, ts);
		done += pos;
		k->o.done = sse_scan_done(&k->s);
		k->o.broken = sse_scan_broken(&k->s);
		if (k->o.done)
			k->o.rest = off + done;
	}
}

/* ---- user space's way: the chunked decoder, the splitter, the buckets --- */

/* the metrics' buckets, where user space counts */
static const double *gap_bounds, *size_bounds;

struct reference {
	struct chunked_decoder d;
	struct sse_splitter s;
	__u8 framing;
	uint64_t ts;
	uint64_t t_fed; /* of the last bytes fed: a late event's, as http_conn.c has it */
	struct outcome o;
};

static void ref_event(void *ctx, const struct sse_event *ev)
{
	struct reference *r = ctx;
	struct sse_stats *st = &r->o.st;
	uint64_t ts = ev->late ? r->t_fed : r->ts;

	st->event_bytes += ev->size;
	if (ev->kind == SSE_EVENT_HEARTBEAT)
		st->heartbeats++;
	if (ev->kind != SSE_EVENT_DATA)
		return;
	st->data_events++;
	st->size[histogram_bucket(size_bounds, 6, (double)ev->size)]++;
	st->size_sum += ev->size;
	if (st->t_first_data) {
		st->gap[histogram_bucket(gap_bounds, 15, (ts - st->t_last_event) / 1e9)]++;
		st->gap_sum_ns += ts - st->t_last_event;
	} else {
		st->t_first_data = ts;
	}
	st->t_last_event = ts;
}

static void ref_data(void *ctx, const char *buf, size_t len)
{
	struct reference *r = ctx;

	r->o.st.body_bytes += len;
	if (!len)
		return;
	sse_feed(&r->s, buf, len, ref_event, r);
	r->t_fed = r->ts;
}

static void ref_write(struct reference *r, const char *in, size_t off, size_t len, uint64_t ts)
{
	size_t used;

	r->ts = ts;
	r->o.st.t_last_write = ts;
	if (r->framing == SCAN_CLOSE) {
		ref_data(r, in + off, len);
		return;
	}
	switch (chunked_feed(&r->d, in + off, len, &used, ref_data, r)) {
	case CHUNKED_DONE:
		r->o.done = true;
		r->o.rest = off + used;
		break;
	case CHUNKED_ERROR:
		r->o.broken = true;
		break;
	case CHUNKED_MORE:
		break;
	}
}

/* Both at the start of a body framed so. */
static void twins_start(struct scanner *k, struct reference *r, __u8 framing)
{
	memset(k, 0, sizeof(*k));
	memset(r, 0, sizeof(*r));
	sse_scan_init(&k->s, framing);
	chunked_init(&r->d);
	sse_splitter_init(&r->s, NULL);
	r->framing = framing;
}

/* The body ends, by its framing or as a close or a give-up ends it: an
 * event held for an LF counts. */
static void twins_end(struct scanner *k, struct reference *r)
{
	sse_scan_release(&k->s, &k->o.st);
	sse_finish(&r->s, ref_event, r);
}

#endif
