/* SPDX-License-Identifier: MIT */
/*
 * uprobe_multi links (kernel 6.6+): one link attaches a program to every
 * offset given in one file, with no perf event per probe. Detaching a
 * perf-event uprobe takes ~90 ms and the kernel serialises them, which
 * broke the 2 s SIGTERM budget with a dozen probes; uprobe_multi links
 * detach in parallel in ~80 ms all together. libbpf 1.1 predates them,
 * hence the raw bpf(2) call here.
 */
#ifndef SSE_UPROBE_MULTI_H
#define SSE_UPROBE_MULTI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* BPF_TRACE_UPROBE_MULTI: the expected attach type programs must be
 * loaded with to be attached this way (and then only this way). */
#define UPROBE_MULTI_ATTACH_TYPE 48

struct btf;

/* Whether the running kernel knows the attach type, by its BTF (vmlinux,
 * btf__load_vmlinux_btf()'s; NULL: no). */
bool uprobe_multi_supported(const struct btf *vmlinux);

#define UPROBE_MULTI_MAX 8 /* offsets per call */

/* Attaches prog_fd at the n file offsets of path (entry or return
 * probes), each with the cookie. Returns the link fd (closing it
 * detaches), or -1 with errno. */
int uprobe_multi_attach(int prog_fd, const char *path, const size_t *offsets, size_t n,
			bool retprobe, uint64_t cookie);

#endif
