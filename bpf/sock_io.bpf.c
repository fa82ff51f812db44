// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * Reads and writes on tracked connections. One probe per read and write
 * family syscall, at its exit: it finds the call's fd and buffer in the
 * task's saved registers (bpf_task_pt_regs, 5.15), and leaves after one
 * inlined array load (the fd's gate, maps.bpf.h) unless the fd may be a
 * tracked connection that is, or may be, HTTP or RESP; then one hash
 * lookup tells. For those it copies the bytes actually transferred,
 * bounded, into the ring buffer, where user space parses HTTP, SSE and
 * RESP (docs/design.md says why there), or counts a stream's events in
 * the kernel (kstream.bpf.h). sendmsg's enter probe looks for fds passed
 * over unix sockets (handoff.bpf.h).
 *
 * The compat build (no bpf_task_pt_regs) keeps an enter probe per call,
 * which does the looking up and leaves the call in a slot of its thread
 * for the exit probe; the rest is shared (io_conn, io_describe, io_done).
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_tracing.h>
#include "http_classify.h"
#include "resp_classify.h"
#include "handoff.bpf.h"
#include "kstream.bpf.h"
#include "tls_state.bpf.h"
#include "syscall_args.bpf.h"

#define EPIPE	   32
#define ECONNRESET 104
#define ETIMEDOUT  110

#if !HAVE_TASK_PT_REGS
/* The compat build (bpf_task_pt_regs is 5.15) keeps an enter probe per
 * call, which hands its exit probe the call in a slot per thread id, in an
 * LRU hash that forgets dead threads. calls_inflight counts the slots
 * marked pending (a plain store: only its thread writes it); while it is
 * zero, the exit probe of every call stops at this inlined load, before
 * it asks for its thread id. A slot forgotten while pending stays
 * counted, which only brings back the lookup. */
COUNT_CELL(calls_inflight, 0)

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, MAX_INFLIGHT);
	__type(key, int); /* a thread id */
	__type(value, struct inflight);
} inflight SEC(".maps");

static __always_inline struct inflight *inflight_slot(void)
{
	int tid = bpf_get_current_pid_tgid();
	struct inflight *in = bpf_map_lookup_elem(&inflight, &tid);
	struct inflight fresh = {};

	if (in)
		return in;
	bpf_map_update_elem(&inflight, &tid, &fresh, BPF_NOEXIST);
	return bpf_map_lookup_elem(&inflight, &tid);
}

static __always_inline void inflight_mark(struct inflight *in)
{
	__u64 *n = calls_inflight_cell();

	if (!n || in->pending)
		return;
	__sync_fetch_and_add(n, 1);
	in->pending = 1;
}

/* This thread's slot if it has a tracked call in flight; it no longer has. */
static __always_inline struct inflight *inflight_take(void)
{
	__u64 *n = calls_inflight_cell();
	struct inflight *in;
	int tid;

	if (!n || !*n)
		return NULL;
	tid = bpf_get_current_pid_tgid();
	in = bpf_map_lookup_elem(&inflight, &tid);
	if (!in || !in->pending)
		return NULL;
	in->pending = 0;
	__sync_fetch_and_add(n, -1);
	return in;
}
#endif

/* A connection found not to carry HTTP or TLS, by its first bytes or by
 * user space (adopted), leaves the gate at its next call: from then on its
 * calls stop there, unless another connection shares its slot. */
static __always_inline void ungate(const struct conn_key *key, struct conn_info *info)
{
	if (info->ungated)
		return;
	info->ungated = 1;
	gate_release(key, info->id);
}

/* key's tracked connection, or NULL. One found not to carry HTTP, TLS or
 * RESP (PROTO_OTHER) leaves the gate here, and its calls are not followed. */
static __always_inline struct conn_info *io_conn(const struct conn_key *key)
{
	struct conn_info *info = conn_find_gated(key);

	if (!info && handoff_possible(key->tgid))
		info = handoff_take(key);
	if (info && info->proto == PROTO_OTHER)
		ungate(key, info);
	return info;
}

#define MSG_PEEK 2
#define NO_FLAGS 0 /* argument 0 is the fd: no flags argument */

