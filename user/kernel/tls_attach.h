/* SPDX-License-Identifier: MIT */
/*
 * Finds the OpenSSL copies processes use (libssl.so.* they map, and
 * executables that carry OpenSSL and export its symbols, like Node) and
 * attaches the ssl.bpf.c uprobes to each file once. A uprobe belongs to
 * the file, not to a process: processes started later that use a file
 * already attached are seen from their first call; new files are found
 * by the next scan.
 */
#ifndef SSE_TLS_ATTACH_H
#define SSE_TLS_ATTACH_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

struct bpf_link;
struct bpf_object;
struct bpf_program;

/* Uprobe programs of ssl.bpf.c, in the order of tls_attach.c's table. */
#define TLS_PROBES 11

struct tls_file {
	dev_t dev;
	ino_t ino;
	bool openssl; /* false: checked, not an OpenSSL we can hook */
};

/* A libbpf link (perf-event uprobes) or the fd of a uprobe_multi link. */
struct tls_link {
	struct bpf_link *link;
	int fd;
};

void tls_link_release(struct tls_link *l);
/* Releases n links in parallel: each detach waits for a grace period. */
void tls_links_release(struct tls_link *links, size_t n);

struct tls_attach {
	struct bpf_program *progs[TLS_PROBES];
	/* the compat build's programs for OpenSSL 3.0 and 3.1 files, where
	 * cookies cannot tell the layout: NAME_l30 (NULL: progs serves all) */
	struct bpf_program *progs_l30[TLS_PROBES];
	bool cookies;		/* the layout goes as the attach cookie (no progs_l30) */
	struct tls_file *files; /* every file checked, so each is read once */
	size_t nfiles, files_cap;
	struct tls_link *links;
	size_t nlinks, links_cap;
	bool multi;   /* uprobe_multi links: programs were loaded for them */
	size_t nlibs; /* files attached */
	bool told_nomem;
};

/*
 * Finds the programs in obj, loaded: each named prefix + the name of
 * its ssl.bpf.c counterpart ("" for the exporter's, "floor_" for the
 * benchmark's empty ones), and its NAME_l30 twin if the build has one.
 * Returns -1 (logged) when one is missing.
 */
int tls_attach_init(struct tls_attach *t, struct bpf_object *obj, const char *prefix, bool multi);

/* Attaches to path if it is an OpenSSL not seen before. Returns 1 when
 * attached now, 0 when not OpenSSL or already known, -1 on error. */
int tls_attach_file(struct tls_attach *t, const char *path);

/* The usual places of libssl.so.3. */
void tls_attach_well_known(struct tls_attach *t);

/* A process exec'd: its executable may carry OpenSSL (Node). */
void tls_attach_exec(struct tls_attach *t, pid_t pid);

/* Checks the executables and libssl mappings of every process. */
void tls_attach_scan(struct tls_attach *t);

/* Hands the links over for detaching (the caller destroys them). */
struct tls_link *tls_attach_take_links(struct tls_attach *t, size_t *n);
void tls_attach_free(struct tls_attach *t);

#endif
