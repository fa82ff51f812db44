// SPDX-License-Identifier: MIT
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "conn_event.h"
#include "core/config.h"
#include "core/log.h"
#include "core/version.h"

enum {
	OPT_LISTEN = 256,
	OPT_PATH,
	OPT_WEB_CONFIG,
	OPT_LOG_LEVEL,
	OPT_VERSION,
	OPT_HELP,
	OPT_PID,
	OPT_PORT,
	OPT_EXE,
	OPT_CGROUP,
	OPT_MAX_PATHS,
	OPT_MAX_MODELS,
	OPT_IDLE_TIMEOUT,
	OPT_SWEEP,
	OPT_PROVIDER_MAP,
	OPT_BREAKER_FAILURES,
	OPT_BREAKER_WINDOW,
	OPT_BREAKER_COOLDOWN,
	OPT_TLS_SCAN,
	OPT_TLS,
	OPT_NO_TLS,
	OPT_HOST_ROOT,
	OPT_SERVICE_FROM,
	OPT_STALE_AFTER,
	OPT_KUBELET,
	OPT_KUBELET_URL,
	OPT_KUBELET_TOKEN,
	OPT_KUBELET_CA,
	OPT_KUBELET_INSECURE,
	OPT_KUBELET_INTERVAL,
	OPT_MAX_CONNS,
	OPT_RING_BYTES,
};

static const struct option options[] = {
    {"web.listen-address", required_argument, NULL, OPT_LISTEN},
    {"web.telemetry-path", required_argument, NULL, OPT_PATH},
    {"web.config.file", required_argument, NULL, OPT_WEB_CONFIG},
    {"log.level", required_argument, NULL, OPT_LOG_LEVEL},
    {"version", no_argument, NULL, OPT_VERSION},
    {"help", no_argument, NULL, OPT_HELP},
    {"pid", required_argument, NULL, OPT_PID},
    {"port", required_argument, NULL, OPT_PORT},
    {"exe", required_argument, NULL, OPT_EXE},
    {"cgroup", required_argument, NULL, OPT_CGROUP},
    {"limits.max-paths", required_argument, NULL, OPT_MAX_PATHS},
    {"limits.max-models", required_argument, NULL, OPT_MAX_MODELS},
    {"sse.idle-timeout", required_argument, NULL, OPT_IDLE_TIMEOUT},
    {"sweep.interval", required_argument, NULL, OPT_SWEEP},
    {"provider.map", required_argument, NULL, OPT_PROVIDER_MAP},
    {"breaker.failures", required_argument, NULL, OPT_BREAKER_FAILURES},
    {"breaker.window", required_argument, NULL, OPT_BREAKER_WINDOW},
    {"breaker.cooldown", required_argument, NULL, OPT_BREAKER_COOLDOWN},
    {"tls.scan-interval", required_argument, NULL, OPT_TLS_SCAN},
    {"tls", no_argument, NULL, OPT_TLS},
    {"no-tls", no_argument, NULL, OPT_NO_TLS},
    {"ident.host-root", required_argument, NULL, OPT_HOST_ROOT},
    {"ident.service-from", required_argument, NULL, OPT_SERVICE_FROM},
    {"series.stale-after", required_argument, NULL, OPT_STALE_AFTER},
    {"kubelet.enrich", no_argument, NULL, OPT_KUBELET},
    {"kubelet.url", required_argument, NULL, OPT_KUBELET_URL},
    {"kubelet.token-file", required_argument, NULL, OPT_KUBELET_TOKEN},
    {"kubelet.ca-file", required_argument, NULL, OPT_KUBELET_CA},
    {"kubelet.insecure-skip-verify", no_argument, NULL, OPT_KUBELET_INSECURE},
    {"kubelet.interval", required_argument, NULL, OPT_KUBELET_INTERVAL},
    {"bpf.max-connections", required_argument, NULL, OPT_MAX_CONNS},
    {"bpf.ring-buffer-bytes", required_argument, NULL, OPT_RING_BYTES},
    {0},
};

