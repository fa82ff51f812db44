// SPDX-License-Identifier: MIT
/*
 * sse_exporter: loads the eBPF programs, turns what they see into
 * Prometheus metrics, serves them, and detaches on SIGTERM or SIGINT.
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/utsname.h>
#include <time.h>

#include <bpf/libbpf.h>

#include "core/clock.h"
#include "core/log.h"
#include "core/version.h"
#include "kernel/caps.h"
#include "kernel/event_rings.h"
#include "kernel/kfeatures.h"
#include "track/collector.h"
#include "web/http_server.h"

#define POLL_MS	    100 /* records wait at most this long: no wakeup per event */
#define DRAIN_TRIES 10	/* the sweep's reads of the rings, ring_retry apart */

/* A record being written is committed within microseconds, unless its
 * program was preempted: the records held back behind it are read again
 * this soon. */
static const struct timespec ring_retry = {.tv_nsec = 100 * 1000};

static volatile sig_atomic_t stopping;

static void on_signal(int sig)
{
	(void)sig;
	stopping = 1;
}

static void set_build_info(struct metrics *m)
{
	char libbpf[32];
	struct utsname u;

	uname(&u);
	snprintf(libbpf, sizeof(libbpf), "%u.%u", libbpf_major_version(), libbpf_minor_version());
	metric_set(m->build_info, (const char *const[]){sse_exporter_version, libbpf, u.release},
		   1);
}

static void set_kernel_features(struct metrics *m, const struct loader *l)
{
	for (int f = 0; f < KF_COUNT; f++)
		metric_set(m->kernel_feature, (const char *const[]){kfeature_name(f)},
			   !(l->kfeatures_missing & (1u << f)));
}

static void set_attached(struct metrics *m, const struct loader *l)
{
	for (size_t i = 0; i < l->nlinks; i++)
		metric_set(m->prog_attached, (const char *const[]){l->names[i]},
			   loader_link_alive(l, i));
	metric_set(m->tls_libraries, NULL, l->tls.nlibs);
}

struct daemon {
	struct config cfg;
	struct metrics m;
	pthread_mutex_t lock;
	struct loader l;
	struct collector col;
	struct http_server srv;
	struct event_rings rings;
	struct kube_cache kc;
	struct kube_cache *kube; /* &kc with --kubelet.enrich */
};

/* --kubelet.url, else the node's kubelet: NODE_IP from the downward API. */
static int kubelet_setup(struct daemon *d, char *err, size_t size)
{
	static char url[128];
	const char *ip = getenv("NODE_IP");
	struct kubelet_config k = {
	    .url = d->cfg.kubelet_url,
	    .token_file = d->cfg.kubelet_token_file,
	    .ca_file = d->cfg.kubelet_ca_file,
	    .insecure = d->cfg.kubelet_insecure,
	};

	if (!k.url && (!ip || !ip[0])) {
		snprintf(err, size,
			 "--kubelet.enrich needs --kubelet.url or NODE_IP in the environment "
			 "(status.hostIP from the downward API)");
		return -1;
	}
	if (!k.url) {
		snprintf(url, sizeof(url),
			 strchr(ip, ':') ? "https://[%s]:10250" : "https://%s:10250", ip);
		k.url = url;
	}
	kube_cache_init(&d->kc, &k, d->cfg.kubelet_interval_s);
	d->kube = &d->kc;
	return 0;
}

/* The gauges, when OpenSSL copies were hooked since before. */
static void tls_hooked(struct daemon *d, size_t before)
{
	if (d->l.tls.nlibs == before)
		return;
	pthread_mutex_lock(&d->lock);
	set_attached(&d->m, &d->l);
	pthread_mutex_unlock(&d->lock);
}

/* New OpenSSL copies (libraries loaded, binaries started) since the last
 * scan; files already hooked need nothing. */
static void scan_tls(struct daemon *d)
{
	size_t before = d->l.tls.nlibs;

	tls_attach_scan(&d->l.tls);
	tls_hooked(d, before);
}

/* The executables of processes that exec'd during the batch, hooked if
 * they carry OpenSSL (Node), once the lock is released. At the exec record
 * itself would not be much sooner: either way it is user space's lag
 * after the exec, and a process that just started is not making TLS calls
 * yet. */
static void attach_execs(struct daemon *d)
{
	size_t n, before = d->l.tls.nlibs;
	const pid_t *pids = collector_take_execs(&d->col, &n);

	for (size_t i = 0; i < n; i++)
		tls_attach_exec(&d->l.tls, pids[i]);
	tls_hooked(d, before);
}

/* A failure that repeats every loop is told once: the loop goes on (the
 * next round may succeed) and the log stays readable. */
static void log_once(bool *told, const char *what, int err)
{
	if (*told)
		return;
	*told = true;
	log_error("%s: %s (not repeated)", what, strerror(-err));
}

