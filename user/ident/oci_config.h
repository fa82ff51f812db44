/* SPDX-License-Identifier: MIT */
/*
 * Who a container is, from the annotations of its OCI bundle's
 * config.json, as the CRI runtimes write them for the kubelet:
 * containerd (io.kubernetes.cri.*) and CRI-O (io.kubernetes.pod.*,
 * io.kubernetes.container.name). Pure: the caller reads the file.
 */
#ifndef SSE_OCI_CONFIG_H
#define SSE_OCI_CONFIG_H

#include <stddef.h>

#define OCI_NAME_MAX  128
#define OCI_IMAGE_MAX 256

struct oci_ident {
	char namespace[OCI_NAME_MAX];
	char pod[OCI_NAME_MAX];
	char container[OCI_NAME_MAX];
	char image[OCI_IMAGE_MAX];
	char container_type[16]; /* containerd: "sandbox" for a pod's pause container */
};

/* Fills id from the text of config.json; fields not annotated stay "".
 * Returns -1 when the text is not a JSON object. */
int oci_config_parse(const char *json, size_t len, struct oci_ident *id);

#endif