static const char usage[] =
    "Usage: sse_exporter [flags]\n"
    "Prometheus metrics of the HTTP requests and Server-Sent-Events streams of\n"
    "unmodified processes on this host, observed with eBPF.\n\n"
    "  --web.listen-address=[HOST]:PORT  where to serve (default :9476)\n"
    "  --web.telemetry-path=PATH         metrics path (default /metrics)\n"
    "  --web.config.file=FILE            TLS and basic auth (exporter-toolkit format)\n"
    "  --log.level=debug|info|warn|error (default info)\n"
    "  --pid=PID --port=PORT --exe=GLOB --cgroup=PATH\n"
    "                                    observe only matching processes (repeatable, OR)\n"
    "  --limits.max-paths=N              distinct path labels per service (default 100)\n"
    "  --limits.max-models=N             distinct model labels per service (default 50)\n"
    "  --sse.idle-timeout=SECONDS        a stream closed by the server after this much\n"
    "                                    silence counts as a timeout (default 30)\n"
    "  --sweep.interval=SECONDS          check for connections closed unseen (default 2)\n"
    "  --provider.map=HOST=NAME          provider label of an upstream host (repeatable;\n"
    "                                    HOST may carry a port)\n"
    "  --breaker.failures=N              consecutive failed upstream calls that open the\n"
    "                                    inferred circuit breaker (default 5, max 64)\n"
    "  --breaker.window=SECONDS          ... within this time (default 60)\n"
    "  --breaker.cooldown=SECONDS        open -> half-open after this time (default 60)\n"
    "  --no-tls                          do not hook OpenSSL (TLS plaintext, upstream\n"
    "                                    calls over TLS); --tls: hook it (default)\n"
    "  --tls.scan-interval=SECONDS       look for new OpenSSL copies to hook (default 5);\n"
    "                                    0: only those found at start, and drop\n"
    "                                    CAP_SYS_ADMIN after attaching\n"
    "  --ident.host-root=PATH            where the host's files are (default: / on the\n"
    "                                    host, /proc/1/root in a container)\n"
    "  --ident.service-from=LIST         service label sources, in order (default otel,\n"
    "                                    annotation,app,workload,container,unit,comm)\n"
    "  --series.stale-after=SECONDS      drop the series of a pod or process gone this\n"
    "                                    long (default 300)\n"
    "  --kubelet.enrich                  pod annotations, labels and owners from the\n"
    "                                    kubelet's /pods (RBAC: nodes/proxy get)\n"
    "  --kubelet.url=URL                 (default https://$NODE_IP:10250)\n"
    "  --kubelet.token-file=FILE         (default the service account's token)\n"
    "  --kubelet.ca-file=FILE            (default the service account's ca.crt)\n"
    "  --kubelet.insecure-skip-verify    do not verify the kubelet's certificate\n"
    "  --kubelet.interval=SECONDS        poll period (default 30; and on a new pod)\n"
    "  --bpf.max-connections=N           connections the kernel follows at once (default\n"
    "                                    65536, 1 to 1048576); more are counted untracked\n"
    "  --bpf.ring-buffer-bytes=N         the kernel-to-user ring buffers in all: one per CPU\n"
    "                                    while each gets 512 KiB, else CPUs share them\n"
    "                                    (default 8388608; a power of two, a multiple of\n"
    "                                    the page size, 16384 to 1073741824); a full one\n"
    "                                    loses records\n"
    "  --version, --help\n";

static int parse_uint(const char *s, unsigned long max, unsigned long *out)
{
	char *end;

	errno = 0;
	*out = strtoul(s, &end, 10);
	return errno || end == s || *end || *out > max ? -1 : 0;
}

int config_parse_listen(const char *s, char *host, size_t host_size, uint16_t *port)
{
	const char *colon = strrchr(s, ':');
	unsigned long p;
	size_t n;

	if (!colon || parse_uint(colon + 1, 65535, &p) || p == 0)
		return -1;
	n = colon - s;
	if (n >= 2 && s[0] == '[' && s[n - 1] == ']') { /* [v6]:port */
		s++;
		n -= 2;
	}
	if (n >= host_size)
		return -1;
	memcpy(host, s, n);
	host[n] = '\0';
	*port = p;
	return 0;
}

#define SA_DIR "/var/run/secrets/kubernetes.io/serviceaccount"

