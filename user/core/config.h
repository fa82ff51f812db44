/* SPDX-License-Identifier: MIT */
/* The command line (README, "Flags"; --help). */
#ifndef SSE_CONFIG_H
#define SSE_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define CONFIG_SELECT_MAX 64

/* Where a process's service label comes from, tried in the order given. */
enum service_source {
	SERVICE_FROM_OTEL, /* OTEL_SERVICE_NAME, OTEL_RESOURCE_ATTRIBUTES */
	/* from the kubelet (--kubelet.enrich): */
	SERVICE_FROM_ANNOTATION, /* the pod's resource.opentelemetry.io/service.name */
	SERVICE_FROM_APP,	 /* the pod's label app.kubernetes.io/name */
	SERVICE_FROM_WORKLOAD,	 /* the Deployment, StatefulSet, ... owning the pod */
	SERVICE_FROM_CONTAINER,	 /* Kubernetes, podman or docker container name */
	SERVICE_FROM_UNIT,	 /* systemd service unit, without ".service" */
	SERVICE_FROM_COMM,	 /* the process name */
	SERVICE_SOURCES,
};

struct config {
	char listen_host[256]; /* "" means every address */
	uint16_t listen_port;
	const char *telemetry_path;
	const char *web_config_file;
	pid_t pids[CONFIG_SELECT_MAX];
	size_t npids;
	uint16_t ports[CONFIG_SELECT_MAX];
	size_t nports;
	const char *exes[CONFIG_SELECT_MAX]; /* fnmatch globs on the executable path */
	size_t nexes;
	const char *cgroups[CONFIG_SELECT_MAX]; /* cgroup path prefixes */
	size_t ncgroups;
	size_t max_paths;
	size_t max_models;
	unsigned int idle_timeout_s;
	unsigned int sweep_interval_s;
	const char *provider_maps[CONFIG_SELECT_MAX]; /* "HOST=NAME" */
	size_t nprovider_maps;
	unsigned int breaker_failures;
	unsigned int breaker_window_s;
	unsigned int breaker_cooldown_s;
	unsigned int tls_scan_interval_s;
	bool tls;	       /* hook OpenSSL */
	const char *host_root; /* the host's files; NULL: "/" or /proc/1/root */
	enum service_source service_from[SERVICE_SOURCES];
	size_t nservice_from;
	unsigned int stale_after_s; /* a gone target's series are dropped then */
	bool kubelet;		    /* pod metadata from the kubelet's /pods */
	const char *kubelet_url;    /* NULL: https://$NODE_IP:10250 */
	const char *kubelet_token_file;
	const char *kubelet_ca_file;
	bool kubelet_insecure;
	unsigned int kubelet_interval_s;
	uint32_t max_conns;  /* entries of the connection maps (MAX_CONNS) */
	uint32_t ring_bytes; /* the ring buffer's size (EVENTS_RING_BYTES) */
};

enum config_result {
	CONFIG_RUN,
	CONFIG_EXIT_OK,	   /* --help, --version */
	CONFIG_EXIT_USAGE, /* bad flags: message printed */
};

enum config_result config_parse(struct config *c, int argc, char **argv);

/* Any selection flag given: observe only what matches. */
bool config_selective(const struct config *c);

/* "[HOST]:PORT" into host and port; returns -1 when malformed. */
int config_parse_listen(const char *s, char *host, size_t host_size, uint16_t *port);

#endif
