// SPDX-License-Identifier: MIT
/*
 * ident/kube_pods: whatever the kubelet's /pods answers, each pod handed
 * out has a uid, and every field NUL-terminated printable ASCII within
 * its array.
 */
#include <string.h>

#include "fuzz.h"
#include "ident/kube_pods.h"

static void each(void *arg, const struct kube_pod *p)
{
	size_t *pods = arg;

	(*pods)++;
	FUZZ_CHECK(p->uid[0], "a pod without a uid");
	FUZZ_CHECK(fuzz_printable(p->uid, sizeof(p->uid)) &&
		       fuzz_printable(p->namespace, sizeof(p->namespace)) &&
		       fuzz_printable(p->name, sizeof(p->name)) &&
		       fuzz_printable(p->otel_service, sizeof(p->otel_service)) &&
		       fuzz_printable(p->app_name, sizeof(p->app_name)) &&
		       fuzz_printable(p->workload, sizeof(p->workload)),
		   "a field is not printable or not terminated");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	size_t pods = 0;

	kube_pods_parse((const char *)data, size, each, &pods);
	FUZZ_CHECK(pods <= size / 8, "%zu pods in %zu bytes", pods, size);
	return 0;
}
