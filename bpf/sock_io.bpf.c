// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * Reads and writes on tracked connections. The enter probe of every read
 * and write family syscall leaves after one inlined array load (the fd's
 * gate, maps.bpf.h) unless the fd may be a tracked connection that is, or
 * may be, HTTP or RESP; then one hash lookup tells. The exit probe copies
 * the bytes actually transferred, bounded, into the ring buffer, where
 * user space parses HTTP, SSE and RESP (docs/design.md says why there).
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

#define MSG_PEEK   2
#define EPIPE	   32
#define ECONNRESET 104
#define ETIMEDOUT  110

/* The bits set in threads_inflight (the compat build: the entries of
 * inflight marked pending), all threads. While it is zero, the exit probe
 * of every call stops at this inlined load, before it asks for its thread
 * id: a helper call, about 20 ns on a nested VM. */
COUNT_CELL(calls_inflight, 0)

/* What an enter probe leaves its exit probe: task storage, or in the
 * compat build a slot per thread id (below). */
struct {
	__uint(type, HAVE_TASK_STORAGE ? BPF_MAP_TYPE_TASK_STORAGE : BPF_MAP_TYPE_LRU_HASH);
	__uint(map_flags, HAVE_TASK_STORAGE ? BPF_F_NO_PREALLOC : 0);
	__uint(max_entries, HAVE_TASK_STORAGE ? 0 : MAX_INFLIGHT);
	__type(key, int); /* a task's fd, or a thread id */
	__type(value, struct inflight);
} inflight SEC(".maps");

#if HAVE_TASK_STORAGE && HAVE_ATOMIC_FETCH
/* One bit per thread: a tracked call is in flight, its inflight slot is
 * valid. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, PID_BITMAP_WORDS);
	__type(key, __u32);
	__type(value, __u64);
} threads_inflight SEC(".maps");

/* This thread's slot, made at its first tracked call. */
static __always_inline struct inflight *inflight_slot(void)
{
	return bpf_task_storage_get(&inflight, bpf_get_current_task_btf(), NULL,
				    BPF_LOCAL_STORAGE_GET_F_CREATE);
}

/* This thread's tracked call is in flight: counted before its bit is
 * set, once (a bit left by a call whose exit was missed stays counted). */
static __always_inline void inflight_mark(struct inflight *in)
{
	__u32 tid = bpf_get_current_pid_tgid();
	__u64 *n = calls_inflight_cell();

	if (!n || bit_test(&threads_inflight, tid))
		return;
	__sync_fetch_and_add(n, 1);
	bit_set(&threads_inflight, tid);
}

/* This thread's slot if it has a tracked call in flight; it no longer has. */
static __always_inline struct inflight *inflight_take(void)
{
	__u64 *n = calls_inflight_cell();
	__u32 tid;

	if (!n || !*n)
		return NULL;
	tid = bpf_get_current_pid_tgid();
	if (!bit_test(&threads_inflight, tid))
		return NULL;
	bit_clear(&threads_inflight, tid);
	__sync_fetch_and_add(n, -1);
	return bpf_task_storage_get(&inflight, bpf_get_current_task_btf(), NULL, 0);
}
#else
/* The compat build: a slot per thread id, marked pending by a plain store
 * (only its thread writes it), in an LRU hash that forgets dead threads. A
 * slot forgotten while pending stays counted, as a bit left does. */
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

/* Whether fd is a tracked connection. */
static __always_inline bool io_enter(int fd, __u64 ptr, __u32 vlen, enum io_kind kind,
				     enum data_dir dir)
{
	struct conn_key key = current_key(fd);
	struct conn_info *info;
	struct inflight *in;

	info = gate_open(&key) ? bpf_map_lookup_elem(&conns, &key) : NULL;
	if (!info && handoff_possible(key.tgid))
		info = handoff_take(&key);
	if (!info)
		return false;
	if (info->proto == PROTO_OTHER) {
		ungate(&key, info);
		return true;
	}
	in = inflight_slot();
	if (!in) {
		count(CNT_INFLIGHT_FULL, 1);
		return true;
	}
	in->ptr = ptr;
	in->conn_id = info->id;
	in->fd = fd;
	in->vlen = vlen;
	in->kind = kind;
	in->dir = dir;
	in->proto = info->proto;
	in->role = info->role;
	in->flags = 0;
	in->kstream = info->kstream;
	gap_take(in, info);
	inflight_mark(in);
	return true;
}