/* Whether a receive call only peeks, by its flags argument (counted from
 * 0: recvfrom's and recvmmsg's 3, recvmsg's 2): peeked bytes are read
 * again. */
static __always_inline bool io_peeks(const unsigned long *args, int flags_arg)
{
	return flags_arg != NO_FLAGS && (args[flags_arg] & MSG_PEEK);
}

/* A followed call on info's connection, from the syscall's arguments:
 * the fd, the buffer (an iovec array, a msghdr or an mmsghdr array by
 * kind; none for sendfile), the number of iovecs or messages. */
static __always_inline void io_describe(struct inflight *in, const struct conn_info *info,
					const unsigned long *args, enum io_kind kind,
					enum data_dir dir)
{
	in->ptr = kind == IO_SENDFILE ? 0 : args[1];
	in->conn_id = info->id;
	in->fd = args[0];
	in->vlen = kind == IO_IOV || kind == IO_MMSG ? args[2] : 0;
	in->kind = kind;
	in->dir = dir;
	in->proto = info->proto;
	in->role = info->role;
	in->flags = 0;
	in->kstream = info->kstream;
	in->sk = info->sk;
	gap_take(in, info);
}

#define TLS_HANDSHAKE_RECORD 0x16

_Static_assert(RESP_CLASSIFY_LEN >= HTTP_CLASSIFY_LEN, "first bytes read");

/* The bytes the call moved, up to RESP_CLASSIFY_LEN of them, into b: how
 * many, or 0 if they cannot be read. Only those are looked at: the rest
 * of the buffer is stale (recvmmsg and sendmmsg count messages, not
 * bytes: RESP_CLASSIFY_LEN bytes of the first are read). */
static __always_inline __u64 first_bytes(const struct inflight *in, __s64 ret,
					 char b[RESP_CLASSIFY_LEN])
{
	__u64 len = ret < RESP_CLASSIFY_LEN && in->kind != IO_MMSG ? ret : RESP_CLASSIFY_LEN;

	/* bounded on the register the helper gets: 6.1 did not see the bound
	 * of a copy of len spilled before the test */
	barrier_var(len);
	if (len > RESP_CLASSIFY_LEN || bpf_probe_read_user(b, len, (const void *)first_buf(in)))
		return 0;
	return len;
}

/* The first bytes decide the protocol: a server must first read a request
 * line or a TLS ClientHello, a client must first write one, or a Redis
 * command (we observe Redis clients, not redis-server). A unix socket is
 * HTTP or Redis, or nothing: TLS there would be a wasted hook (no Redis
 * or API server speaks it over a socket file), and the many unix sockets
 * of buses, loggers and name services must leave the gate at once. */
static __always_inline __u8 first_bytes_proto(const struct conn_info *info,
					      const struct inflight *in, __s64 ret)
{
	char b[RESP_CLASSIFY_LEN] = {};
	__u64 len;

	/* a server that speaks first, or a client that reads first */
	if ((info->role == ROLE_SERVER) != (in->dir == DIR_IN))
		return PROTO_OTHER;
	len = first_bytes(in, ret, b);
	if (!len)
		return PROTO_OTHER;
	if (http_looks_like_request(b, len))
		return PROTO_HTTP;
	if (b[0] == TLS_HANDSHAKE_RECORD && !conn_unix_domain(info))
		return PROTO_TLS;
	if (info->role == ROLE_CLIENT && resp_looks_like_command(b, len))
		return PROTO_RESP;
	return PROTO_OTHER;
}

/* A TLS record header: content type 20-23 (change cipher spec, alert,
 * handshake, application data), version 3.x. No request line, response
 * or SSE event begins so. */
static __always_inline bool tls_record(const char b[RESP_CLASSIFY_LEN])
{
	return b[0] >= 0x14 && b[0] <= 0x17 && b[1] == 3 && b[2] <= 4;
}

