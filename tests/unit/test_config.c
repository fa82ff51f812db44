// SPDX-License-Identifier: MIT
/* Unit tests of the command line (README, "Flags"). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "core/config.h"
#include "core/log.h"

#define ARGC(a) ((int)(sizeof(a) / sizeof((a)[0])) - 1)

/* Parses a NULL-terminated argument list (program name first). */
#define PARSE(c, ...)                                                                              \
	({                                                                                         \
		char *argv_[] = {"sse_exporter", __VA_ARGS__, NULL};                               \
		config_parse(c, ARGC(argv_), argv_);                                               \
	})

static int reset_log(void **state)
{
	(void)state;
	log_threshold = LOG_INFO;
	return 0;
}

static void test_defaults(void **state)
{
	char *argv[] = {"sse_exporter", NULL};
	struct config c;

	(void)state;
	memset(&c, 0x5a, sizeof(c));
	assert_int_equal(config_parse(&c, 1, argv), CONFIG_RUN);
	assert_string_equal(c.listen_host, "");
	assert_int_equal(c.listen_port, 9476);
	assert_string_equal(c.telemetry_path, "/metrics");
	assert_null(c.web_config_file);
	assert_int_equal(c.npids, 0);
	assert_int_equal(c.nports, 0);
	assert_int_equal(c.nexes, 0);
	assert_int_equal(c.ncgroups, 0);
	assert_int_equal(c.max_paths, 100);
	assert_int_equal(c.max_models, 50);
	assert_int_equal(c.idle_timeout_s, 30);
	assert_int_equal(c.sweep_interval_s, 2);
	assert_false(config_selective(&c));
	assert_null(c.host_root);
	assert_int_equal(c.stale_after_s, 300);
	assert_int_equal(c.nservice_from, 7);
	assert_int_equal(c.service_from[0], SERVICE_FROM_OTEL);
	assert_int_equal(c.service_from[1], SERVICE_FROM_ANNOTATION);
	assert_int_equal(c.service_from[6], SERVICE_FROM_COMM);
	assert_false(c.kubelet);
	assert_null(c.kubelet_url);
	assert_string_equal(c.kubelet_token_file,
			    "/var/run/secrets/kubernetes.io/serviceaccount/token");
	assert_int_equal(c.kubelet_interval_s, 30);
	assert_int_equal(c.max_conns, 65536);
	assert_int_equal(c.ring_bytes, 8 << 20);
}

/* The BPF maps' sizes: connections from 1 to 2^20; the ring a power of
 * two of pages from 16 KiB to 1 GiB. */
static void test_bpf_sizes(void **state)
{
	static const char *const bad[] = {
	    "--bpf.max-connections=0",
	    "--bpf.max-connections=1048577",
	    "--bpf.max-connections=8k",
	    "--bpf.ring-buffer-bytes=8192",
	    "--bpf.ring-buffer-bytes=65535",
	    "--bpf.ring-buffer-bytes=98304",
	    "--bpf.ring-buffer-bytes=2147483648",
	};
	struct config c;

	(void)state;
	assert_int_equal(PARSE(&c, "--bpf.max-connections=1", "--bpf.ring-buffer-bytes=16384"),
			 CONFIG_RUN);
	assert_int_equal(c.max_conns, 1);
	assert_int_equal(c.ring_bytes, 16384);
	assert_int_equal(
	    PARSE(&c, "--bpf.max-connections=1048576", "--bpf.ring-buffer-bytes=1073741824"),
	    CONFIG_RUN);
	assert_int_equal(c.max_conns, 1 << 20);
	assert_int_equal(c.ring_bytes, 1 << 30);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char *argv[] = {"sse_exporter", (char *)bad[i], NULL};

		if (config_parse(&c, 2, argv) != CONFIG_EXIT_USAGE)
			fail_msg("%s: accepted", bad[i]);
	}
}

static void test_listen_address_flag(void **state)
{
	struct config c;

	(void)state;
	assert_int_equal(PARSE(&c, "--web.listen-address=127.0.0.1:9000"), CONFIG_RUN);
	assert_string_equal(c.listen_host, "127.0.0.1");
	assert_int_equal(c.listen_port, 9000);
	assert_int_equal(PARSE(&c, "--web.listen-address", "[::1]:9100"), CONFIG_RUN);
	assert_string_equal(c.listen_host, "::1");
	assert_int_equal(c.listen_port, 9100);
	assert_int_equal(PARSE(&c, "--web.listen-address=:8080"), CONFIG_RUN);
	assert_string_equal(c.listen_host, "");
	assert_int_equal(c.listen_port, 8080);
}

