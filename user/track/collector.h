/* SPDX-License-Identifier: MIT */
/*
 * Turns the kernel's ring buffer records into metrics: keeps one
 * http_conn per tracked connection, feeds it bytes and lifecycle events,
 * and keeps the kernel maps and the gauges true when closes are missed.
 * By job: conn_table (the connections, by id), dispatch (each record to
 * its handler), conn_bytes (a connection's bytes and their gaps),
 * kernel_sync (what the kernel's maps must hold), housekeeping (/proc
 * adoption, the sweep, the gauges read from the kernel); collector.c
 * holds the state and a connection's start and end. Only kernel/kmaps
 * reaches the kernel, so all of it runs in unit tests.
 */
#ifndef SSE_COLLECTOR_H
#define SSE_COLLECTOR_H

#include <pthread.h>
#include <stdint.h>
#include <sys/types.h>

#include "core/config.h"
#include "kstream.h"
#include "kernel/kmaps.h"
#include "llm/provider.h"
#include "llm/upstream.h"
#include "metrics/metrics.h"
#include "track/conn_table.h"
#include "track/targets.h"
#include "track/tls_held.h"

struct collector {
	struct metrics *m;
	pthread_mutex_t *lock; /* guards m against the HTTP server's scrapes */
	struct kmaps *km;
	const struct config *cfg;
	struct conn_table conns;
	uint64_t next_adopt_id;
	struct provider_map providers;
	struct upstream_index upstreams;
	struct tls_held held;	/* TLS plaintext waiting for its connection */
	unsigned int inflating; /* event streams being inflated (proto/http_conn.h) */
	struct targets targets;
	/* found in /proc, not adopted: the map was full; or between owners
	 * and given up (housekeeping.c) */
	uint64_t untracked;
	size_t ndetached; /* entries between owners (conn_entry.detached_ns) */
	/* processes that exec'd during the batch (collector_take_execs) */
	pid_t *execs;
	size_t nexecs, execs_cap;
	/* the sweep's copy of the table (housekeeping.c), kept between
	 * sweeps; a sweep copies sweep_budget connections (SWEEP_BUDGET but
	 * in unit tests) from the bucket where the last one stopped */
	struct sweep_probe *probes;
	size_t probes_cap;
	size_t sweep_budget;
	size_t sweep_from;
	/* the streams the kernel counts, listed under the lock, and their
	 * figures read a batch at a time before it is taken to add them
	 * (kstreams.c) */
	struct kstream_figures {
		uint64_t *ids;
		size_t nids, cap;
		uint64_t *found; /* a batch: the ids whose figures were read */
		struct kstream *ks;
		size_t batch;	 /* KSTREAMS_BATCH but in unit tests */
		size_t in_lines; /* of those read, the streams in their line */
	} kread;
	bool told_sweep_nomem;
	bool told_proc_denied;
};

/* kube: the kubelet's pods (NULL without --kubelet.enrich) */
int collector_init(struct collector *c, struct metrics *m, pthread_mutex_t *lock, struct kmaps *km,
		   const struct config *cfg, struct kube_cache *kube);
void collector_free(struct collector *c);

/* ring_buffer__new callback: one record; the caller holds the lock for
 * the whole batch. */
int collector_handle(void *ctx, void *data, size_t size);

/* The processes that exec'd since the last call (with --tls and its scan
 * on), whose executables may carry OpenSSL: the caller checks them after
 * the batch, outside the lock, as reading ELF files and attaching uprobes
 * must not hold up a scrape. Valid until the next batch. */
const pid_t *collector_take_execs(struct collector *c, size_t *n);

/* Finds connections opened before we started and adopts them. */
void collector_scan_existing(struct collector *c);

/* Drops connections whose fd is no longer their socket (close or exit
 * events lost, fds closed by exec or dup2). A sweep looks at
 * SWEEP_BUDGET of them at most, a readlink of /proc/PID/fd/FD each: a
 * larger table is looked through over several sweeps, so that an idle
 * exporter's CPU does not grow with the connections it holds. */
#define SWEEP_BUDGET 2048
/* drain(ctx), when given, reads the records waiting, unlocked, and tells
 * whether one due is still being written (those after it held back): the
 * sweep calls it between finding fds gone and judging their connections,
 * and judges none while records are held back. */
void collector_sweep(struct collector *c, bool (*drain)(void *ctx), void *ctx);

/* Fills the selection maps from --pid/--port/--exe/--cgroup. */
void collector_select_initial(struct collector *c);

/* Refreshes the gauges read from the kernel: counters, map fill. */
void collector_refresh_self(struct collector *c);

/* Within track/: a connection starts being followed (NULL: out of memory
 * or a duplicate id), and ends, with its exchanges under way. The owner
 * started at start_ticks (0: unknown) and is named comm when gone (NULL:
 * unknown). */
struct conn_entry *entry_add(struct collector *c, const struct conn_key *key,
			     const struct conn_info *info, uint64_t start_ticks, const char *comm);
void entry_end(struct collector *c, struct conn_entry *e, enum http_end why, uint64_t ts);

/* Its owner closed its fd while the socket lived on in another
 * (bpf/handoff.bpf.h): e waits, owned by no process, from ts; then key
 * took it over. */
void entry_detach(struct collector *c, struct conn_entry *e, uint64_t ts);
void entry_attach(struct collector *c, struct conn_entry *e, const struct conn_key *key);

#endif