/* A connection older than the exporter (PROTO_ADOPT), met in the middle
 * of its life: if its bytes are TLS records, it is TLS (its plaintext
 * comes from the library hooks, which link its SSL object at its next
 * call); user space decides the others from their bytes. A client
 * connection that writes a request line carries upstream calls: its
 * process is marked at once (upstream_procs), where user space's
 * decision comes up to 100 ms later, after the process may have relayed
 * the call's first events. */
static __always_inline __u8 classify_adopted(struct conn_info *info, const struct inflight *in,
					     __s64 ret)
{
	__u32 tgid = bpf_get_current_pid_tgid() >> 32;
	char b[RESP_CLASSIFY_LEN] = {};
	__u64 len;

	if (ret <= 0 || in->kind == IO_SENDFILE || conn_unix_domain(info))
		return PROTO_ADOPT;
	len = first_bytes(in, ret, b);
	if (len >= 3 && tls_record(b)) {
		info->proto = PROTO_TLS;
		upstream_note(tgid, info);
		return PROTO_TLS;
	}
	if (info->role == ROLE_CLIENT && in->dir == DIR_OUT && http_looks_like_request(b, len))
		upstream_mark(tgid);
	return PROTO_ADOPT;
}

/* Returns the protocol the bytes of this call belong to. */
static __always_inline __u8 classify(struct conn_info *info, const struct inflight *in, __s64 ret)
{
	if (info->proto == PROTO_ADOPT)
		return classify_adopted(info, in, ret);
	if (info->proto != PROTO_UNKNOWN)
		return info->proto;
	if (ret <= 0 || in->kind == IO_SENDFILE)
		return PROTO_UNKNOWN;
	info->proto = first_bytes_proto(info, in, ret);
	upstream_note(bpf_get_current_pid_tgid() >> 32, info);
	return info->proto;
}

/* Errors that end a connection: the peer is gone. */
static __always_inline bool fatal_errno(__s64 ret)
{
	return ret == -EPIPE || ret == -ECONNRESET || ret == -ETIMEDOUT;
}

/* The call's records; whether any went out. */
static __always_inline bool io_emit(const struct inflight *in, __s64 ret)
{
	struct capture_scratch *w;
	bool sent;

	if (emit_small(in, ret, &sent))
		return sent;
	w = event_init(in, ret);
	if (!w)
		return false;
	if (ret <= 0) {
		w->ev.flags |= ret ? DATA_F_ERROR : DATA_F_EOF;
		emit_data(w, 0);
	} else if (in->kind == IO_SENDFILE) {
		w->ev.flags |= DATA_F_NOCOPY;
		emit_data(w, 0);
	} else {
		capture(w, in, ret);
	}
	return w->sent;
}

/* How a call's bytes may count in the kernel: a constant of each exit
 * probe, so that the verifier sees only the stream code it can run. */
enum io_counting {
	COUNT_NONE,	  /* the read family's */
	COUNT_WALK,	  /* writes from buffers, iovecs, a msghdr */
	COUNT_UNWALKABLE, /* sendfile, sendmmsg: an armed stream is given up */
};

static __always_inline enum io_counting io_counting_of(enum io_kind kind, enum data_dir dir)
{
	if (dir != DIR_OUT)
		return COUNT_NONE;
	return kind == IO_SENDFILE || kind == IO_MMSG ? COUNT_UNWALKABLE : COUNT_WALK;
}

/* The call's records, or its counting in the kernel, once it returned
 * ret. info: its connection's entry, needed only by a call whose
 * protocol is still to be decided (UNKNOWN or ADOPT), which the bytes of
 * this call may settle. */
static __always_inline void io_done(struct inflight *call, struct conn_info *info, __s64 ret,
				    enum io_counting counting)
{
	bool sent;

