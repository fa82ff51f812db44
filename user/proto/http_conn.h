/* SPDX-License-Identifier: MIT */
/*
 * One observed HTTP/1.x connection, rebuilt from its bytes with the
 * kernel's timestamps, in the terms of the exchange rather than of the
 * observed side: for a server the requests are what it reads and the
 * responses what it writes, for a client (an upstream call) the reverse.
 * Requests are queued as they come (pipelining) and matched in order with
 * the responses; response bodies are de-framed and, for SSE, split into
 * events. What happens is reported through http_conn_ops. Pure: the
 * caller feeds bytes and lifecycle events, nothing here does I/O.
 */
#ifndef SSE_HTTP_CONN_H
#define SSE_HTTP_CONN_H

#include <stdbool.h>
#include <stdint.h>

#include "proto/body_inflate.h"
#include "proto/chunked.h"
#include "proto/http_head.h"
#include "proto/json_scan.h"
#include "proto/sse.h"
#include "sse_scan.h"

#define HTTP_PATH_LABEL_MAX 128
#define HTTP_PIPELINE_MAX   8
#define JSON_SCAN_LIMIT	    65536 /* request body bytes searched for "model" */

/* What we know of one request, from its bytes and their timestamps. */
struct http_request {
	char method[HTTP_METHOD_MAX];
	char path[HTTP_PATH_LABEL_MAX];
	char model[JSON_MODEL_MAX]; /* "" when absent */
	char host[HTTP_HOST_MAX];   /* Host header, lower case, no port */
	bool wants_stream;	    /* Accept: text/event-stream or "stream": true */
	bool first_of_conn;	    /* queue stage is defined for these only */
	bool complete;		    /* all of the request was read */
	bool missed;		    /* bytes of it went by unseen: its exchange is lost */
	uint64_t t_first;	    /* first request byte read */
	uint64_t t_last;	    /* last request byte read */
};

/* Event streams being inflated at once, at most (zlib's state, ~40 KiB
 * each): beyond, a stream's events are not split. */
#define HTTP_INFLATING_MAX 1024

/* Why an event stream's events could not be split from its body. */
enum http_undecoded {
	HTTP_DECODED,		/* identity, or inflated */
	HTTP_UNDECODED_BR,	/* Brotli: not decoded */
	HTTP_UNDECODED_CODING,	/* another coding, or several in turn */
	HTTP_UNDECODED_INFLATE, /* gzip or deflate that zlib refused, from there on */
	HTTP_UNDECODED_LIMIT,	/* HTTP_INFLATING_MAX being inflated, or no memory */
	HTTP_UNDECODED_REASONS,
};

/* A request and, once it starts, its response. */
struct http_exchange {
	struct http_request req;
	bool has_request; /* false for streams adopted mid-way */
	bool responded;	  /* response head written */
	int status;
	bool sse; /* Content-Type: text/event-stream, or an event-stream body
		   * without Content-Type answering a request for a stream */
	/* Content-Encoding of the response */
	enum http_coding coding;
	enum http_undecoded undecoded; /* of an event stream's body */
	uint64_t t_accept;
	uint64_t t_headers;
	uint64_t t_first_data;
	uint64_t t_last_event;
	uint64_t t_last_write;
	uint64_t data_events;
	uint64_t heartbeats;
	uint64_t body_bytes;
	/* body bytes inside ended events; none in a gzip or deflate body,
	 * whose events' sizes are inflated ones */
	uint64_t event_bytes;
	/* the kernel counts the body (include/kstream.h): the figures above
	 * are its, the events user space still sees (the first writes'
	 * copies) are for correlation only */
	bool kernel;
};

enum http_end {
	HTTP_END_COMPLETE,	   /* response body ended as framed */
	HTTP_END_REQUESTER_CLOSED, /* the requesting side closed (FIN, EOF or EPIPE) first */
	HTTP_END_RESET,		   /* connection reset */
	HTTP_END_RESPONDER_CLOSED, /* the responding side closed before the body ended */
	HTTP_END_PROCESS_EXIT,	   /* the observed process died */
	/* the outcome is unknown, because: */
	HTTP_END_LOST_BYTES,   /* bytes of the exchange were not seen */
	HTTP_END_LOST_FRAMING, /* the body's framing broke: sync lost */
	HTTP_END_LOST_CLOSE,   /* the connection ended unseen (its close record was lost) */
};

static inline bool http_end_lost(enum http_end why)
{
	return why >= HTTP_END_LOST_BYTES;
}

struct http_conn_ops {
	/* response head written */
	void (*response)(void *ctx, const struct http_exchange *x);
	/* an SSE event ended in a write at ts (x counts already include it;
	 * prev_event is 0 for the first event of the stream) */
	void (*event)(void *ctx, const struct http_exchange *x, const struct sse_event *ev,
		      uint64_t ts, uint64_t prev_event);
	/* the exchange is over */
	void (*end)(void *ctx, const struct http_exchange *x, enum http_end why, uint64_t ts);
	/* optional: response body bytes, framing removed, before their events */
	void (*body)(void *ctx, const struct http_exchange *x, const char *buf, size_t len);
};

