/* SPDX-License-Identifier: MIT */
/*
 * What the kubelet's /pods tells about each pod of the node beside what the
 * runtime's bundle has: the service name its owners gave it (annotation,
 * app.kubernetes.io/name) and the workload that owns it. Pure.
 */
#ifndef SSE_KUBE_PODS_H
#define SSE_KUBE_PODS_H

#include <stddef.h>

#include "ident/cgroup.h"
#include "ident/oci_config.h"

#define KUBE_VALUE_MAX 128

struct kube_pod {
	char uid[CGROUP_POD_UID_MAX];
	char namespace[OCI_NAME_MAX];
	char name[OCI_NAME_MAX];
	char otel_service[KUBE_VALUE_MAX]; /* resource.opentelemetry.io/service.name */
	char app_name[KUBE_VALUE_MAX];	   /* label app.kubernetes.io/name */
	char workload[KUBE_VALUE_MAX];	   /* the owning Deployment, StatefulSet, ... */
};

/* Calls each() for every pod with a uid in a PodList; -1 when the text is
 * not one (what was handed out before stays valid). */
int kube_pods_parse(const char *json, size_t len, void (*each)(void *arg, const struct kube_pod *),
		    void *arg);

/* The workload a controller owner names: a ReplicaSet with the pod's
 * pod-template-hash is its Deployment, a Job named NAME-<minutes since
 * the epoch> its CronJob, others (StatefulSet, DaemonSet, ...) themselves.
 * out gets "" without an owner. */
void kube_workload(const char *kind, const char *owner, const char *template_hash, char *out,
		   size_t size);

#endif
