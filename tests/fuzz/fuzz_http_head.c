// SPDX-License-Identifier: MIT
/*
 * proto/http_head: a request or response head (the input's first byte
 * after the split says which), fed whole and in pieces, must give the
 * same result, the same head length and the same fields; the fields kept
 * are NUL-terminated within their arrays.
 */
#include <string.h>

#include "fuzz.h"
#include "proto/http_head.h"

struct run {
	struct http_head h;
	enum http_head_result res;
	size_t used; /* bytes of the input that the head took */
};

static void feed(void *arg, const uint8_t *buf, size_t off, size_t len)
{
	struct run *r = arg;
	size_t used = 0;

	if (r->res != HTTP_HEAD_NEED_MORE)
		return;
	r->res = http_head_feed(&r->h, (const char *)buf + off, len, &used);
	r->used = off + used;
}

static void start(struct run *r, enum http_head_kind kind)
{
	memset(r, 0, sizeof(*r));
	http_head_init(&r->h, kind);
	r->res = HTTP_HEAD_NEED_MORE;
}

static void same(const struct run *a, const struct run *b)
{
	const struct http_head *x = &a->h, *y = &b->h;

	FUZZ_CHECK(a->res == b->res, "result %d whole, %d split", a->res, b->res);
	FUZZ_CHECK(a->res == HTTP_HEAD_NEED_MORE || a->used == b->used,
		   "head of %zu bytes whole, %zu split", a->used, b->used);
	if (a->res != HTTP_HEAD_DONE)
		return;
	FUZZ_CHECK(!strcmp(x->method, y->method) && !strcmp(x->target, y->target) &&
		       !strcmp(x->host, y->host),
		   "method, target or host differ: [%s %s %s] [%s %s %s]", x->method, x->target,
		   x->host, y->method, y->target, y->host);
	FUZZ_CHECK(x->version_minor == y->version_minor && x->status == y->status &&
		       x->content_length == y->content_length && x->chunked == y->chunked &&
		       x->has_content_type == y->has_content_type &&
		       x->event_stream == y->event_stream && x->json == y->json &&
		       x->accept_event_stream == y->accept_event_stream &&
		       x->connection_close == y->connection_close &&
		       x->connection_keep_alive == y->connection_keep_alive &&
		       x->upgrade == y->upgrade && x->coding == y->coding,
		   "fields differ whole and split");
	FUZZ_CHECK(http_body_mode(x, false) == http_body_mode(y, false) &&
		       http_body_mode(x, true) == http_body_mode(y, true),
		   "body modes differ");
}

static void bounds(const struct run *r, size_t len)
{
	FUZZ_CHECK(r->used <= len, "used %zu of %zu bytes", r->used, len);
	if (r->res != HTTP_HEAD_DONE)
		return;
	FUZZ_CHECK(memchr(r->h.method, 0, sizeof(r->h.method)) &&
		       memchr(r->h.target, 0, sizeof(r->h.target)) &&
		       memchr(r->h.host, 0, sizeof(r->h.host)),
		   "a field is not NUL-terminated");
	FUZZ_CHECK(r->h.kind == HTTP_HEAD_REQUEST || (r->h.status >= 100 && r->h.status <= 999),
		   "status %d", r->h.status);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct run whole, split;
	struct fuzz_split s;
	enum http_head_kind kind;
	uint8_t mode;

	if (!fuzz_split_take_mode(&s, &data, &size, &mode))
		return 0;
	kind = mode & 1 ? HTTP_HEAD_RESPONSE : HTTP_HEAD_REQUEST;
	start(&whole, kind);
	fuzz_feed(NULL, data, size, feed, &whole);
	start(&split, kind);
	fuzz_feed(&s, data, size, feed, &split);
	bounds(&whole, size);
	same(&whole, &split);
	return 0;
}