static void test_telemetry_path_flag(void **state)
{
	struct config c;

	(void)state;
	assert_int_equal(PARSE(&c, "--web.telemetry-path=/prom"), CONFIG_RUN);
	assert_string_equal(c.telemetry_path, "/prom");
	assert_int_equal(PARSE(&c, "--web.telemetry-path=prom"), CONFIG_EXIT_USAGE);
}

static void test_web_config_flag(void **state)
{
	struct config c;

	(void)state;
	assert_int_equal(PARSE(&c, "--web.config.file=/etc/web.yml"), CONFIG_RUN);
	assert_string_equal(c.web_config_file, "/etc/web.yml");
	assert_false(config_selective(&c));
}

static void test_log_level_flag(void **state)
{
	struct config c;

	(void)state;
	assert_int_equal(PARSE(&c, "--log.level=debug"), CONFIG_RUN);
	assert_int_equal(log_threshold, LOG_DEBUG);
	assert_int_equal(PARSE(&c, "--log.level=error"), CONFIG_RUN);
	assert_int_equal(log_threshold, LOG_ERROR);
	assert_int_equal(PARSE(&c, "--log.level=warn"), CONFIG_RUN);
	assert_int_equal(log_threshold, LOG_WARN);
	assert_int_equal(PARSE(&c, "--log.level=info"), CONFIG_RUN);
	assert_int_equal(log_threshold, LOG_INFO);
	assert_int_equal(PARSE(&c, "--log.level=verbose"), CONFIG_EXIT_USAGE);
	assert_int_equal(PARSE(&c, "--log.level=INFO"), CONFIG_EXIT_USAGE);
}

static void test_repeated_pid(void **state)
{
	struct config c;

	(void)state;
	assert_int_equal(PARSE(&c, "--pid=1", "--pid", "42", "--pid=4194304"), CONFIG_RUN);
	assert_int_equal(c.npids, 3);
	assert_int_equal(c.pids[0], 1);
	assert_int_equal(c.pids[1], 42);
	assert_int_equal(c.pids[2], 4194304);
	assert_true(config_selective(&c));
}

static void test_repeated_port(void **state)
{
	struct config c;

	(void)state;
	assert_int_equal(PARSE(&c, "--port=80", "--port=8080", "--port=65535"), CONFIG_RUN);
	assert_int_equal(c.nports, 3);
	assert_int_equal(c.ports[0], 80);
	assert_int_equal(c.ports[1], 8080);
	assert_int_equal(c.ports[2], 65535);
	assert_true(config_selective(&c));
}

static void test_exe_and_cgroup(void **state)
{
	struct config c;

	(void)state;
	assert_int_equal(
	    PARSE(&c, "--exe=/usr/bin/python3*", "--cgroup=/system.slice", "--exe=/opt/*/server"),
	    CONFIG_RUN);
	assert_int_equal(c.nexes, 2);
	assert_string_equal(c.exes[0], "/usr/bin/python3*");
	assert_string_equal(c.exes[1], "/opt/*/server");
	assert_int_equal(c.ncgroups, 1);
	assert_string_equal(c.cgroups[0], "/system.slice");
	assert_true(config_selective(&c));
}

static void test_limits_and_timers(void **state)
{
	struct config c;

	(void)state;
	assert_int_equal(PARSE(&c, "--limits.max-paths=7", "--limits.max-models=3",
			       "--sse.idle-timeout=120", "--sweep.interval=5"),
			 CONFIG_RUN);
	assert_int_equal(c.max_paths, 7);
	assert_int_equal(c.max_models, 3);
	assert_int_equal(c.idle_timeout_s, 120);
	assert_int_equal(c.sweep_interval_s, 5);
}

static void test_tls_on_by_default(void **state)
{
	struct config c;

	(void)state;
	assert_int_equal(PARSE(&c, "--log.level=info"), CONFIG_RUN);
	assert_true(c.tls);
	assert_int_equal(c.tls_scan_interval_s, 5);
	assert_int_equal(PARSE(&c, "--no-tls"), CONFIG_RUN);
	assert_false(c.tls);
	assert_int_equal(PARSE(&c, "--no-tls", "--tls", "--tls.scan-interval=0"), CONFIG_RUN);
	assert_true(c.tls);
	assert_int_equal(c.tls_scan_interval_s, 0);
	assert_int_equal(PARSE(&c, "--tls.scan-interval=86401"), CONFIG_EXIT_USAGE);
}