/* When each housekeeping step is next due (mono_seconds()). */
struct schedule {
	double refresh, sweep, tls, sample;
};

/* The records waiting, as one batch under one lock (not one lock per
 * record); then the executables that batch saw start. Whether a record
 * due is still being written. */
static bool consume(struct daemon *d)
{
	bool waiting;

	pthread_mutex_lock(d->col.lock);
	event_rings_consume(&d->rings, collector_handle, &d->col, &waiting);
	pthread_mutex_unlock(d->col.lock);
	attach_execs(d);
	return waiting;
}

/* The sweep's drain; whether records are still held back. */
static bool drain_rings(void *d)
{
	for (int tries = 0; tries < DRAIN_TRIES; tries++) {
		if (!consume(d))
			return false;
		nanosleep(&ring_retry, NULL);
	}
	return consume(d);
}

/* Housekeeping that is due, the ring drained after each step: at 10,000
 * streams the sweep's readlinks take hundreds of ms, and records keep
 * coming meanwhile. The ring must hold what arrives during the longest
 * step alone, not during all of them. */
static void housekeeping(struct daemon *d, double now, struct schedule *due)
{
	struct collector *col = &d->col;

	if (now >= due->refresh) {
		collector_refresh_self(col);
		pthread_mutex_lock(col->lock);
		set_attached(col->m, &d->l); /* a link may have gone */
		pthread_mutex_unlock(col->lock);
		due->refresh = now + 1;
		consume(d);
	}
	if (now >= due->sweep) {
		collector_sweep(col, drain_rings, d);
		due->sweep = now + col->cfg->sweep_interval_s;
		consume(d);
	}
	if (col->cfg->tls && col->cfg->tls_scan_interval_s && now >= due->tls) {
		scan_tls(d);
		due->tls = now + col->cfg->tls_scan_interval_s;
		consume(d);
	}
	if (now >= due->sample) {
		pthread_mutex_lock(col->lock);
		http_server_sample(&d->srv, now);
		pthread_mutex_unlock(col->lock);
		due->sample = now + 5;
	}
}

static void run(struct daemon *d)
{
	bool warned_wait = false;
	struct schedule due = {.tls = mono_seconds() + d->col.cfg->tls_scan_interval_s};
	bool waiting = false;

	while (!stopping) {
		struct epoll_event ev;

		/* wait unlocked, so scrapes are served meanwhile. Records held
		 * back: the rings hold data, so epoll would not wait. */
		if (waiting)
			nanosleep(&ring_retry, NULL);
		else if (epoll_wait(d->rings.epoll_fd, &ev, 1, POLL_MS) < 0 && errno != EINTR)
			log_once(&warned_wait, "waiting for the ring buffers", -errno);
		waiting = consume(d);
		housekeeping(d, mono_seconds(), &due);
	}
}

static int fail(const char *what)
{
	fprintf(stderr, "sse_exporter: error: %s\n", what);
	return 1;
}

/* What the threads keep of their capabilities (the main thread's attach). */
static struct caps_keep caps_kept(const struct daemon *d, bool attach)
{
	return (struct caps_keep){
	    .attach = attach,
	    .bind = d->cfg.listen_port < 1024,
	    .bpf = d->l.kfeatures_missing & (1u << KF_BPF_FD_UNPRIVILEGED),
	};
}

struct unprivileged_start {
	struct daemon *d;
	char *err;
	size_t size;
	int rc;
};

/* Runs in a thread without capabilities: the threads it makes, the HTTP
 * server's and the kubelet poller's, have none either. */
static void *start_unprivileged(void *arg)
{
	struct unprivileged_start *u = arg;
	struct daemon *d = u->d;

	u->rc = -1;
	if (caps_drop_thread(caps_kept(d, false))) {
		snprintf(u->err, u->size, "cannot drop the capabilities of the server threads");
		return NULL;
	}
	if (http_server_start(&d->srv, u->err, u->size))
		return NULL;
	if (d->kube && kube_cache_start(d->kube)) {
		snprintf(u->err, u->size, "cannot start the kubelet poller");
		return NULL;
	}
	u->rc = 0;
	return NULL;
}

/* The threads that read what the network sends get no privilege. */
static int start_network_threads(struct daemon *d, char *err, size_t size)
{
	struct unprivileged_start u = {d, err, size, -1};
	pthread_t t;

	if (pthread_create(&t, NULL, start_unprivileged, &u)) {
		snprintf(err, size, "cannot make a thread");
		return -1;
	}
	pthread_join(t, NULL);
	return u.rc;
}

