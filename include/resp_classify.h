/* SPDX-License-Identifier: MIT */
/*
 * Whether the first bytes a client writes are a Redis command as clients
 * send them (RESP: an array of bulk strings, "*<count>\r\n$"): the kernel
 * programs decide with it which client connections to copy, user space
 * which connections to pair as Redis (track/redis_track.c), on the same
 * bytes, so that they cannot disagree. Inline commands ("PING\r\n", as
 * typed into telnet) are not recognised: no client library sends them.
 *
 * Compiled for BPF as for user space: no libc, no helper, one loop
 * bounded by RESP_CLASSIFY_LEN, over bytes already in the caller's memory.
 */
#ifndef SSE_RESP_CLASSIFY_H
#define SSE_RESP_CLASSIFY_H

#ifndef __VMLINUX_H__
#include <stdbool.h>
#include <stddef.h>
#endif

#define RESP_COUNT_DIGITS 9 /* an array of up to 999999999 arguments */
/* Bytes that can decide: '*', the count's digits, CRLF, '$'. */
#define RESP_CLASSIFY_LEN (1 + RESP_COUNT_DIGITS + 3)

/*
 * True when buf begins "*<1-9 digits, the first not 0>\r\n$", or is
 * shorter and a prefix of such a start, as http_starts_as() (a client may
 * write its first command in pieces). An empty buffer says nothing.
 */
static inline bool resp_looks_like_command(const char *buf, size_t len)
{
	size_t i, end = 0; /* where the count's digits end */
	bool ok;
	char ch;

	for (i = 0; i < RESP_CLASSIFY_LEN; i++) {
		if (i == len)
			return i > 0;
		ch = buf[i];
		if (i == 0)
			ok = ch == '*';
		else if (!end && i <= RESP_COUNT_DIGITS && ch >= (i == 1 ? '1' : '0') && ch <= '9')
			ok = true;
		else if (!end) {
			end = i;
			ok = i > 1 && ch == '\r';
		} else {
			ok = ch == (i == end + 1 ? '\n' : '$');
		}
		if (!ok)
			return false;
		if (end && i == end + 2)
			return true;
	}
	return false;
}

#endif