static void defaults(struct config *c)
{
	memset(c, 0, sizeof(*c));
	c->listen_port = 9476;
	c->telemetry_path = "/metrics";
	c->max_paths = 100;
	c->max_models = 50;
	c->idle_timeout_s = 30;
	c->sweep_interval_s = 2;
	c->breaker_failures = 5;
	c->breaker_window_s = 60;
	c->breaker_cooldown_s = 60;
	c->tls_scan_interval_s = 5;
	c->tls = true;
	c->stale_after_s = 300;
	c->kubelet_token_file = SA_DIR "/token";
	c->kubelet_ca_file = SA_DIR "/ca.crt";
	c->kubelet_interval_s = 30;
	c->max_conns = MAX_CONNS;
	c->ring_bytes = EVENTS_RING_BYTES;
	for (int i = 0; i < SERVICE_SOURCES; i++)
		c->service_from[i] = i;
	c->nservice_from = SERVICE_SOURCES;
}

static const char *const source_names[SERVICE_SOURCES] = {
    [SERVICE_FROM_OTEL] = "otel",
    [SERVICE_FROM_ANNOTATION] = "annotation",
    [SERVICE_FROM_APP] = "app",
    [SERVICE_FROM_WORKLOAD] = "workload",
    [SERVICE_FROM_CONTAINER] = "container",
    [SERVICE_FROM_UNIT] = "unit",
    [SERVICE_FROM_COMM] = "comm",
};

/* "otel,container,...": each source at most once, comm last if at all
 * (it always gives a name, so nothing after it would be tried). */
static int parse_service_from(struct config *c, const char *arg)
{
	const char *p = arg;
	size_t len = strlen(arg);

	c->nservice_from = 0;
	if (len && arg[len - 1] == ',')
		return -1;
	while (*p) {
		size_t n = strcspn(p, ","), i;

		for (i = 0; i < SERVICE_SOURCES; i++)
			if (strlen(source_names[i]) == n && !strncmp(p, source_names[i], n))
				break;
		if (i == SERVICE_SOURCES)
			return -1;
		for (size_t j = 0; j < c->nservice_from; j++)
			if (c->service_from[j] == i || c->service_from[j] == SERVICE_FROM_COMM)
				return -1;
		c->service_from[c->nservice_from++] = i;
		p += n + (p[n] == ',');
	}
	return c->nservice_from ? 0 : -1;
}

#define MAX_CONNS_LIMIT	 (1ul << 20)
#define RING_BYTES_MIN	 (16ul << 10)
#define RING_BYTES_LIMIT (1ul << 30)

/* The BPF maps' sizes, checked here: the kernel would only say EINVAL. */
static int parse_bpf_size(struct config *c, int opt, const char *arg, const char **why)
{
	unsigned long v, page = sysconf(_SC_PAGESIZE);

	if (opt == OPT_MAX_CONNS) {
		*why = "want a number of connections from 1 to 1048576";
		if (parse_uint(arg, MAX_CONNS_LIMIT, &v) || !v)
			return -1;
		c->max_conns = v;
		return 0;
	}
	*why = "want a power of two of bytes, a multiple of the page size, from 16384 to "
	       "1073741824";
	if (parse_uint(arg, RING_BYTES_LIMIT, &v) || v < RING_BYTES_MIN || (v & (v - 1)) ||
	    v % page)
		return -1;
	c->ring_bytes = v;
	return 0;
}

static int add_select(struct config *c, int opt, const char *arg)
{
	unsigned long v;

	switch (opt) {
	case OPT_PID:
		if (c->npids == CONFIG_SELECT_MAX || parse_uint(arg, 4194304, &v) || !v)
			return -1;
		c->pids[c->npids++] = v;
		return 0;
	case OPT_PORT:
		if (c->nports == CONFIG_SELECT_MAX || parse_uint(arg, 65535, &v) || !v)
			return -1;
		c->ports[c->nports++] = v;
		return 0;
	case OPT_EXE:
		if (c->nexes == CONFIG_SELECT_MAX)
			return -1;
		c->exes[c->nexes++] = arg;
		return 0;
	case OPT_CGROUP:
		if (c->ncgroups == CONFIG_SELECT_MAX)
			return -1;
		c->cgroups[c->ncgroups++] = arg;
		return 0;
	case OPT_PROVIDER_MAP:
		if (c->nprovider_maps == CONFIG_SELECT_MAX || !strchr(arg, '='))
			return -1;
		c->provider_maps[c->nprovider_maps++] = arg;
		return 0;
	}
	return -1;
}

/* why: what a bad value should have been, when the flag says more than
 * --help does */
