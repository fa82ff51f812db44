// SPDX-License-Identifier: MIT
/* Unit tests of the kubelet /pods reader: pods, their service names and
 * owning workloads, and texts that are not a PodList. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <string.h>
#include <cmocka.h>

#include "ident/kube_pods.h"

#define MAX_PODS 8

struct seen {
	struct kube_pod pods[MAX_PODS];
	size_t n;
};

static void keep(void *arg, const struct kube_pod *p)
{
	struct seen *s = arg;

	assert_true(s->n < MAX_PODS);
	s->pods[s->n++] = *p;
}

/* Shaped like a kubelet's answer: fields in any order, owners after or
 * before labels, values of other types where names are expected. */
static const char pods[] =
    "{\"kind\":\"PodList\",\"apiVersion\":\"v1\",\"metadata\":{},\"items\":["
    "{\"metadata\":{\"name\":\"web-7d9c8b6f5d-abcde\",\"namespace\":\"shop\","
    "\"uid\":\"0d6e2f4a-1b2c-4d5e-8f90-a1b2c3d4e5f6\","
    "\"ownerReferences\":[{\"apiVersion\":\"apps/v1\",\"kind\":\"ReplicaSet\","
    "\"name\":\"web-7d9c8b6f5d\",\"controller\":true,\"blockOwnerDeletion\":true}],"
    "\"labels\":{\"app.kubernetes.io/name\":\"storefront\",\"pod-template-hash\":\"7d9c8b6f5d\"}},"
    "\"spec\":{\"containers\":[{\"name\":\"api\"}]},\"status\":{\"phase\":\"Running\"}},"
    "{\"metadata\":{\"labels\":{\"pod-template-hash\":\"x\"},\"name\":\"report-28930560-q7xkz\","
    "\"namespace\":\"batch\",\"uid\":\"11111111-2222-3333-4444-555555555555\","
    "\"ownerReferences\":[{\"kind\":\"Job\",\"name\":\"report-28930560\",\"controller\":true}]}},"
    "{\"metadata\":{\"uid\":\"22222222-3333-4444-5555-666666666666\",\"name\":\"db-0\","
    "\"namespace\":\"data\",\"annotations\":{\"resource.opentelemetry.io/service.name\":"
    "\"orders-db\",\"other\":{\"nested\":[1,2]}},\"ownerReferences\":["
    "{\"kind\":\"Node\",\"name\":\"n1\"},{\"kind\":\"StatefulSet\",\"name\":\"db\","
    "\"controller\":true}]}},"
    "{\"metadata\":{\"name\":\"static-no-uid\",\"namespace\":\"kube-system\"}},"
    "{\"metadata\":{\"uid\":\"33333333-4444-5555-6666-777777777777\",\"name\":\"bare\","
    "\"namespace\":\"default\",\"labels\":{\"app.kubernetes.io/name\":7}}}"
    "]}";

static void test_pods_and_their_names(void **state)
{
	struct seen s = {0};

	(void)state;
	assert_int_equal(kube_pods_parse(pods, sizeof(pods) - 1, keep, &s), 0);
	assert_int_equal(s.n, 4); /* the pod without a uid is not one to match */
	assert_string_equal(s.pods[0].uid, "0d6e2f4a-1b2c-4d5e-8f90-a1b2c3d4e5f6");
	assert_string_equal(s.pods[0].namespace, "shop");
	assert_string_equal(s.pods[0].name, "web-7d9c8b6f5d-abcde");
	assert_string_equal(s.pods[0].app_name, "storefront");
	assert_string_equal(s.pods[0].workload, "web");
	assert_string_equal(s.pods[1].workload, "report"); /* Job of a CronJob */
	assert_string_equal(s.pods[2].otel_service, "orders-db");
	assert_string_equal(s.pods[2].workload, "db"); /* the controller, not the first */
	assert_string_equal(s.pods[3].app_name, "");   /* a number is not a name */
	assert_string_equal(s.pods[3].workload, "");
}

static void test_not_a_pod_list(void **state)
{
	static const char *const bad[] = {
	    "", "[]", "{\"items\":[{\"metadata\":{\"uid\":\"a\"", "{\"items\":[1,", "garbage",
	};
	struct seen s = {0};

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(kube_pods_parse(bad[i], strlen(bad[i]), keep, &s), -1);
	assert_int_equal(kube_pods_parse("{\"items\":[]}", 12, keep, &s), 0);
	assert_int_equal(s.n, 0);
}

/* Every split point: a truncated answer is refused, never read past. */
static void test_truncated_answers(void **state)
{
	struct seen s;

	(void)state;
	for (size_t n = 0; n < sizeof(pods) - 1; n++) {
		s.n = 0;
		assert_int_equal(kube_pods_parse(pods, n, keep, &s), -1);
	}
}

static void test_workload_of_owners(void **state)
{
	char out[KUBE_VALUE_MAX];

	(void)state;
	kube_workload("ReplicaSet", "api-5f7b9c", "5f7b9c", out, sizeof(out));
	assert_string_equal(out, "api");
	kube_workload("ReplicaSet", "api-5f7b9c", "", out, sizeof(out)); /* a bare ReplicaSet */
	assert_string_equal(out, "api-5f7b9c");
	kube_workload("ReplicaSet", "5f7b9c", "5f7b9c", out, sizeof(out));
	assert_string_equal(out, "5f7b9c");
	kube_workload("Job", "nightly-28930560", "", out, sizeof(out));
	assert_string_equal(out, "nightly");
	kube_workload("Job", "migrate-1", "", out, sizeof(out)); /* not a CronJob's */
	assert_string_equal(out, "migrate-1");
	kube_workload("DaemonSet", "agent", "", out, sizeof(out));
	assert_string_equal(out, "agent");
	kube_workload("", "", "", out, sizeof(out));
	assert_string_equal(out, "");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_pods_and_their_names),
	    cmocka_unit_test(test_not_a_pod_list),
	    cmocka_unit_test(test_truncated_answers),
	    cmocka_unit_test(test_workload_of_owners),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
