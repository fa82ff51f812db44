// SPDX-License-Identifier: MIT
/* Unit tests of identity_resolve over a host tree of the test's own: the
 * files a container runtime and the kernel would show. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <cmocka.h>

#include "ident/identity.h"

#define ID  "3f4b6c0a1e2d4c5b8a9f0e1d2c3b4a5968778695a4b3c2d1e0f1a2b3c4d5e6f7"
#define UID "8d3a1c52_6b0e_4f7a_9c21_5e4d3b2a1f00"

struct tree {
	char root[64];
	char proc[96];
};

static void put(const struct tree *t, const char *rel, const char *text, size_t len)
{
	char path[512];
	FILE *f;

	snprintf(path, sizeof(path), "%s%s", t->root, rel);
	for (char *p = path + strlen(t->root) + 1; (p = strchr(p, '/')); p++) {
		*p = '\0';
		mkdir(path, 0700);
		*p = '/';
	}
	f = fopen(path, "w");
	assert_non_null(f);
	assert_int_equal(fwrite(text, 1, len, f), len);
	fclose(f);
}

#define PUT(t, rel, lit) put(t, rel, lit, sizeof(lit) - 1)

static int setup(void **state)
{
	struct tree *t = calloc(1, sizeof(*t));

	strcpy(t->root, "/tmp/test_identity.XXXXXX");
	if (!mkdtemp(t->root))
		return -1;
	snprintf(t->proc, sizeof(t->proc), "%s/proc", t->root);
	*state = t;
	return 0;
}

static int teardown(void **state)
{
	struct tree *t = *state;
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", t->root);
	free(t);
	return system(cmd);
}

static struct process_identity resolve(const struct tree *t, int pid, const char *comm)
{
	static const enum service_source order[] = {SERVICE_FROM_OTEL, SERVICE_FROM_CONTAINER,
						    SERVICE_FROM_UNIT, SERVICE_FROM_COMM};
	struct ident_roots r = {t->proc, t->root};
	struct process_identity id;

	identity_resolve(&r, pid, comm, order, 4, &id);
	return id;
}

static const char pod_cgroup[] =
    "0::/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod" UID
    ".slice/cri-containerd-" ID ".scope\n";
static const char bundle[] = "{\"annotations\":{\"io.kubernetes.cri.container-name\":\"api\","
			     "\"io.kubernetes.cri.sandbox-name\":\"api-7d4f9c8b6-x2x9q\","
			     "\"io.kubernetes.cri.sandbox-namespace\":\"shop\"}}";

static void test_kubernetes_pod(void **state)
{
	struct tree *t = *state;
	struct process_identity id;

	put(t, "/proc/42/cgroup", pod_cgroup, sizeof(pod_cgroup) - 1);
	put(t, "/run/containerd/io.containerd.runtime.v2.task/k8s.io/" ID "/config.json", bundle,
	    sizeof(bundle) - 1);
	PUT(t, "/proc/42/environ", "PATH=/bin\0HOME=/\0");
	id = resolve(t, 42, "python3");
	assert_string_equal(id.oci.namespace, "shop");
	assert_string_equal(id.oci.pod, "api-7d4f9c8b6-x2x9q");
	assert_string_equal(id.oci.container, "api");
	assert_string_equal(id.cgroup.container_id, ID);
	assert_string_equal(id.service, "api"); /* the container, not python3 */
}

static void test_otel_name_first(void **state)
{
	struct tree *t = *state;

	put(t, "/proc/43/cgroup", pod_cgroup, sizeof(pod_cgroup) - 1);
	put(t, "/run/k3s/containerd/io.containerd.runtime.v2.task/k8s.io/" ID "/config.json",
	    bundle, sizeof(bundle) - 1);
	PUT(t, "/proc/43/environ", "OTEL_SERVICE_NAME=checkout\0");
	assert_string_equal(resolve(t, 43, "node").service, "checkout");
	assert_string_equal(resolve(t, 43, "node").oci.pod, "api-7d4f9c8b6-x2x9q"); /* k3s path */
}

