// SPDX-License-Identifier: MIT
/* Unit tests of the cgroup identity parser: /proc/PID/cgroup as the
 * container runtimes and systemd lay it out. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <string.h>
#include <cmocka.h>

#include "ident/cgroup.h"

#define ID   "3f4b6c0a1e2d4c5b8a9f0e1d2c3b4a5968778695a4b3c2d1e0f1a2b3c4d5e6f7"
#define UID  "8d3a1c52-6b0e-4f7a-9c21-5e4d3b2a1f00"
#define UID_ "8d3a1c52_6b0e_4f7a_9c21_5e4d3b2a1f00"

static struct cgroup_ident parse(const char *text)
{
	struct cgroup_ident id;

	cgroup_ident_parse(text, strlen(text), &id);
	return id;
}

static void expect(const char *text, const char *uid, const char *cid,
		   enum container_runtime runtime, const char *unit)
{
	struct cgroup_ident id = parse(text);

	assert_string_equal(id.pod_uid, uid);
	assert_string_equal(id.container_id, cid);
	assert_int_equal(id.runtime, runtime);
	assert_string_equal(id.unit, unit);
}

static void test_kubepods_systemd_driver(void **state)
{
	(void)state;
	expect("0::/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod" UID_
	       ".slice/cri-containerd-" ID ".scope\n",
	       UID, ID, RUNTIME_CONTAINERD, "");
	expect("0::/kubepods.slice/kubepods-pod" UID_ ".slice/crio-" ID ".scope\n", UID, ID,
	       RUNTIME_CRIO, "");
	expect("0::/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod" UID_
	       ".slice/docker-" ID ".scope\n",
	       UID, ID, RUNTIME_DOCKER, "");
	/* a segment that is almost a pod's leaves nothing of its UID
	 * (tests/fuzz/corpus/cgroup/pod_uid_half) */
	expect("0::/kubepods/pod12345678-1234-1234-12X4-123456789abc/pod" UID "/" ID "\n", UID, ID,
	       RUNTIME_CONTAINERD, "");
	expect("0::/kubepods-besteffort-pod12345678_1234_1234_1234_12345678Xabc.slice/x\n", "", "",
	       RUNTIME_NONE, "");
}

static void test_kubepods_cgroupfs_driver(void **state)
{
	(void)state;
	expect("0::/kubepods/burstable/pod" UID "/" ID "\n", UID, ID, RUNTIME_CONTAINERD, "");
	expect("0::/kubepods/pod" UID "/" ID "\n", UID, ID, RUNTIME_CONTAINERD, "");
	expect("0::/kubepods/besteffort/pod" UID "/crio-" ID "\n", UID, ID, RUNTIME_CRIO, "");
}

/* A pod's sandbox (pause) and CRI-O's conmon have no container of the pod's. */
static void test_conmon_is_not_the_container(void **state)
{
	(void)state;
	expect("0::/kubepods.slice/kubepods-pod" UID_ ".slice/crio-conmon-" ID ".scope\n", UID, "",
	       RUNTIME_NONE, "");
	expect("0::/machine.slice/libpod-conmon-" ID ".scope\n", "", "", RUNTIME_NONE, "");
}

static void test_cgroup_namespace_relative_path(void **state)
{
	(void)state;
	expect("0::/../../kubepods-besteffort-pod" UID_ ".slice/cri-containerd-" ID ".scope\n", UID,
	       ID, RUNTIME_CONTAINERD, "");
	expect("0::/../" ID "\n", "", "", RUNTIME_NONE, ""); /* a bare id says nothing alone */
}

static void test_podman_and_docker(void **state)
{
	(void)state;
	expect("0::/machine.slice/libpod-" ID ".scope/container\n", "", ID, RUNTIME_PODMAN, "");
	expect("0::/libpod_parent/libpod-" ID "\n", "", ID, RUNTIME_PODMAN, "");
	expect("0::/system.slice/docker-" ID ".scope\n", "", ID, RUNTIME_DOCKER, "");
	expect("12:pids:/docker/" ID "\n", "", ID, RUNTIME_DOCKER, "");
}

