// SPDX-License-Identifier: MIT
/* Unit tests of the OCI config.json annotations reader. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <string.h>
#include <cmocka.h>

#include "ident/oci_config.h"

/* The shape containerd's CRI plugin writes (abridged, same nesting). */
static const char containerd_json[] =
    "{\"ociVersion\":\"1.1.0\",\"process\":{\"user\":{\"uid\":0,\"gid\":0},"
    "\"args\":[\"python3\",\"-m\",\"uvicorn\"],\"env\":[\"PATH=/usr/bin\",\"A={\\\"b\\\":1}\"],"
    "\"cwd\":\"/\",\"capabilities\":{\"bounding\":[\"CAP_CHOWN\"]},\"noNewPrivileges\":false},"
    "\"root\":{\"path\":\"rootfs\"},\"mounts\":[{\"destination\":\"/proc\",\"type\":\"proc\"}],"
    "\"annotations\":{\"io.kubernetes.cri.container-name\":\"api\","
    "\"io.kubernetes.cri.container-type\":\"container\","
    "\"io.kubernetes.cri.image-name\":\"registry.local/api:1.2\","
    "\"io.kubernetes.cri.sandbox-id\":\"0123abcd\","
    "\"io.kubernetes.cri.sandbox-name\":\"api-7d4f9c8b6-x2x9q\","
    "\"io.kubernetes.cri.sandbox-namespace\":\"shop\","
    "\"io.kubernetes.cri.sandbox-uid\":\"8d3a1c52-6b0e-4f7a-9c21-5e4d3b2a1f00\"},"
    "\"linux\":{\"resources\":{\"cpu\":{\"shares\":2}},\"namespaces\":[{\"type\":\"pid\"}]}}";

static const char crio_json[] =
    "{\n  \"ociVersion\": \"1.0.2\",\n  \"annotations\": {\n"
    "    \"io.kubernetes.container.name\": \"worker\",\n"
    "    \"io.kubernetes.cri-o.ContainerType\": \"container\",\n"
    "    \"io.kubernetes.cri-o.ImageName\": \"quay.io/x/worker:3\",\n"
    "    \"io.kubernetes.cri-o.Labels\": \"{\\\"io.kubernetes.pod.name\\\":\\\"nope\\\"}\",\n"
    "    \"io.kubernetes.pod.name\": \"worker-0\",\n"
    "    \"io.kubernetes.pod.namespace\": \"jobs\"\n  }\n}\n";

static void test_containerd(void **state)
{
	struct oci_ident id;

	(void)state;
	assert_int_equal(oci_config_parse(containerd_json, strlen(containerd_json), &id), 0);
	assert_string_equal(id.namespace, "shop");
	assert_string_equal(id.pod, "api-7d4f9c8b6-x2x9q");
	assert_string_equal(id.container, "api");
	assert_string_equal(id.image, "registry.local/api:1.2");
	assert_string_equal(id.container_type, "container");
}

static void test_crio(void **state)
{
	struct oci_ident id;

	(void)state;
	assert_int_equal(oci_config_parse(crio_json, strlen(crio_json), &id), 0);
	assert_string_equal(id.namespace, "jobs");
	assert_string_equal(id.pod, "worker-0"); /* not the one inside a JSON string */
	assert_string_equal(id.container, "worker");
	assert_string_equal(id.image, "quay.io/x/worker:3");
}

/* Annotations nested deeper than the top level are not the bundle's. */
static void test_only_top_level_annotations(void **state)
{
	const char json[] = "{\"process\":{\"annotations\":{\"io.kubernetes.pod.name\":\"inner\"}},"
			    "\"annotations\":{\"io.kubernetes.pod.name\":\"outer\"}}";
	struct oci_ident id;

	(void)state;
	assert_int_equal(oci_config_parse(json, strlen(json), &id), 0);
	assert_string_equal(id.pod, "outer");
}

static void test_plain_container_has_none(void **state)
{
	const char json[] = "{\"ociVersion\":\"1.0.0\",\"annotations\":{\"io.podman.annotations."
			    "autoremove\":\"FALSE\"},\"hostname\":\"x\"}";
	struct oci_ident id;

	(void)state;
	assert_int_equal(oci_config_parse(json, strlen(json), &id), 0);
	assert_string_equal(id.pod, "");
	assert_string_equal(id.container, "");
	assert_int_equal(oci_config_parse("{}", 2, &id), 0);
}

static void test_hostile_values(void **state)
{
	const char json[] =
	    "{\"annotations\":{\"io.kubernetes.pod.name\":\"a\\\"b\\n\\u00e9c\\\\\","
	    "\"io.kubernetes.container.name\":42,"
	    "\"io.kubernetes.pod.namespace\":\"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
	    "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
	    "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
	    "yyyy\"}}";
	struct oci_ident id;

	(void)state;
	assert_int_equal(oci_config_parse(json, strlen(json), &id), 0);
	assert_string_equal(id.pod, "a\"b__c\\");
	assert_string_equal(id.container, ""); /* not a string: skipped */
	assert_int_equal(strlen(id.namespace), OCI_NAME_MAX - 1);
}

/* Truncated or broken text is refused at every length, never read past. */
static void test_every_prefix_refused(void **state)
{
	struct oci_ident id;
	size_t n = strlen(containerd_json);

	(void)state;
	for (size_t i = 0; i < n; i++) {
		assert_int_equal(oci_config_parse(containerd_json, i, &id), -1);
		assert_string_equal(id.pod, "");
	}
	assert_int_equal(oci_config_parse("[1,2]", 5, &id), -1);
	assert_int_equal(oci_config_parse("{\"a\" 1}", 7, &id), -1);
	assert_int_equal(oci_config_parse("{\"a\":1,}", 8, &id), -1);
	/* a member without a value (tests/fuzz/corpus/json_walk/no_value) */
	assert_int_equal(oci_config_parse("{\"a\":}", 6, &id), -1);
	assert_int_equal(oci_config_parse("{\"a\": ,\"b\":1}", 13, &id), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_containerd),
	    cmocka_unit_test(test_crio),
	    cmocka_unit_test(test_only_top_level_annotations),
	    cmocka_unit_test(test_plain_container_has_none),
	    cmocka_unit_test(test_hostile_values),
	    cmocka_unit_test(test_every_prefix_refused),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
