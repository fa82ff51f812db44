// SPDX-License-Identifier: MIT
#include <stdlib.h>
#include <string.h>

#include "core/ascii.h"
#include "proto/http_conn.h"
#include "proto/path_norm.h"

static void copy_str(char *dst, size_t size, const char *src)
{
	size_t n = strnlen(src, size - 1);

	memcpy(dst, src, n);
	dst[n] = '\0';
}

static bool starts_line_end(const char *buf)
{
	return buf[0] == '\r' || buf[0] == '\n';
}

void http_conn_init(struct http_conn *c, const struct http_conn_ops *ops, void *ctx,
		    uint64_t t_accept)
{
	memset(c, 0, sizeof(*c));
	c->ops = ops;
	c->ctx = ctx;
	c->t_accept = t_accept;
}

/* False when memory ran out. */
static bool response_head_start(struct http_conn *c)
{
	c->resp_head = malloc(sizeof(*c->resp_head));
	if (c->resp_head)
		http_head_init(c->resp_head, HTTP_HEAD_RESPONSE);
	return c->resp_head;
}

static void response_head_end(struct http_conn *c)
{
	free(c->resp_head);
	c->resp_head = NULL;
}

static void queue_free(struct http_conn *c)
{
	free(c->queue);
	c->queue = NULL;
	c->q_head = c->q_len = c->q_cap = 0;
}

static void reading_end(struct http_conn *c)
{
	free(c->reading);
	c->reading = NULL;
}

void http_conn_count_inflations(struct http_conn *c, unsigned int *inflating)
{
	c->inflating = inflating;
}

static void inflate_end(struct http_conn *c)
{
	if (!c->inflate)
		return;
	body_inflate_end(c->inflate);
	free(c->inflate);
	c->inflate = NULL;
	if (c->inflating)
		(*c->inflating)--;
}

static enum http_undecoded inflate_start(struct http_conn *c)
{
	if (c->inflating && *c->inflating >= HTTP_INFLATING_MAX)
		return HTTP_UNDECODED_LIMIT;
	c->inflate = malloc(sizeof(*c->inflate));
	if (!c->inflate)
		return HTTP_UNDECODED_LIMIT;
	body_inflate_init_stream(c->inflate, c->x.coding == HTTP_CODING_DEFLATE);
	if (c->inflating)
		(*c->inflating)++;
	return HTTP_DECODED;
}

/* An event stream in gzip or deflate is split once inflated; one in
 * another coding is not split, and says why. */
static void inflate_begin(struct http_conn *c)
{
	inflate_end(c);
	switch (c->x.coding) {
	case HTTP_CODING_IDENTITY:
		return;
	case HTTP_CODING_GZIP:
	case HTTP_CODING_DEFLATE:
		c->x.undecoded = inflate_start(c);
		return;
	case HTTP_CODING_BR:
		c->x.undecoded = HTTP_UNDECODED_BR;
		return;
	default:
		c->x.undecoded = HTTP_UNDECODED_CODING;
	}
}

void http_conn_release(struct http_conn *c)
{
	reading_end(c);
	response_head_end(c);
	queue_free(c);
	inflate_end(c);
}

/* A request whose body is still being read is under way too: a client
 * that leaves then went away mid-request. */
bool http_conn_busy(const struct http_conn *c)
{
	return c->in_exchange || c->q_len > 0 || c->req_state == SIDE_BODY;
}

/* ---- exchanges ---------------------------------------------------------- */

/* An exchange whose request lost bytes has an unknown outcome, whatever
 * its answer. */
static enum http_end end_reason(const struct http_exchange *x, enum http_end why)
{
	return x->has_request && x->req.missed && !http_end_lost(why) ? HTTP_END_LOST_BYTES : why;
}

static void exchange_begin(struct http_conn *c, uint64_t ts)
{
	memset(&c->x, 0, sizeof(c->x));
	if (c->q_len) {
		c->x.req = c->queue[c->q_head];
		c->x.has_request = true;
		c->q_head = (c->q_head + 1) % c->q_cap;
		if (!--c->q_len)
			queue_free(c);
	}
	c->x.t_accept = c->t_accept;
	c->x.t_headers = ts;
	c->x.t_last_write = ts;
	c->in_exchange = true;
	sse_splitter_init(&c->sse, NULL);
	chunked_init(&c->resp_chunks);
}

