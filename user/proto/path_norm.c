// SPDX-License-Identifier: MIT
/*
 * Request target -> low-cardinality path label (see path_norm.h).
 *
 * Each '/'-separated segment is classified on its raw bytes, then either
 * replaced by ":id" or copied with unsafe bytes turned into '_'. The rules
 * aim at the ids that explode label cardinality (numeric ids, UUIDs,
 * hashes, opaque tokens) while leaving words like "v1" or "completions".
 */
#include "core/ascii.h"
#include "proto/path_norm.h"

#include <stdbool.h>
#include <string.h>
#include <strings.h>

#define ID_LABEL     ":id"
#define HEX_ID_MIN   16 /* shortest all-hex segment taken as an id */
#define TOKEN_ID_MIN 20 /* shortest mixed token (with a digit) taken as an id */
#define UUID_LEN     36

struct out {
	char *buf;
	size_t size;
	size_t len;
};

/* Appends c if there is room, always keeping space for the final NUL. */
static void put(struct out *o, char c)
{
	if (o->len + 1 < o->size)
		o->buf[o->len++] = c;
}

static void put_str(struct out *o, const char *s)
{
	while (*s)
		put(o, *s++);
}

static bool is_hex(unsigned char c)
{
	return is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

static bool is_token(unsigned char c)
{
	return is_alnum(c) || c == '_' || c == '-';
}

/* Bytes a label may carry unchanged: printable ASCII without '"' and '\'. */
static char safe_byte(unsigned char c)
{
	if (c < 0x21 || c > 0x7e || c == '"' || c == '\\')
		return '_';
	return (char)c;
}

static bool all_of(const char *s, size_t n, bool (*pred)(unsigned char))
{
	size_t i;

	for (i = 0; i < n; i++) {
		if (!pred((unsigned char)s[i]))
			return false;
	}
	return true;
}

static bool has_digit(const char *s, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		if (is_digit((unsigned char)s[i]))
			return true;
	}
	return false;
}

/* 8-4-4-4-12 hex digits, either case. */
static bool is_uuid(const char *s, size_t n)
{
	size_t i;

	if (n != UUID_LEN)
		return false;
	for (i = 0; i < n; i++) {
		bool dash = i == 8 || i == 13 || i == 18 || i == 23;

		if (dash ? s[i] != '-' : !is_hex((unsigned char)s[i]))
			return false;
	}
	return true;
}

static bool segment_is_id(const char *s, size_t n)
{
	if (n == 0)
		return false;
	if (all_of(s, n, is_digit) || is_uuid(s, n))
		return true;
	if (n >= HEX_ID_MIN && all_of(s, n, is_hex))
		return true;
	/* long opaque token: a digit tells it from a long English word */
	return n >= TOKEN_ID_MIN && all_of(s, n, is_token) && has_digit(s, n);
}

/*
 * Length of the path part: up to the first '?' (query) or '#' (fragment).
 */
static size_t path_len(const char *t, size_t len)
{
	size_t i;

	for (i = 0; i < len; i++) {
		if (t[i] == '?' || t[i] == '#')
			break;
	}
	return i;
}

/*
 * Absolute-form ("http://host:port/p", RFC 9112 3.2.2): skips scheme and
 * authority. Returns false when t is not in absolute form.
 */
static bool skip_authority(const char **t, size_t *len)
{
	static const char *const schemes[] = {"http://", "https://"};
	size_t i;

	for (i = 0; i < 2; i++) {
		size_t sl = strlen(schemes[i]);
		const char *slash;

		if (*len < sl || strncasecmp(*t, schemes[i], sl) != 0)
			continue;
		slash = memchr(*t + sl, '/', *len - sl);
		if (!slash) {
			*len = 0; /* no path: "/" */
			return true;
		}
		*len -= (size_t)(slash - *t);
		*t = slash;
		return true;
	}
	return false;
}

/* A NUL byte is none, though strchr finds the terminator. */
static bool is_sep(const char *seps, char c)
{
	return c && strchr(seps, c);
}

/* Segments split by any byte of seps, each an id or copied safe; the
 * separators are kept as sent. */
static void put_segments(struct out *o, const char *t, size_t len, const char *seps)
{
	size_t i = 0, seg;

	while (i < len) {
		if (is_sep(seps, t[i])) {
			put(o, t[i++]);
			continue;
		}
		seg = 1;
		while (i + seg < len && !is_sep(seps, t[i + seg]))
			seg++;
		if (segment_is_id(t + i, seg)) {
			put_str(o, ID_LABEL);
		} else {
			size_t j;

			for (j = 0; j < seg; j++)
				put(o, safe_byte((unsigned char)t[i + j]));
		}
		i += seg;
	}
}

size_t path_normalise(const char *target, size_t len, char *out, size_t out_size)
{
	struct out o = {out, out_size, 0};

	if (!out || out_size == 0)
		return 0;
	if (!target)
		len = 0;
	len = path_len(target, len);
	skip_authority(&target, &len);
	if (len == 0)
		put(&o, '/');
	put_segments(&o, target, len, "/");
	o.buf[o.len] = '\0';
	return o.len;
}

size_t key_normalise(const char *key, size_t len, char *out, size_t out_size)
{
	struct out o = {out, out_size, 0};

	if (!out || out_size == 0)
		return 0;
	put_segments(&o, key, key ? len : 0, KEY_SEPARATORS);
	o.buf[o.len] = '\0';
	return o.len;
}