/* What a burst from one CPU can fill before records are lost. */
static void log_rings(const struct krings *kr)
{
	unsigned kib = kr->bytes >> 10;

	if (!kr->per_cpu)
		log_info("records: one ring buffer of %u KiB for all CPUs (no ring buffer "
			 "dynptrs, or the compat build)",
			 kib);
	else
		log_info("records: %u ring buffer%s of %u KiB %s %u CPU%s", kr->n,
			 kr->n == 1 ? "" : "s", kib, kr->n == kr->slots ? "for" : "shared by",
			 kr->slots, kr->slots == 1 ? "" : "s");
}

static int start(struct daemon *d, char *err, size_t size)
{
	struct loader_options lo = {
	    .selective = config_selective(&d->cfg),
	    /* selection rules, and executables that may carry OpenSSL */
	    .watch_exec = d->cfg.nexes || d->cfg.ncgroups || d->cfg.tls,
	    .track_clients = true,
	    .tls = d->cfg.tls,
	    /* tests and the bench turn it off, to check the copy path alone */
	    .kstreams = !getenv("SSE_EXPORTER_NO_KSTREAMS"),
	    /* tests run the compat build on kernels that take either */
	    .compat = getenv("SSE_EXPORTER_BPF_COMPAT") != NULL,
	    .max_conns = d->cfg.max_conns,
	    .ring_bytes = d->cfg.ring_bytes,
	};
	int rc;

	if (d->cfg.kubelet && kubelet_setup(d, err, size))
		return -1;
	if (loader_open(&d->l, &lo, err, size))
		return -1;
	if (d->l.tls_failed)
		d->cfg.tls = false; /* told by the loader; plaintext goes on */
	if (d->cfg.tls) {
		tls_attach_well_known(&d->l.tls);
		tls_attach_scan(&d->l.tls);
	}
	set_attached(&d->m, &d->l);
	set_kernel_features(&d->m, &d->l);
	if (collector_init(&d->col, &d->m, &d->lock, &d->l.maps, &d->cfg, d->kube)) {
		snprintf(err, size, "out of memory");
		return -1;
	}
	collector_select_initial(&d->col);
	rc = event_rings_open(&d->rings, d->l.rings.fds, d->l.rings.n, d->l.rings.bytes,
			      d->l.rings.per_cpu);
	if (rc) {
		snprintf(err, size, "cannot map the ring buffers: %s", strerror(-rc));
		return -1;
	}
	log_rings(&d->l.rings);
	d->srv.cfg = &d->cfg;
	d->srv.m = &d->m;
	d->srv.lock = &d->lock;
	d->srv.loader = &d->l;
	d->srv.programs_required = d->l.nrequired;
	/* the rates' first sample: every count is 0 until the loop starts,
	 * and what it then counts happened after /health answered */
	http_server_sample(&d->srv, mono_seconds());
	if (caps_drop_after_attach(caps_kept(d, d->cfg.tls && d->cfg.tls_scan_interval_s > 0)))
		log_warn("could not drop every capability; continuing with more than needed");
	if (start_network_threads(d, err, size))
		return -1;
	collector_scan_existing(&d->col);
	return 0;
}

static void stop(struct daemon *d)
{
	http_server_stop(&d->srv);
	event_rings_close(&d->rings);
	loader_close(&d->l);
	collector_free(&d->col);
	if (d->kube)
		kube_cache_stop(d->kube);
	metrics_free(&d->m);
}

int main(int argc, char **argv)
{
	static struct daemon d;
	struct metrics_config mc;
	char err[512] = "";
	int rc = 0;

	switch (config_parse(&d.cfg, argc, argv)) {
	case CONFIG_EXIT_OK:
		return 0;
	case CONFIG_EXIT_USAGE:
		return 2;
	case CONFIG_RUN:
		break;
	}
	mc = (struct metrics_config){.max_paths = d.cfg.max_paths,
				     .max_models = d.cfg.max_models,
				     .idle_ns = d.cfg.idle_timeout_s * 1000000000ull,
				     .breaker = {
					 .failures = d.cfg.breaker_failures,
					 .window_ns = d.cfg.breaker_window_s * 1000000000ull,
					 .cooldown_ns = d.cfg.breaker_cooldown_s * 1000000000ull,
				     }};
	if (metrics_init(&d.m, &mc))
		return fail("out of memory");
	pthread_mutex_init(&d.lock, NULL);
	set_build_info(&d.m);
	signal(SIGTERM, on_signal);
	signal(SIGINT, on_signal);
	signal(SIGPIPE, SIG_IGN);
	if (start(&d, err, sizeof(err))) {
		rc = fail(err);
	} else {
		log_info("sse_exporter %s: %zu programs attached, serving %s on %s:%u",
			 sse_exporter_version, d.l.nlinks, d.cfg.telemetry_path,
			 d.cfg.listen_host[0] ? d.cfg.listen_host : "*", d.cfg.listen_port);
		run(&d);
		log_info("detaching");
	}
	stop(&d);
	return rc;
}
