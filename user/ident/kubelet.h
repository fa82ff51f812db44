/* SPDX-License-Identifier: MIT */
/*
 * One GET /pods from the node's kubelet over HTTPS, authenticated with the
 * service account's token (read anew each time: tokens are rotated).
 * Blocking, with timeouts: called from the kubelet poller only.
 */
#ifndef SSE_KUBELET_H
#define SSE_KUBELET_H

#include <stdbool.h>
#include <stddef.h>

#define KUBELET_BODY_MAX (64u << 20)

struct kubelet_config {
	const char *url;	/* https://HOST[:PORT] */
	const char *token_file; /* NULL or "": no Authorization header */
	const char *ca_file;	/* verifies the kubelet's certificate */
	bool insecure;		/* do not verify it (self-signed kubelet certs) */
};

/* The body of the answer (malloc'd, NUL-terminated), or NULL with why
 * set to one line saying what failed. */
char *kubelet_get_pods(const struct kubelet_config *k, size_t *len, char *why, size_t why_size);

/* The body of a whole HTTP/1.1 response in raw (head, then a body by
 * Content-Length, chunked, or up to the end), decoded into a malloc'd
 * NUL-terminated copy; NULL when it is not a complete 200 answer, *status
 * then says what came (0: not HTTP). Pure. */
char *kubelet_response_body(const char *raw, size_t len, size_t *body_len, int *status);

#endif
