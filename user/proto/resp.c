// SPDX-License-Identifier: MIT
#include <string.h>

#include "core/ascii.h"
#include "proto/resp.h"

enum {
	ST_TYPE,   /* a value's type byte */
	ST_LINE,   /* a line, up to its CR */
	ST_LF,	   /* the LF after it */
	ST_BULK,   /* a bulk string's payload and CRLF */
	ST_INLINE, /* an inline command, up to its LF */
	ST_LOST,
};

void resp_init(struct resp_parser *p, bool commands)
{
	memset(p, 0, sizeof(*p));
	p->commands = commands;
}

static enum resp_event lose(struct resp_parser *p)
{
	p->state = ST_LOST;
	return RESP_LOST;
}

static char upper(char c)
{
	return c >= 'a' && c <= 'z' ? c - 'a' + 'A' : c;
}

/* The summary of the value at the current depth, or NULL when none is
 * kept: below the top value's elements, or inside an attribute. */
static struct resp_value *summary(struct resp_parser *p, uint32_t depth)
{
	return depth <= 1 && !p->attrs ? &p->val[depth] : NULL;
}

static void keep(struct resp_parser *p, const char *buf, size_t n)
{
	size_t room = sizeof(p->str) - 1 - p->str_len;

	if (p->str_cut)
		return;
	if (n > room) {
		n = room;
		p->str_cut = true;
	}
	memcpy(p->str + p->str_len, buf, n);
	p->str_len += n;
	p->str[p->str_len] = '\0';
}

static void set_head(struct resp_value *v, const char *s, size_t n, bool cut)
{
	size_t i;

	if (n > sizeof(v->head) - 1) {
		n = sizeof(v->head) - 1;
		cut = true;
	}
	for (i = 0; i < n; i++)
		v->head[i] = upper(s[i]);
	v->head[n] = '\0';
	v->head_cut = cut;
}

/* The string just read is the element at index idx of v. */
static void take_string(struct resp_parser *p, struct resp_value *v, uint64_t idx, bool top)
{
	struct resp_arg *a;

	if (idx == 0) {
		set_head(v, p->str, p->str_len, p->str_cut);
		return;
	}
	if (!top || idx > RESP_ARGS)
		return;
	a = &v->arg[idx - 1];
	memcpy(a->s, p->str, p->str_len + 1);
	a->len = p->str_len;
	a->cut = p->str_cut;
}

/* The parent of the value that ended counts it. */
static void count_element(struct resp_parser *p, const struct resp_frame *f)
{
	struct resp_value *v = summary(p, p->depth - 1);
	const struct resp_ended *e = &p->ended;

	if (!v)
		return;
	if (e->nil)
		v->elems_nil++;
	if (e->type == RESP_ERROR || e->type == RESP_BULK_ERROR)
		v->elems_error++;
	if (e->type == RESP_INTEGER)
		v->integer = e->integer;
	if (e->string)
		take_string(p, v, v->count - f->left, p->depth == 1);
}

/*
 * The value at the current depth ended: its parent counts it, and ends in
 * turn after its last element, up to the top-level value. An element of
 * the top array is reported on its own first (pending holds the rest).
 */
static enum resp_event ascend(struct resp_parser *p)
{
	while (p->depth > 0) {
		struct resp_frame *f = &p->stack[p->depth - 1];
		bool element =
		    p->depth == 1 && p->elements && !p->attrs && p->val[0].type == RESP_ARRAY;

		if (!p->attrs)
			count_element(p, f);
		if (--f->left > 0)
			return element ? RESP_ELEMENT : RESP_MORE;
		p->depth--;
		if (f->attr) { /* the value it annotates is still to come */
			p->attrs--;
			return RESP_MORE;
		}
		memset(&p->ended, 0, sizeof(p->ended));
		p->ended.type = RESP_ARRAY; /* any aggregate: nothing of it is counted */
		if (element) {
			p->pending = true;
			return RESP_ELEMENT;
		}
	}
	return RESP_VALUE;
}

static bool is_string_type(char t)
{
	return t == '+' || t == '$' || t == '=';
}

