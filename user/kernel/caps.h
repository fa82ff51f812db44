/* SPDX-License-Identifier: MIT */
/* Drops the capabilities that were only needed to load and attach. */
#ifndef SSE_CAPS_H
#define SSE_CAPS_H

#include <stdbool.h>

/* Whether this thread may load and attach the programs: CAP_BPF and
 * CAP_PERFMON, or CAP_SYS_ADMIN; root or not. */
bool caps_can_load(void);

/* What a thread keeps of its capabilities beyond the least. */
struct caps_keep {
	bool attach; /* CAP_SYS_ADMIN, CAP_PERFMON, CAP_BPF: hook OpenSSL copies found later */
	bool bind;   /* CAP_NET_BIND_SERVICE: a port below 1024 */
	bool bpf;    /* CAP_BPF: a kernel that asks for it at every bpf(2) call, fds or not */
};

/* Keeps CAP_SYS_PTRACE and CAP_DAC_READ_SEARCH (reading other processes'
 * /proc entries) and what keep says. Map fds already open need none,
 * since 5.19. Capabilities are per thread: call it before making threads.
 * Returns -1 on failure; a bounding set that cannot be lowered does not
 * keep the rest from being dropped. */
int caps_drop_after_attach(struct caps_keep keep);

/* The calling thread keeps nothing but keep.bind's and keep.bpf's, nor do
 * the threads it makes: for the threads that talk to the network. */
int caps_drop_thread(struct caps_keep keep);

#endif
