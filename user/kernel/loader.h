/* SPDX-License-Identifier: MIT */
/*
 * Loads and attaches the kernel programs, shares their maps, and gives
 * user space the maps it reads and writes (kernel/kmaps.h). Everything
 * taken here is released by loader_close, on every path.
 */
#ifndef SSE_LOADER_H
#define SSE_LOADER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "conn_event.h"
#include "kernel/kmaps.h"
#include "kernel/krings.h"
#include "kernel/tls_attach.h"

struct bpf_link;
struct bpf_map;
struct bpf_object;

#define LOADER_PROGS_MAX 64

struct loader_options {
	bool selective;	     /* --pid/--port/--exe/--cgroup */
	bool watch_exec;     /* --exe/--cgroup: new processes must be checked */
	bool track_clients;  /* outbound connections too */
	bool tls;	     /* load the OpenSSL uprobe programs (--tls) */
	bool kstreams;	     /* the kernel counts SSE streams (kstream.h); off: all copied */
	bool compat;	     /* the compat build even if the kernel takes the default one */
	uint32_t max_conns;  /* entries of the connection maps */
	uint32_t ring_bytes; /* the ring buffers' in all: a power of two, a page multiple */
};

struct loader {
	struct bpf_object *track;   /* conn_track.bpf.c */
	struct bpf_object *io;	    /* sock_io.bpf.c */
	struct bpf_object *ssl;	    /* ssl.bpf.c */
	bool compat;		    /* their compat build (bpf/features.bpf.h) */
	unsigned kfeatures_missing; /* what made it so: 1 << enum kfeature */
	struct tls_attach tls;	    /* uprobes: optional, files found at run time */
	bool tls_failed;	    /* --tls, but the kernel refused the programs */
	struct bpf_link *links[LOADER_PROGS_MAX];
	const char *names[LOADER_PROGS_MAX];
	/* kernel ids of the links made at start: /health checks them */
	uint32_t link_ids[LOADER_PROGS_MAX];
	size_t nlinks;	     /* attached */
	size_t nrequired;    /* programs that must attach */
	struct kmaps maps;   /* what user space reads and writes of the kernel's maps */
	struct krings rings; /* where the records come */
};

/* Preflight, load, attach. On failure returns -1 with one line in err
 * saying what is missing and how to fix it; nothing is left loaded. */
int loader_open(struct loader *l, const struct loader_options *o, char *err, size_t err_size);
void loader_close(struct loader *l);

/* Whether link i still holds its program: its fd still names the link made
 * at start. No kernel detaches our link types from outside (perf_event,
 * raw_tracepoint, uprobe_multi: BPF_LINK_DETACH is EOPNOTSUPP), so a link
 * goes only when its fd is closed, by a bug or by someone else (ptrace). */
bool loader_link_alive(const struct loader *l, size_t i);

/* How many of the required links are alive now. */
size_t loader_links_alive(const struct loader *l);

#endif
