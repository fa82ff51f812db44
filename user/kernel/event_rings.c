// SPDX-License-Identifier: MIT
#include "kernel/event_rings.h"

#include <errno.h>
#include <linux/bpf.h> /* the ring's record header */
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <unistd.h>

#include "conn_event.h"

enum head {
	HEAD_NONE, /* nothing committed past the consumer position */
	HEAD_BUSY, /* a record reserved there, not committed yet */
	HEAD_READY,
};

/* A record's room in the ring: its header and length, 8-byte aligned. */
static uint64_t record_room(uint32_t len)
{
	len &= ~(BPF_RINGBUF_BUSY_BIT | BPF_RINGBUF_DISCARD_BIT);
	return ((uint64_t)len + BPF_RINGBUF_HDR_SZ + 7) / 8 * 8;
}

static void give_back(struct event_ring *r, uint64_t pos, uint32_t len)
{
	__atomic_store_n(r->consumer, pos + record_room(len), __ATOMIC_RELEASE);
}

/* Reads the record at r's consumer position into r->head; discarded
 * records are given back on the way. */
static enum head ring_peek(struct event_ring *r)
{
	for (;;) {
		uint64_t pos = __atomic_load_n(r->consumer, __ATOMIC_ACQUIRE);
		const uint8_t *hdr = r->data + (pos & r->mask);
		struct event_hdr h = {0};
		uint32_t len;

		if (pos >= __atomic_load_n(r->producer, __ATOMIC_ACQUIRE))
			return HEAD_NONE;
		len = __atomic_load_n((const uint32_t *)hdr, __ATOMIC_ACQUIRE);
		if (len & BPF_RINGBUF_BUSY_BIT)
			return HEAD_BUSY;
		if (len & BPF_RINGBUF_DISCARD_BIT) {
			give_back(r, pos, len);
			continue;
		}
		r->head = hdr + BPF_RINGBUF_HDR_SZ;
		r->head_len = len;
		memcpy(&h, r->head, len < sizeof(h) ? len : sizeof(h));
		r->head_seq = h.seq;
		return HEAD_READY;
	}
}

/* The ring whose head has the lowest number, -1 if none has a head.
 * refresh: rings without a head are read again (*busy: one of them has
 * a record being written). */
static int next_ring(struct event_rings *er, bool refresh, bool *busy)
{
	int best = -1;

	for (unsigned i = 0; i < er->n; i++) {
		struct event_ring *r = &er->ring[i];

		if (!r->head && refresh && ring_peek(r) == HEAD_BUSY)
			*busy = true;
		if (r->head && (best < 0 || r->head_seq < er->ring[best].head_seq))
			best = (int)i;
	}
	return best;
}

/* Whether ring i's head is the record due: a lower number than the one
 * due (a record that came too late) does not wait either. */
static bool due(const struct event_rings *er, int i)
{
	return !er->numbered || er->ring[i].head_seq <= er->next_seq;
}

static int hand_over(struct event_rings *er, int i, event_handler handler, void *ctx)
{
	struct event_ring *r = &er->ring[i];
	uint64_t pos = __atomic_load_n(r->consumer, __ATOMIC_RELAXED);
	int err = handler(ctx, (void *)r->head, r->head_len);

	if (er->numbered && r->head_seq >= er->next_seq)
		er->next_seq = r->head_seq + 1;
	give_back(r, pos, r->head_len);
	r->head = NULL;
	return err;
}

/*
 * A number missing while another ring holds a higher one: its record is
 * reserved in some ring (numbers are taken after the reservation), so
 * that ring shows a record being written, once read again after the
 * higher number was seen. If none does after a second look, no record
 * will come with that number (committed as discarded): it is passed.
 */
int event_rings_consume(struct event_rings *er, event_handler handler, void *ctx, bool *waiting)
{
	bool looked_again = false;
	int handed = 0;

	*waiting = false;
	for (;;) {
		bool busy = false;
		int i = next_ring(er, false, &busy);

		if (i < 0 || !due(er, i)) {
			i = next_ring(er, true, &busy);
			if (i < 0)
				break; /* a record being written is read next time */
			if (!due(er, i)) {
				if (busy) {
					*waiting = true;
					break;
				}
				if (!looked_again) {
					looked_again = true;
					continue;
				}
			}
		}
		looked_again = false;
		if (hand_over(er, i, handler, ctx))
			break;
		handed++;
	}
	return handed;
}

static void ring_unmap(struct event_ring *r, size_t page)
{
	if (r->consumer)
		munmap(r->consumer, page);
	if (r->producer)
		munmap((void *)r->producer, page + 2 * (r->mask + 1));
}

static int ring_map(struct event_ring *r, int fd, size_t bytes, size_t page)
{
	void *p;

	r->mask = bytes - 1;
	p = mmap(NULL, page, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (p == MAP_FAILED)
		return -errno;
	r->consumer = p;
	/* the data twice in a row: a record that wraps reads as one */
	p = mmap(NULL, page + 2 * bytes, PROT_READ, MAP_SHARED, fd, (off_t)page);
	if (p == MAP_FAILED) {
		int err = -errno;

		munmap(r->consumer, page);
		r->consumer = NULL;
		return err;
	}
	r->producer = p;
	r->data = (const uint8_t *)p + page;
	return 0;
}

static int watch(int epoll_fd, int fd)
{
	struct epoll_event ev = {.events = EPOLLIN};

	return epoll_ctl(epoll_fd, EPOLL_CTL_ADD, fd, &ev) ? -errno : 0;
}

int event_rings_open(struct event_rings *er, const int *fds, unsigned n, size_t bytes,
		     bool numbered)
{
	int err = 0;

	memset(er, 0, sizeof(*er));
	er->page = (size_t)sysconf(_SC_PAGESIZE);
	er->numbered = numbered;
	er->ring = calloc(n, sizeof(*er->ring));
	if (!er->ring)
		return -ENOMEM;
	er->epoll_fd = epoll_create1(EPOLL_CLOEXEC);
	if (er->epoll_fd < 0) {
		err = -errno;
		goto fail;
	}
	for (; er->n < n; er->n++) {
		err = ring_map(&er->ring[er->n], fds[er->n], bytes, er->page);
		if (!err)
			err = watch(er->epoll_fd, fds[er->n]);
		if (err) {
			er->n++; /* released with the others */
			goto fail;
		}
	}
	return 0;
fail:
	event_rings_close(er);
	return err;
}

void event_rings_close(struct event_rings *er)
{
	if (!er->ring)
		return; /* never opened */
	for (unsigned i = 0; i < er->n; i++)
		ring_unmap(&er->ring[i], er->page);
	free(er->ring);
	if (er->epoll_fd >= 0)
		close(er->epoll_fd);
	memset(er, 0, sizeof(*er));
}