/* The oldest request waiting for its answer ends without one. */
static void end_unanswered(struct http_conn *c, enum http_end why, uint64_t ts)
{
	exchange_begin(c, ts);
	c->in_exchange = false;
	c->ops->end(c->ctx, &c->x, end_reason(&c->x, why), ts);
}

/* ---- requests ---------------------------------------------------------- */

/* False when memory ran out. */
static bool request_begin(struct http_conn *c, uint64_t ts)
{
	struct http_reading *r = malloc(sizeof(*r));

	if (!r)
		return false;
	memset(r, 0, sizeof(*r));
	http_head_init(&r->head, HTTP_HEAD_REQUEST);
	json_scan_init(&r->json);
	r->req.t_first = ts;
	r->req.first_of_conn = !c->seen_request;
	c->seen_request = true;
	c->reading = r;
	return true;
}

static void request_head_done(struct http_conn *c)
{
	struct http_reading *r = c->reading;
	const struct http_head *h = &r->head;

	copy_str(r->req.method, sizeof(r->req.method), h->method);
	copy_str(r->req.host, sizeof(r->req.host), h->host);
	path_normalise(h->target, strnlen(h->target, sizeof(h->target)), r->req.path,
		       sizeof(r->req.path));
	r->req.wants_stream = h->accept_event_stream;
	r->body = http_body_mode(h, false);
	r->left = h->content_length > 0 ? (uint64_t)h->content_length : 0;
	chunked_init(&r->chunks);
}

/* Room for one more request in the queue: doubled when full, up to
 * HTTP_PIPELINE_MAX. */
static bool queue_grow(struct http_conn *c)
{
	unsigned int cap = c->q_cap ? 2 * c->q_cap : 1, i;
	struct http_request *q;

	if (c->q_len < c->q_cap)
		return true;
	if (c->q_cap == HTTP_PIPELINE_MAX)
		return false;
	q = malloc(cap * sizeof(*q));
	if (!q)
		return false;
	for (i = 0; i < c->q_len; i++)
		q[i] = c->queue[(c->q_head + i) % c->q_cap];
	free(c->queue);
	c->queue = q;
	c->q_head = 0;
	c->q_cap = cap;
	return true;
}

/* The request read joins those waiting for their answers. A client
 * pipelining deeper than we queue (or out of memory): the oldest is
 * dropped unanswered rather than misattributed; with none queued, the
 * answer comes without its request. */
static void request_queue(struct http_conn *c)
{
	if (!queue_grow(c)) {
		if (!c->q_len)
			return;
		c->q_head = (c->q_head + 1) % c->q_cap;
		c->q_len--;
	}
	c->queue[(c->q_head + c->q_len) % c->q_cap] = c->reading->req;
	c->q_len++;
}

static void request_done(struct http_conn *c, uint64_t ts)
{
	struct http_reading *r = c->reading;

	r->req.t_last = ts;
	r->req.complete = true;
	if (r->json.model_found)
		copy_str(r->req.model, sizeof(r->req.model), r->json.model);
	if (r->json.stream == 1)
		r->req.wants_stream = true;
	/* a request that lost bytes still waits, and no answer is under way:
	 * its answer went with those bytes */
	while (!c->in_exchange && c->q_len && c->queue[c->q_head].missed)
		end_unanswered(c, HTTP_END_LOST_BYTES, ts);
	request_queue(c);
	reading_end(c);
	c->req_state = SIDE_HEAD;
}

/* A request whose bytes went missing while it was read, queued as it is
 * for its answer to pair with (http_conn_gap). Before its start line was
 * read nothing is known of it: its answer comes without a request. */
static void request_missed(struct http_conn *c)
{
	if (c->req_state == SIDE_HEAD && !c->reading->head.start_line_done) {
		reading_end(c);
		return;
	}
	if (c->req_state == SIDE_HEAD)
		request_head_done(c);
	c->reading->req.missed = true;
	request_queue(c);
	reading_end(c);
}

static void scan_body(void *ctx, const char *data, size_t len)
{
	struct http_reading *r = ((struct http_conn *)ctx)->reading;

	if (r->json_seen >= JSON_SCAN_LIMIT)
		return;
	if (len > JSON_SCAN_LIMIT - r->json_seen)
		len = JSON_SCAN_LIMIT - r->json_seen;
	json_scan_feed(&r->json, data, len);
	r->json_seen += len;
}

