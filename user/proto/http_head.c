// SPDX-License-Identifier: MIT
/*
 * Incremental HTTP/1.x head parser (see http_head.h).
 *
 * Every byte goes through the same per-byte state machine, so the result
 * cannot depend on how the head was split into buffers.
 *
 * The start line is checked byte by byte as it arrives instead of being
 * collected first: binary data or another protocol (TLS, HTTP/2) is then
 * refused after a byte or two, and a request target longer than
 * HTTP_LINE_MAX does not matter because only its first HTTP_TARGET_MAX-1
 * bytes are kept. Header field lines are collected in h->line and looked
 * at once complete; a line that does not fit is skipped.
 */
#include "core/ascii.h"
#include "proto/http_head.h"

#include <string.h>
#include <strings.h>

enum phase {
	PH_START,	 /* before the start line; empty lines are skipped */
	PH_METHOD,	 /* request: method token */
	PH_TARGET,	 /* request: request-target */
	PH_REQ_VERSION,	 /* request: "HTTP/1.x" */
	PH_RESP_VERSION, /* response: "HTTP/1.x" and the SP after it */
	PH_STATUS,	 /* response: 3-digit status code */
	PH_REASON,	 /* response: reason phrase, ignored */
	PH_HEADERS,	 /* field lines up to the empty line */
	PH_DONE,
	PH_ERROR,
};

static const char version_prefix[] = HTTP_VERSION_PREFIX;
#define VERSION_PREFIX_LEN (sizeof(version_prefix) - 1)

struct span {
	const char *p;
	size_t n;
};

static bool is_ows(unsigned char c)
{
	return c == ' ' || c == '\t';
}

