/* SPDX-License-Identifier: MIT */
/*
 * Incremental parser of RESP2 and RESP3, the Redis protocol, for one
 * direction of a connection fed in pieces of any size. It keeps no value,
 * only a summary of each top-level one: what pairing a command with its
 * reply needs (a command's name and first arguments; a reply's type, nil,
 * error prefix, integer, and how many of its elements are nil or errors).
 * Bulk payloads whose bytes were not captured are skipped by count.
 * Nesting, lines and lengths are bounded: bytes it cannot follow leave it
 * lost, never misparsed. Pure.
 */
#ifndef SSE_RESP_H
#define SSE_RESP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define RESP_DEPTH_MAX 32	    /* aggregates open at once */
#define RESP_LINE_MAX  65536	    /* a line; Redis's own bound on an inline command */
#define RESP_BULK_MAX  (1ULL << 32) /* a bulk string (Redis's default bound: 512 MiB) */
#define RESP_COUNT_MAX (1ULL << 32) /* an aggregate's elements */
#define RESP_HEAD_MAX  32	    /* kept of a command name or error prefix, NUL included */
#define RESP_ARG_MAX   64	    /* kept of a command's first arguments, NUL included */
#define RESP_ARGS      2	    /* arguments kept after the name */

enum resp_type {
	RESP_NONE,
	RESP_SIMPLE,	 /* +OK */
	RESP_ERROR,	 /* -ERR unknown command */
	RESP_INTEGER,	 /* :1 */
	RESP_BULK,	 /* $3 foo, nil $-1 */
	RESP_ARRAY,	 /* *2 ..., nil *-1 */
	RESP_NULL,	 /* _ (RESP3 nil) */
	RESP_DOUBLE,	 /* ,1.5 */
	RESP_BOOLEAN,	 /* #t */
	RESP_BIGNUM,	 /* (12345678901234567890 */
	RESP_BULK_ERROR, /* !21 SYNTAX invalid syntax */
	RESP_VERBATIM,	 /* =15 txt:Some string */
	RESP_MAP,	 /* %1 key value */
	RESP_SET,	 /* ~2 a b */
	RESP_PUSH,	 /* >3 message ch hello: out of band, not a reply */
	RESP_INLINE,	 /* PING\r\n: a command as a line of words (client side) */
};

/* A string kept as sent, binary included; NUL-terminated. */
struct resp_arg {
	char s[RESP_ARG_MAX];
	uint8_t len;
	bool cut; /* longer than kept, or bytes of it were not seen */
};

struct resp_value {
	enum resp_type type;
	bool nil; /* $-1, *-1, _ */
	bool head_cut;
	/*
	 * Upper-cased: an error's prefix (ERR, WRONGTYPE, MOVED) or a simple
	 * string's first word (OK, QUEUED); an aggregate's or inline line's
	 * first element: a command's name, a push's kind.
	 */
	char head[RESP_HEAD_MAX];
	/* a top-level aggregate's second and third elements when strings:
	 * a command's first arguments */
	struct resp_arg arg[RESP_ARGS];
	int64_t integer; /* an integer, or an aggregate's last integer element */
	uint64_t count;	 /* an aggregate's elements (a map's keys and values) */
	uint64_t elems_nil;
	uint64_t elems_error;
};

static inline bool resp_is_error(const struct resp_value *v)
{
	return v->type == RESP_ERROR || v->type == RESP_BULK_ERROR;
}

enum resp_event {
	RESP_MORE,    /* every byte used, no value ended */
	RESP_VALUE,   /* a top-level value ended: val[0] */
	RESP_ELEMENT, /* an element of a top-level array ended: val[1] (if elements is set) */
	RESP_LOST,    /* not RESP, or over a bound: nothing more is parsed */
};

/* An aggregate being read. */
struct resp_frame {
	uint64_t left; /* elements still to come */
	bool attr;     /* an attribute: not an element of its parent */
};

/* What the parent of a value that ended counts of it. */
struct resp_ended {
	enum resp_type type;
	bool nil;
	bool string; /* a string, whose first bytes are in str */
	int64_t integer;
};

struct resp_parser {
	bool commands; /* the client side: arrays of bulk strings, inline commands */
	bool elements; /* report the elements of a top-level array: the caller sets it */
	uint8_t state;
	char type;    /* type byte of the line or bulk string being read */
	bool pending; /* an array ended with the element reported last */
	bool in_word; /* of an inline command */
	uint32_t line_len;
	uint64_t bulk_left; /* payload and CRLF bytes of the bulk string to come */
	char str[RESP_ARG_MAX];
	uint32_t str_len; /* first bytes of the string or line being read */
	bool str_cut;
	/* top-level values begun so far (an attribute before a reply, an
	 * empty inline line count too): the caller tells in which of its
	 * pieces the next one began, even when it began after other bytes of
	 * the same piece */
	uint64_t starts;
	uint32_t depth; /* aggregates open */
	uint32_t attrs; /* ... of which attributes: what they hold is not summarised */
	struct resp_frame stack[RESP_DEPTH_MAX];
	struct resp_ended ended;
	struct resp_value val[2]; /* the top-level value, its element being read */
};

/* commands: the client side of a connection (what Redis reads). */
void resp_init(struct resp_parser *p, bool commands);

/*
 * Parses buf[0..len) up to the next event; *used is how much of it was
 * consumed. Called again with the rest (even none, after an event) until
 * RESP_MORE. RESP_LOST stays until resp_init.
 */
enum resp_event resp_feed(struct resp_parser *p, const char *buf, size_t len, size_t *used);

/*
 * n bytes went by unseen: inside a bulk string (its CRLF included) they
 * are skipped, and the string may end there (an event, as resp_feed's);
 * anywhere else the parser is lost.
 */
enum resp_event resp_skip(struct resp_parser *p, uint64_t n);

#endif