/* A scalar ended: its own summary, then its parent's. */
static enum resp_event scalar_done(struct resp_parser *p, enum resp_type type, bool nil,
				   int64_t integer)
{
	struct resp_value *v = summary(p, p->depth);

	p->state = ST_TYPE;
	p->ended = (struct resp_ended){type, nil, !nil && is_string_type(p->type), integer};
	if (v) {
		v->nil = nil;
		v->integer = integer;
		if (type == RESP_SIMPLE || type == RESP_ERROR || type == RESP_BULK_ERROR) {
			char *sp = memchr(p->str, ' ', p->str_len);

			set_head(v, p->str, sp ? (size_t)(sp - p->str) : p->str_len,
				 !sp && p->str_cut);
		}
	}
	return ascend(p);
}

/* A decimal line that fits an int64: optional '-', 1 to 19 digits. */
static bool parse_int(const struct resp_parser *p, int64_t *out)
{
	const char *s = p->str;
	bool neg = s[0] == '-';
	size_t i = neg, n = p->str_len;
	uint64_t x = 0;

	if (p->str_cut || n == i || n - i > 19)
		return false;
	for (; i < n; i++) {
		if (!is_digit(s[i]))
			return false;
		x = x * 10 + (s[i] - '0');
	}
	if (x > (uint64_t)INT64_MAX + neg)
		return false;
	*out = neg ? (int64_t)(0 - x) : (int64_t)x;
	return true;
}

/* The type bytes, in the order of enum resp_type from RESP_SIMPLE. */
static const char type_bytes[] = "+-:$*_,#(!=%~>";

/* RESP_NONE for an attribute's '|', or not RESP. */
static enum resp_type type_of(char t)
{
	const char *at = t ? strchr(type_bytes, t) : NULL;

	return at ? (enum resp_type)(RESP_SIMPLE + (at - type_bytes)) : RESP_NONE;
}

static enum resp_event bulk_begin(struct resp_parser *p, int64_t n)
{
	if (n == -1 && p->type == '$' && !p->commands)
		return scalar_done(p, RESP_BULK, true, 0);
	if (n < 0 || (uint64_t)n > RESP_BULK_MAX)
		return lose(p);
	p->bulk_left = (uint64_t)n + 2;
	p->str_len = 0;
	p->str_cut = false;
	p->str[0] = '\0';
	p->state = ST_BULK;
	return RESP_MORE;
}

static enum resp_event aggregate_begin(struct resp_parser *p, int64_t n)
{
	struct resp_value *v = summary(p, p->depth);
	bool attr = p->type == '|';

	if (n == -1 && p->type == '*') /* a command of none: Redis skips it */
		return scalar_done(p, RESP_ARRAY, true, 0);
	if (n < 0 || (uint64_t)n > RESP_COUNT_MAX)
		return lose(p);
	if (p->type == '%' || attr)
		n *= 2;
	if (v && !attr)
		v->count = n;
	p->state = ST_TYPE;
	if (n == 0) /* an empty attribute annotates the value to come */
		return attr ? RESP_MORE : scalar_done(p, type_of(p->type), false, 0);
	if (p->depth == RESP_DEPTH_MAX)
		return lose(p);
	p->stack[p->depth++] = (struct resp_frame){(uint64_t)n, attr};
	p->attrs += attr;
	return RESP_MORE;
}

static enum resp_event line_done(struct resp_parser *p)
{
	int64_t n = 0;
	char t = p->type;

	switch (t) {
	case '+':
	case '-':
	case ',':
	case '(':
		return scalar_done(p, type_of(t), false, 0);
	case '_':
		return p->str_len ? lose(p) : scalar_done(p, RESP_NULL, true, 0);
	case '#':
		if (p->str_len != 1 || (p->str[0] != 't' && p->str[0] != 'f'))
			return lose(p);
		return scalar_done(p, RESP_BOOLEAN, false, 0);
	}
	if (!parse_int(p, &n))
		return lose(p);
	if (t == ':')
		return scalar_done(p, RESP_INTEGER, false, n);
	if (t == '$' || t == '!' || t == '=')
		return bulk_begin(p, n);
	return aggregate_begin(p, n);
}

/* A type byte: a value begins. */
static enum resp_event value_begin(struct resp_parser *p, char t)
{
	struct resp_value *v = summary(p, p->depth);

	if (p->commands && (p->depth ? t != '$' : t != '*'))
		return lose(p); /* Redis reads nothing else */
	if (type_of(t) == RESP_NONE && t != '|')
		return lose(p);
	if (v && t != '|') {
		memset(v, 0, sizeof(*v));
		v->type = type_of(t);
	}
	p->type = t;
	p->line_len = 0;
	p->str_len = 0;
	p->str_cut = false;
	p->str[0] = '\0';
	p->state = ST_LINE;
	return RESP_MORE;
}

