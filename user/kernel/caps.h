/* SPDX-License-Identifier: MIT */
/* Drops the capabilities that were only needed to load and attach. */
#ifndef SSE_CAPS_H
#define SSE_CAPS_H

#include <stdbool.h>

/* Whether this thread may load and attach the programs: CAP_BPF and
 * CAP_PERFMON, or CAP_SYS_ADMIN; root or not. */
bool caps_can_load(void);

/* Keeps CAP_SYS_PTRACE and CAP_DAC_READ_SEARCH (reading other processes'
 * /proc entries); with keep_attach also CAP_SYS_ADMIN, CAP_PERFMON and
 * CAP_BPF, to hook OpenSSL copies found after start; with keep_bind
 * CAP_NET_BIND_SERVICE, for a port below 1024. Map fds already open need
 * none. Capabilities are per thread: call it before making threads.
 * Returns -1 on failure; a bounding set that cannot be lowered does not
 * keep the rest from being dropped. */
int caps_drop_after_attach(bool keep_attach, bool keep_bind);

/* The calling thread keeps nothing (but CAP_NET_BIND_SERVICE with
 * keep_bind), nor do the threads it makes: for the threads that talk to
 * the network. */
int caps_drop_thread(bool keep_bind);

#endif
