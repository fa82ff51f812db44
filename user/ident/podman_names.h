/* SPDX-License-Identifier: MIT */
/*
 * A podman container's name, from containers/storage's containers.json
 * (an array of {"id": ..., "names": [...]}): podman's bundle config.json
 * does not carry it. Pure: the caller reads the file.
 */
#ifndef SSE_PODMAN_NAMES_H
#define SSE_PODMAN_NAMES_H

#include <stdbool.h>
#include <stddef.h>

/* The first name of container id into out; false when not listed. */
bool podman_container_name(const char *json, size_t len, const char *id, char *out, size_t size);

#endif
