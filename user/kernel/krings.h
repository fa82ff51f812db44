/* SPDX-License-Identifier: MIT */
/*
 * The rings the kernel's records go to (bpf/ring.bpf.h): one per possible
 * CPU when the kernel can number the records (ring buffer dynptrs, 5.19,
 * and the default build), else one; made here and put in the events map
 * of the objects, which user space then reads (kernel/event_rings.h).
 */
#ifndef SSE_KRINGS_H
#define SSE_KRINGS_H

#include <stdbool.h>
#include <stdint.h>

struct bpf_object;

struct krings {
	int *fds;
	unsigned n;
	uint32_t bytes;	 /* each */
	uint64_t wakeup; /* bytes waiting in a ring that wake user space */
	bool per_cpu;	 /* records numbered, merged by number */
};

/* Makes the rings, dividing total bytes among them (at least a page
 * each), and has obj's events map take them, before obj is loaded.
 * 0, or -errno with nothing left taken. */
int krings_create(struct krings *kr, struct bpf_object *obj, uint32_t total, bool per_cpu);

/* Puts the rings in the events map of obj, loaded. */
int krings_plug(const struct krings *kr, const struct bpf_object *obj);

void krings_close(struct krings *kr);

#endif
