// SPDX-License-Identifier: MIT
/*
 * Token usage from a response body (see usage_scan.h).
 *
 * Two layers, both taking one byte (or one run of plain bytes) at a time
 * and keeping all they need in the struct, so that any split of the body
 * gives the same result: the event-stream splitter of proto/sse.c, which
 * passes on the data of each event, and a JSON scanner that keeps one bit
 * per open container (object or array, usage object or not) instead of a
 * parse tree. Containers deeper than USAGE_DEPTH_MAX are skipped by counting
 * brackets, so memory is fixed however deep the body nests.
 */
#include "llm/usage_scan.h"

#include <string.h>

#include "core/ascii.h"

enum {
	UJ_VALUE,	 /* a value: after ':', after ',' in an array, top level */
	UJ_VALUE_OR_END, /* after '[': a value or ']' */
	UJ_KEY_OR_END,	 /* after '{': a key or '}' */
	UJ_KEY_START,	 /* after ',' in an object: a key */
	UJ_KEY,		 /* inside a key */
	UJ_COLON,	 /* after a key */
	UJ_STRING,	 /* inside a string value */
	UJ_LITERAL,	 /* inside a number, true, false or null */
	UJ_AFTER_VALUE,	 /* ',' or the closing bracket; at top level, another value */
	UJ_SKIP,	 /* inside a value nested too deep */
};

enum {
	WANT_NONE,
	WANT_USAGE, /* an object value is a usage object */
	WANT_PROMPT,
	WANT_COMPLETION,
	WANT_TOTAL,
};

static const struct {
	const char *key;
	uint8_t want;
} keys[] = {
    {"usage", WANT_USAGE},
    {"usageMetadata", WANT_USAGE},
    {"prompt_tokens", WANT_PROMPT},
    {"input_tokens", WANT_PROMPT},
    {"promptTokenCount", WANT_PROMPT},
    {"completion_tokens", WANT_COMPLETION},
    {"output_tokens", WANT_COMPLETION},
    {"candidatesTokenCount", WANT_COMPLETION},
    {"total_tokens", WANT_TOTAL},
    {"totalTokenCount", WANT_TOTAL},
};

/* ---- JSON ---- */

static void json_init(struct usage_json *j)
{
	memset(j, 0, sizeof(*j));
	j->state = UJ_VALUE;
}

static void fail(struct usage_json *j)
{
	j->failed = true;
}

static uint32_t top_bit(const struct usage_json *j)
{
	return j->depth ? 1u << (j->depth - 1) : 0;
}

static bool in_object(const struct usage_json *j)
{
	return j->obj_bits & top_bit(j);
}

static bool in_usage(const struct usage_json *j)
{
	return j->usage_bits & top_bit(j);
}

static void push(struct usage_json *j, bool object, bool usage)
{
	uint32_t bit;

	if (j->depth == USAGE_DEPTH_MAX) {
		json_skip_start(&j->skip);
		j->state = UJ_SKIP;
		return;
	}
	j->depth++;
	bit = top_bit(j);
	j->obj_bits = object ? j->obj_bits | bit : j->obj_bits & ~bit;
	j->usage_bits = usage ? j->usage_bits | bit : j->usage_bits & ~bit;
	j->want = WANT_NONE;
	j->state = object ? UJ_KEY_OR_END : UJ_VALUE_OR_END;
}

static void pop(struct usage_json *j)
{
	j->depth--;
	j->want = WANT_NONE;
	j->state = UJ_AFTER_VALUE;
}

static void value_start(struct usage_json *j, unsigned char c)
{
	if (json_is_ws(c))
		return;
	if (c == '"') {
		j->escape = false;
		j->state = UJ_STRING;
	} else if (c == '{') {
		push(j, true, j->want == WANT_USAGE);
	} else if (c == '[') {
		push(j, false, false);
	} else if (json_is_literal_char(c)) {
		j->lit[0] = (char)c;
		j->lit_len = 1;
		j->lit_number = is_digit(c);
		j->lit_value = is_digit(c) ? c - '0' : 0;
		j->state = UJ_LITERAL;
	} else {
		fail(j);
	}
}

/* At top level a value may follow another one: NDJSON, or two texts. */
static void after_value(struct usage_json *j, unsigned char c)
{
	if (j->depth == 0) {
		value_start(j, c);
	} else if (json_is_ws(c)) {
		return;
	} else if (c == ',') {
		j->want = WANT_NONE;
		j->state = in_object(j) ? UJ_KEY_START : UJ_VALUE;
	} else if (c == (in_object(j) ? '}' : ']')) {
		pop(j);
	} else {
		fail(j);
	}
}

static void begin_key(struct usage_json *j)
{
	j->state = UJ_KEY;
	j->escape = false;
	j->key_len = 0;
	j->key_other = false;
}

static void key_start(struct usage_json *j, unsigned char c, bool end_ok)
{
	if (c == '"')
		begin_key(j);
	else if (c == '}' && end_ok)
		pop(j);
	else if (!json_is_ws(c))
		fail(j);
}

/* A byte of a key: kept while the key may still be one of ours. */
static void key_char(struct usage_json *j, unsigned char c)
{
	if (c == 0 || c >= 0x80 || j->key_len >= USAGE_KEY_MAX)
		j->key_other = true;
	else
		j->key[j->key_len++] = (char)c;
}

/*
 * A byte of a key or string value; only where it ends matters, and for
 * a key its bytes. A key written with escapes is none of ours: encoders
 * escape quotes, backslashes and control characters, never the letters
 * of "usage" or "prompt_tokens".
 */
