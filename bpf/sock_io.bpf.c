// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * Reads and writes on tracked connections. The enter probe of every read
 * and write family syscall makes one hash lookup and leaves at once unless
 * the fd is a tracked connection that is, or may be, HTTP. The exit probe
 * copies the bytes actually transferred, bounded, into the ring buffer,
 * where user space parses HTTP and SSE (docs/design.md says why there).
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_tracing.h>
#include "maps.bpf.h"

#define MSG_PEEK   2
#define EPIPE	   32
#define ECONNRESET 104
#define ETIMEDOUT  110

enum io_kind {
	IO_BUF,	     /* read, write, recvfrom, sendto */
	IO_IOV,	     /* readv, writev */
	IO_MSG,	     /* recvmsg, sendmsg */
	IO_MMSG,     /* recvmmsg, sendmmsg */
	IO_SENDFILE, /* sendfile: bytes move, we copy none */
};

/* What an enter probe leaves for its exit probe, in task storage: the
 * exit probe of every untracked syscall looks it up, and a task-local
 * slot is cheaper than a hash lookup, with no insert or delete per call. */
struct inflight {
	__u64 ptr; /* buffer, iovec array, msghdr or mmsghdr array */
	__u64 conn_id;
	__s32 fd;
	__u32 vlen;
	__u8 kind;
	__u8 dir;
	__u8 proto; /* of the connection at enter */
	__u8 pad[5];
};

/* One bit per thread: a tracked call is in flight, its inflight slot is
 * valid. The exit probe of every other call stops at this inlined test. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, PID_BITMAP_WORDS);
	__type(key, __u32);
	__type(value, __u64);
} threads_inflight SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_TASK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct inflight);
} inflight SEC(".maps");

/* Cursor over the bytes of one syscall, spread over up to
 * CAPTURE_IOVS_MAX iovecs. */
struct iov_cursor {
	__u64 iov;	/* user address of the iovec array */
	__u64 iov_left; /* iovecs not yet started */
	__u64 base;	/* current iovec */
	__u64 len;
	__u64 done;  /* bytes of the current iovec already copied */
	__u64 total; /* bytes the syscall moved */
	__u64 off;   /* bytes copied so far */
};

/* Per-CPU work area. The cursor lives here, not on the stack, so that the
 * verifier sees every bpf_loop step start from the same state. */
struct capture_scratch {
	struct iov_cursor c;
	struct data_event ev;
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct capture_scratch);
} scratch SEC(".maps");

static __always_inline struct capture_scratch *scratch_area(void)
{
	__u32 zero = 0;

	return bpf_map_lookup_elem(&scratch, &zero);
}

static __always_inline void io_enter(int fd, __u64 ptr, __u32 vlen, enum io_kind kind,
				     enum data_dir dir)
{
	struct conn_key key = current_key(fd);
	struct conn_info *info;
	struct inflight *in;

	if (!bit_test(&procs_with_conns, key.tgid))
		return;
	info = bpf_map_lookup_elem(&conns, &key);
	if (!info || info->proto == PROTO_OTHER)
		return;
	in = bpf_task_storage_get(&inflight, bpf_get_current_task_btf(), NULL,
				  BPF_LOCAL_STORAGE_GET_F_CREATE);
	if (!in) {
		count(CNT_INFLIGHT_FULL, 1);
		return;
	}
	in->ptr = ptr;
	in->conn_id = info->id;
	in->fd = fd;
	in->vlen = vlen;
	in->kind = kind;
	in->dir = dir;
	in->proto = info->proto;
	bit_set(&threads_inflight, (__u32)bpf_get_current_pid_tgid());
}

/* The first bytes decide whether an unknown connection is HTTP: a server
 * must first read a request line, a client must first write one. */
static __always_inline bool first_bytes_http(const void *ubuf)
{
	char b[8] = {};

	if (bpf_probe_read_user(b, sizeof(b), ubuf))
		return false;
	switch (b[0]) {
	case 'G':
		return b[1] == 'E' && b[2] == 'T' && b[3] == ' ';
	case 'P':
		return (b[1] == 'O' && b[2] == 'S' && b[3] == 'T' && b[4] == ' ') ||
		       (b[1] == 'U' && b[2] == 'T' && b[3] == ' ') ||
		       (b[1] == 'A' && b[2] == 'T' && b[3] == 'C' && b[4] == 'H');
	case 'D':
		return b[1] == 'E' && b[2] == 'L' && b[3] == 'E' && b[4] == 'T';
	case 'H':
		return b[1] == 'E' && b[2] == 'A' && b[3] == 'D' && b[4] == ' ';
	case 'O':
		return b[1] == 'P' && b[2] == 'T' && b[3] == 'I' && b[4] == 'O';
	}
	return false;
}

