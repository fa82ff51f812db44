/* SPDX-License-Identifier: MIT */
#ifndef SSE_EXPORTER_VERSION_H
#define SSE_EXPORTER_VERSION_H

/* The version this binary was built from (git describe), defined in one
 * object only: every page and flag that tells it tells the same one. */
extern const char sse_exporter_version[];

#endif
