// SPDX-License-Identifier: MIT
#include <string.h>

#include "core/ascii.h"
#include "ident/environ.h"

/* The value of NAME in env, or NULL; *n is its length. */
static const char *env_value(const char *env, size_t len, const char *name, size_t *n)
{
	size_t name_len = strlen(name);
	const char *end = env + len;

	while (env < end) {
		const char *nul = memchr(env, '\0', end - env);
		const char *stop = nul ? nul : end;

		if ((size_t)(stop - env) > name_len && !memcmp(env, name, name_len) &&
		    env[name_len] == '=') {
			*n = stop - env - name_len - 1;
			return env + name_len + 1;
		}
		env = nul ? nul + 1 : end;
	}
	return NULL;
}

/* Percent-decodes (W3C baggage, as OTEL_RESOURCE_ATTRIBUTES is), keeps
 * printable ASCII, trims blanks; returns the length written. */
static size_t copy_value(const char *v, size_t n, char *out, size_t size, bool decode)
{
	size_t w = 0;

	while (n && v[0] == ' ')
		v++, n--;
	while (n && v[n - 1] == ' ')
		n--;
	for (size_t i = 0; i < n && w + 1 < size; i++) {
		unsigned char c = v[i];

		if (decode && c == '%' && i + 2 < n && hex_value(v[i + 1]) >= 0 &&
		    hex_value(v[i + 2]) >= 0) {
			c = hex_value(v[i + 1]) * 16 + hex_value(v[i + 2]);
			i += 2;
		}
		out[w++] = c >= 0x20 && c < 0x7f ? c : '_';
	}
	out[w] = '\0';
	return w;
}

/* service.name=VALUE among comma-separated key=value pairs. */
static bool resource_service_name(const char *v, size_t n, char *out, size_t size)
{
	static const char key[] = "service.name";
	const char *end = v + n;

	while (v < end) {
		const char *comma = memchr(v, ',', end - v);
		const char *stop = comma ? comma : end;
		const char *eq = memchr(v, '=', stop - v);

		while (v < stop && *v == ' ')
			v++;
		if (eq && (size_t)(eq - v) >= sizeof(key) - 1 && !memcmp(v, key, sizeof(key) - 1)) {
			const char *k_end = v + sizeof(key) - 1;

			while (k_end < eq && *k_end == ' ')
				k_end++;
			if (k_end == eq)
				return copy_value(eq + 1, stop - eq - 1, out, size, true) > 0;
		}
		v = comma ? comma + 1 : end;
	}
	return false;
}

bool environ_service_name(const char *env, size_t len, char *out, size_t size)
{
	const char *v;
	size_t n;

	if (!size)
		return false;
	v = env_value(env, len, "OTEL_SERVICE_NAME", &n);
	if (v && copy_value(v, n, out, size, false) > 0)
		return true;
	v = env_value(env, len, "OTEL_RESOURCE_ATTRIBUTES", &n);
	if (v && resource_service_name(v, n, out, size))
		return true;
	out[0] = '\0';
	return false;
}