/* Where the first transferred bytes are, for the protocol decision. */
static __always_inline __u64 first_buf(const struct inflight *in)
{
	struct user_msghdr msg;
	struct iovec iov;
	__u64 iovp = in->ptr;

	if (in->kind == IO_BUF)
		return in->ptr;
	if (in->kind == IO_MSG || in->kind == IO_MMSG) {
		if (bpf_probe_read_user(&msg, sizeof(msg), (void *)in->ptr))
			return 0;
		iovp = (__u64)msg.msg_iov;
	}
	if (bpf_probe_read_user(&iov, sizeof(iov), (void *)iovp))
		return 0;
	return (__u64)iov.iov_base;
}

/* Returns false when the bytes must not be copied. */
static __always_inline bool classify(struct conn_info *info, const struct inflight *in, __s64 ret)
{
	bool http;

	if (info->proto == PROTO_HTTP || info->proto == PROTO_ADOPT)
		return true;
	if (ret <= 0 || in->kind == IO_SENDFILE)
		return false;
	/* a server that speaks first, or a client that reads first: not HTTP */
	http = (info->role == ROLE_SERVER) == (in->dir == DIR_IN) &&
	       first_bytes_http((void *)first_buf(in));
	info->proto = http ? PROTO_HTTP : PROTO_OTHER;
	return http;
}

static __always_inline void data_header(struct data_event *ev, const struct inflight *in, __s64 ret)
{
	ev->h.type = EV_DATA;
	ev->h.tgid = bpf_get_current_pid_tgid() >> 32;
	ev->h.ts_ns = bpf_ktime_get_ns();
	ev->h.conn_id = in->conn_id;
	ev->fd = in->fd;
	ev->dir = in->dir;
	ev->flags = 0;
	ev->len = 0;
	ev->ret = ret;
	ev->offset = 0;
	ev->seg = 0;
}

static __always_inline struct capture_scratch *event_init(const struct inflight *in, __s64 ret)
{
	struct capture_scratch *w = scratch_area();

	if (!w)
		return NULL;
	__builtin_memset(&w->c, 0, sizeof(w->c));
	data_header(&w->ev, in, ret);
	return w;
}

#define SMALL_RECORD (offsetof(struct data_event, data) + CAPTURE_SMALL_MAX)

/* The common case, one SSE event in one write: read it straight into a
 * ring record of fixed size, one copy instead of two. Returns false when
 * the call is not such a case. */
static __always_inline bool emit_small(const struct inflight *in, __s64 ret)
{
	struct data_event *ev;
	__u64 n = ret;

	if (in->kind != IO_BUF || ret <= 0 || ret > CAPTURE_SMALL_MAX)
		return false;
	ev = bpf_ringbuf_reserve(&events, SMALL_RECORD, 0);
	if (!ev) {
		count(CNT_EVENTS_LOST, 1);
		return true;
	}
	data_header(ev, in, ret);
	barrier_var(n); /* keep the bound on the register the helper gets */
	if (n > CAPTURE_SMALL_MAX || bpf_probe_read_user(ev->data, n, (void *)in->ptr)) {
		bpf_ringbuf_discard(ev, BPF_RB_NO_WAKEUP);
		return true;
	}
	ev->len = n;
	bpf_ringbuf_submit(ev, ring_flags());
	return true;
}

static __always_inline void emit_data(struct data_event *ev, __u32 n)
{
	if (n > CAPTURE_SEG_MAX)
		n = CAPTURE_SEG_MAX;
	ev->len = n;
	emit(ev, offsetof(struct data_event, data) + n);
	ev->seg++;
}

static __always_inline __u64 min_u64(__u64 a, __u64 b)
{
	return a < b ? a : b;
}

static __always_inline bool cursor_next(struct iov_cursor *c)
{
	struct iovec v;

	if (!c->iov_left || bpf_probe_read_user(&v, sizeof(v), (void *)c->iov))
		return false;
	c->iov += sizeof(v);
	c->iov_left--;
	c->base = (__u64)v.iov_base;
	c->len = v.iov_len;
	c->done = 0;
	return true;
}

/* One bpf_loop step: one record, or a move to the next iovec. */
static long copy_step(__u32 i, void *unused)
{
	struct capture_scratch *w = scratch_area();
	struct iov_cursor *c;
	__u64 n;

	if (!w)
		return 1;
	c = &w->c;
	if (c->off >= c->total || w->ev.seg >= CAPTURE_SEGS_MAX)
		return 1;
	if (c->done >= c->len)
		return cursor_next(c) ? 0 : 1;
	n = min_u64(min_u64(c->len - c->done, c->total - c->off), CAPTURE_SEG_MAX);
	barrier_var(n); /* keep the bound on the register the helper gets */
	if (n > CAPTURE_SEG_MAX)
		return 1;
	if (bpf_probe_read_user(w->ev.data, n, (void *)(c->base + c->done)))
		return 1;
	w->ev.offset = c->off;
	emit_data(&w->ev, n);
	c->done += n;
	c->off += n;
	return 0;
}

