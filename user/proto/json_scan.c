// SPDX-License-Identifier: MIT
/*
 * Incremental scan of a JSON body for top-level "model" and "stream" (see
 * json_scan.h).
 *
 * Only the top-level object is parsed; a nested value is skipped by
 * counting brackets outside strings, with a counter instead of recursion,
 * so memory is fixed however deep the body nests. The state machine takes
 * one byte at a time and keeps everything it needs in the struct, so the
 * result is the same for any split of the body.
 */
#include "core/ascii.h"
#include "proto/json_scan.h"

#include <string.h>

enum {
	JS_START,	/* before the top-level '{' */
	JS_KEY_OR_END,	/* after '{': a key or '}' */
	JS_KEY_START,	/* after ',': a key */
	JS_KEY,		/* inside a key string */
	JS_COLON,	/* after a key */
	JS_VALUE,	/* after ':' */
	JS_STRING,	/* inside a top-level string value */
	JS_LITERAL,	/* inside true/false/null or a number */
	JS_NESTED,	/* inside a nested object or array */
	JS_AFTER_VALUE, /* after a value: ',' or '}' */
	JS_END,		/* top-level object closed: the rest is ignored */
};

enum {
	WANT_NONE,
	WANT_MODEL,
	WANT_STREAM,
};

#define KEY_MAX (sizeof(((struct json_scan *)0)->key) - 1)
#define LIT_MAX (sizeof(((struct json_scan *)0)->lit))

void json_scan_init(struct json_scan *s)
{
	memset(s, 0, sizeof(*s));
	s->state = JS_START;
	s->stream = -1;
}

static void fail(struct json_scan *s)
{
	s->failed = true;
}

/*
 * One decoded character of a top-level string: a raw byte, or the code
 * unit of an escape. Key characters are kept while the key may still be
 * one we look for; anything but ASCII means it cannot be.
 */
static void string_char(struct json_scan *s, unsigned int ch)
{
	if (s->state == JS_KEY) {
		if (ch >= 0x80 || ch == 0 || s->key_len >= KEY_MAX)
			s->key_overflow = true;
		else
			s->key[s->key_len++] = (char)ch;
		return;
	}
	if (s->want == WANT_MODEL && s->model_len < JSON_MODEL_MAX - 1) {
		s->model[s->model_len++] = (ch >= 0x20 && ch < 0x7f) ? (char)ch : '_';
		s->model[s->model_len] = '\0';
	}
}

static void string_end(struct json_scan *s)
{
	if (s->state == JS_KEY) {
		s->key[s->key_len] = '\0';
		s->state = JS_COLON;
		return;
	}
	if (s->want == WANT_MODEL)
		s->model_found = true;
	s->state = JS_AFTER_VALUE;
}

static void escape_char(struct json_scan *s, unsigned char c)
{
	static const char from[] = "\"\\/bfnrt";
	static const char to[] = "\"\\/\b\f\n\r\t";
	const char *p;

	if (c == 'u') {
		s->esc_hex = 4;
		s->esc_value = 0;
		return;
	}
	p = c ? strchr(from, c) : NULL;
	if (!p) {
		fail(s); /* not a JSON escape */
		return;
	}
	string_char(s, (unsigned char)to[p - from]);
}

/*
 * A byte inside a top-level key or string value. \uXXXX gives one
 * character per escape: a surrogate pair becomes two '_' in the model.
 */
static void string_byte(struct json_scan *s, unsigned char c)
{
	if (s->esc_hex > 0) {
		int v = hex_value(c);

		if (v < 0) {
			fail(s);
			return;
		}
		s->esc_value = (uint16_t)(s->esc_value * 16 + v);
		if (--s->esc_hex == 0)
			string_char(s, s->esc_value);
	} else if (s->escape) {
		s->escape = false;
		escape_char(s, c);
	} else if (c == '\\') {
		s->escape = true;
	} else if (c == '"') {
		string_end(s);
	} else {
		string_char(s, c);
	}
}

