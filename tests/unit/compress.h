/* SPDX-License-Identifier: MIT */
/*
 * Compressed inputs for the tests of what reads them, made with zlib from
 * known plain bytes. Include after cmocka.h.
 */
#ifndef SSE_TEST_COMPRESS_H
#define SSE_TEST_COMPRESS_H

#include <stddef.h>
#include <string.h>
#include <zlib.h>

#define GZIP_BITS (15 + 16)
#define ZLIB_BITS 15
#define RAW_BITS  (-15)

/* Compresses in[0..len) with zlib's windowBits bits (gzip, zlib or raw
 * deflate) into out[0..size); returns the compressed size. */
static inline size_t compress_as(int bits, const void *in, size_t len, unsigned char *out,
				 size_t size)
{
	z_stream z;
	size_t n;

	memset(&z, 0, sizeof(z));
	assert_int_equal(deflateInit2(&z, 9, Z_DEFLATED, bits, 8, Z_DEFAULT_STRATEGY), Z_OK);
	z.next_in = (Bytef *)in;
	z.avail_in = (uInt)len;
	z.next_out = out;
	z.avail_out = (uInt)size;
	assert_int_equal(deflate(&z, Z_FINISH), Z_STREAM_END);
	n = z.total_out;
	deflateEnd(&z);
	return n;
}

#endif
