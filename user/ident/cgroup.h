/* SPDX-License-Identifier: MIT */
/*
 * Who a process is, from the text of /proc/PID/cgroup: the Kubernetes pod
 * and container it runs in (kubepods layouts of the systemd and cgroupfs
 * drivers), a podman or docker container, or a systemd unit. cgroup v2, v1
 * and hybrid; paths relative to a cgroup namespace ("/../..") too. Pure.
 */
#ifndef SSE_CGROUP_H
#define SSE_CGROUP_H

#include <stddef.h>

#define CGROUP_POD_UID_MAX	37 /* 36 characters of a UUID */
#define CGROUP_CONTAINER_ID_MAX 65 /* 64 hex digits */
#define CGROUP_UNIT_MAX		64

enum container_runtime {
	RUNTIME_NONE,
	RUNTIME_CONTAINERD, /* cri-containerd-ID.scope, or a bare id under kubepods */
	RUNTIME_CRIO,	    /* crio-ID.scope */
	RUNTIME_DOCKER,	    /* docker-ID.scope, /docker/ID */
	RUNTIME_PODMAN,	    /* libpod-ID.scope, libpod-ID */
};

struct cgroup_ident {
	char pod_uid[CGROUP_POD_UID_MAX];	    /* "" outside Kubernetes */
	char container_id[CGROUP_CONTAINER_ID_MAX]; /* "" outside a container */
	enum container_runtime runtime;
	char unit[CGROUP_UNIT_MAX]; /* "NAME.service" of a systemd service, else "" */
};

/* Fills id from the whole content of /proc/PID/cgroup (len bytes); the
 * most specific line wins: a container over a pod over a unit. */
void cgroup_ident_parse(const char *text, size_t len, struct cgroup_ident *id);

const char *container_runtime_name(enum container_runtime r);

#endif
