/* SPDX-License-Identifier: MIT */
/*
 * What user space keeps true in the kernel's maps (kernel/kmaps.h): the
 * entries of connections it ended, the protocol of connections it
 * adopted, the processes selected by --pid/--port/--exe/--cgroup, and the
 * gates in front of the hooks: the counters of connections whose bytes are
 * needed (read and write hooks), the bitmap of processes with tracked
 * connections (TLS library hooks).
 */
#ifndef SSE_KERNEL_SYNC_H
#define SSE_KERNEL_SYNC_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "track/collector.h"

/* Whether the kernel still maps e's key to e (no close() seen, the fd
 * not reused since), or holds e between owners. */
bool kernel_holds(struct collector *c, const struct conn_entry *e);

/* Whether records of e were lost whole since its last one that came
 * (conn_info.lost): asked when no record of e's will come any more. */
bool kernel_lost_records(struct collector *c, const struct conn_entry *e);

/* Removes the kernel's entries of e, unless the key was reused since,
 * and uncounts e in the gate (conn_slots) unless the kernel did. */
void kernel_forget(struct collector *c, const struct conn_entry *e);

/* Takes e, between owners, from the kernel (handoff.bpf.h): true when it
 * was still waiting there, and no process can take it over any more. */
bool kernel_forget_detached(struct collector *c, const struct conn_entry *e);

/* A connection of tgid went unseen: if the process is gone, so is its
 * entry of the processes with connections, which its exit removes only
 * when it was made before (a connection adopted as the process exited). */
void kernel_forget_process(struct collector *c, pid_t tgid);

/* e's first bytes showed what it carries (an adopted connection). */
void kernel_set_proto(struct collector *c, struct conn_entry *e, enum conn_proto proto);

/* Selects tgid or not by the selection rules (it exec'd, or at start). */
void kernel_select(struct collector *c, pid_t tgid);

/* Whether a connection of tgid on local port lport, found in /proc, is
 * one the selection follows. */
bool kernel_selected(struct collector *c, pid_t tgid, uint16_t lport);

/* Hands the kernel a connection opened before we started: 0, -EEXIST
 * when the kernel follows the key already (accepted since we attached),
 * another -errno when it cannot (-E2BIG: the map is full). */
int kernel_adopt(struct collector *c, const struct conn_key *key, const struct conn_info *info);

/* Every process with connections in the table has its bit. */
void kernel_remark(struct collector *c);

#endif
