/* SPDX-License-Identifier: MIT */
/*
 * The service name a process gives itself in its environment (the text of
 * /proc/PID/environ: NUL-separated NAME=VALUE), as OpenTelemetry SDKs read
 * it: OTEL_SERVICE_NAME, else service.name in OTEL_RESOURCE_ATTRIBUTES.
 * Pure.
 */
#ifndef SSE_ENVIRON_H
#define SSE_ENVIRON_H

#include <stdbool.h>
#include <stddef.h>

/* Copies the name into out (printable ASCII, truncated to size - 1) and
 * returns true when the environment names one. */
bool environ_service_name(const char *env, size_t len, char *out, size_t size);

#endif
