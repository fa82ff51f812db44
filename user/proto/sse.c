// SPDX-License-Identifier: MIT
#include <string.h>

#include "proto/sse.h"

void sse_splitter_init(struct sse_splitter *s, sse_data_cb data)
{
	memset(s, 0, sizeof(*s));
	s->data = data;
	s->data_hash = SSE_DATA_HASH_EMPTY;
}

static uint64_t fnv1a(uint64_t h, const char *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		h = (h ^ (uint8_t)p[i]) * 0x100000001b3ull;
	return h;
}

static void data_bytes(struct sse_splitter *s, const char *p, size_t n, void *ctx)
{
	s->data_hash = fnv1a(s->data_hash, p, n);
	if (s->data && n)
		s->data(ctx, p, n);
}

/* Bytes of a field value: data's are hashed and passed on. */
static void value_bytes(struct sse_splitter *s, const char *p, size_t n, void *ctx)
{
	if (!s->in_data || !n)
		return;
	if (s->value_start && p[0] == ' ') {
		p++;
		n--;
	}
	s->value_start = false;
	data_bytes(s, p, n, ctx);
}

static bool name_is_data(const struct sse_splitter *s)
{
	return s->name_len == 4 && memcmp(s->name, "data", 4) == 0;
}

static void end_field_name(struct sse_splitter *s, void *ctx)
{
	s->in_name = false;
	if (!name_is_data(s)) {
		s->has_field = true;
		return;
	}
	if (s->has_data) /* lines of one event's data are joined by LF */
		data_bytes(s, "\n", 1, ctx);
	s->has_data = true;
	s->in_data = true;
	s->value_start = true;
}

static void reset_event(struct sse_splitter *s)
{
	s->event_bytes = 0;
	s->has_data = false;
	s->has_comment = false;
	s->has_field = false;
	s->data_hash = SSE_DATA_HASH_EMPTY;
}

static void dispatch(struct sse_splitter *s, size_t end, sse_event_cb cb, void *ctx)
{
	struct sse_event ev = {
	    .size = s->event_bytes, .end = end, .data_hash = s->data_hash, .late = s->held};

	if (s->has_data)
		ev.kind = SSE_EVENT_DATA;
	else if (s->has_comment && !s->has_field)
		ev.kind = SSE_EVENT_HEARTBEAT;
	else
		ev.kind = SSE_EVENT_EMPTY;
	/* A blank line with no line before it ends nothing: extra line ends
	 * between events are body bytes of the next event. */
	if (s->has_data || s->has_comment || s->has_field) {
		if (cb)
			cb(ctx, &ev);
		reset_event(s);
	}
}

/* The event held for the byte after its blank line's CR ends, end bytes
 * into the buffer being fed. */
static void release(struct sse_splitter *s, size_t end, sse_event_cb cb, void *ctx)
{
	if (!s->held)
		return;
	dispatch(s, end, cb, ctx);
	s->held = false;
}

static void line_byte(struct sse_splitter *s, char c, void *ctx)
{
	if (s->line_len++ == 0) {
		if (c == ':') {
			s->has_comment = true;
			return;
		}
		s->in_name = true;
		s->name_len = 0;
	}
	if (!s->in_name)
		return;
	if (c == ':') {
		end_field_name(s, ctx);
		return;
	}
	if (s->name_len < sizeof(s->name))
		s->name[s->name_len] = c;
	if (s->name_len < 255)
		s->name_len++;
}

/* Handles a CR or LF at buf[i]; returns how many bytes it consumed (2 for
 * a CRLF inside buf). */
static size_t line_end(struct sse_splitter *s, const char *buf, size_t len, size_t i,
		       sse_event_cb cb, void *ctx)
{
	size_t used = 1;
	bool blank = s->line_len == 0;

	if (buf[i] == '\r') {
		if (i + 1 < len && buf[i + 1] == '\n')
			used = 2;
		else
			s->saw_cr = i + 1 == len; /* the LF may come in the next piece */
	}
	s->event_bytes += used;
	if (s->in_name)
		end_field_name(s, ctx);
	s->in_data = false;
	s->line_len = 0;
	if (blank && s->saw_cr)
		s->held = true;
	else if (blank)
		dispatch(s, i + used, cb, ctx);
	return used;
}

/* WHATWG: one leading U+FEFF is dropped. Its bytes are on the wire, so
 * they count in the first event's size; a partial match was ordinary
 * text after all and is replayed. Returns the bytes consumed. */
static size_t skip_bom(struct sse_splitter *s, const char *buf, size_t len, void *ctx)
{
	static const char bom[3] = {'\xef', '\xbb', '\xbf'};
	size_t i = 0;

	while (!s->started && i < len) {
		if (buf[i] == bom[s->bom]) {
			s->event_bytes++;
			s->started = ++s->bom == sizeof(bom);
			i++;
			continue;
		}
		s->started = true;
		for (uint8_t k = 0; k < s->bom; k++)
			line_byte(s, bom[k], ctx);
	}
	return i;
}

/* Bytes before the first CR or LF (all of them if there is none). */
static size_t to_line_end(const char *buf, size_t len)
{
	const char *lf = memchr(buf, '\n', len);
	size_t n = lf ? (size_t)(lf - buf) : len;
	const char *cr = memchr(buf, '\r', n);

	return cr ? (size_t)(cr - buf) : n;
}

void sse_feed(struct sse_splitter *s, const char *buf, size_t len, sse_event_cb cb, void *ctx)
{
	size_t i = skip_bom(s, buf, len, ctx);

	if (i < len && s->saw_cr) {
		s->saw_cr = false;
		if (buf[i] == '\n') {
			s->event_bytes++;
			i++;
		}
		release(s, i, cb, ctx);
	}
	while (i < len) {
		char c = buf[i];

		/* past the field name only the line end matters: jump to it */
		if (s->line_len && !s->in_name && c != '\r' && c != '\n') {
			size_t n = to_line_end(buf + i, len - i);

			value_bytes(s, buf + i, n, ctx);
			s->event_bytes += n;
			s->line_len += n;
			i += n;
			continue;
		}
		if (c == '\r' || c == '\n') {
			i += line_end(s, buf, len, i, cb, ctx);
			continue;
		}
		s->event_bytes++;
		line_byte(s, c, ctx);
		i++;
	}
}

void sse_finish(struct sse_splitter *s, sse_event_cb cb, void *ctx)
{
	release(s, 0, cb, ctx);
}

static enum sse_start field_start(const char *buf, size_t len, const char *name)
{
	size_t n = strlen(name);

	if (len <= n)
		return memcmp(buf, name, len) ? SSE_START_NO : SSE_START_MAYBE;
	if (memcmp(buf, name, n) || (buf[n] != ':' && buf[n] != '\r' && buf[n] != '\n'))
		return SSE_START_NO;
	return SSE_START_YES;
}

enum sse_start sse_body_start(const char *buf, size_t len)
{
	static const char *const fields[] = {"data", "event", "id", "retry"};
	static const char bom[] = "\xef\xbb\xbf";
	size_t b = 0;

	while (b < len && b < 3 && buf[b] == bom[b])
		b++;
	if (b == len)
		return len ? SSE_START_MAYBE : SSE_START_NO;
	if (b == 3) {
		buf += 3;
		len -= 3;
	}
	if (buf[0] == ':')
		return SSE_START_YES;
	for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++) {
		enum sse_start r = field_start(buf, len, fields[i]);

		if (r != SSE_START_NO)
			return r;
	}
	return SSE_START_NO;
}
