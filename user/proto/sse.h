/* SPDX-License-Identifier: MIT */
/*
 * Splits a Server-Sent-Events body into events by the WHATWG rules: lines
 * end with CRLF, LF or CR; a blank line ends an event; a line starting
 * with ':' is a comment; a "data" field (with or without a colon) makes
 * the event a data event. Works on pieces of any size and keeps only a
 * few bytes of state. Each event carries a hash of its data (the data
 * lines' values joined by LF, as a client's onmessage gets it): the same
 * data relayed by a gateway hashes the same, whatever its framing. Pure.
 */
#ifndef SSE_SSE_H
#define SSE_SSE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * Bytes of the data of the event being read, as they come: the values of
 * its data lines joined by LF, what the hash covers (a JSON scan reads
 * the data this way without keeping it).
 */
typedef void (*sse_data_cb)(void *ctx, const char *buf, size_t len);

struct sse_splitter {
	sse_data_cb data;     /* optional */
	uint64_t event_bytes; /* bytes of the event being read, line ends included */
	uint32_t line_len;
	uint8_t name_len; /* bytes of the field name read so far */
	char name[4];	  /* enough to recognise "data" */
	bool in_name;	  /* reading a field name (before ':') */
	bool saw_cr;	  /* a CR ended the last piece: an LF next belongs to it */
	bool held;	  /* ... a blank line's: its event waits to know its size */
	bool has_data;
	bool has_comment;
	bool has_field;	  /* a field other than data: event, id, retry, unknown */
	bool started;	  /* past the optional byte order mark */
	bool in_data;	  /* reading the value of a data field */
	bool value_start; /* ... and nothing of it yet: a leading space is dropped */
	uint64_t data_hash;
	uint8_t bom; /* bytes of a leading byte order mark matched so far */
};

enum sse_event_kind {
	SSE_EVENT_DATA,	     /* dispatched to the client's onmessage */
	SSE_EVENT_HEARTBEAT, /* comments only: keep-alive */
	SSE_EVENT_EMPTY,     /* event/id/retry fields but no data: not dispatched */
};

struct sse_event {
	enum sse_event_kind kind;
	uint64_t size;	    /* bytes on the wire, from the end of the previous event */
	size_t end;	    /* offset in the fed buffer just past the event */
	uint64_t data_hash; /* FNV-1a of the data, SSE_DATA_HASH_EMPTY if none */
	bool late;	    /* its blank line's CR ended the previous piece: it ended there */
};

#define SSE_DATA_HASH_EMPTY 0xcbf29ce484222325ull /* FNV-1a of nothing */

typedef void (*sse_event_cb)(void *ctx, const struct sse_event *ev);

/* data may be NULL. */
void sse_splitter_init(struct sse_splitter *s, sse_data_cb data);

/* Feeds body bytes (chunk framing already removed); cb gets every event
 * that ends inside buf, in order, after the data callback (same ctx) got
 * the event's data. An event whose blank line ends with a CR that ends
 * buf is held: an LF next is its last byte (a CRLF's LF belongs to the
 * line the CR ended), so cb gets it from the next feed (late, end 0 or 1)
 * or from sse_finish. */
void sse_feed(struct sse_splitter *s, const char *buf, size_t len, sse_event_cb cb, void *ctx);

/* The body ended: cb gets the event held for an LF, if any (late, end 0). */
void sse_finish(struct sse_splitter *s, sse_event_cb cb, void *ctx);

enum sse_start {
	SSE_START_NO,
	SSE_START_YES,
	SSE_START_MAYBE, /* buf ends inside what would say yes: more bytes tell */
};

/* Bytes that always tell: a byte order mark, "retry" and what follows. */
#define SSE_START_MAX 9

/*
 * Whether a body that begins with buf reads as an event stream: after an
 * optional byte order mark, a comment (':') or one of the fields data,
 * event, id, retry followed by ':' or a line end. JSON, HTML and plain
 * text do not. A first write may end inside a field's name or the mark
 * ("dat"): maybe, until more bytes come, so that the answer does not
 * depend on where the writes were cut.
 */
enum sse_start sse_body_start(const char *buf, size_t len);

#endif
