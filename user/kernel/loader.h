/* SPDX-License-Identifier: MIT */
/*
 * Loads and attaches the kernel programs, shares their maps, and reads
 * the kernel-side counters. Everything taken here is released by
 * loader_close, on every path.
 */
#ifndef SSE_LOADER_H
#define SSE_LOADER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "conn_event.h"
#include "kernel/tls_attach.h"

struct bpf_link;
struct bpf_map;
struct ring_buffer;

#define LOADER_PROGS_MAX 64

struct loader_options {
	bool selective;	    /* --pid/--port/--exe/--cgroup */
	bool watch_exec;    /* --exe/--cgroup: new processes must be checked */
	bool track_clients; /* outbound connections too */
};

struct loader {
	struct conn_track_bpf *track;
	struct sock_io_bpf *io;
	struct ssl_bpf *ssl;
	struct tls_attach tls; /* uprobes: optional, files found at run time */
	struct bpf_link *links[LOADER_PROGS_MAX];
	const char *names[LOADER_PROGS_MAX];
	/* kernel ids of the links made at start: /health checks them */
	uint32_t link_ids[LOADER_PROGS_MAX];
	size_t nlinks;	  /* attached */
	size_t nrequired; /* programs that must attach */
	int conns_fd, sock_owner_fd, tracked_procs_fd, counters_fd, procs_fd;
	int allowed_tgids_fd, allowed_ports_fd, next_id_fd;
};

/* Preflight, load, attach. On failure returns -1 with one line in err
 * saying what is missing and how to fix it; nothing is left loaded. */
int loader_open(struct loader *l, const struct loader_options *o, char *err, size_t err_size);
void loader_close(struct loader *l);

int loader_events_fd(const struct loader *l);

/* Whether link i still holds its program: its fd still names the link made
 * at start. No kernel detaches our link types from outside (perf_event,
 * raw_tracepoint, uprobe_multi: BPF_LINK_DETACH is EOPNOTSUPP), so a link
 * goes only when its fd is closed, by a bug or by someone else (ptrace). */
bool loader_link_alive(const struct loader *l, size_t i);

/* How many of the required links are alive now. */
size_t loader_links_alive(const struct loader *l);

/* Sum over CPUs of each kernel counter (enum counter_idx). Returns -1,
 * out not to be used, when one cannot be read: a counter read as 0 would
 * go backwards. */
int loader_counters(const struct loader *l, uint64_t out[CNT_MAX]);

struct loader_map_fill {
	const char *name;
	uint32_t entries;
	uint32_t max_entries;
};

/* Fill of every map we own; returns how many were written to out. */
size_t loader_map_fill(const struct loader *l, struct loader_map_fill *out, size_t n);

#endif
