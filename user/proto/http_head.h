/* SPDX-License-Identifier: MIT */
/*
 * Incremental parser of an HTTP/1.x request or response head (start line
 * and header fields up to the blank line). Pure: no I/O, no allocation.
 * Heads may arrive in pieces of any size; only the few fields the metrics
 * need are kept, everything else is skipped without being stored.
 */
#ifndef SSE_HTTP_HEAD_H
#define SSE_HTTP_HEAD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* http_looks_like_request() and _response(): the kernel programs' own test */
#include "http_classify.h"

#define HTTP_METHOD_MAX 16
#define HTTP_TARGET_MAX 256
#define HTTP_HOST_MAX	128
#define HTTP_LINE_MAX	512   /* longer header lines are skipped, not kept */
#define HTTP_HEAD_MAX	65536 /* a longer head is an error */

enum http_head_kind {
	HTTP_HEAD_REQUEST,
	HTTP_HEAD_RESPONSE,
};

/* The content coding of a body, from Content-Encoding. */
enum http_coding {
	HTTP_CODING_IDENTITY, /* none listed, or only "identity" */
	HTTP_CODING_GZIP,     /* gzip or x-gzip */
	HTTP_CODING_DEFLATE,  /* deflate */
	HTTP_CODING_BR,	      /* Brotli */
	HTTP_CODING_OTHER,    /* any other coding, or several applied in turn */
};

enum http_head_result {
	HTTP_HEAD_NEED_MORE, /* all input used, head not finished */
	HTTP_HEAD_DONE,	     /* head finished; *used bytes belonged to it */
	HTTP_HEAD_ERROR,     /* not HTTP/1.x, or over HTTP_HEAD_MAX */
};

struct http_head {
	enum http_head_kind kind;

	/* parser state (internal) */
	uint32_t total;	    /* head bytes consumed so far */
	uint32_t tok_len;   /* bytes of the current start-line token */
	uint16_t line_len;  /* bytes of the current line kept in line[] */
	uint8_t phase;	    /* where in the head the parser is */
	bool line_overflow; /* current line longer than HTTP_LINE_MAX */
	bool saw_cr;	    /* last byte was CR */
	bool start_line_done;
	bool cl_invalid;   /* Content-Length seen and invalid/conflicting */
	bool te_present;   /* some Transfer-Encoding was listed */
	bool conn_upgrade; /* Connection lists "upgrade" */
	bool upgrade_hdr;  /* non-empty Upgrade header seen */
	bool host_seen;	   /* first Host header wins */
	char line[HTTP_LINE_MAX];

	/* results, valid once DONE (some earlier) */
	char method[HTTP_METHOD_MAX]; /* request: as sent, NUL-terminated */
	char target[HTTP_TARGET_MAX]; /* request: raw target, truncated */
	char host[HTTP_HOST_MAX];     /* request: Host header, lower case, no port */
	int version_minor;	      /* HTTP/1.<minor> */
	int status;		      /* response: status code, 100..999 */
	int64_t content_length;	      /* -1 when absent or invalid */
	bool chunked;		      /* Transfer-Encoding ends in chunked */
	bool has_content_type;	      /* a Content-Type field was seen */
	bool event_stream;	      /* Content-Type: text/event-stream */
	bool json;		      /* Content-Type: application/json (or +json) */
	bool accept_event_stream;     /* request Accept lists text/event-stream */
	bool connection_close;	      /* Connection: close */
	bool connection_keep_alive;   /* Connection: keep-alive */
	bool upgrade;		      /* request or 101 response switches protocol */
	enum http_coding coding;      /* Content-Encoding */
};

void http_head_init(struct http_head *h, enum http_head_kind kind);

/*
 * Feed the next bytes. On HTTP_HEAD_DONE, *used is the number of bytes of
 * buf that belonged to the head (the rest is body or the next message).
 * On NEED_MORE, *used == len. On ERROR, *used counts up to and including
 * the byte found wrong. Calling again after DONE or ERROR is an error
 * (returns ERROR, *used == 0).
 */
enum http_head_result http_head_feed(struct http_head *h, const char *buf, size_t len,
				     size_t *used);

enum http_body_mode {
	HTTP_BODY_NONE,	       /* no body follows the head */
	HTTP_BODY_LENGTH,      /* content_length bytes follow */
	HTTP_BODY_CHUNKED,     /* chunked transfer coding */
	HTTP_BODY_UNTIL_CLOSE, /* response delimited by connection close */
};

/*
 * RFC 9112 section 6.3 message body length. For a response, head_request
 * says the request method was HEAD (no body whatever the headers say).
 * Content-Length: 0 gives HTTP_BODY_NONE. Chunked wins over Content-Length.
 * A response whose Transfer-Encoding does not end in chunked, or whose
 * Content-Length is invalid, gives UNTIL_CLOSE; such a request gives NONE.
 * A 2xx response to CONNECT (a tunnel) is the caller's to recognise.
 */
enum http_body_mode http_body_mode(const struct http_head *h, bool head_request);

#endif