#define TLS_HANDSHAKE_RECORD 0x16

_Static_assert(RESP_CLASSIFY_LEN >= HTTP_CLASSIFY_LEN, "first bytes read");

/* The first bytes decide the protocol: a server must first read a request
 * line or a TLS ClientHello, a client must first write one, or a Redis
 * command (we observe Redis clients, not redis-server). A unix socket is
 * HTTP or Redis, or nothing: TLS there would be a wasted hook (no Redis
 * or API server speaks it over a socket file), and the many unix sockets
 * of buses, loggers and name services must leave the gate at once. Only
 * the bytes the call moved are looked at: the rest of the buffer is stale
 * (recvmmsg and sendmmsg count messages, not bytes: RESP_CLASSIFY_LEN
 * bytes of the first are read). */
static __always_inline __u8 first_bytes_proto(const struct conn_info *info,
					      const struct inflight *in, __s64 ret)
{
	char b[RESP_CLASSIFY_LEN] = {};
	__u64 len = ret < RESP_CLASSIFY_LEN && in->kind != IO_MMSG ? ret : RESP_CLASSIFY_LEN;

	/* a server that speaks first, or a client that reads first */
	if ((info->role == ROLE_SERVER) != (in->dir == DIR_IN))
		return PROTO_OTHER;
	if (bpf_probe_read_user(b, len, (const void *)first_buf(in)))
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
static __always_inline bool tls_record(const struct inflight *in)
{
	__u8 b[3] = {};

	return !bpf_probe_read_user(b, sizeof(b), (const void *)first_buf(in)) && b[0] >= 0x14 &&
	       b[0] <= 0x17 && b[1] == 3 && b[2] <= 4;
}

/* Returns the protocol the bytes of this call belong to. A connection
 * older than the exporter whose bytes are TLS records is TLS: its
 * plaintext comes from the library hooks, which link its SSL object at
 * its next call; user space decides the others from their bytes. */
static __always_inline __u8 classify(struct conn_info *info, const struct inflight *in, __s64 ret)
{
	if (info->proto == PROTO_ADOPT && ret > 0 && in->kind != IO_SENDFILE &&
	    !conn_unix_domain(info) && tls_record(in))
		info->proto = PROTO_TLS;
	if (info->proto != PROTO_UNKNOWN)
		return info->proto;
	if (ret <= 0 || in->kind == IO_SENDFILE)
		return PROTO_UNKNOWN;
	info->proto = first_bytes_proto(info, in, ret);
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

/* writes: a constant, true in the write family's exits, so that the read
 * exits leave out the kernel's stream counting, and the verifier with it. */
static __always_inline void io_exit(__s64 ret, bool writes)
{
	struct inflight *in;
	struct inflight copy;
	struct conn_info *info;
	struct conn_key key;
	bool sent;

	in = inflight_take();
	if (!in)
		return;
	copy = *in;
	/* A connection known to be HTTP, RESP or TLS at enter needs no
	 * second lookup: if it was closed meanwhile, user space drops records
	 * of unknown ids. Only UNKNOWN and ADOPT may change here (PROTO_OTHER
	 * stopped at enter). */
	if (copy.proto == PROTO_UNKNOWN || copy.proto == PROTO_ADOPT) {
		key = current_key(copy.fd);
		info = bpf_map_lookup_elem(&conns, &key);
		if (!info || info->id != copy.conn_id)
			return;
		copy.proto = classify(info, &copy, ret);
		if (copy.proto == PROTO_UNKNOWN || copy.proto == PROTO_OTHER)
			return;
	}
	if (copy.proto == PROTO_TLS)
		tls_syscall_seen(&copy, ret);
	if (ret == 0 && copy.dir == DIR_OUT)
		return;
	if (ret < 0 && !fatal_errno(ret))
		return; /* EAGAIN and friends */
	if (copy.proto == PROTO_TLS && ret > 0)
		return; /* ciphertext: the library hooks copy the plaintext */
	if (writes && ret > 0 && kstream_write(&copy, ret))
		return; /* counted in the kernel */
	sent = io_emit(&copy, ret);
	if (gap_owed(&copy, sent)) {
		info = conn_of(&copy);
		if (info)
			gap_settle(info, &copy, sent);
	}
}

SEC("tracepoint/syscalls/sys_enter_read")
int enter_read(struct trace_event_raw_sys_enter *ctx)
{
	io_enter(ctx->args[0], ctx->args[1], 0, IO_BUF, DIR_IN);
	return 0;
}

SEC("tracepoint/syscalls/sys_enter_readv")
int enter_readv(struct trace_event_raw_sys_enter *ctx)
{
	io_enter(ctx->args[0], ctx->args[1], ctx->args[2], IO_IOV, DIR_IN);
	return 0;
}

SEC("tracepoint/syscalls/sys_enter_recvfrom")
int enter_recvfrom(struct trace_event_raw_sys_enter *ctx)
{
	if (!(ctx->args[3] & MSG_PEEK)) /* peeked bytes are read again */
		io_enter(ctx->args[0], ctx->args[1], 0, IO_BUF, DIR_IN);
	return 0;
}

SEC("tracepoint/syscalls/sys_enter_recvmsg")
int enter_recvmsg(struct trace_event_raw_sys_enter *ctx)
{
	if (!(ctx->args[2] & MSG_PEEK))
		io_enter(ctx->args[0], ctx->args[1], 0, IO_MSG, DIR_IN);
	return 0;
}

SEC("tracepoint/syscalls/sys_enter_recvmmsg")
int enter_recvmmsg(struct trace_event_raw_sys_enter *ctx)
{
	if (!(ctx->args[3] & MSG_PEEK))
		io_enter(ctx->args[0], ctx->args[1], ctx->args[2], IO_MMSG, DIR_IN);
	return 0;
}

SEC("tracepoint/syscalls/sys_enter_write")
int enter_write(struct trace_event_raw_sys_enter *ctx)
{
	io_enter(ctx->args[0], ctx->args[1], 0, IO_BUF, DIR_OUT);
	return 0;
}

SEC("tracepoint/syscalls/sys_enter_writev")
int enter_writev(struct trace_event_raw_sys_enter *ctx)
{
	io_enter(ctx->args[0], ctx->args[1], ctx->args[2], IO_IOV, DIR_OUT);
	return 0;
}

SEC("tracepoint/syscalls/sys_enter_sendto")
int enter_sendto(struct trace_event_raw_sys_enter *ctx)
{
	io_enter(ctx->args[0], ctx->args[1], 0, IO_BUF, DIR_OUT);
	return 0;
}

SEC("tracepoint/syscalls/sys_enter_sendmsg")
int enter_sendmsg(struct trace_event_raw_sys_enter *ctx)
{
	/* fds are passed over unix sockets that are not followed: a client's
	 * followed one carries HTTP or Redis, no fds */
	if (!io_enter(ctx->args[0], ctx->args[1], 0, IO_MSG, DIR_OUT))
		handoff_sent(ctx->args[1]);
	return 0;
}

SEC("tracepoint/syscalls/sys_enter_sendmmsg")
int enter_sendmmsg(struct trace_event_raw_sys_enter *ctx)
{
	io_enter(ctx->args[0], ctx->args[1], ctx->args[2], IO_MMSG, DIR_OUT);
	return 0;
}

SEC("tracepoint/syscalls/sys_enter_sendfile64")
int enter_sendfile(struct trace_event_raw_sys_enter *ctx)
{
	io_enter(ctx->args[0], 0, 0, IO_SENDFILE, DIR_OUT);
	return 0;
}

/* One exit handler serves every syscall above: the inflight entry says
 * what the call was. */
#define IO_EXIT(name, writes)                                                                      \
	SEC("tracepoint/syscalls/sys_exit_" #name)                                                 \
	int exit_##name(struct trace_event_raw_sys_exit *ctx)                                      \
	{                                                                                          \
		io_exit(ctx->ret, writes);                                                         \
		return 0;                                                                          \
	}

IO_EXIT(read, false)
IO_EXIT(readv, false)
IO_EXIT(recvfrom, false)
IO_EXIT(recvmsg, false)
IO_EXIT(recvmmsg, false)
IO_EXIT(write, true)
IO_EXIT(writev, true)
IO_EXIT(sendto, true)
IO_EXIT(sendmsg, true)
IO_EXIT(sendmmsg, true)
IO_EXIT(sendfile64, true)

char LICENSE[] SEC("license") = "Dual MIT/GPL";