/* A head over HTTP_HEAD_MAX after a valid request line is still a request
 * the server may answer: it is queued with what the start line told, so
 * the answer is counted; where its body ends is unknown, so the inbound
 * side waits for the next request line. Garbage queues nothing. */
static void request_head_failed(struct http_conn *c, uint64_t ts)
{
	if (c->reading->head.start_line_done) {
		request_head_done(c);
		request_done(c, ts);
	}
	reading_end(c);
	c->req_state = SIDE_DEAD;
}

/* Consumes request head bytes; returns bytes used or 0 when done for
 * this buffer. */
static size_t request_head(struct http_conn *c, const char *buf, size_t len, uint64_t ts)
{
	size_t used = 0;

	if (!c->reading) {
		if (starts_line_end(buf))
			return 1; /* RFC 9112 2.2: ignore line ends before a request */
		if (!request_begin(c, ts)) {
			c->req_state = SIDE_DEAD;
			return len;
		}
	}
	switch (http_head_feed(&c->reading->head, buf, len, &used)) {
	case HTTP_HEAD_NEED_MORE:
		return len;
	case HTTP_HEAD_ERROR:
		request_head_failed(c, ts);
		return len;
	case HTTP_HEAD_DONE:
		break;
	}
	request_head_done(c);
	if (c->reading->body == HTTP_BODY_NONE)
		request_done(c, ts);
	else
		c->req_state = SIDE_BODY;
	return used;
}

static size_t request_body(struct http_conn *c, const char *buf, size_t len, uint64_t ts)
{
	struct http_reading *r = c->reading;
	size_t used = len;

	if (r->body == HTTP_BODY_CHUNKED) {
		switch (chunked_feed(&r->chunks, buf, len, &used, scan_body, c)) {
		case CHUNKED_MORE:
			break;
		case CHUNKED_DONE:
			request_done(c, ts);
			break;
		case CHUNKED_ERROR:
			c->req_state = SIDE_DEAD;
			break;
		}
		return used;
	}
	if (used > r->left)
		used = r->left;
	scan_body(c, buf, used);
	r->left -= used;
	if (r->left == 0)
		request_done(c, ts);
	return used;
}

typedef size_t (*side_fn)(struct http_conn *c, const char *buf, size_t len, uint64_t ts);

/* Bytes of one side, to its head or body parser until used up or the
 * side is lost. */
static void side_feed(struct http_conn *c, const enum http_side_state *state, side_fn head,
		      side_fn body, const char *buf, size_t len, uint64_t ts)
{
	while (len > 0 && *state != SIDE_DEAD) {
		size_t used = *state == SIDE_HEAD ? head(c, buf, len, ts) : body(c, buf, len, ts);

		buf += used;
		len -= used;
	}
}

void http_conn_request_bytes(struct http_conn *c, const char *buf, size_t len, uint64_t ts)
{
	/* After lost bytes, a read that starts a request resynchronises. */
	if (c->req_state == SIDE_DEAD && !c->upgraded && http_looks_like_request(buf, len)) {
		reading_end(c);
		c->req_state = SIDE_HEAD;
	}
	side_feed(c, &c->req_state, request_head, request_body, buf, len, ts);
}

void http_conn_request_gap(struct http_conn *c, uint64_t len, uint64_t ts)
{
	struct http_reading *r = c->reading;

	if (c->req_state == SIDE_BODY && r->body == HTTP_BODY_LENGTH && len <= r->left) {
		r->left -= len;
		if (r->left == 0)
			request_done(c, ts);
		return;
	}
	c->req_state = SIDE_DEAD;
}

/* ---- responses --------------------------------------------------------- */

static void on_sse_event(void *ctx, const struct sse_event *ev)
{
	struct http_conn *c = ctx;
	struct http_exchange *x = &c->x;
	uint64_t prev = 0, ts = ev->late ? c->t_fed : c->now;

	if (x->coding == HTTP_CODING_IDENTITY) /* else its size is the inflated one */
		x->event_bytes += ev->size;
	if (ev->kind == SSE_EVENT_DATA) {
		prev = x->t_last_event;
		x->data_events++;
		x->t_last_event = ts;
		if (!x->t_first_data)
			x->t_first_data = ts;
	} else if (ev->kind == SSE_EVENT_HEARTBEAT) {
		x->heartbeats++;
	}
	c->ops->event(c->ctx, x, ev, ts, prev);
}

