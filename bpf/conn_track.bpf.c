// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * Connection lifecycle: which TCP connections observed processes accept
 * (and connect, TCP or unix-domain stream, when client tracking is on),
 * when they close, when their owner dies, and when the peer goes away. Keeps the conns map that
 * sock_io.bpf.c consults on every read and write.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_tracing.h>
#include "handoff.bpf.h"
#include "syscall_args.bpf.h"

#define ENETUNREACH  101
#define ETIMEDOUT    110
#define ECONNREFUSED 111
#define EHOSTUNREACH 113
#define EINPROGRESS  115

#define CONN_ID_CPU_BITS 12 /* compat build: ids of up to 4096 CPUs */

const volatile __u32 self_tgid = 0;
const volatile bool filter_active = false; /* --pid/--port/--exe/--cgroup given */
const volatile bool watch_exec = false;	   /* --exe/--cgroup need new processes */
const volatile bool track_clients = false; /* outbound connections too */

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, MAX_FILTER_ENTRIES);
	__type(key, __u32);
	__type(value, __u8);
} allowed_tgids SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, MAX_FILTER_ENTRIES);
	__type(key, __u16);
	__type(value, __u8);
} allowed_ports SEC(".maps");

/* Unique connection ids; user space numbers /proc finds from the top.
 * Without fetch-and-add (compat build), one count per CPU. */
