// SPDX-License-Identifier: MIT
#include <stdlib.h>
#include <string.h>

#include "track/tls_held.h"

/* Records are kept one after another, each behind its size and padded,
 * so that every one stays aligned for struct data_event. */
#define REC_HEAD	sizeof(uint64_t)
#define REC_SPACE(size) (REC_HEAD + (((size) + 7) & ~(size_t)7))
/* A held write is one SSL_write: the kernel copies at most 16 records. */
#define SLOT_BYTES_MAX (20 * REC_SPACE(sizeof(struct data_event)))

void tls_held_init(struct tls_held *h)
{
	memset(h, 0, sizeof(*h));
}

static void slot_clear(struct tls_held_slot *s)
{
	free(s->buf);
	memset(s, 0, sizeof(*s));
}

static void slot_drop(struct tls_held *h, struct tls_held_slot *s)
{
	h->dropped++;
	slot_clear(s);
}

void tls_held_free(struct tls_held *h)
{
	for (size_t i = 0; i < TLS_HELD_SLOTS; i++)
		slot_clear(&h->slots[i]);
}

/* The slot of (tgid, ssl), else a free one, else the oldest, emptied. */
static struct tls_held_slot *slot_for(struct tls_held *h, uint32_t tgid, uint64_t ssl)
{
	struct tls_held_slot *free_slot = NULL, *oldest = &h->slots[0];

	for (size_t i = 0; i < TLS_HELD_SLOTS; i++) {
		struct tls_held_slot *s = &h->slots[i];

		if (s->ssl == ssl && s->tgid == tgid)
			return s;
		if (!s->ssl && !free_slot)
			free_slot = s;
		if (s->ts < oldest->ts)
			oldest = s;
	}
	if (free_slot)
		return free_slot;
	slot_drop(h, oldest);
	return oldest;
}

void tls_held_add(struct tls_held *h, const struct data_event *ev, size_t size)
{
	struct tls_held_slot *s = slot_for(h, ev->h.tgid, ev->h.conn_id);
	uint64_t n = size;
	size_t need;

	if (!s->ssl) {
		s->tgid = ev->h.tgid;
		s->ssl = ev->h.conn_id;
		s->ts = ev->h.ts_ns;
	}
	need = s->len + REC_SPACE(size);
	if (need > SLOT_BYTES_MAX) {
		slot_drop(h, s);
		return;
	}
	if (need > s->cap) {
		size_t cap = need * 2 < SLOT_BYTES_MAX ? need * 2 : SLOT_BYTES_MAX;
		char *p = realloc(s->buf, cap);

		if (!p) {
			slot_drop(h, s);
			return;
		}
		s->buf = p;
		s->cap = cap;
	}
	memcpy(s->buf + s->len, &n, REC_HEAD);
	memcpy(s->buf + s->len + REC_HEAD, ev, size);
	s->len = need;
}

size_t tls_held_take(struct tls_held *h, uint32_t tgid, uint64_t ssl, uint64_t conn_id, int32_t fd,
		     tls_held_fn fn, void *ctx)
{
	size_t count = 0;

	for (size_t i = 0; i < TLS_HELD_SLOTS; i++) {
		struct tls_held_slot *s = &h->slots[i];

		if (s->ssl != ssl || s->tgid != tgid)
			continue;
		for (size_t off = 0; off + REC_HEAD <= s->len; count++) {
			struct data_event *ev;
			uint64_t n;

			memcpy(&n, s->buf + off, REC_HEAD);
			ev = (struct data_event *)(s->buf + off + REC_HEAD);
			ev->h.conn_id = conn_id;
			ev->fd = fd;
			ev->flags &= ~DATA_F_HELD;
			fn(ctx, ev, n);
			off += REC_SPACE(n);
		}
		slot_clear(s);
	}
	return count;
}

void tls_held_expire(struct tls_held *h, uint64_t now)
{
	for (size_t i = 0; i < TLS_HELD_SLOTS; i++) {
		struct tls_held_slot *s = &h->slots[i];

		if (s->ssl && now > s->ts + TLS_HELD_TTL_NS) /* now may be older */
			slot_drop(h, s);
	}
}