/* Line bytes up to a CR; an LF or too long a line is not RESP. */
static enum resp_event line_bytes(struct resp_parser *p, const char *buf, size_t len, size_t *i)
{
	size_t start = *i, end = start;

	while (end < len && buf[end] != '\r' && buf[end] != '\n')
		end++;
	p->line_len += end - start;
	if (p->line_len > RESP_LINE_MAX || (end < len && buf[end] == '\n'))
		return lose(p);
	keep(p, buf + start, end - start);
	*i = end;
	if (end < len) {
		p->state = ST_LF;
		(*i)++;
	}
	return RESP_MORE;
}

/* Payload bytes are kept up to str's size; its CRLF must follow. */
static enum resp_event bulk_bytes(struct resp_parser *p, const char *buf, size_t len, size_t *i)
{
	size_t n;

	if (p->bulk_left > 2) {
		n = len - *i;
		if (n > p->bulk_left - 2)
			n = p->bulk_left - 2;
		keep(p, buf + *i, n);
		*i += n;
		p->bulk_left -= n;
		return RESP_MORE;
	}
	if (buf[(*i)++] != (p->bulk_left == 2 ? '\r' : '\n'))
		return lose(p);
	if (--p->bulk_left > 0)
		return RESP_MORE;
	return scalar_done(p, type_of(p->type), false, 0);
}

/* An inline command: words split by blanks, up to the LF; an empty line
 * is no command (Redis skips it). Quotes are not interpreted. */
static enum resp_event inline_byte(struct resp_parser *p, char c)
{
	struct resp_value *v = &p->val[0];
	bool blank = c == ' ' || c == '\t' || c == '\r' || c == '\n';

	if (++p->line_len > RESP_LINE_MAX)
		return lose(p);
	if (blank && p->in_word) {
		take_string(p, v, v->count++, true);
		p->in_word = false;
	} else if (!blank) {
		if (!p->in_word) {
			p->str_len = 0;
			p->str_cut = false;
			p->in_word = true;
		}
		keep(p, &c, 1);
	}
	if (c != '\n')
		return RESP_MORE;
	p->state = ST_TYPE;
	return v->count ? RESP_VALUE : RESP_MORE;
}

static enum resp_event step(struct resp_parser *p, const char *buf, size_t len, size_t *i)
{
	switch (p->state) {
	case ST_TYPE:
		if (p->depth == 0)
			p->starts++;
		if (p->commands && p->depth == 0 && buf[*i] != '*') {
			memset(&p->val[0], 0, sizeof(p->val[0]));
			p->val[0].type = RESP_INLINE;
			p->line_len = 0;
			p->state = ST_INLINE;
			return RESP_MORE;
		}
		return value_begin(p, buf[(*i)++]);
	case ST_LINE:
		return line_bytes(p, buf, len, i);
	case ST_LF:
		if (buf[(*i)++] != '\n')
			return lose(p);
		return line_done(p);
	case ST_BULK:
		return bulk_bytes(p, buf, len, i);
	case ST_INLINE:
		return inline_byte(p, buf[(*i)++]);
	default:
		return RESP_LOST;
	}
}

enum resp_event resp_feed(struct resp_parser *p, const char *buf, size_t len, size_t *used)
{
	enum resp_event ev = RESP_MORE;
	size_t i = 0;

	if (p->pending && p->state != ST_LOST) {
		p->pending = false;
		ev = ascend(p);
	}
	while (ev == RESP_MORE && i < len && p->state != ST_LOST)
		ev = step(p, buf, len, &i);
	*used = i;
	return p->state == ST_LOST ? RESP_LOST : ev;
}

enum resp_event resp_skip(struct resp_parser *p, uint64_t n)
{
	if (p->state == ST_LOST)
		return RESP_LOST;
	if (n == 0)
		return RESP_MORE;
	if (p->state != ST_BULK || n > p->bulk_left)
		return lose(p);
	p->str_cut = true; /* what follows is not what came next */
	p->bulk_left -= n;
	if (p->bulk_left > 0)
		return RESP_MORE;
	return scalar_done(p, type_of(p->type), false, 0);
}