static void inflated(void *ctx, const char *buf, size_t len)
{
	struct http_conn *c = ctx;

	sse_feed(&c->sse, buf, len, on_sse_event, c);
}

/* Bytes of an event stream's body, as they came on the wire. */
static void sse_bytes(struct http_conn *c, const char *data, size_t len)
{
	if (c->inflate) {
		if (body_inflate_feed(c->inflate, data, len, inflated, c) != BODY_INFLATE_MORE) {
			c->x.undecoded = HTTP_UNDECODED_INFLATE;
			inflate_end(c);
		}
	} else if (c->x.coding == HTTP_CODING_IDENTITY) {
		sse_feed(&c->sse, data, len, on_sse_event, c);
	}
	c->t_fed = c->now;
}

/* The response is known for what it is: its callback can go, and a
 * stream's first bytes, held while they could not tell, are split. */
static void sniff_done(struct http_conn *c, bool sse, size_t held)
{
	c->sniffing = false;
	c->x.sse = sse;
	c->ops->response(c->ctx, &c->x);
	if (sse && held)
		sse_bytes(c, c->sniffed, held);
}

/* The next body bytes while sniffing: the decision waits for bytes that
 * tell (sse_body_start), so that it does not depend on where the writes
 * were cut; the bytes it waited on are kept. */
static void sniff(struct http_conn *c, const char *data, size_t len)
{
	size_t held = c->sniffed_len, room = sizeof(c->sniffed) - held;
	enum sse_start start;

	memcpy(c->sniffed + held, data, len < room ? len : room);
	c->sniffed_len += len < room ? len : room;
	start = sse_body_start(c->sniffed, c->sniffed_len);
	if (start != SSE_START_MAYBE || c->sniffed_len == sizeof(c->sniffed))
		sniff_done(c, start != SSE_START_NO, held);
}

/* No more body bytes to tell (its end, or bytes lost): what came decides,
 * a field's name cut short as a stream. */
static void sniff_end(struct http_conn *c)
{
	size_t held = c->sniffed_len;

	sniff_done(c, held && sse_body_start(c->sniffed, held) != SSE_START_NO, held);
}

static void exchange_end(struct http_conn *c, enum http_end why, uint64_t ts)
{
	if (c->sniffing)
		sniff_end(c);
	if (!c->x.kernel) /* the kernel's figures have its last event */
		sse_finish(&c->sse, on_sse_event, c);
	inflate_end(c);
	c->in_exchange = false;
	c->ops->end(c->ctx, &c->x, end_reason(&c->x, why), ts);
	if (c->resp_state != SIDE_DEAD)
		c->resp_state = SIDE_HEAD;
}

static void body_data(void *ctx, const char *data, size_t len)
{
	struct http_conn *c = ctx;

	if (c->sniffing && len)
		sniff(c, data, len);
	c->x.body_bytes += len;
	if (c->ops->body)
		c->ops->body(c->ctx, &c->x, data, len);
	if (c->x.sse && len)
		sse_bytes(c, data, len);
}

static enum http_body_mode kernel_body(uint8_t framing)
{
	return framing == SCAN_CHUNKED ? HTTP_BODY_CHUNKED : HTTP_BODY_UNTIL_CLOSE;
}

