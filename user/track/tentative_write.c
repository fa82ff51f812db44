// SPDX-License-Identifier: MIT
#include <stdlib.h>
#include <string.h>

#include "track/tentative_write.h"

static void append(struct tentative_write *h, const struct data_event *ev)
{
	uint32_t n = ev->len;

	if (ev->offset != h->len || h->len >= h->cap)
		return; /* a record lost in between: the rest counts as uncopied */
	if (n > h->cap - h->len)
		n = h->cap - h->len;
	memcpy(h->buf + h->len, ev->data, n);
	h->len += n;
}

int tentative_write_start(struct tentative_write *h, const struct data_event *ev)
{
	tentative_write_drop(h);
	h->cap = ev->ret > 0 && ev->ret < TENTATIVE_WRITE_MAX ? ev->ret : TENTATIVE_WRITE_MAX;
	h->buf = malloc(h->cap);
	if (!h->buf)
		return -1;
	h->ret = ev->ret;
	h->ts = ev->h.ts_ns;
	h->dir = ev->dir;
	append(h, ev);
	return 0;
}

bool tentative_write_continue(struct tentative_write *h, const struct data_event *ev)
{
	if (!h->buf || ev->seg == 0 || !tentative_write_is(ev) || ev->dir != h->dir)
		return false;
	append(h, ev);
	return true;
}

bool tentative_write_retried_by(const struct tentative_write *h, const struct data_event *ev)
{
	uint32_t n = h->len < ev->len ? h->len : ev->len;

	return h->buf && ev->seg == 0 && ev->dir == h->dir && ev->ret >= h->ret && n > 0 &&
	       !(ev->flags & (DATA_F_NOCOPY | DATA_F_EOF | DATA_F_ERROR | DATA_F_CLOSING)) &&
	       !memcmp(ev->data, h->buf, n);
}

void tentative_write_drop(struct tentative_write *h)
{
	free(h->buf);
	memset(h, 0, sizeof(*h));
}