static int apply(struct config *c, int opt, const char *arg, const char **why)
{
	unsigned long v;
	int level;

	switch (opt) {
	case OPT_MAX_CONNS:
	case OPT_RING_BYTES:
		return parse_bpf_size(c, opt, arg, why);
	case OPT_LISTEN:
		return config_parse_listen(arg, c->listen_host, sizeof(c->listen_host),
					   &c->listen_port);
	case OPT_PATH:
		c->telemetry_path = arg;
		return arg[0] == '/' ? 0 : -1;
	case OPT_WEB_CONFIG:
		c->web_config_file = arg;
		return 0;
	case OPT_LOG_LEVEL:
		level = log_level_parse(arg);
		if (level < 0)
			return -1;
		log_threshold = level;
		return 0;
	case OPT_MAX_PATHS:
	case OPT_MAX_MODELS:
	case OPT_IDLE_TIMEOUT:
	case OPT_SWEEP:
		if (parse_uint(arg, 1000000, &v) || !v)
			return -1;
		if (opt == OPT_MAX_PATHS)
			c->max_paths = v;
		else if (opt == OPT_MAX_MODELS)
			c->max_models = v;
		else if (opt == OPT_IDLE_TIMEOUT)
			c->idle_timeout_s = v;
		else
			c->sweep_interval_s = v;
		return 0;
	case OPT_HOST_ROOT:
		c->host_root = arg;
		return arg[0] == '/' ? 0 : -1;
	case OPT_SERVICE_FROM:
		return parse_service_from(c, arg);
	case OPT_STALE_AFTER:
		if (parse_uint(arg, 30 * 86400, &v) || !v)
			return -1;
		c->stale_after_s = v;
		return 0;
	case OPT_KUBELET:
	case OPT_KUBELET_INSECURE:
		*(opt == OPT_KUBELET ? &c->kubelet : &c->kubelet_insecure) = true;
		return 0;
	case OPT_KUBELET_URL:
		c->kubelet_url = arg;
		return strncmp(arg, "https://", 8) ? -1 : 0;
	case OPT_KUBELET_TOKEN:
	case OPT_KUBELET_CA:
		*(opt == OPT_KUBELET_TOKEN ? &c->kubelet_token_file : &c->kubelet_ca_file) = arg;
		return 0;
	case OPT_KUBELET_INTERVAL:
		if (parse_uint(arg, 86400, &v) || !v)
			return -1;
		c->kubelet_interval_s = v;
		return 0;
	case OPT_TLS:
	case OPT_NO_TLS:
		c->tls = opt == OPT_TLS;
		return 0;
	case OPT_BREAKER_FAILURES:
		if (parse_uint(arg, 64, &v) || !v)
			return -1;
		c->breaker_failures = v;
		return 0;
	case OPT_BREAKER_WINDOW:
	case OPT_BREAKER_COOLDOWN:
	case OPT_TLS_SCAN: /* 0: no hooks after start, fewer capabilities kept */
		if (parse_uint(arg, 86400, &v) || (!v && opt != OPT_TLS_SCAN))
			return -1;
		if (opt == OPT_BREAKER_WINDOW)
			c->breaker_window_s = v;
		else if (opt == OPT_BREAKER_COOLDOWN)
			c->breaker_cooldown_s = v;
		else
			c->tls_scan_interval_s = v;
		return 0;
	}
	return add_select(c, opt, arg);
}

enum config_result config_parse(struct config *c, int argc, char **argv)
{
	const char *why = NULL;
	int opt;

	defaults(c);
	optind = 1;
	opterr = 0;
	while ((opt = getopt_long(argc, argv, "", options, NULL)) != -1) {
		if (opt == OPT_HELP) {
			fputs(usage, stdout);
			return CONFIG_EXIT_OK;
		}
		if (opt == OPT_VERSION) {
			printf("sse_exporter %s\n", sse_exporter_version);
			return CONFIG_EXIT_OK;
		}
		if (opt == '?' || apply(c, opt, optarg, &why)) {
			if (why)
				fprintf(stderr, "sse_exporter: invalid flag %s: %s\n",
					argv[optind - 1], why);
			else
				fprintf(stderr, "sse_exporter: invalid flag %s; see --help\n",
					argv[optind - 1]);
			return CONFIG_EXIT_USAGE;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "sse_exporter: unexpected argument %s; see --help\n", argv[optind]);
		return CONFIG_EXIT_USAGE;
	}
	return CONFIG_RUN;
}

bool config_selective(const struct config *c)
{
	return c->npids || c->nports || c->nexes || c->ncgroups;
}