	if (call->proto == PROTO_UNKNOWN || call->proto == PROTO_ADOPT) {
		if (!info)
			return;
		call->proto = classify(info, call, ret);
		if (call->proto == PROTO_UNKNOWN || call->proto == PROTO_OTHER)
			return;
	}
	if (call->proto == PROTO_TLS)
		tls_syscall_seen(call, ret);
	if (ret == 0 && call->dir == DIR_OUT)
		return;
	if (ret < 0 && !fatal_errno(ret))
		return; /* EAGAIN and friends */
	if (call->proto == PROTO_TLS && ret > 0)
		return; /* ciphertext: the library hooks copy the plaintext */
	if (counting == COUNT_WALK && ret > 0 && kstream_write(call, ret))
		return; /* counted in the kernel */
	if (counting == COUNT_UNWALKABLE && ret > 0)
		kstream_unwalkable(call);
	sent = io_emit(call, ret);
	if (!sent)
		kstream_unarm(call);
	if (gap_owed(call, sent)) {
		info = conn_of(call);
		if (info)
			gap_settle(info, call, sent);
	}
}

#if HAVE_TASK_PT_REGS
/* The syscall numbers of writev and sendmsg (the loader's, from
 * <sys/syscall.h>): exit_write serves write, writev, sendto and sendmsg,
 * and tells them apart by the number its tracepoint gives. */
const volatile long nr_writev = -1;
const volatile long nr_sendmsg = -1;

#define IO_BY_NR (-1) /* io_exit's kind: by the syscall's number (exit_write) */

static __always_inline enum io_kind send_kind(long nr)
{
	if (nr == nr_writev)
		return IO_IOV;
	if (nr == nr_sendmsg)
		return IO_MSG;
	return IO_BUF; /* write, sendto */
}

/*
 * The exit probe alone: the call's arguments are still in the task's
 * saved registers (syscall_arg), so no enter probe hands them over. A
 * call whose fd's gate is closed (no connection there whose bytes are
 * needed) stops after that inlined load, beside the two of
 * handoff_possible().
 *
 * The connection is the one at (tgid, fd) when the call returns. Had
 * another thread closed the fd during the call and a new connection
 * taken its number, the call's bytes would be taken for the new one's;
 * nothing at exit tells the two apart (the call's start is not known
 * here). Closing an fd another thread is using is a race of the program
 * itself, which runtimes avoid (docs/design.md, "The exit probe alone").
 */
static __always_inline void io_exit(__s64 ret, long nr, int kind, enum data_dir dir, int flags_arg)
{
	struct task_struct *task = bpf_get_current_task_btf();
	const struct pt_regs *regs = (const struct pt_regs *)bpf_task_pt_regs(task);
	struct conn_key key = {.tgid = task->tgid, .fd = syscall_arg(regs, 0)};
	struct conn_info *info = io_conn(&key);
	struct inflight call = {};
	unsigned long args[4];

	if (!info || info->proto == PROTO_OTHER)
		return;
	for (int i = 0; i < 4; i++)
		args[i] = syscall_arg(regs, i);
	if (io_peeks(args, flags_arg))
		return;
	if (kind == IO_BY_NR)
		kind = send_kind(nr); /* only now: untracked calls stop before */
	io_describe(&call, info, args, kind, dir);
	io_done(&call, info, ret, io_counting_of(kind, dir));
}
#else
/* Whether the call's fd is a tracked connection. Its slot holds the call
 * for the exit probe when it is followed. */
static __always_inline bool io_enter(const struct trace_event_raw_sys_enter *ctx, enum io_kind kind,
				     enum data_dir dir, int flags_arg)
{
	struct conn_key key = current_key(ctx->args[0]);
	struct conn_info *info;
	struct inflight *in;
	unsigned long args[4];

	/* one by one: a loop's pointer into ctx is refused */
	args[0] = ctx->args[0];
	args[1] = ctx->args[1];
	args[2] = ctx->args[2];
	args[3] = ctx->args[3];
	if (io_peeks(args, flags_arg))
		return false;
	info = io_conn(&key);
	if (!info)
		return false;
	if (info->proto == PROTO_OTHER)
		return true;
	in = inflight_slot();
	if (!in) {
		count(CNT_INFLIGHT_FULL, 1);
		return true;
	}
	io_describe(in, info, args, kind, dir);
	inflight_mark(in);
	return true;
}

