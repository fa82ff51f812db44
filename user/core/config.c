// SPDX-License-Identifier: MIT
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
    "  --ident.service-from=LIST         service label sources, in order (default\n"
    "                                    otel,container,unit,comm)\n"
    "  --series.stale-after=SECONDS      drop the series of a pod or process gone this\n"
    "                                    long (default 300)\n"
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
	for (int i = 0; i < SERVICE_SOURCES; i++)
		c->service_from[i] = i;
	c->nservice_from = SERVICE_SOURCES;
}

static const char *const source_names[SERVICE_SOURCES] = {
    [SERVICE_FROM_OTEL] = "otel",
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

static int apply(struct config *c, int opt, const char *arg)
{
	unsigned long v;
	int level;

	switch (opt) {
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
		if (opt == '?' || apply(c, opt, optarg)) {
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
