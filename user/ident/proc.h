/* SPDX-License-Identifier: MIT */
/*
 * What /proc tells about observed processes: their name, whether an fd is
 * still the socket we track, whether they match the selection flags, and
 * the TCP and unix connections they had before the exporter started.
 */
#ifndef SSE_PROC_H
#define SSE_PROC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "conn_event.h"

#define SERVICE_NAME_MAX 64

/* Process name (comm), printable ASCII only; "unknown" if it is gone. */
void proc_service_name(pid_t tgid, char *out, size_t size);

/* When the process started, in clock ticks since boot (/proc/PID/stat's
 * starttime); 0 when it is gone. With the pid, it names one process for
 * the machine's life. */
uint64_t proc_start_ticks(pid_t tgid);
/* The same from a /proc/PID/stat text; 0 when malformed. Pure. */
uint64_t proc_parse_start_ticks(const char *stat);
/* Whether the process is there and has not exited (a zombie has). */
bool proc_running(pid_t tgid);
/* The same from a /proc/PID/stat text. Pure. */
bool proc_parse_running(const char *stat);
/* The kernel's start time (boot clock, ns) in the ticks above. */
uint64_t proc_ticks_of_ns(uint64_t ns);

/* Inode of the socket behind fd, or 0 when fd is not a socket (anymore);
 * PROC_INODE_UNKNOWN when /proc does not let us see (no CAP_SYS_PTRACE
 * over the process). */
#define PROC_INODE_UNKNOWN UINT64_MAX
uint64_t proc_socket_inode(pid_t tgid, int fd);

bool proc_exe_matches(pid_t tgid, const char *const *globs, size_t n);
bool proc_cgroup_matches(pid_t tgid, const char *const *prefixes, size_t n);

/* One connection of /proc/net/tcp or tcp6, or a unix client's socket
 * (remote.family AF_UNIX, no ports). */
struct sock_entry {
	uint16_t lport;
	uint16_t rport;
	uint8_t state; /* TCP_ESTABLISHED = 1, TCP_LISTEN = 10, ... */
	uint64_t inode;
	struct conn_addr remote;
};

/* Parses a data line of /proc/net/tcp or tcp6; returns -1 for the header
 * or garbage. Pure. */
int proc_parse_tcp_line(const char *line, struct sock_entry *e);

/* One line of /proc/net/unix. */
struct unix_entry {
	uint32_t flags; /* __SO_ACCEPTCON (1 << 16): listening */
	uint16_t type;	/* SOCK_STREAM = 1, SOCK_DGRAM = 2, SOCK_SEQPACKET = 5 */
	uint8_t state;	/* SS_UNCONNECTED = 1, SS_CONNECTED = 3, ... */
	uint64_t inode;
	bool named; /* a path or an abstract name ('@') follows */
};

/* Parses a data line of /proc/net/unix; returns -1 for the header or
 * garbage. Pure. */
int proc_parse_unix_line(const char *line, struct unix_entry *e);

/* A connected stream socket without a name: the side that connected (an
 * accepted socket shows its listener's path), or an end of a
 * socketpair(), which no first write will make a Redis client's. */
bool proc_unix_client(const struct unix_entry *e);

/* accepted: the local port is listening in the process's network
 * namespace; else the process connected. */
typedef void (*proc_conn_cb)(void *ctx, pid_t tgid, int fd, const struct sock_entry *e,
			     bool accepted);

/* Calls cb for every established TCP connection of every process, and
 * every unix socket it connected (proc_unix_client). */
void proc_scan_established(proc_conn_cb cb, void *ctx);

/* Calls cb for every process id in /proc. */
void proc_for_each_tgid(void (*cb)(void *ctx, pid_t tgid), void *ctx);

#endif