static __always_inline void io_exit(__s64 ret, long nr, int kind, enum data_dir dir, int flags_arg)
{
	struct inflight *in = inflight_take();
	struct inflight call;

	if (!in)
		return;
	call = *in;
	/* A connection known to be HTTP, RESP or TLS at enter needs no
	 * second lookup: if it was closed meanwhile, user space drops records
	 * of unknown ids. Only UNKNOWN and ADOPT may change here (PROTO_OTHER
	 * stopped at enter). */
	io_done(&call,
		call.proto == PROTO_UNKNOWN || call.proto == PROTO_ADOPT ? conn_of(&call) : NULL,
		ret, io_counting_of(kind, dir));
}
#endif

/* The read and write family: name, kind, direction, and which argument
 * holds the flags of a receive call. sendmsg, below, has an enter probe
 * in either build. */
#define IO_READS(X)                                                                                \
	X(read, IO_BUF, DIR_IN, NO_FLAGS)                                                          \
	X(readv, IO_IOV, DIR_IN, NO_FLAGS)                                                         \
	X(recvfrom, IO_BUF, DIR_IN, 3)                                                             \
	X(recvmsg, IO_MSG, DIR_IN, 2)                                                              \
	X(recvmmsg, IO_MMSG, DIR_IN, 3)
#define IO_SENDS(X)                                                                                \
	X(write, IO_BUF, DIR_OUT, NO_FLAGS)                                                        \
	X(writev, IO_IOV, DIR_OUT, NO_FLAGS)                                                       \
	X(sendto, IO_BUF, DIR_OUT, NO_FLAGS)
#define IO_UNWALKED(X)                                                                             \
	X(sendmmsg, IO_MMSG, DIR_OUT, NO_FLAGS)                                                    \
	X(sendfile64, IO_SENDFILE, DIR_OUT, NO_FLAGS)

#define IO_EXIT(name, kind, dir, flags_arg)                                                        \
	SEC("tracepoint/syscalls/sys_exit_" #name)                                                 \
	int exit_##name(struct trace_event_raw_sys_exit *ctx)                                      \
	{                                                                                          \
		io_exit(ctx->ret, ctx->id, kind, dir, flags_arg);                                  \
		return 0;                                                                          \
	}

IO_READS(IO_EXIT)
IO_UNWALKED(IO_EXIT)
#if HAVE_TASK_PT_REGS
/* write, writev, sendto and sendmsg: one program, which the loader
 * attaches to the four exits (loader.c, shared_exits). The kernel
 * verifies a program once, and the stream code makes these the longest
 * to verify: one for four took ~0.5 s off the start. */
IO_EXIT(write, IO_BY_NR, DIR_OUT, NO_FLAGS)
#else
IO_SENDS(IO_EXIT)
IO_EXIT(sendmsg, IO_MSG, DIR_OUT, NO_FLAGS)
#endif

/* Fds passed over a unix socket (SCM_RIGHTS) detach their connections
 * before the call returns, so at enter: once the message is queued the
 * receiver may run on another CPU and use them before this thread's exit
 * probe runs, and a process that is no heir finds a connection only
 * while it is detached (handoff.bpf.h). fds are passed over unix sockets
 * that are not followed: a client's followed one carries HTTP or Redis,
 * no fds; the compat build, which looks up the fd here anyway, spares
 * those the look at the message. */
SEC("tracepoint/syscalls/sys_enter_sendmsg")
int enter_sendmsg(struct trace_event_raw_sys_enter *ctx)
{
#if HAVE_TASK_PT_REGS
	handoff_sent(ctx->args[1]);
#else
	if (!io_enter(ctx, IO_MSG, DIR_OUT, NO_FLAGS))
		handoff_sent(ctx->args[1]);
#endif
	return 0;
}

#if !HAVE_TASK_PT_REGS
#define IO_ENTER(name, kind, dir, flags_arg)                                                       \
	SEC("tracepoint/syscalls/sys_enter_" #name)                                                \
	int enter_##name(struct trace_event_raw_sys_enter *ctx)                                    \
	{                                                                                          \
		io_enter(ctx, kind, dir, flags_arg);                                               \
		return 0;                                                                          \
	}

IO_READS(IO_ENTER)
IO_SENDS(IO_ENTER)
IO_UNWALKED(IO_ENTER)
#endif

char LICENSE[] SEC("license") = "Dual MIT/GPL";
