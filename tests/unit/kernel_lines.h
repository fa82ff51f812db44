/* SPDX-License-Identifier: MIT */
/*
 * The kernel's shared array maps, as plain arrays for unit tests that fake
 * the kmaps ops: every line starts free, and share() of one of them hands
 * the test's own array at the byte offset asked for, as mmap() of the map
 * would.
 */
#ifndef SSE_TEST_KERNEL_LINES_H
#define SSE_TEST_KERNEL_LINES_H

#include <stddef.h>
#include "conn_event.h"
#include "kernel/kmaps.h"
#include "kstream.h"

static struct conn_slot slots[CONN_GATE_SLOTS]; /* conn_slots: the gate */
static struct kstream lines[KLINES];		/* klines */
static struct gate_line gate_lines[GATE_LINES]; /* gate_lines */
static struct sock_line sock_lines[SOCK_LINES]; /* sock_lines */

static inline void *kernel_line(enum kmap map, size_t at)
{
	switch (map) {
	case KMAP_CONN_SLOTS:
		return (char *)slots + at;
	case KMAP_KLINES:
		return (char *)lines + at;
	case KMAP_GATE_LINES:
		return (char *)gate_lines + at;
	case KMAP_SOCK_LINES:
		return (char *)sock_lines + at;
	default:
		return NULL;
	}
}

/* the arrays outlive every test: nothing to unmap */
static inline void kernel_line_unshare(struct kmaps *km, void *at)
{
	(void)km;
	(void)at;
}

#endif