/* Values out of range or not numbers: a usage error each. */
static void test_bad_values(void **state)
{
	static const char *const bad[] = {
	    "--port=0",
	    "--port=70000",
	    "--port=65536",
	    "--port=http",
	    "--port=80x",
	    "--port=",
	    "--port=-1",
	    "--pid=0",
	    "--pid=abc",
	    "--pid=-5",
	    "--pid=4194305",
	    "--pid=99999999999999999999999",
	    "--limits.max-paths=0",
	    "--limits.max-models=many",
	    "--sse.idle-timeout=0",
	    "--sse.idle-timeout=1.5",
	    "--sweep.interval=-2",
	    "--web.listen-address=host:",
	    "--web.listen-address=9476",
	    "--web.listen-address=:0",
	    "--web.listen-address=:70000",
	};
	struct config c;

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char *argv[] = {"sse_exporter", (char *)bad[i], NULL};

		if (config_parse(&c, 2, argv) != CONFIG_EXIT_USAGE)
			fail_msg("%s: accepted", bad[i]);
	}
}

static void test_unknown_flag_and_positional(void **state)
{
	struct config c;

	(void)state;
	assert_int_equal(PARSE(&c, "--no-such-flag"), CONFIG_EXIT_USAGE);
	assert_int_equal(PARSE(&c, "-x"), CONFIG_EXIT_USAGE);
	assert_int_equal(PARSE(&c, "extra"), CONFIG_EXIT_USAGE);
	assert_int_equal(PARSE(&c, "--pid=1", "extra"), CONFIG_EXIT_USAGE);
	/* a flag that needs a value, given none */
	assert_int_equal(PARSE(&c, "--pid"), CONFIG_EXIT_USAGE);
	/* and the parser still works after errors */
	assert_int_equal(PARSE(&c, "--port=81"), CONFIG_RUN);
	assert_int_equal(c.nports, 1);
	assert_int_equal(c.ports[0], 81);
}

static void test_too_many_selections(void **state)
{
	char *argv[CONFIG_SELECT_MAX + 3];
	char vals[CONFIG_SELECT_MAX + 1][32];
	struct config c;
	int argc = 0;

	(void)state;
	argv[argc++] = "sse_exporter";
	for (int i = 0; i < CONFIG_SELECT_MAX; i++) {
		snprintf(vals[i], sizeof(vals[i]), "--port=%d", 1000 + i);
		argv[argc++] = vals[i];
	}
	argv[argc] = NULL;
	assert_int_equal(config_parse(&c, argc, argv), CONFIG_RUN);
	assert_int_equal(c.nports, CONFIG_SELECT_MAX);
	snprintf(vals[CONFIG_SELECT_MAX], sizeof(vals[0]), "--port=%d", 2000);
	argv[argc++] = vals[CONFIG_SELECT_MAX];
	argv[argc] = NULL;
	assert_int_equal(config_parse(&c, argc, argv), CONFIG_EXIT_USAGE);
}

static void test_help_and_version_exit_ok(void **state)
{
	struct config c;

	(void)state;
	assert_int_equal(PARSE(&c, "--help"), CONFIG_EXIT_OK);
	assert_int_equal(PARSE(&c, "--version"), CONFIG_EXIT_OK);
	assert_int_equal(PARSE(&c, "--port=80", "--version"), CONFIG_EXIT_OK);
}

/* Each parse starts from the defaults again. */
static void test_parse_starts_from_defaults(void **state)
{
	struct config c;

	(void)state;
	assert_int_equal(PARSE(&c, "--pid=5", "--web.listen-address=:1234"), CONFIG_RUN);
	assert_int_equal(PARSE(&c, "--port=99"), CONFIG_RUN);
	assert_int_equal(c.npids, 0);
	assert_int_equal(c.listen_port, 9476);
	assert_int_equal(c.nports, 1);
}

/* ---- config_parse_listen ---- */

static void assert_listen(const char *s, const char *host, uint16_t port)
{
	char h[256];
	uint16_t p = 0;

	memset(h, 'z', sizeof(h));
	if (config_parse_listen(s, h, sizeof(h), &p) != 0)
		fail_msg("rejected \"%s\"", s);
	assert_string_equal(h, host);
	assert_int_equal(p, port);
}

static void assert_listen_bad(const char *s)
{
	char h[256];
	uint16_t p = 0;

	if (config_parse_listen(s, h, sizeof(h), &p) != -1)
		fail_msg("accepted \"%s\"", s);
}