static void test_systemd_units(void **state)
{
	(void)state;
	expect("0::/system.slice/nginx.service\n", "", "", RUNTIME_NONE, "nginx.service");
	expect("0::/user.slice/user-1000.slice/user@1000.service/app.slice/api.service\n", "", "",
	       RUNTIME_NONE, "api.service");
	expect("0::/user.slice/user-1000.slice/user@1000.service/init.scope\n", "", "",
	       RUNTIME_NONE, "");
	expect("0::/\n", "", "", RUNTIME_NONE, "");
	/* a name systemd would not give, from a cgroup a process made
	 * (tests/fuzz/corpus/cgroup/unit_not_systemd): not a unit */
	expect("0::/system.slice/app.service/2/%.service\n", "", "", RUNTIME_NONE, "app.service");
	expect("0::/a\x01\"b.service\n", "", "", RUNTIME_NONE, "");
	expect("0::/system.slice/.service\n", "", "", RUNTIME_NONE, ""); /* no name */
	expect("0::/system.slice/app@x\\x2d1:2.service\n", "", "", RUNTIME_NONE,
	       "app@x\\x2d1:2.service");
}

/* v1 and hybrid: one line per hierarchy; the most specific wins, in
 * whichever line it is (this machine: the unified line says "/"). */
static void test_hybrid_most_specific_line_wins(void **state)
{
	(void)state;
	expect("12:memory:/system.slice/containerd.service\n"
	       "11:pids:/kubepods/burstable/pod" UID "/" ID "\n"
	       "1:name=systemd:/kubepods/burstable/pod" UID "/" ID "\n"
	       "0::/\n",
	       UID, ID, RUNTIME_CONTAINERD, "");
	expect("9:name=systemd:/\n4:memory:/system.slice/redis-server.service\n0::/\n", "", "",
	       RUNTIME_NONE, "redis-server.service");
}

static void test_garbage_is_nothing(void **state)
{
	(void)state;
	expect("", "", "", RUNTIME_NONE, "");
	expect("no colons here\n::\n0::", "", "", RUNTIME_NONE, "");
	expect("0::/kubepods/podnot-a-uid/" ID "\n", "", "", RUNTIME_NONE, "");
	expect("0::/docker/" ID "0\n", "", "", RUNTIME_NONE, ""); /* 65 digits */
	expect("0::/kubepods/pod" UID "/"
	       "3F4B6C0A1E2D4C5B8A9F0E1D2C3B4A5968778695A4B3C2D1E0F1A2B3C4D5E6F7"
	       "\n",
	       UID, "", RUNTIME_NONE, "");
}

/* Without a trailing newline, and cut at every length: never past len. */
static void test_every_prefix(void **state)
{
	const char text[] = "0::/kubepods/burstable/pod" UID "/" ID;
	struct cgroup_ident id;

	(void)state;
	for (size_t n = 0; n <= strlen(text); n++) {
		cgroup_ident_parse(text, n, &id);
		if (n < strlen(text))
			assert_string_equal(id.container_id, "");
	}
	assert_string_equal(id.container_id, ID);
	assert_string_equal(container_runtime_name(id.runtime), "containerd");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_kubepods_systemd_driver),
	    cmocka_unit_test(test_kubepods_cgroupfs_driver),
	    cmocka_unit_test(test_conmon_is_not_the_container),
	    cmocka_unit_test(test_cgroup_namespace_relative_path),
	    cmocka_unit_test(test_podman_and_docker),
	    cmocka_unit_test(test_systemd_units),
	    cmocka_unit_test(test_hybrid_most_specific_line_wins),
	    cmocka_unit_test(test_garbage_is_nothing),
	    cmocka_unit_test(test_every_prefix),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
