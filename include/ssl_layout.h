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

/* The cookie holds the layout in its low byte and, for the one program
 * that serves the three write functions, how the hooked one takes its
 * arguments. */
#define SSL_LAYOUT_MASK	 0xffull
#define SSL_HOOK_INT_LEN (1ull << 8) /* the length is an int: SSL_write */
#define SSL_HOOK_BIO	 (1ull << 9) /* the first argument is a BIO_f_ssl BIO */

#endif
