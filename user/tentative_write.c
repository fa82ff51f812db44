// SPDX-License-Identifier: MIT
#include <stdlib.h>
#include <string.h>

#include "tentative_write.h"

static void append(struct held_write *h, const struct data_event *ev)
{
	uint32_t n = ev->len;

	if (ev->offset != h->len || h->len >= HELD_WRITE_MAX)
		return; /* a record lost in between: the rest counts as uncopied */
	if (n > HELD_WRITE_MAX - h->len)
		n = HELD_WRITE_MAX - h->len;
	memcpy(h->buf + h->len, ev->data, n);
	h->len += n;
}

int held_write_start(struct held_write *h, const struct data_event *ev)
{
	held_write_drop(h);
	h->buf = malloc(HELD_WRITE_MAX);
	if (!h->buf)
		return -1;
	h->ret = ev->ret;
	h->ts = ev->h.ts_ns;
	h->dir = ev->dir;
	append(h, ev);
	return 0;
}

bool held_write_continue(struct held_write *h, const struct data_event *ev)
{
	if (!h->buf || ev->seg == 0 || !held_write_is_tentative(ev) || ev->dir != h->dir)
		return false;
	append(h, ev);
	return true;
}

bool held_write_retried_by(const struct held_write *h, const struct data_event *ev)
{
	uint32_t n = h->len < ev->len ? h->len : ev->len;

	return h->buf && ev->seg == 0 && ev->dir == h->dir && ev->ret >= h->ret && n > 0 &&
	       !(ev->flags & (DATA_F_NOCOPY | DATA_F_EOF | DATA_F_ERROR | DATA_F_CLOSING)) &&
	       !memcmp(ev->data, h->buf, n);
}

void held_write_drop(struct held_write *h)
{
	free(h->buf);
	memset(h, 0, sizeof(*h));
}