struct {
	__uint(type, HAVE_ATOMIC_FETCH ? BPF_MAP_TYPE_ARRAY : BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} next_conn_id SEC(".maps");

static __always_inline bool selected(__u32 tgid, __u16 lport)
{
	if (tgid == self_tgid)
		return false;
	if (!filter_active)
		return true;
	return bpf_map_lookup_elem(&allowed_tgids, &tgid) ||
	       bpf_map_lookup_elem(&allowed_ports, &lport);
}

/* Errors that say the peer cannot be reached; EINTR, EALREADY and the
 * like are the caller's business. */
static __always_inline bool connect_error(long ret)
{
	return ret == -ECONNREFUSED || ret == -ETIMEDOUT || ret == -EHOSTUNREACH ||
	       ret == -ENETUNREACH;
}

static __always_inline __u64 new_conn_id(void)
{
	__u32 zero = 0;
	__u64 *next = bpf_map_lookup_elem(&next_conn_id, &zero);

	if (!next)
		return 0;
#if HAVE_ATOMIC_FETCH
	return __sync_fetch_and_add(next, 1) + 1;
#else
	/* this CPU's count, and the CPU in the low bits: unique, since a
	 * syscall tracepoint's program is neither preempted nor nested on
	 * its CPU before 6.x made them faultable */
	*next += 1;
	return *next << CONN_ID_CPU_BITS | bpf_get_smp_processor_id();
#endif
}

/* A connect that failed at once, or whose RST came back before connect()
 * returned (loopback): user space counts a failed upstream call. */
static __always_inline void connect_failed(struct open_event *ev, int err)
{
	ev->err = err;
	ev->h.type = EV_CONNECT_FAIL;
	ev->h.tgid = ev->key.tgid;
	ev->h.ts_ns = bpf_ktime_get_ns();
	emit(ev, sizeof(*ev));
}

/* The sequence number after the last byte its owner wrote to TCP socket sk. */
static __always_inline __u32 write_seq(__u64 sk)
{
	return BPF_CORE_READ((struct tcp_sock *)sk, write_seq);
}

/* A unix socket: a client's only (redis-server's and other servers'
 * accepted ones are not followed). A unix connect that failed is no
 * upstream call: nscd's or a bus's socket file left behind without its
 * daemon refuses connects all day. No TCP state change reaches it, so
 * it has no sock_owner entry: its end is its close(), its owner's exit,
 * or the EOF its reads see. */
static __always_inline void track(int fd, enum conn_role role, int err)
{
	struct open_event ev = {};
	struct conn_sock_ref ref;
	__u64 stale;
	struct sock *sock;
	__u64 sk;

	if (fd < 0 || !fd_conn_sock(fd, role == ROLE_CLIENT, &ref))
		return;
	if (ref.family == AF_UNIX && err)
		return;
	ev.key = current_key(fd);
	if (!selected(ev.key.tgid, ref.lport))
		return;
	sock = ref.sk;
	sock_remote(sock, &ev.remote);
	bpf_get_current_comm(ev.comm, sizeof(ev.comm));
	ev.proc_start_ns = current_proc_start();
	if (role == ROLE_CLIENT && ref.family != AF_UNIX &&
	    (err || BPF_CORE_READ(sock, __sk_common.skc_state) == TCP_CLOSE)) {
		connect_failed(&ev, err);
		return;
	}
	ev.info.id = new_conn_id();
	ev.info.sk = sk = ref.family == AF_UNIX ? 0 : (__u64)ref.sk;
	ev.info.ino = ref.ino;
	ev.info.open_ns = bpf_ktime_get_ns();
	ev.info.lport = ref.lport;
	ev.info.rport = ref.rport;
	ev.info.role = role;
	ev.info.proto = PROTO_UNKNOWN;
	if (role == ROLE_SERVER && sk)
		ev.out_seq = write_seq(sk);
	if (!gate_take(&ev.key, ev.info.id)) {
		count(CNT_CONNS_FULL, 1);
		return;
	}
	if (conn_replace(&ev.key, &ev.info, &stale)) {
		gate_release(&ev.key, ev.info.id);
		count(CNT_CONNS_FULL, 1);
		return;
	}
	/* A stale entry under the same key means its close was missed:
	 * the open event tells user space to end it. The gate's count,
	 * taken for the new one, never fell to zero meanwhile. */
	if (stale)
		gate_release(&ev.key, stale);
	if (sk)
		sock_owner_put(sk, &ev.key);
	proc_conns_add(ev.key.tgid, 1);
	proc_mark(ev.key.tgid, true);
	ev.h.type = EV_OPEN;
	ev.h.tgid = ev.key.tgid;
	ev.h.ts_ns = ev.info.open_ns;
	ev.h.conn_id = ev.info.id;
	emit(&ev, sizeof(ev));
}

SEC("tracepoint/syscalls/sys_exit_accept4")
int exit_accept4(struct trace_event_raw_sys_exit *ctx)
{
	track(ctx->ret, ROLE_SERVER, 0);
	return 0;
}

SEC("tracepoint/syscalls/sys_exit_accept")
int exit_accept(struct trace_event_raw_sys_exit *ctx)
{
	track(ctx->ret, ROLE_SERVER, 0);
	return 0;
}

/* A connect() that reached the peer or is under way (non-blocking), or
 * that failed to reach it: its socket is tracked, or the failure told. */
static __always_inline void connect_done(int fd, long ret)
{
	if (ret == 0 || ret == -EINPROGRESS)
		track(fd, ROLE_CLIENT, 0);
	else if (connect_error(ret))
		track(fd, ROLE_CLIENT, ret);
}

#if HAVE_TASK_PT_REGS
/* The fd is still in the saved registers at exit (syscall_args.bpf.h):
 * no enter probe, no map of connects under way, for every connect() of
 * the host. */
SEC("tracepoint/syscalls/sys_exit_connect")
int exit_connect(struct trace_event_raw_sys_exit *ctx)
{
	struct task_struct *task;

	if (!track_clients)
		return 0;
	task = bpf_get_current_task_btf();
	connect_done(syscall_arg((const struct pt_regs *)bpf_task_pt_regs(task), 0), ctx->ret);
	return 0;
}
#else
/* thread -> fd of a connect() in progress: the compat build's exit probe
 * cannot read the fd from the saved registers (5.15) */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, MAX_INFLIGHT);
	__type(key, __u64);
	__type(value, __s32);
} connecting SEC(".maps");

SEC("tracepoint/syscalls/sys_enter_connect")
int enter_connect(struct trace_event_raw_sys_enter *ctx)
{
	__u64 tid = bpf_get_current_pid_tgid();
	__s32 fd = ctx->args[0];

	if (track_clients)
		bpf_map_update_elem(&connecting, &tid, &fd, BPF_ANY);
	return 0;
}

SEC("tracepoint/syscalls/sys_exit_connect")
int exit_connect(struct trace_event_raw_sys_exit *ctx)
{
	__u64 tid = bpf_get_current_pid_tgid();
	__s32 *fd;

	if (!track_clients)
		return 0;
	fd = bpf_map_lookup_elem(&connecting, &tid);
	if (!fd)
		return 0;
	connect_done(*fd, ctx->ret);
	bpf_map_delete_elem(&connecting, &tid);
	return 0;
}
#endif

