/* SPDX-License-Identifier: MIT */
/*
 * The rings the kernel's records go to (bpf/ring.bpf.h): one per possible
 * CPU when the kernel can number the records (ring buffer dynptrs, 5.19,
 * and the default build) and the bytes allow, CPUs sharing rings where
 * they do not (krings_count), else one; made here and put in the events
 * map of the objects, which user space then reads (kernel/event_rings.h).
 */
#ifndef SSE_KRINGS_H
#define SSE_KRINGS_H

#include <stdbool.h>
#include <stdint.h>

#include "conn_event.h"

struct bpf_object;

struct krings {
	int *fds;
	unsigned n;	 /* rings */
	unsigned slots;	 /* entries of the events map: CPU i writes to ring i % n */
	uint32_t bytes;	 /* each */
	uint64_t wakeup; /* bytes waiting in a ring that wake user space */
	bool per_cpu;	 /* records numbered, merged by number */
};

/* The least a ring of many gets: one syscall's whole copy
 * (CAPTURE_SEGS_MAX records of CAPTURE_SEG_MAX bytes, their headers
 * beside), a request body of an LLM call with a long prompt, must fit in
 * the ring of the CPU it was made on. */
#define KRINGS_MIN_BYTES (2u * CAPTURE_SEGS_MAX * CAPTURE_SEG_MAX)

/* How many rings cpus CPUs share: one each while total bytes give each
 * KRINGS_MIN_BYTES, else as many as do, at least one; the CPUs then take
 * turns at a ring (CPU i at ring i % rings). */
static inline unsigned krings_count(uint32_t total, unsigned cpus)
{
	unsigned most = total / KRINGS_MIN_BYTES;
	unsigned n = cpus < most ? cpus : most;

	return n ? n : 1;
}

/* Each of n rings' size: the largest power of two that n of fit in
 * total, at least a page (the kernel's least ring buffer). */
static inline uint32_t krings_share(uint32_t total, unsigned n, uint32_t page)
{
	uint32_t each = total;

	while ((uint64_t)each * n > total && each > page)
		each /= 2;
	return each;
}

/* Makes the rings, dividing total bytes among them (krings_count,
 * krings_share), and has obj's events map take them, before obj is
 * loaded. 0, or -errno with nothing left taken. */
int krings_create(struct krings *kr, struct bpf_object *obj, uint32_t total, bool per_cpu);

/* Puts the rings in the events map of obj, loaded. */
int krings_plug(const struct krings *kr, const struct bpf_object *obj);

void krings_close(struct krings *kr);

#endif
