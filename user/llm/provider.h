/* SPDX-License-Identifier: MIT */
/*
 * The `provider` label from an upstream Host header value: the built-in
 * hosts of docs/metrics.md (api.openai.com -> openai, ...), then user
 * mappings given as --provider.map=HOST=NAME, else the host name itself.
 * Fixed-size storage. Pure.
 *
 * Hosts compare case-insensitively and without a trailing dot. A user
 * entry with a port ("127.0.0.1:8443=local") matches only that host and
 * port, and wins over an entry for the same host without one, which
 * matches any port. User entries win over the built-ins; built-ins ignore
 * the port.
 */
#ifndef SSE_PROVIDER_H
#define SSE_PROVIDER_H

#include <stdint.h>

#define PROVIDER_NAME_MAX 64  /* label bytes + NUL */
#define PROVIDER_HOST_MAX 254 /* host of a user entry + NUL: a DNS name is 253 at most */
#define PROVIDER_MAP_MAX  64  /* user entries */

struct provider_entry {
	char host[PROVIDER_HOST_MAX]; /* lower case, no trailing dot, IPv6 in brackets */
	int32_t port;		      /* -1: any port */
	char name[PROVIDER_NAME_MAX];
};

struct provider_map {
	unsigned int count;
	struct provider_entry entries[PROVIDER_MAP_MAX];
};

void provider_map_init(struct provider_map *m);

/*
 * Adds "HOST=NAME" or "HOST:PORT=NAME" (IPv6 as "[::1]:8443=NAME").
 * NAME is 1 to PROVIDER_NAME_MAX - 1 printable ASCII characters, no
 * spaces, kept as given. A later entry for the same host and port
 * replaces the earlier one. Returns 0, or -1 with *why set to a static
 * reason (why may be NULL).
 */
int provider_map_add(struct provider_map *m, const char *spec, const char **why);

/*
 * Writes the label for host, a Host header value ("name[:port]",
 * "[v6][:port]"), to out and returns out. m may be NULL (built-ins only).
 * An unknown host gives the host without its port, lower case, with
 * anything but [a-z0-9.-] replaced by '_', cut to PROVIDER_NAME_MAX - 1
 * bytes; an empty or NULL host gives "unknown".
 */
char *provider_name(const struct provider_map *m, const char *host, char out[PROVIDER_NAME_MAX]);

#endif