enum http_side_state {
	SIDE_HEAD, /* reading a message head */
	SIDE_BODY, /* reading a body */
	SIDE_DEAD, /* not HTTP, upgraded, or lost sync: ignore */
};

/* A request while it is read: from its first byte to its last. */
struct http_reading {
	struct http_head head;
	enum http_body_mode body;
	uint64_t left; /* body bytes, when framed by length */
	struct chunked_decoder chunks;
	struct json_scan json;
	uint32_t json_seen;
	struct http_request req;
};

struct http_conn {
	const struct http_conn_ops *ops;
	void *ctx;
	uint64_t t_accept;
	bool seen_request;
	bool upgraded; /* 101, or ended: never resynchronise */

	/* requests */
	enum http_side_state req_state;
	struct http_reading *reading; /* NULL between requests */
	/* requests read, waiting for their answers: a ring of q_cap slots,
	 * allocated while it holds any (most connections hold one at most,
	 * and a stream none once its answer began) */
	struct http_request *queue;
	unsigned int q_head, q_len, q_cap;

	/* responses */
	enum http_side_state resp_state;
	struct http_head *resp_head; /* while a head is read, else NULL */
	enum http_body_mode resp_body;
	uint64_t resp_left;
	struct chunked_decoder resp_chunks;
	struct sse_splitter sse;
	/* a gzip or deflate event stream's inflation, while its body is read */
	struct body_inflate *inflate;
	unsigned int *inflating; /* inflations under way, the owner's count */
	bool in_exchange;	 /* x holds a response under way */
	bool sniffing;		 /* no Content-Type: the body's first bytes tell */
	uint8_t sniffed_len;
	char sniffed[SSE_START_MAX]; /* ... those read while they could not tell */
	uint8_t kernel_next;	     /* framing the kernel follows the next response's body with */
	struct http_exchange x;
	uint64_t now;	/* timestamp of the bytes being fed */
	uint64_t t_fed; /* of the last bytes fed to sse: a late event's */
};

/*
 * A request being read, a response head being read and the requests
 * waiting for their answers are allocated while they exist, not with the
 * connection: an open stream needs none of them, and ten thousand streams
 * held ~5 KB each. An allocation that fails loses the side's sync, as
 * lost bytes do.
 */
void http_conn_init(struct http_conn *c, const struct http_conn_ops *ops, void *ctx,
		    uint64_t t_accept);

/* The count of event streams being inflated that c shares with the
 * owner's other connections: at most HTTP_INFLATING_MAX at once. */
void http_conn_count_inflations(struct http_conn *c, unsigned int *inflating);

/* Frees what c holds; c itself is the caller's. */
void http_conn_release(struct http_conn *c);

/* Bytes of requests or of responses, seen at ts. */
void http_conn_request_bytes(struct http_conn *c, const char *buf, size_t len, uint64_t ts);
void http_conn_response_bytes(struct http_conn *c, const char *buf, size_t len, uint64_t ts);

/* Bytes that went by unseen (sendfile, capture cap, lost records):
 * bodies of known length skip them, anything else loses sync. */
void http_conn_response_gap(struct http_conn *c, uint64_t len, uint64_t ts);
void http_conn_request_gap(struct http_conn *c, uint64_t len, uint64_t ts);

/*
 * Bytes went by unseen before the next ones, in either direction, how
 * many unknown (records lost whole). What was under way is lost: the
 * response being read, else the oldest request waiting for its answer,
 * whose answer began in the lost bytes; a request being read is queued as
 * it is, so that its answer pairs with it, and its exchange lost (its
 * answer lost too if another request comes first). A body the kernel
 * counts is left to it. Both sides resynchronise on their next request or
 * response line.
 */
void http_conn_gap(struct http_conn *c, uint64_t ts);

/* Starts following a stream already under way; buf is its next write,
 * which the caller then feeds with http_conn_response_bytes. */
void http_conn_adopt(struct http_conn *c, const char *buf, size_t len, uint64_t ts);

/*
 * The kernel counts the body of the next response, framed so (enum
 * scan_framing): that response's exchange is x.kernel, unless its head
 * says otherwise (another framing, not a stream), which the response
 * callback sees. Its body bytes, when copies come, go to the event
 * callback and no further; its end is the kernel's.
 */
void http_conn_kernel_expect(struct http_conn *c, uint8_t framing);

/* The kernel's figures of the body under way. */
void http_conn_kernel_figures(struct http_conn *c, const struct sse_stats *st);

/* The kernel's stream ended with these figures: the exchange ends with
 * why; after a loss the next response line resynchronises. False when no
 * exchange of the kernel's was under way. */
bool http_conn_kernel_end(struct http_conn *c, const struct sse_stats *st, enum http_end why,
			  uint64_t ts);

/* Whether the kernel counts the response under way. */
bool http_conn_kernel_active(const struct http_conn *c);

/* The connection ended: every open exchange ends with why. */
void http_conn_close(struct http_conn *c, enum http_end why, uint64_t ts);

/* True when a request is being read or answered: a peer FIN now is an
 * abort. */
bool http_conn_busy(const struct http_conn *c);

#endif
