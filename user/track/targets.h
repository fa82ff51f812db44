/* SPDX-License-Identifier: MIT */
/*
 * Who each observed process is: resolved through ident/ once, at the
 * process's first connection, and shared by its connections. A process is
 * its pid and start time, so a reused pid is resolved anew. When no
 * process of a target (service, namespace, pod, container) is left for
 * --series.stale-after, the target's series are dropped: pods churn and
 * their names do not come back.
 */
#ifndef SSE_TARGETS_H
#define SSE_TARGETS_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "core/config.h"
#include "ident/identity.h"
#include "metrics/metrics.h"

struct target_life;

struct target {
	struct target *next; /* chain by tgid */
	pid_t tgid;
	uint64_t start_ticks;
	unsigned int refs; /* the table's while listed, and one per holder */
	bool listed;	   /* in the table: the process is believed alive */
	struct target_life *life;
	struct process_identity id;
	char comm[16];
	char key[TARGET_KEY_MAX]; /* the label value of its series */
};

struct targets {
	struct target **by_tgid;
	size_t size; /* buckets */
	size_t n;    /* listed */
	struct target_life *lives;
	struct metrics *m;
	struct ident_roots roots;
	const enum service_source *order;
	size_t norder;
};

int targets_init(struct targets *t, struct metrics *m, const struct config *cfg);
void targets_free(struct targets *t);

/* The host's files as the exporter sees them: "" on the host, through
 * PID 1's root when the exporter's mount namespace is another. */
const char *targets_host_root(const struct config *cfg);

/* The target of process tgid, started at start_ticks (0: read it from
 * /proc), with a reference for the caller; comm names a process that is
 * gone already. NULL only without memory. Resolving reads /proc and the
 * runtime's files, once per process. */
struct target *target_get(struct targets *t, pid_t tgid, uint64_t start_ticks, const char *comm);
void target_put(struct targets *t, struct target *tg);

/* The process exited (or its pid now names another). */
void targets_exit(struct targets *t, pid_t tgid);

/* Unlists processes that are gone without an exit record (lost, or
 * never followed): one /proc read per process. */
void targets_check_alive(struct targets *t);

/* Drops the series of targets without a process since stale_ns. */
void targets_expire(struct targets *t, uint64_t now, uint64_t stale_ns);

#endif
