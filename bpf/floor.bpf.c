// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * The benchmark's floor: empty programs on exactly the hooks that
 * conn_track.bpf.c, sock_io.bpf.c and ssl.bpf.c attach to. What a
 * workload loses with these loaded is the price of the hooks themselves
 * (on a nested VM an empty syscall tracepoint alone costs 100-200 ns per
 * call, an empty uprobe 11-13 us), which no work in our programs can win
 * back; tests/bench/bench.py compares the exporter's added cost with this
 * one. Never loaded by the exporter.
 *
 * The uprobes have no target here: tests/bench/floor_loader.c has
 * user/kernel/tls_attach.c attach them to libssl.so.3 from the table it
 * attaches the exporter's with, by name ("floor_" + the exporter's).
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

#define EMPTY(sec, name)                                                                           \
	SEC(sec)                                                                                   \
	int name(void *ctx)                                                                        \
	{                                                                                          \
		return 0;                                                                          \
	}

#define EMPTY_TP(tp, name) EMPTY("tracepoint/" tp, name)

/* conn_track.bpf.c, its default build */
EMPTY_TP("syscalls/sys_exit_accept4", floor_exit_accept4)
EMPTY_TP("syscalls/sys_exit_accept", floor_exit_accept)
EMPTY_TP("syscalls/sys_exit_connect", floor_exit_connect)
EMPTY_TP("syscalls/sys_enter_close", floor_enter_close)
EMPTY_TP("sock/inet_sock_set_state", floor_sock_state)

SEC("tp_btf/sched_process_exit")
int BPF_PROG(floor_process_exit, struct task_struct *task)
{
	return 0;
}

SEC("tp_btf/sched_process_exec")
int BPF_PROG(floor_process_exec, struct task_struct *task)
{
	return 0;
}

SEC("tp_btf/sched_process_fork")
int BPF_PROG(floor_process_fork, struct task_struct *parent, struct task_struct *child)
{
	return 0;
}

/* sock_io.bpf.c, its default build: the exit alone, and sendmsg's enter */
#define EMPTY_IO(name) EMPTY_TP("syscalls/sys_exit_" #name, floor_exit_##name)

EMPTY_IO(read)
EMPTY_IO(readv)
EMPTY_IO(recvfrom)
EMPTY_IO(recvmsg)
EMPTY_IO(recvmmsg)
EMPTY_IO(write) /* also on writev, sendto, sendmsg (user/kernel/shared_exits.h) */
EMPTY_IO(sendmmsg)
EMPTY_IO(sendfile64)
EMPTY_TP("syscalls/sys_enter_sendmsg", floor_enter_sendmsg)

/* ssl.bpf.c */
EMPTY("uprobe", floor_ssl_write_enter) /* also SSL_write_ex and BIO_f_ssl's write */
EMPTY("uprobe", floor_ssl_read_enter)
EMPTY("uprobe", floor_ssl_read_ex_enter)
EMPTY("uretprobe", floor_ssl_read_exit)
EMPTY("uprobe", floor_ssl_handshake_enter)
EMPTY("uretprobe", floor_ssl_handshake_exit)
EMPTY("uprobe", floor_ssl_shutdown_enter)
EMPTY("uprobe", floor_ssl_free_enter)
EMPTY("uprobe", floor_bio_ssl_read_enter)

char LICENSE[] SEC("license") = "Dual MIT/GPL";