static void string_byte(struct usage_json *j, unsigned char c, uint8_t end_state)
{
	if (j->escape) {
		j->escape = false; /* \uXXXX needs nothing: hex has no '"' */
	} else if (c == '\\') {
		j->escape = true;
		j->key_other = true;
	} else if (c == '"') {
		j->state = end_state;
	} else if (j->state == UJ_KEY) {
		key_char(j, c);
	}
}

/* Usage keys count in any object, token keys only in a usage object. */
static void choose_want(struct usage_json *j)
{
	size_t i;

	j->want = WANT_NONE;
	if (j->key_other)
		return;
	for (i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
		if (strlen(keys[i].key) != j->key_len || memcmp(keys[i].key, j->key, j->key_len))
			continue;
		if (keys[i].want == WANT_USAGE || in_usage(j))
			j->want = keys[i].want;
		return;
	}
}

static void colon(struct usage_json *j, unsigned char c)
{
	if (c == ':') {
		choose_want(j);
		j->state = UJ_VALUE;
	} else if (!json_is_ws(c)) {
		fail(j);
	}
}

static void skip_byte(struct usage_json *j, unsigned char c)
{
	switch (json_skip_byte(&j->skip, c)) {
	case JSON_SKIP_DONE:
		j->state = UJ_AFTER_VALUE;
		break;
	case JSON_SKIP_TOO_DEEP:
		fail(j);
		break;
	case JSON_SKIP_MORE:
		break;
	}
}

static void count(struct usage *max, uint8_t want, int64_t v)
{
	int64_t *field;

	if (want == WANT_PROMPT)
		field = &max->prompt;
	else if (want == WANT_COMPLETION)
		field = &max->completion;
	else if (want == WANT_TOTAL)
		field = &max->total;
	else
		return;
	if (v > *field)
		*field = v;
}

/*
 * A word is true, false or null, or the text is not JSON: without this
 * check, prose such as "see {...}" would pass for a run of values.
 * Numbers are not checked further: only plain digits count anyway.
 */
static bool literal_ok(const struct usage_json *j)
{
	static const char *const words[] = {"true", "false", "null"};
	size_t i;

	if (j->lit[0] == '-' || is_digit((unsigned char)j->lit[0]))
		return true;
	for (i = 0; i < sizeof(words) / sizeof(words[0]); i++) {
		if (strlen(words[i]) == j->lit_len && memcmp(words[i], j->lit, j->lit_len) == 0)
			return true;
	}
	return false;
}

/*
 * The literal counts once a valid delimiter ends it: a number cut short
 * by the end of the body ("12" of "123") is not a token count.
 */
static void literal_byte(struct usage_scan *s, unsigned char c)
{
	struct usage_json *j = &s->json;
	uint8_t want = j->want;

	if (json_is_literal_char(c)) {
		if (j->lit_len < sizeof(j->lit))
			j->lit[j->lit_len] = (char)c;
		if (j->lit_len < UINT8_MAX)
			j->lit_len++;
		if (!is_digit(c))
			j->lit_number = false;
		else if (j->lit_value <= USAGE_TOKENS_MAX)
			j->lit_value = j->lit_value * 10 + (c - '0');
		return;
	}
	if (!literal_ok(j)) {
		fail(j);
		return;
	}
	j->state = UJ_AFTER_VALUE;
	after_value(j, c);
	if (!j->failed && j->lit_number && j->lit_value <= USAGE_TOKENS_MAX)
		count(&s->max, want, (int64_t)j->lit_value);
}

static void json_byte(struct usage_scan *s, unsigned char c)
{
	struct usage_json *j = &s->json;

	switch (j->state) {
	case UJ_VALUE:
		value_start(j, c);
		break;
	case UJ_VALUE_OR_END:
		if (c == ']')
			pop(j);
		else
			value_start(j, c);
		break;
	case UJ_KEY_OR_END:
	case UJ_KEY_START:
		key_start(j, c, j->state == UJ_KEY_OR_END);
		break;
	case UJ_KEY:
		string_byte(j, c, UJ_COLON);
		break;
	case UJ_COLON:
		colon(j, c);
		break;
	case UJ_STRING:
		string_byte(j, c, UJ_AFTER_VALUE);
		break;
	case UJ_LITERAL:
		literal_byte(s, c);
		break;
	case UJ_AFTER_VALUE:
		after_value(j, c);
		break;
	default: /* UJ_SKIP */
		skip_byte(j, c);
		break;
	}
}

static void json_feed(struct usage_scan *s, const char *buf, size_t len)
{
	size_t i;

	for (i = 0; i < len && !s->json.failed; i++)
		json_byte(s, (unsigned char)buf[i]);
}

/* ---- event stream ---- */

static void event_data(void *ctx, const char *buf, size_t len)
{
	json_feed(ctx, buf, len);
}

/* Each event's data is a JSON text of its own. */
static void event_end(void *ctx, const struct sse_event *ev)
{
	struct usage_scan *s = ctx;

	(void)ev;
	json_init(&s->json);
}

/* ---- API ---- */

void usage_scan_init(struct usage_scan *s, bool sse)
{
	memset(s, 0, sizeof(*s));
	s->sse = sse;
	sse_splitter_init(&s->events, event_data);
	json_init(&s->json);
	s->max.prompt = -1;
	s->max.completion = -1;
	s->max.total = -1;
}

void usage_scan_feed(struct usage_scan *s, const char *buf, size_t len)
{
	if (s->sse)
		sse_feed(&s->events, buf, len, event_end, s);
	else
		json_feed(s, buf, len);
}

void usage_scan_result(const struct usage_scan *s, struct usage *u)
{
	*u = s->max;
	if (u->total < 0 && u->prompt >= 0 && u->completion >= 0)
		u->total = u->prompt + u->completion;
}