/* RFC 9110 5.6.2 tchar: the characters a method or field name may use. */
static bool is_tchar(unsigned char c)
{
	if (is_alnum(c))
		return true;
	return c != 0 && strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

/* Control characters, except HTAB, are never valid in a start line. */
static bool is_ctl(unsigned char c)
{
	return (c < 0x20 && c != '\t') || c == 0x7f;
}

static char to_lower(unsigned char c)
{
	return (c >= 'A' && c <= 'Z') ? (char)(c + ('a' - 'A')) : (char)c;
}

static void fail(struct http_head *h)
{
	h->phase = PH_ERROR;
}

void http_head_init(struct http_head *h, enum http_head_kind kind)
{
	memset(h, 0, sizeof(*h));
	h->kind = kind;
	h->phase = PH_START;
	h->content_length = -1;
}

/* ---- header field values ---- */

static struct span trim(const char *p, size_t n)
{
	while (n > 0 && is_ows((unsigned char)p[0])) {
		p++;
		n--;
	}
	while (n > 0 && is_ows((unsigned char)p[n - 1]))
		n--;
	return (struct span){p, n};
}

static bool span_ieq(struct span s, const char *lit)
{
	return s.n == strlen(lit) && strncasecmp(s.p, lit, s.n) == 0;
}

/* Iterates the elements of a comma-separated list, trimmed; may be empty. */
struct list_iter {
	const char *p;
	const char *end;
	bool done;
};

static bool list_next(struct list_iter *it, struct span *elem)
{
	const char *comma;

	if (it->done)
		return false;
	comma = memchr(it->p, ',', (size_t)(it->end - it->p));
	if (!comma) {
		comma = it->end;
		it->done = true;
	}
	*elem = trim(it->p, (size_t)(comma - it->p));
	if (!it->done)
		it->p = comma + 1;
	return true;
}

/* The part of a media type or coding before its parameters. */
static struct span before_params(struct span s)
{
	const char *semi = memchr(s.p, ';', s.n);

	if (semi)
		s.n = (size_t)(semi - s.p);
	return trim(s.p, s.n);
}

static bool is_json_type(struct span mt)
{
	static const char suffix[] = "+json";
	size_t sl = sizeof(suffix) - 1;

	if (span_ieq(mt, "application/json"))
		return true;
	/* structured syntax suffix (RFC 6839), e.g. application/problem+json */
	return mt.n > sl && memchr(mt.p, '/', mt.n - sl) != NULL &&
	       strncasecmp(mt.p + mt.n - sl, suffix, sl) == 0;
}

/*
 * Content-Length may be a list of identical values (RFC 9110 8.6); a value
 * that is not all digits, too big for int64, or different from one seen
 * before makes the length invalid for good.
 */
static void on_content_length(struct http_head *h, struct span v)
{
	struct list_iter it = {v.p, v.p + v.n, false};
	struct span e;

	if (h->cl_invalid)
		return;
	while (list_next(&it, &e)) {
		int64_t n = 0;
		size_t i;

		if (e.n == 0 || e.n > 18)
			goto invalid;
		for (i = 0; i < e.n; i++) {
			if (!is_digit((unsigned char)e.p[i]))
				goto invalid;
			n = n * 10 + (e.p[i] - '0');
		}
		if (h->content_length >= 0 && h->content_length != n)
			goto invalid;
		h->content_length = n;
	}
	return;
invalid:
	h->cl_invalid = true;
	h->content_length = -1;
}

/* Only the last coding counts: the message is chunked if it ends in chunked. */
static void on_transfer_encoding(struct http_head *h, struct span v)
{
	struct list_iter it = {v.p, v.p + v.n, false};
	struct span e, last = {NULL, 0};

	while (list_next(&it, &e)) {
		if (e.n > 0)
			last = e;
	}
	if (last.n == 0)
		return; /* empty field: lists no coding, changes nothing */
	h->te_present = true;
	h->chunked = span_ieq(before_params(last), "chunked");
}

/* Content-Type is a single value; if it is repeated, the last one counts. */
static void on_content_type(struct http_head *h, struct span v)
{
	struct span mt = before_params(v);

	h->has_content_type = true;
	h->event_stream = span_ieq(mt, "text/event-stream");
	h->json = is_json_type(mt);
}

static enum http_coding coding_of(struct span c)
{
	if (span_ieq(c, "gzip") || span_ieq(c, "x-gzip"))
		return HTTP_CODING_GZIP;
	if (span_ieq(c, "deflate"))
		return HTTP_CODING_DEFLATE;
	if (span_ieq(c, "br"))
		return HTTP_CODING_BR;
	return HTTP_CODING_OTHER;
}

/*
 * Repeated fields add to the list (RFC 9110 8.4). Codings applied in turn
 * ("gzip, br") are rare and are not undone one after the other: such a
 * chain is OTHER.
 */
static void on_content_encoding(struct http_head *h, struct span v)
{
	struct list_iter it = {v.p, v.p + v.n, false};
	struct span e;

	while (list_next(&it, &e)) {
		if (e.n == 0 || span_ieq(e, "identity"))
			continue;
		h->coding = h->coding == HTTP_CODING_IDENTITY ? coding_of(e) : HTTP_CODING_OTHER;
	}
}

static void on_accept(struct http_head *h, struct span v)
{
	struct list_iter it = {v.p, v.p + v.n, false};
	struct span e;

	while (list_next(&it, &e)) {
		if (span_ieq(before_params(e), "text/event-stream"))
			h->accept_event_stream = true;
	}
}

static void on_connection(struct http_head *h, struct span v)
{
	struct list_iter it = {v.p, v.p + v.n, false};
	struct span e;

	while (list_next(&it, &e)) {
		if (span_ieq(e, "close"))
			h->connection_close = true;
		else if (span_ieq(e, "keep-alive"))
			h->connection_keep_alive = true;
		else if (span_ieq(e, "upgrade"))
			h->conn_upgrade = true;
	}
}

/*
 * Host is "name[:port]" or "[ipv6][:port]". A bare IPv6 address (invalid,
 * but seen) has several colons and is kept whole rather than cut at the
 * first one. The label is lower case and printable ASCII only.
 */
static void on_host(struct http_head *h, struct span v)
{
	size_t n = v.n, i, out = 0;
	const char *colon;

	if (h->host_seen)
		return; /* several Host fields are invalid; keep the first */
	h->host_seen = true;
	if (n > 0 && v.p[0] == '[') {
		const char *close = memchr(v.p, ']', n);

		if (close)
			n = (size_t)(close - v.p) + 1;
	} else if ((colon = memchr(v.p, ':', n)) != NULL &&
		   memchr(colon + 1, ':', n - (size_t)(colon - v.p) - 1) == NULL) {
		n = (size_t)(colon - v.p);
	}
	for (i = 0; i < n && out < HTTP_HOST_MAX - 1; i++) {
		unsigned char c = (unsigned char)v.p[i];

		h->host[out++] = (c > 0x20 && c < 0x7f) ? to_lower(c) : '_';
	}
	h->host[out] = '\0';
}

static void on_field(struct http_head *h, struct span name, struct span v)
{
	if (span_ieq(name, "content-length"))
		on_content_length(h, v);
	else if (span_ieq(name, "transfer-encoding"))
		on_transfer_encoding(h, v);
	else if (span_ieq(name, "content-type"))
		on_content_type(h, v);
	else if (span_ieq(name, "content-encoding"))
		on_content_encoding(h, v);
	else if (span_ieq(name, "accept"))
		on_accept(h, v);
	else if (span_ieq(name, "connection"))
		on_connection(h, v);
	else if (span_ieq(name, "upgrade"))
		h->upgrade_hdr = h->upgrade_hdr || v.n > 0;
	else if (span_ieq(name, "host") && h->kind == HTTP_HEAD_REQUEST)
		on_host(h, v);
}

/*
 * One complete field line. Malformed lines (no colon, bad name, space
 * before the colon, obs-fold continuation) are ignored rather than being
 * an error: a passive observer cannot refuse the message, and the peer
 * may well have accepted it.
 */
static void field_line(struct http_head *h, const char *line, size_t n)
{
	const char *colon;
	size_t i;

	if (is_ows((unsigned char)line[0]))
		return; /* obs-fold continuation of the previous line */
	colon = memchr(line, ':', n);
	if (!colon || colon == line)
		return;
	for (i = 0; line + i < colon; i++) {
		if (!is_tchar((unsigned char)line[i]))
			return;
	}
	on_field(h, (struct span){line, (size_t)(colon - line)},
		 trim(colon + 1, n - (size_t)(colon - line) - 1));
}

/* ---- per-byte state machine ---- */

static void head_done(struct http_head *h)
{
	if (h->kind == HTTP_HEAD_REQUEST)
		h->upgrade = h->conn_upgrade && h->upgrade_hdr;
	else
		h->upgrade = h->status == 101;
	h->phase = PH_DONE;
}

static void start_headers(struct http_head *h)
{
	h->phase = PH_HEADERS;
	h->start_line_done = true;
	h->line_len = 0;
	h->line_overflow = false;
}

/* Line end inside the start line: only legal where the grammar may end. */
static void start_line_end(struct http_head *h)
{
	switch (h->phase) {
	case PH_START:
		/* RFC 9112 2.2: ignore empty lines before the start line */
		break;
	case PH_REQ_VERSION:
		if (h->tok_len == VERSION_PREFIX_LEN + 1)
			start_headers(h);
		else
			fail(h);
		break;
	case PH_STATUS:
		if (h->tok_len == 3)
			start_headers(h); /* reason phrase is optional */
		else
			fail(h);
		break;
	case PH_REASON:
		start_headers(h);
		break;
	default:
		fail(h);
		break;
	}
}

/* "HTTP/1.x": position tok_len of the version must be c. */
static bool version_byte(struct http_head *h, unsigned char c)
{
	if (h->tok_len < VERSION_PREFIX_LEN) {
		if (c != (unsigned char)version_prefix[h->tok_len])
			return false;
	} else if (h->tok_len == VERSION_PREFIX_LEN) {
		if (!is_digit(c))
			return false;
		h->version_minor = c - '0';
	} else {
		return false;
	}
	h->tok_len++;
	return true;
}

static void method_byte(struct http_head *h, unsigned char c)
{
	if (c == ' ' && h->tok_len > 0) {
		h->method[h->tok_len] = '\0';
		h->phase = PH_TARGET;
		h->tok_len = 0;
	} else if (is_tchar(c) && h->tok_len < HTTP_METHOD_MAX - 1) {
		h->method[h->tok_len++] = (char)c;
	} else {
		fail(h);
	}
}

static void target_byte(struct http_head *h, unsigned char c)
{
	if (c == ' ' && h->tok_len > 0) {
		h->phase = PH_REQ_VERSION;
		h->tok_len = 0;
	} else if (c == ' ' || is_ctl(c) || c == '\t') {
		fail(h);
	} else {
		/* obs-text is kept: path_normalise() sanitises it later */
		if (h->tok_len < HTTP_TARGET_MAX - 1) {
			h->target[h->tok_len] = (char)c;
			h->target[h->tok_len + 1] = '\0';
		}
		if (h->tok_len < UINT32_MAX)
			h->tok_len++;
	}
}

static void resp_version_byte(struct http_head *h, unsigned char c)
{
	if (h->tok_len == VERSION_PREFIX_LEN + 1 && c == ' ') {
		h->phase = PH_STATUS;
		h->tok_len = 0;
	} else if (!version_byte(h, c)) {
		fail(h);
	}
}

static void status_byte(struct http_head *h, unsigned char c)
{
	if (h->tok_len == 3 && c == ' ') {
		h->phase = PH_REASON;
	} else if (h->tok_len < 3 && is_digit(c) && (h->tok_len > 0 || c != '0')) {
		h->status = h->status * 10 + (c - '0');
		h->tok_len++;
	} else {
		fail(h);
	}
}

static void start_byte(struct http_head *h, unsigned char c)
{
	if (h->saw_cr) {
		h->saw_cr = false;
		if (c == '\n')
			start_line_end(h);
		else
			fail(h); /* bare CR in the start line */
		return;
	}
	if (c == '\r') {
		h->saw_cr = true;
		return;
	}
	if (c == '\n') {
		start_line_end(h);
		return;
	}
	if (h->phase == PH_START) {
		h->phase = h->kind == HTTP_HEAD_REQUEST ? PH_METHOD : PH_RESP_VERSION;
		h->tok_len = 0;
	}
	switch (h->phase) {
	case PH_METHOD:
		method_byte(h, c);
		break;
	case PH_TARGET:
		target_byte(h, c);
		break;
	case PH_REQ_VERSION:
		if (!version_byte(h, c))
			fail(h);
		break;
	case PH_RESP_VERSION:
		resp_version_byte(h, c);
		break;
	case PH_STATUS:
		status_byte(h, c);
		break;
	case PH_REASON:
		if (is_ctl(c))
			fail(h);
		break;
	default:
		fail(h);
		break;
	}
}

static void line_put(struct http_head *h, unsigned char c)
{
	if (h->line_len < HTTP_LINE_MAX)
		h->line[h->line_len++] = (char)c;
	else
		h->line_overflow = true;
}

static void field_line_end(struct http_head *h)
{
	if (h->line_len == 0 && !h->line_overflow) {
		head_done(h);
		return;
	}
	if (!h->line_overflow)
		field_line(h, h->line, h->line_len);
	h->line_len = 0;
	h->line_overflow = false;
}

static void header_byte(struct http_head *h, unsigned char c)
{
	if (h->saw_cr) {
		h->saw_cr = false;
		if (c == '\n') {
			field_line_end(h);
			return;
		}
		/* RFC 9112 2.2 lets a recipient read a bare CR as SP */
		line_put(h, ' ');
	}
	if (c == '\r')
		h->saw_cr = true;
	else if (c == '\n')
		field_line_end(h);
	else
		line_put(h, c);
}

enum http_head_result http_head_feed(struct http_head *h, const char *buf, size_t len, size_t *used)
{
	size_t i;

	if (h->phase == PH_DONE || h->phase == PH_ERROR) {
		h->phase = PH_ERROR;
		*used = 0;
		return HTTP_HEAD_ERROR;
	}
	/* on ERROR, *used counts the byte that made it fail */
	for (i = 0; i < len; i++) {
		if (h->total >= HTTP_HEAD_MAX)
			fail(h); /* this byte would make the head too long */
		else if (h->phase == PH_HEADERS)
			header_byte(h, (unsigned char)buf[i]);
		else
			start_byte(h, (unsigned char)buf[i]);
		h->total++;
		if (h->phase == PH_DONE) {
			*used = i + 1;
			return HTTP_HEAD_DONE;
		}
		if (h->phase == PH_ERROR) {
			*used = i + 1;
			return HTTP_HEAD_ERROR;
		}
	}
	*used = len;
	return HTTP_HEAD_NEED_MORE;
}

/* ---- body length ---- */

/*
 * RFC 9112 6.3. Content-Length 0 is reported as NONE so that callers have
 * one case for "no body bytes". A response whose Transfer-Encoding does not
 * end in chunked, or whose Content-Length is invalid, is read until close;
 * such a request cannot be framed (the server answers 400 and closes), so
 * it is NONE. A 2xx answer to CONNECT is a tunnel: the caller knows the
 * method, this function does not.
 */
enum http_body_mode http_body_mode(const struct http_head *h, bool head_request)
{
	bool response = h->kind == HTTP_HEAD_RESPONSE;

	if (response && (head_request || (h->status >= 100 && h->status < 200) ||
			 h->status == 204 || h->status == 304))
		return HTTP_BODY_NONE;
	if (h->chunked)
		return HTTP_BODY_CHUNKED;
	if (h->te_present)
		return response ? HTTP_BODY_UNTIL_CLOSE : HTTP_BODY_NONE;
	if (h->content_length > 0)
		return HTTP_BODY_LENGTH;
	if (h->content_length == 0 || !response)
		return HTTP_BODY_NONE;
	return HTTP_BODY_UNTIL_CLOSE;
}