static void begin_key(struct json_scan *s)
{
	s->state = JS_KEY;
	s->key_len = 0;
	s->key_overflow = false;
	s->key[0] = '\0';
}

/* Which value the key just read asks for; the first valid value wins. */
static void choose_want(struct json_scan *s)
{
	s->want = WANT_NONE;
	if (s->key_overflow)
		return;
	if (strcmp(s->key, "model") == 0 && !s->model_found)
		s->want = WANT_MODEL;
	else if (strcmp(s->key, "stream") == 0 && s->stream < 0)
		s->want = WANT_STREAM;
}

static void literal_end(struct json_scan *s)
{
	if (s->want != WANT_STREAM || s->lit_len > 5)
		return;
	if (s->lit_len == 4 && memcmp(s->lit, "true", 4) == 0)
		s->stream = 1;
	else if (s->lit_len == 5 && memcmp(s->lit, "false", 5) == 0)
		s->stream = 0;
}

static void after_value(struct json_scan *s, unsigned char c)
{
	if (json_is_ws(c))
		return;
	if (c == ',')
		s->state = JS_KEY_START;
	else if (c == '}')
		s->state = JS_END;
	else
		fail(s);
}

static void value_start(struct json_scan *s, unsigned char c)
{
	if (json_is_ws(c))
		return;
	if (c == '"') {
		if (s->want == WANT_MODEL) {
			s->model_len = 0;
			s->model[0] = '\0';
		} else {
			s->want = WANT_NONE;
		}
		s->state = JS_STRING;
	} else if (c == '{' || c == '[') {
		json_skip_start(&s->skip);
		s->state = JS_NESTED;
	} else if (json_is_literal_char(c)) {
		s->lit[0] = (char)c;
		s->lit_len = 1;
		s->state = JS_LITERAL;
	} else {
		fail(s);
	}
}

static void literal_byte(struct json_scan *s, unsigned char c)
{
	if (json_is_literal_char(c)) {
		/* lit_len == LIT_MAX means "too long to be true/false" */
		if (s->lit_len < LIT_MAX)
			s->lit[s->lit_len++] = (char)c;
		return;
	}
	literal_end(s);
	s->state = JS_AFTER_VALUE;
	after_value(s, c);
}

static void nested_byte(struct json_scan *s, unsigned char c)
{
	switch (json_skip_byte(&s->skip, c)) {
	case JSON_SKIP_DONE:
		s->state = JS_AFTER_VALUE;
		break;
	case JSON_SKIP_TOO_DEEP:
		fail(s);
		break;
	case JSON_SKIP_MORE:
		break;
	}
}

static void scan_byte(struct json_scan *s, unsigned char c)
{
	switch (s->state) {
	case JS_START:
		if (c == '{')
			s->state = JS_KEY_OR_END;
		else if (!json_is_ws(c))
			fail(s);
		break;
	case JS_KEY_OR_END:
	case JS_KEY_START:
		if (c == '"')
			begin_key(s);
		else if (c == '}' && s->state == JS_KEY_OR_END)
			s->state = JS_END;
		else if (!json_is_ws(c))
			fail(s);
		break;
	case JS_KEY:
	case JS_STRING:
		string_byte(s, c);
		break;
	case JS_COLON:
		if (c == ':') {
			choose_want(s);
			s->state = JS_VALUE;
		} else if (!json_is_ws(c)) {
			fail(s);
		}
		break;
	case JS_VALUE:
		value_start(s, c);
		break;
	case JS_LITERAL:
		literal_byte(s, c);
		break;
	case JS_NESTED:
		nested_byte(s, c);
		break;
	case JS_AFTER_VALUE:
		after_value(s, c);
		break;
	default: /* JS_END */
		break;
	}
}

void json_scan_feed(struct json_scan *s, const char *buf, size_t len)
{
	size_t i;

	for (i = 0; i < len && !s->failed && s->state != JS_END; i++)
		scan_byte(s, (unsigned char)buf[i]);
}
