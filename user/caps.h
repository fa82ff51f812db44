/* SPDX-License-Identifier: MIT */
/* Drops the capabilities that were only needed to load and attach. */
#ifndef SSE_CAPS_H
#define SSE_CAPS_H

/* Keeps CAP_SYS_PTRACE and CAP_DAC_READ_SEARCH (reading other processes'
 * /proc entries) and CAP_PERFMON with CAP_BPF (uprobes on OpenSSL copies
 * found after start); map fds already open need none. Returns -1 on
 * failure. */
int caps_drop_after_attach(void);

#endif