static void response_head_done(struct http_conn *c, uint64_t ts)
{
	const struct http_head *h = c->resp_head;
	int status = h->status;
	bool head_req;

	if (status >= 100 && status < 200 && status != 101) {
		response_head_end(c); /* interim */
		return;
	}
	exchange_begin(c, ts);
	c->x.responded = true;
	c->x.status = status;
	c->x.sse = h->event_stream;
	c->x.coding = h->coding;
	head_req = c->x.has_request && !strcmp(c->x.req.method, "HEAD");
	c->resp_body = http_body_mode(h, head_req);
	c->resp_left = h->content_length > 0 ? (uint64_t)h->content_length : 0;
	/* Some servers stream without any Content-Type (SDKs read them
	 * anyway): asked for a stream, the body's first bytes decide. */
	c->sniffing = !h->has_content_type && c->x.has_request && c->x.req.wants_stream &&
		      status / 100 == 2 && c->resp_body != HTTP_BODY_NONE;
	c->sniffed_len = 0;
	c->x.kernel = c->kernel_next && c->x.sse && c->resp_body == kernel_body(c->kernel_next);
	c->kernel_next = 0;
	if (c->x.sse && !c->x.kernel)
		inflate_begin(c);
	if (!c->sniffing)
		c->ops->response(c->ctx, &c->x);
	response_head_end(c);
	if (status == 101) { /* another protocol from now on */
		c->upgraded = true;
		c->req_state = c->resp_state = SIDE_DEAD;
		exchange_end(c, HTTP_END_COMPLETE, ts);
	} else if (c->resp_body == HTTP_BODY_NONE) {
		exchange_end(c, HTTP_END_COMPLETE, ts);
	} else {
		c->resp_state = SIDE_BODY;
	}
}

static size_t response_head(struct http_conn *c, const char *buf, size_t len, uint64_t ts)
{
	size_t used = 0;

	if (!c->resp_head) {
		if (starts_line_end(buf))
			return 1;
		if (!response_head_start(c)) {
			c->resp_state = SIDE_DEAD;
			return len;
		}
	}
	switch (http_head_feed(c->resp_head, buf, len, &used)) {
	case HTTP_HEAD_NEED_MORE:
		return len;
	case HTTP_HEAD_ERROR:
		response_head_end(c);
		c->resp_state = SIDE_DEAD;
		return len;
	case HTTP_HEAD_DONE:
		break;
	}
	response_head_done(c, ts);
	return used;
}

/* Copies of a body the kernel counts: their events for correlation, no
 * end (the kernel's end record tells), every byte taken. */
static size_t kernel_copy(struct http_conn *c, const char *buf, size_t len)
{
	size_t used;

	if (c->resp_body != HTTP_BODY_CHUNKED)
		body_data(c, buf, len);
	else if (chunked_feed(&c->resp_chunks, buf, len, &used, body_data, c) != CHUNKED_MORE)
		chunked_init(&c->resp_chunks); /* stays ended: nothing more is fed */
	return len;
}

static size_t response_body(struct http_conn *c, const char *buf, size_t len, uint64_t ts)
{
	size_t used = len;

	if (c->x.kernel)
		return kernel_copy(c, buf, len);

	switch (c->resp_body) {
	case HTTP_BODY_CHUNKED:
		switch (chunked_feed(&c->resp_chunks, buf, len, &used, body_data, c)) {
		case CHUNKED_MORE:
			break;
		case CHUNKED_DONE:
			exchange_end(c, HTTP_END_COMPLETE, ts);
			break;
		case CHUNKED_ERROR:
			c->resp_state = SIDE_DEAD;
			exchange_end(c, HTTP_END_LOST_FRAMING, ts);
			break;
		}
		return used;
	case HTTP_BODY_LENGTH:
		if (used > c->resp_left)
			used = c->resp_left;
		body_data(c, buf, used);
		c->resp_left -= used;
		if (c->resp_left == 0)
			exchange_end(c, HTTP_END_COMPLETE, ts);
		return used;
	default: /* until close */
		body_data(c, buf, len);
		return len;
	}
}

void http_conn_response_bytes(struct http_conn *c, const char *buf, size_t len, uint64_t ts)
{
	c->now = ts;
	if (c->resp_state == SIDE_DEAD && !c->upgraded && http_looks_like_response(buf, len)) {
		response_head_end(c);
		c->resp_state = SIDE_HEAD;
	}
	if (c->in_exchange)
		c->x.t_last_write = ts;
	side_feed(c, &c->resp_state, response_head, response_body, buf, len, ts);
}