SEC("tracepoint/syscalls/sys_enter_close")
int enter_close(struct trace_event_raw_sys_enter *ctx)
{
	struct conn_key key = current_key(ctx->args[0]);

	conn_leave(&key, LEAVE_CLOSE);
	return 0;
}

/* The kernel closes a dead process's files without close() calls: user
 * space drops every connection of the process on this event. */
SEC("tp_btf/sched_process_exit")
int BPF_PROG(process_exit, struct task_struct *task)
{
	struct exit_event ev = {};
	__u32 tgid = task->tgid;

	if (task->signal->live.counter != 0)
		return 0;
	heir_clear(tgid);
	upstream_clear(tgid);
	if (!bpf_map_lookup_elem(&tracked_procs, &tgid))
		return 0;
	bpf_map_delete_elem(&tracked_procs, &tgid);
	proc_mark(tgid, false);
	ev.h.type = EV_EXIT;
	ev.h.tgid = tgid;
	ev.h.ts_ns = bpf_ktime_get_ns();
	emit(&ev, sizeof(ev));
	return 0;
}

/* A process forked by one with tracked connections holds their sockets
 * too: it is an heir, whose calls on them take them over (handoff.bpf.h). */
SEC("tp_btf/sched_process_fork")
int BPF_PROG(process_fork, struct task_struct *parent, struct task_struct *child)
{
	__u32 tgid = parent->tgid, heir = child->tgid;
	__u64 *n;

	if (heir == tgid || !proc_has_conns(tgid))
		return 0; /* a thread, or a process without connections */
	n = bpf_map_lookup_elem(&tracked_procs, &tgid);
	if (n && *n)
		heir_mark(heir);
	return 0;
}

SEC("tp_btf/sched_process_exec")
int BPF_PROG(process_exec, struct task_struct *task)
{
	struct exec_event ev = {};

	if (!watch_exec)
		return 0;
	ev.h.type = EV_EXEC;
	ev.h.tgid = task->tgid;
	ev.h.ts_ns = bpf_ktime_get_ns();
	emit(&ev, sizeof(ev));
	return 0;
}

/* Peer FIN (CLOSE_WAIT) and reset or final close (CLOSE) of a tracked
 * socket: how a client leaving mid-stream is seen even when the server
 * never reads again. A detached connection (handoff.bpf.h) ends when its
 * socket's last fd is closed (FIN_WAIT1, LAST_ACK) or the socket goes. */
SEC("tracepoint/sock/inet_sock_set_state")
int sock_state(struct trace_event_raw_inet_sock_set_state *ctx)
{
	struct sock_state_event ev = {};
	__u64 sk = (__u64)ctx->skaddr;
	struct conn_info *info;
	struct conn_key key;
	bool owned;
	/* read once: clang re-reads ctx through a computed pointer, which the
	 * verifier refuses */
	int newstate = ctx->newstate;

	if (newstate == TCP_FIN_WAIT1 || newstate == TCP_LAST_ACK) {
		handoff_end(sk);
		return 0;
	}
	if (newstate != TCP_CLOSE_WAIT && newstate != TCP_CLOSE)
		return 0;
	owned = sock_owner_get(sk, &key);
	info = owned ? conn_find(&key) : handoff_detached(sk);
	if (!info || info->sk != sk)
		return 0;
	ev.h.type = EV_SOCK_STATE;
	ev.h.tgid = owned ? key.tgid : 0;
	ev.h.ts_ns = bpf_ktime_get_ns();
	ev.h.conn_id = info->id;
	ev.oldstate = ctx->oldstate;
	ev.newstate = newstate;
	ev.gap = info->lost != 0;
	if (newstate == TCP_CLOSE_WAIT && info->role == ROLE_SERVER && info->proto == PROTO_HTTP) {
		ev.out_valid = 1;
		ev.out_seq = write_seq(sk);
	}
	if (newstate == TCP_CLOSE && owned)
		sock_owner_drop(sk);
	emit(&ev, sizeof(ev));
	if (newstate == TCP_CLOSE && !owned)
		handoff_end(sk);
	return 0;
}

char LICENSE[] SEC("license") = "Dual MIT/GPL";