static __always_inline void copy_one(struct capture_scratch *w, __u64 ptr, __u64 n)
{
	barrier_var(n); /* keep the bound on the register the helper gets */
	if (n > CAPTURE_SEG_MAX || bpf_probe_read_user(w->ev.data, n, (void *)ptr))
		return;
	emit_data(&w->ev, n);
}

/* Copies the syscall's bytes, CAPTURE_SEG_MAX per record; what the record
 * cap leaves out is counted, and user space sees the gap through offset
 * and ret. */
static __always_inline void copy_cursor(struct capture_scratch *w)
{
	bpf_loop(CAPTURE_SEGS_MAX + CAPTURE_IOVS_MAX, copy_step, NULL, 0);
	if (w->c.total > w->c.off)
		count(CNT_BYTES_UNCOPIED, w->c.total - w->c.off);
}

static __always_inline void capture(struct capture_scratch *w, const struct inflight *in, __s64 ret)
{
	struct iov_cursor *c = &w->c;
	struct user_msghdr msg;
	__u32 len0 = 0;

	c->total = ret;
	switch (in->kind) {
	case IO_BUF:
		if (ret <= CAPTURE_SEG_MAX) { /* an SSE event: no loop needed */
			copy_one(w, in->ptr, ret);
			return;
		}
		c->base = in->ptr;
		c->len = ret;
		break;
	case IO_IOV:
		c->iov = in->ptr;
		c->iov_left = min_u64(in->vlen, CAPTURE_IOVS_MAX);
		break;
	case IO_MMSG: /* ret counts messages: copy the first, count the rest */
	case IO_MSG:
		if (bpf_probe_read_user(&msg, sizeof(msg), (void *)in->ptr))
			return;
		c->iov = (__u64)msg.msg_iov;
		c->iov_left = min_u64(msg.msg_iovlen, CAPTURE_IOVS_MAX);
		if (in->kind == IO_MMSG) {
			bpf_probe_read_user(&len0, sizeof(len0),
					    (void *)in->ptr + sizeof(struct user_msghdr));
			w->ev.ret = c->total = len0;
		}
		break;
	default:
		return;
	}
	copy_cursor(w);
}

/* Errors that end a connection: the peer is gone. */
static __always_inline bool fatal_errno(__s64 ret)
{
	return ret == -EPIPE || ret == -ECONNRESET || ret == -ETIMEDOUT;
}

static __always_inline void io_exit(__s64 ret)
{
	__u32 tid = bpf_get_current_pid_tgid();
	struct inflight *in;
	struct inflight copy;
	struct conn_info *info;
	struct conn_key key;
	struct capture_scratch *w;

	if (!bit_test(&threads_inflight, tid))
		return;
	bit_clear(&threads_inflight, tid);
	in = bpf_task_storage_get(&inflight, bpf_get_current_task_btf(), NULL, 0);
	if (!in)
		return;
	copy = *in;
	/* A connection known to be HTTP at enter needs no second lookup: if
	 * it was closed meanwhile, user space drops records of unknown ids. */
	if (copy.proto != PROTO_HTTP) {
		key = current_key(copy.fd);
		info = bpf_map_lookup_elem(&conns, &key);
		if (!info || info->id != copy.conn_id || !classify(info, &copy, ret))
			return;
	}
	if (ret == 0 && copy.dir == DIR_OUT)
		return;
	if (ret < 0 && !fatal_errno(ret))
		return; /* EAGAIN and friends */
	if (emit_small(&copy, ret))
		return;
	w = event_init(&copy, ret);
	if (!w)
		return;
	if (ret <= 0) {
		w->ev.flags = ret ? DATA_F_ERROR : DATA_F_EOF;
		emit_data(&w->ev, 0);
	} else if (copy.kind == IO_SENDFILE) {
		w->ev.flags = DATA_F_NOCOPY;
		emit_data(&w->ev, 0);
	} else {
		capture(w, &copy, ret);
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
	io_enter(ctx->args[0], ctx->args[1], 0, IO_MSG, DIR_OUT);
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
#define IO_EXIT(name)                                                                              \
	SEC("tracepoint/syscalls/sys_exit_" #name)                                                 \
	int exit_##name(struct trace_event_raw_sys_exit *ctx)                                      \
	{                                                                                          \
		io_exit(ctx->ret);                                                                 \
		return 0;                                                                          \
	}

IO_EXIT(read)
IO_EXIT(readv)
IO_EXIT(recvfrom)
IO_EXIT(recvmsg)
IO_EXIT(recvmmsg)
IO_EXIT(write)
IO_EXIT(writev)
IO_EXIT(sendto)
IO_EXIT(sendmsg)
IO_EXIT(sendmmsg)
IO_EXIT(sendfile64)

char LICENSE[] SEC("license") = "Dual MIT/GPL";
