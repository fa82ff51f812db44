/* SPDX-License-Identifier: MIT */
/*
 * Who a process is, resolved once from what the host shows of it: its
 * cgroup (pod, container, systemd unit), its environment (an OTel service
 * name) and its container runtime's bundle (Kubernetes names and image).
 * Reads files; nothing here is on a per-event path.
 */
#ifndef SSE_IDENTITY_H
#define SSE_IDENTITY_H

#include <sys/types.h>

#include "core/config.h"
#include "ident/cgroup.h"
#include "ident/oci_config.h"

#define IDENTITY_SERVICE_MAX 64

/* Where the host's files are: "/proc" and "" on the host; through
 * "/proc/1/root" when the exporter runs in a container with hostPID. */
struct ident_roots {
	const char *proc;
	const char *host;
};

struct process_identity {
	char service[IDENTITY_SERVICE_MAX];	 /* "" when no source in the order has one */
	char otel_service[IDENTITY_SERVICE_MAX]; /* the one it gives itself, "" if none */
	struct cgroup_ident cgroup;
	struct oci_ident oci; /* "" where no bundle was found */
};

/* The service is the first source of order that has a name (comm: the
 * process name). Never fails: what cannot be read is left empty. */
void identity_resolve(const struct ident_roots *r, pid_t tgid, const char *comm,
		      const enum service_source *order, size_t norder, struct process_identity *id);

#endif
