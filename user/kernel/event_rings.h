/* SPDX-License-Identifier: MIT */
/*
 * The kernel's records (bpf/ring.bpf.h), in the order they were taken: a
 * ring per CPU merged by the records' sequence numbers, or one ring in
 * its own order. The rings are read in place, as libbpf's reader does,
 * and a record's room is given back once it was handed over; a number
 * not seen yet holds the merge until its record, still being written,
 * is committed.
 */
#ifndef SSE_EVENT_RINGS_H
#define SSE_EVENT_RINGS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* One ring's memory as the kernel lays it out (or a test does). */
struct event_ring {
	unsigned long *consumer;       /* user space's position, in a page of its own */
	const unsigned long *producer; /* the kernel's */
	const uint8_t *data;	       /* mask + 1 bytes, mapped twice in a row */
	uint64_t mask;
	/* the record at the consumer position, read and not handed over */
	const uint8_t *head;
	uint32_t head_len;
	uint64_t head_seq;
};

struct event_rings {
	struct event_ring *ring;
	unsigned n;
	bool numbered;	   /* a ring per CPU: merged by sequence number */
	uint64_t next_seq; /* the number due next */
	int epoll_fd;	   /* readable when a ring asks for a wakeup */
	size_t page;
};

typedef int (*event_handler)(void *ctx, void *data, size_t size);

/* Maps the n rings of fds, of bytes each (numbered: the kernel numbers
 * their records). 0, or -errno with nothing left taken. Closing one never
 * opened (all zero) does nothing. */
int event_rings_open(struct event_rings *er, const int *fds, unsigned n, size_t bytes,
		     bool numbered);
void event_rings_close(struct event_rings *er);

/* Hands every record ready to handler in order; returns how many. Sets
 * *waiting when records are held back for one due before them that is
 * still being written: call again soon. */
int event_rings_consume(struct event_rings *er, event_handler handler, void *ctx, bool *waiting);

#endif
