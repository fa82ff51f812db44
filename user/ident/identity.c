// SPDX-License-Identifier: MIT
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ident/docker_config.h"
#include "ident/environ.h"
#include "ident/identity.h"
#include "ident/podman_names.h"

/* The larger files read (a bundle's config.json) are tens of KiB. */
#define READ_MAX (1 << 20)

/* The whole file, NUL-terminated, or NULL; *len is its size. */
static char *read_small_file(const char *path, size_t *len)
{
	size_t cap = 4096, n = 0;
	char *buf = malloc(cap + 1), *grown;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t got;

	if (fd < 0 || !buf)
		goto fail;
	while ((got = read(fd, buf + n, cap - n)) > 0) {
		n += got;
		if (n < cap)
			continue;
		if (cap >= READ_MAX)
			goto fail; /* too big to be what we look for */
		cap *= 2;
		grown = realloc(buf, cap + 1);
		if (!grown)
			goto fail;
		buf = grown;
	}
	if (got < 0)
		goto fail;
	close(fd);
	buf[n] = '\0';
	*len = n;
	return buf;
fail:
	if (fd >= 0)
		close(fd);
	free(buf);
	return NULL;
}

/* Where each runtime keeps a running container's OCI bundle. */
static const char *const bundle_dirs[] = {
    "/run/containerd/io.containerd.runtime.v2.task/k8s.io/%s/config.json",
    "/run/k3s/containerd/io.containerd.runtime.v2.task/k8s.io/%s/config.json",
    "/run/containers/storage/overlay-containers/%s/userdata/config.json", /* CRI-O */
    /* podman (root): no names in it, those are in containers.json there */
    "/var/lib/containers/storage/overlay-containers/%s/userdata/config.json",
    "/run/containerd/io.containerd.runtime.v2.task/moby/%s/config.json", /* docker */
};

static void read_bundle(const struct ident_roots *r, struct process_identity *id)
{
	char rel[256], path[512];

	for (size_t i = 0; i < sizeof(bundle_dirs) / sizeof(bundle_dirs[0]); i++) {
		size_t len;
		char *json;

		snprintf(rel, sizeof(rel), bundle_dirs[i], id->cgroup.container_id);
		snprintf(path, sizeof(path), "%s%s", r->host, rel);
		json = read_small_file(path, &len);
		if (!json)
			continue;
		oci_config_parse(json, len, &id->oci);
		free(json);
		return;
	}
}

#define PODMAN_STATE "/var/lib/containers/storage/overlay-containers/containers.json"
#define DOCKER_STATE "/var/lib/docker/containers/%s/config.v2.json"

/* podman's and docker's bundles have no name: their own state has. */
static void read_runtime_name(const struct ident_roots *r, struct process_identity *id)
{
	bool docker = id->cgroup.runtime == RUNTIME_DOCKER;
	char rel[256], path[512];
	size_t len;
	char *json;

	snprintf(rel, sizeof(rel), docker ? DOCKER_STATE : PODMAN_STATE, id->cgroup.container_id);
	snprintf(path, sizeof(path), "%s%s", r->host, rel);
	json = read_small_file(path, &len);
	if (!json)
		return;
	if (docker)
		docker_container_name(json, len, id->oci.container, sizeof(id->oci.container));
	else
		podman_container_name(json, len, id->cgroup.container_id, id->oci.container,
				      sizeof(id->oci.container));
	free(json);
}

static void read_proc(const struct ident_roots *r, pid_t tgid, const char *file,
		      void (*use)(const char *text, size_t len, struct process_identity *id),
		      struct process_identity *id)
{
	char path[256];
	size_t len;
	char *text;

	snprintf(path, sizeof(path), "%s/%d/%s", r->proc, tgid, file);
	text = read_small_file(path, &len);
	if (!text)
		return;
	use(text, len, id);
	free(text);
}

static void use_cgroup(const char *text, size_t len, struct process_identity *id)
{
	cgroup_ident_parse(text, len, &id->cgroup);
}

static void use_environ(const char *text, size_t len, struct process_identity *id)
{
	environ_service_name(text, len, id->otel_service, sizeof(id->otel_service));
}

/* A source's name for the process, "" when it has none. */
static const char *service_source(const struct process_identity *id, enum service_source s,
				  const char *comm, size_t *len)
{
	const char *name = "";

	if (s == SERVICE_FROM_OTEL)
		name = id->otel_service;
	else if (s == SERVICE_FROM_ANNOTATION)
		name = id->kube.otel_service;
	else if (s == SERVICE_FROM_APP)
		name = id->kube.app_name;
	else if (s == SERVICE_FROM_WORKLOAD)
		name = id->kube.workload;
	else if (s == SERVICE_FROM_CONTAINER)
		name = id->oci.container;
	else if (s == SERVICE_FROM_UNIT)
		name = id->cgroup.unit;
	else if (s == SERVICE_FROM_COMM)
		name = comm;
	*len = strlen(name);
	if (s == SERVICE_FROM_UNIT && *len)
		*len -= strlen(".service");
	return name;
}

void identity_pick_service(struct process_identity *id, const enum service_source *order,
			   size_t norder, const char *comm)
{
	const char *name = "";
	size_t n = 0;

	for (size_t i = 0; i < norder && !n; i++)
		name = service_source(id, order[i], comm, &n);
	if (n >= sizeof(id->service))
		n = sizeof(id->service) - 1;
	memcpy(id->service, name, n);
	id->service[n] = '\0';
}

void identity_resolve(const struct ident_roots *r, pid_t tgid, const char *comm,
		      const enum service_source *order, size_t norder, struct process_identity *id)
{
	memset(id, 0, sizeof(*id));
	read_proc(r, tgid, "cgroup", use_cgroup, id);
	if (id->cgroup.container_id[0])
		read_bundle(r, id);
	if ((id->cgroup.runtime == RUNTIME_PODMAN || id->cgroup.runtime == RUNTIME_DOCKER) &&
	    !id->oci.container[0])
		read_runtime_name(r, id);
	read_proc(r, tgid, "environ", use_environ, id);
	identity_pick_service(id, order, norder, comm);
}