static void test_listen_forms(void **state)
{
	(void)state;
	assert_listen(":9476", "", 9476);
	assert_listen("127.0.0.1:9000", "127.0.0.1", 9000);
	assert_listen("[::1]:9000", "::1", 9000);
	assert_listen("[::]:1", "::", 1);
	assert_listen("localhost:65535", "localhost", 65535);
	assert_listen("0.0.0.0:80", "0.0.0.0", 80);
}

static void test_listen_invalid(void **state)
{
	(void)state;
	assert_listen_bad("host:");
	assert_listen_bad(":");
	assert_listen_bad("");
	assert_listen_bad("9476");
	assert_listen_bad("host");
	assert_listen_bad(":0");
	assert_listen_bad(":65536");
	assert_listen_bad(":70000");
	assert_listen_bad(":-1");
	assert_listen_bad(":http");
	assert_listen_bad("[::1]");
	assert_listen_bad("[::1]:");
	assert_listen_bad("1.2.3.4:80x");
}

static void test_listen_host_too_long(void **state)
{
	char h[8];
	uint16_t p;

	(void)state;
	assert_int_equal(config_parse_listen("abcdefg:80", h, sizeof(h), &p), 0);
	assert_string_equal(h, "abcdefg");
	assert_int_equal(config_parse_listen("abcdefgh:80", h, sizeof(h), &p), -1);
}

static void test_identity_flags(void **state)
{
	struct config c;

	(void)state;
	assert_int_equal(PARSE(&c, "--ident.host-root=/proc/1/root", "--series.stale-after=60",
			       "--ident.service-from=container,comm"),
			 CONFIG_RUN);
	assert_string_equal(c.host_root, "/proc/1/root");
	assert_int_equal(c.stale_after_s, 60);
	assert_int_equal(c.nservice_from, 2);
	assert_int_equal(c.service_from[0], SERVICE_FROM_CONTAINER);
	assert_int_equal(c.service_from[1], SERVICE_FROM_COMM);
	assert_int_equal(PARSE(&c, "--ident.service-from=unit"), CONFIG_RUN);
	assert_int_equal(c.nservice_from, 1);
	assert_int_equal(PARSE(&c, "--kubelet.enrich", "--kubelet.url=https://10.0.0.7:10250",
			       "--kubelet.token-file=/t", "--kubelet.ca-file=/ca",
			       "--kubelet.insecure-skip-verify", "--kubelet.interval=5",
			       "--ident.service-from=workload,app,annotation"),
			 CONFIG_RUN);
	assert_true(c.kubelet && c.kubelet_insecure);
	assert_string_equal(c.kubelet_url, "https://10.0.0.7:10250");
	assert_string_equal(c.kubelet_token_file, "/t");
	assert_string_equal(c.kubelet_ca_file, "/ca");
	assert_int_equal(c.kubelet_interval_s, 5);
	assert_int_equal(c.service_from[0], SERVICE_FROM_WORKLOAD);
}

static void test_identity_flags_invalid(void **state)
{
	static const char *const bad[] = {
	    "--ident.service-from=",	      "--ident.service-from=otel,otel",
	    "--ident.service-from=comm,otel", "--ident.service-from=pod",
	    "--ident.service-from=otel,",     "--ident.host-root=relative",
	    "--series.stale-after=0",	      "--series.stale-after=x",
	};
	struct config c;

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(PARSE(&c, (char *)bad[i]), CONFIG_EXIT_USAGE);
}

int main(void)
{
#define T(name) cmocka_unit_test_setup_teardown(name, reset_log, reset_log)
	const struct CMUnitTest tests[] = {
	    T(test_defaults),
	    T(test_bpf_sizes),
	    T(test_listen_address_flag),
	    T(test_telemetry_path_flag),
	    T(test_web_config_flag),
	    T(test_log_level_flag),
	    T(test_repeated_pid),
	    T(test_repeated_port),
	    T(test_exe_and_cgroup),
	    T(test_limits_and_timers),
	    T(test_tls_on_by_default),
	    T(test_bad_values),
	    T(test_unknown_flag_and_positional),
	    T(test_too_many_selections),
	    T(test_help_and_version_exit_ok),
	    T(test_parse_starts_from_defaults),
	    T(test_listen_forms),
	    T(test_listen_invalid),
	    T(test_listen_host_too_long),
	    T(test_identity_flags),
	    T(test_identity_flags_invalid),
	};
#undef T

	return cmocka_run_group_tests(tests, NULL, NULL);
}