static void test_unit_then_comm(void **state)
{
	struct tree *t = *state;

	PUT(t, "/proc/44/cgroup", "0::/system.slice/llm-gateway.service\n");
	assert_string_equal(resolve(t, 44, "uvicorn").service, "llm-gateway");
	PUT(t, "/proc/45/cgroup", "0::/user.slice/user-0.slice/session-1.scope\n");
	assert_string_equal(resolve(t, 45, "uvicorn").service, "uvicorn");
}

/* podman: the name from its state, not its bundle (measured with 4.3). */
static void test_podman_container(void **state)
{
	struct tree *t = *state;

	PUT(t, "/proc/48/cgroup", "0::/libpod_parent/libpod-" ID "\n");
	PUT(t, "/var/lib/containers/storage/overlay-containers/containers.json",
	    "[{\"id\":\"" ID "\",\"names\":[\"gateway\"]}]");
	assert_string_equal(resolve(t, 48, "python3").oci.container, "gateway");
	assert_string_equal(resolve(t, 48, "python3").service, "gateway");
}

/* docker: the name from its daemon's state, without the leading '/'. */
static void test_docker_container(void **state)
{
	struct tree *t = *state;

	PUT(t, "/proc/49/cgroup", "0::/system.slice/docker-" ID ".scope\n");
	PUT(t, "/var/lib/docker/containers/" ID "/config.v2.json",
	    "{\"ID\":\"" ID "\",\"Config\":{\"Env\":[\"Name=x\"]},\"Name\":\"/web\"}");
	assert_string_equal(resolve(t, 49, "nginx").oci.container, "web");
	assert_string_equal(resolve(t, 49, "nginx").service, "web");
	PUT(t, "/var/lib/docker/containers/" ID "/config.v2.json", "{\"Name\":\"/\"}");
	assert_string_equal(resolve(t, 49, "nginx").service, "nginx");
}

/* --ident.service-from: the container before the OTel name, no comm. */
static void test_service_order(void **state)
{
	static const enum service_source order[] = {SERVICE_FROM_CONTAINER, SERVICE_FROM_OTEL};
	struct tree *t = *state;
	struct ident_roots r = {t->proc, t->root};
	struct process_identity id;

	put(t, "/proc/50/cgroup", pod_cgroup, sizeof(pod_cgroup) - 1);
	put(t, "/run/containerd/io.containerd.runtime.v2.task/k8s.io/" ID "/config.json", bundle,
	    sizeof(bundle) - 1);
	PUT(t, "/proc/50/environ", "OTEL_SERVICE_NAME=checkout\0");
	identity_resolve(&r, 50, "node", order, 2, &id);
	assert_string_equal(id.service, "api");
	assert_string_equal(id.otel_service, "checkout");
	identity_resolve(&r, 51, "node", order, 2, &id); /* gone: no source has a name */
	assert_string_equal(id.service, "");
}

/* A process gone, a bundle missing or garbage: the name is all there is. */
static void test_missing_and_broken_files(void **state)
{
	struct tree *t = *state;
	struct process_identity id;

	assert_string_equal(resolve(t, 99, "gone").service, "gone");
	put(t, "/proc/46/cgroup", pod_cgroup, sizeof(pod_cgroup) - 1);
	id = resolve(t, 46, "python3");
	assert_string_equal(id.cgroup.container_id, ID);
	assert_string_equal(id.oci.pod, "");
	assert_string_equal(id.service, "python3");
	put(t, "/proc/47/cgroup", pod_cgroup, sizeof(pod_cgroup) - 1);
	PUT(t, "/run/containers/storage/overlay-containers/" ID "/userdata/config.json",
	    "{\"annotations\":{\"io.kubernetes.pod.name\":");
	assert_string_equal(resolve(t, 47, "python3").oci.pod, "");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_kubernetes_pod, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_otel_name_first, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_unit_then_comm, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_podman_container, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_docker_container, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_service_order, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_missing_and_broken_files, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
