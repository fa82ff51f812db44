/* SPDX-License-Identifier: MIT */
/*
 * Whether the first bytes of a transfer are HTTP/1.x: the kernel programs
 * decide with it which new connections to copy (a server's first read, a
 * client's first write), user space which connections found in /proc to
 * follow and when a parser that lost bytes may start again. One function
 * for both, so that they cannot disagree.
 *
 * Compiled for BPF as for user space: no libc, no helper, loops bounded by
 * HTTP_CLASSIFY_LEN, over bytes already in the caller's memory.
 */
#ifndef SSE_HTTP_CLASSIFY_H
#define SSE_HTTP_CLASSIFY_H

#ifndef __VMLINUX_H__
#include <stdbool.h>
#include <stddef.h>
#endif

/* Bytes that can decide: "OPTIONS " and "CONNECT " are the longest starts. */
#define HTTP_CLASSIFY_LEN 8

#define HTTP_VERSION_PREFIX "HTTP/1." /* then one digit */

/*
 * True when buf begins with start, or is shorter and a prefix of it: the
 * first read of a connection may be tiny, and the head parser still
 * refuses it later if it is not HTTP. An empty buffer says nothing.
 */
static inline bool http_starts_as(const char *buf, size_t len, const char *start)
{
	size_t i;

	for (i = 0; i < HTTP_CLASSIFY_LEN && start[i]; i++) {
		if (i == len)
			return i > 0;
		if (buf[i] != start[i])
			return false;
	}
	return true;
}

/*
 * A request line: one of the methods of RFC 9110 9.3 (case-sensitive) or
 * PATCH, then a space. The methods of WebDAV and HTTP/2's preface are not
 * counted: this exporter measures HTTP/1.x APIs.
 */
static inline bool http_looks_like_request(const char *buf, size_t len)
{
	return http_starts_as(buf, len, "GET ") || http_starts_as(buf, len, "POST ") ||
	       http_starts_as(buf, len, "PUT ") || http_starts_as(buf, len, "DELETE ") ||
	       http_starts_as(buf, len, "PATCH ") || http_starts_as(buf, len, "HEAD ") ||
	       http_starts_as(buf, len, "OPTIONS ") || http_starts_as(buf, len, "CONNECT ") ||
	       http_starts_as(buf, len, "TRACE ");
}

/* A status line of HTTP/1.x. */
static inline bool http_looks_like_response(const char *buf, size_t len)
{
	return http_starts_as(buf, len, HTTP_VERSION_PREFIX);
}

#endif
