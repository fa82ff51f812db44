/* SPDX-License-Identifier: GPL-2.0 OR MIT */
/*
 * OpenSSL struct layouts user space recognises in a hooked file and hands
 * to the uprobes as their cookie: with a known layout the probes can read
 * an SSL object's memory BIOs and match TLS records by content.
 */
#ifndef SSE_SSL_LAYOUT_H
#define SSE_SSL_LAYOUT_H

enum ssl_layout {
	SSL_LAYOUT_UNKNOWN = 0,
	SSL_LAYOUT_30 = 1, /* 3.0, 3.1 */
};

#endif