void http_conn_response_gap(struct http_conn *c, uint64_t len, uint64_t ts)
{
	if (c->in_exchange)
		c->x.t_last_write = ts;
	if (http_conn_kernel_active(c))
		return; /* a copy's bytes missed: the kernel counted them */
	if (c->sniffing)
		sniff_end(c); /* the bytes that would tell are gone */
	if (c->resp_state == SIDE_BODY && !c->x.sse) {
		if (c->resp_body == HTTP_BODY_UNTIL_CLOSE) {
			c->x.body_bytes += len;
			return;
		}
		if (c->resp_body == HTTP_BODY_LENGTH && len <= c->resp_left) {
			c->x.body_bytes += len;
			c->resp_left -= len;
			if (c->resp_left == 0)
				exchange_end(c, HTTP_END_COMPLETE, ts);
			return;
		}
	}
	c->resp_state = SIDE_DEAD;
	if (c->in_exchange)
		exchange_end(c, HTTP_END_LOST_BYTES, ts);
}

void http_conn_gap(struct http_conn *c, uint64_t ts)
{
	if (c->upgraded)
		return; /* another protocol, or over */
	if (!http_conn_kernel_active(c)) {
		c->resp_state = SIDE_DEAD;
		if (c->in_exchange)
			exchange_end(c, HTTP_END_LOST_BYTES, ts);
		else if (c->q_len)
			end_unanswered(c, HTTP_END_LOST_BYTES, ts);
	}
	if (c->req_state == SIDE_BODY || (c->req_state == SIDE_HEAD && c->reading))
		request_missed(c);
	c->req_state = SIDE_DEAD;
}

void http_conn_kernel_expect(struct http_conn *c, uint8_t framing)
{
	c->kernel_next = framing;
}

bool http_conn_kernel_active(const struct http_conn *c)
{
	return c->in_exchange && c->x.kernel;
}

void http_conn_kernel_figures(struct http_conn *c, const struct sse_stats *st)
{
	struct http_exchange *x = &c->x;

	if (!http_conn_kernel_active(c))
		return;
	x->data_events = st->data_events;
	x->heartbeats = st->heartbeats;
	x->body_bytes = st->body_bytes;
	x->event_bytes = st->event_bytes;
	x->t_first_data = st->t_first_data;
	x->t_last_event = st->t_last_event;
	if (st->t_last_write > x->t_last_write)
		x->t_last_write = st->t_last_write;
}

bool http_conn_kernel_end(struct http_conn *c, const struct sse_stats *st, enum http_end why,
			  uint64_t ts)
{
	if (!http_conn_kernel_active(c))
		return false;
	http_conn_kernel_figures(c, st);
	if (http_end_lost(why))
		c->resp_state = SIDE_DEAD;
	exchange_end(c, why, ts);
	return true;
}

/* A chunk-size line: hex digits, optional extension, CRLF. */
static bool starts_chunk(const char *buf, size_t len)
{
	size_t i = 0;

	while (i < len && i < 16 && hex_value(buf[i]) >= 0)
		i++;
	return i > 0 && i < len && (buf[i] == '\r' || buf[i] == ';');
}

void http_conn_adopt(struct http_conn *c, const char *buf, size_t len, uint64_t ts)
{
	exchange_begin(c, ts);
	c->x.responded = true;
	c->x.status = 200;
	c->x.sse = true;
	/* a stream under way writes whole chunks: framing can be picked up */
	c->resp_body = starts_chunk(buf, len) ? HTTP_BODY_CHUNKED : HTTP_BODY_UNTIL_CLOSE;
	c->resp_state = SIDE_BODY;
	c->req_state = SIDE_DEAD; /* until a new request line resynchronises */
	c->ops->response(c->ctx, &c->x);
}

void http_conn_close(struct http_conn *c, enum http_end why, uint64_t ts)
{
	if (c->in_exchange) {
		/* a body delimited by the close ends normally when the server
		 * closes */
		bool delimits = c->resp_state == SIDE_BODY && c->resp_body == HTTP_BODY_UNTIL_CLOSE;

		exchange_end(
		    c, why == HTTP_END_RESPONDER_CLOSED && delimits ? HTTP_END_COMPLETE : why, ts);
	}
	while (c->q_len)
		end_unanswered(c, why, ts);
	if (c->req_state == SIDE_BODY) { /* the head was read, the body not */
		memset(&c->x, 0, sizeof(c->x));
		c->x.req = c->reading->req;
		c->x.has_request = true;
		c->x.t_accept = c->t_accept;
		c->ops->end(c->ctx, &c->x, why, ts);
	}
	c->req_state = c->resp_state = SIDE_DEAD;
	c->upgraded = true; /* no resynchronisation after the end */
}
