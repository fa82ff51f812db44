/* SPDX-License-Identifier: GPL-2.0 OR MIT */
/*
 * From a file descriptor of the current task to its socket, through the
 * task's file table with CO-RE reads: syscall tracepoints only give us
 * the fd, while TCP state changes only give us the struct sock. The
 * connections followed are TCP ones, and a client's unix-domain stream
 * sockets (a Redis or an HTTP API behind a socket file).
 */
#ifndef SSE_SOCK_LOOKUP_BPF_H
#define SSE_SOCK_LOOKUP_BPF_H

#include <bpf/bpf_endian.h>

#define S_IFMT	 00170000
#define S_IFSOCK 0140000
#define AF_UNIX	 1
#define AF_INET	 2
#define AF_INET6 10

struct conn_sock_ref {
	struct sock *sk;
	__u64 ino;
	__u16 family;
	__u16 lport; /* 0 for a unix socket: conn_unix_domain() */
	__u16 rport;
};

static __always_inline struct file *fd_file(int fd)
{
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();
	struct fdtable *fdt = BPF_CORE_READ(task, files, fdt);
	struct file **fds;
	struct file *file = NULL;

	if (!fdt || fd < 0 || (unsigned int)fd >= BPF_CORE_READ(fdt, max_fds))
		return NULL;
	fds = BPF_CORE_READ(fdt, fd);
	bpf_core_read(&file, sizeof(file), &fds[fd]);
	return file;
}

/* Fills ref and returns true when fd is an IPv4 or IPv6 TCP socket, or,
 * with unix_ok, a unix-domain stream socket (no datagrams: syslog's
 * /dev/log and journald's socket carry no requests). */
static __always_inline bool fd_conn_sock(int fd, bool unix_ok, struct conn_sock_ref *ref)
{
	struct file *file = fd_file(fd);
	struct socket *sock;
	struct sock *sk;

	if (!file)
		return false;
	if ((BPF_CORE_READ(file, f_inode, i_mode) & S_IFMT) != S_IFSOCK)
		return false;
	sock = BPF_CORE_READ(file, private_data);
	sk = BPF_CORE_READ(sock, sk);
	if (!sk)
		return false;
	ref->family = BPF_CORE_READ(sk, __sk_common.skc_family);
	if (ref->family == AF_UNIX) {
		if (!unix_ok || BPF_CORE_READ(sock, type) != SOCK_STREAM)
			return false;
		ref->lport = ref->rport = 0;
	} else if (ref->family == AF_INET || ref->family == AF_INET6) {
		if (BPF_CORE_READ(sk, sk_protocol) != IPPROTO_TCP)
			return false;
		ref->lport = BPF_CORE_READ(sk, __sk_common.skc_num);
		ref->rport = bpf_ntohs(BPF_CORE_READ(sk, __sk_common.skc_dport));
	} else {
		return false;
	}
	ref->sk = sk;
	ref->ino = BPF_CORE_READ(file, f_inode, i_ino);
	return true;
}

/* The thread group leader's start, the one /proc/PID/stat shows. */
static __always_inline __u64 current_proc_start(void)
{
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();

	return BPF_CORE_READ(task, group_leader, start_boottime);
}

/* A unix socket's peer has no address here: family alone. */
static __always_inline void sock_remote(struct sock *sk, struct conn_addr *a)
{
	__u32 v4;

	a->family = BPF_CORE_READ(sk, __sk_common.skc_family);
	if (a->family == AF_UNIX)
		return;
	a->port = bpf_ntohs(BPF_CORE_READ(sk, __sk_common.skc_dport));
	if (a->family == AF_INET6) {
		BPF_CORE_READ_INTO(&a->addr, sk, __sk_common.skc_v6_daddr.in6_u.u6_addr8);
	} else {
		v4 = BPF_CORE_READ(sk, __sk_common.skc_daddr);
		__builtin_memcpy(a->addr, &v4, sizeof(v4));
	}
}

#endif
