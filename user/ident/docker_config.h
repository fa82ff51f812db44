/* SPDX-License-Identifier: MIT */
/*
 * A docker container's name, from the daemon's own state,
 * /var/lib/docker/containers/ID/config.v2.json ("Name": "/web"): docker's
 * bundle config.json does not carry it. Pure: the caller reads the file.
 */
#ifndef SSE_DOCKER_CONFIG_H
#define SSE_DOCKER_CONFIG_H

#include <stdbool.h>
#include <stddef.h>

/* The name without its leading '/' into out; false without one. */
bool docker_container_name(const char *json, size_t len, char *out, size_t size);

#endif
