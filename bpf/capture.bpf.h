/* SPDX-License-Identifier: GPL-2.0 OR MIT */
/*
 * Copies the bytes of one read or write into ring buffer records: straight
 * into a fixed-size record when small, else CAPTURE_SEG_MAX per record
 * through a bpf_loop over the iovecs. Used by the syscall hooks and by the
 * TLS library hooks, which hand over plaintext the same way.
 */
#ifndef SSE_CAPTURE_BPF_H
#define SSE_CAPTURE_BPF_H

#include "ring.bpf.h"

enum io_kind {
	IO_BUF,	     /* read, write, recvfrom, sendto, SSL_read, SSL_write */
	IO_IOV,	     /* readv, writev */
	IO_MSG,	     /* recvmsg, sendmsg */
	IO_MMSG,     /* recvmmsg, sendmmsg */
	IO_SENDFILE, /* sendfile: bytes move, we copy none */
};

/* A followed read or write, as the exit probe handles it: built there from
 * the syscall's arguments (the compat build: left by the enter probe in a
 * slot of its thread, sock_io.bpf.c), or by the TLS library hooks for
 * plaintext. */
struct inflight {
	__u64 ptr; /* buffer, iovec array, msghdr or mmsghdr array */
	__u64 conn_id;
	__s32 fd;
	__u32 vlen;
	__u8 kind;
	__u8 dir;
	__u8 proto; /* of the connection when the call was looked at */
	__u8 role;
	__u8 flags; /* of the records: DATA_F_TENTATIVE, DATA_F_HELD, DATA_F_KCOUNTED, DATA_F_GAP */
	__u8 kstream; /* of the connection: the kernel follows its stream */
	__u8 pending; /* compat build: a call in flight (sock_io.bpf.c) */
	/* the call's head armed its stream (kstream.bpf.h): the framing its
	 * first record out tells, at t_armed, the stream's arming time */
	__u8 kstart;
	__u64 lost; /* the connection's conn_info.lost then: what DATA_F_GAP settles */
	__u64 sk;   /* the connection's struct sock: a syscall's on TCP, else 0 */
	__u64 t_armed;
};

/* The connection of the call, if its entry is still the call's. */
static __always_inline struct conn_info *conn_of(const struct inflight *in)
{
	struct conn_key key = current_key(in->fd);
	struct conn_info *info = conn_find(&key);

	return info && info->id == in->conn_id ? info : NULL;
}

/*
 * A call whose records all go unsent (a full ring) leaves no trace on its
 * connection: offset and ret only show what is missing of a call some
 * record of which arrived. So its connection counts it (conn_info.lost);
 * a later call reads the count with the rest of the connection (at its
 * exit; the compat build's at enter), its first record out carries
 * DATA_F_GAP, and it settles the count by a compare-and-swap: calls of
 * other threads lost meanwhile stay counted, for a later record to tell.
 * A call with nothing owed whose record goes out touches the connection no
 * more than before. Copies of a stream the kernel counts (DATA_F_KCOUNTED)
 * owe nothing when lost: their bytes are counted.
 */
static __always_inline void gap_take(struct inflight *in, const struct conn_info *info)
{
	in->lost = info->lost;
	if (in->lost)
		in->flags |= DATA_F_GAP;
}

/* A record lost where the call's later records may not show it (the end
 * record of a stream the kernel counts): counted at once, reported by the
 * call's next record out, if any. */
static __always_inline void gap_open(struct conn_info *info, struct inflight *in)
{
	__sync_fetch_and_add(&info->lost, 1);
	in->lost++;
	in->flags |= DATA_F_GAP;
}

/* Whether the call, whose records went out or not, changes the count. */
static __always_inline bool gap_owed(const struct inflight *in, bool sent)
{
	return sent ? in->lost != 0 : !(in->flags & DATA_F_KCOUNTED);
}

/* The count back to zero, unless calls lost meanwhile added to it. The
 * compat build has no compare-and-swap: a loss counted by another thread
 * between its test and its store goes untold (two instructions apart). */
static __always_inline void settle_lost(__u64 *lost, __u64 seen)
{
#if HAVE_ATOMIC_FETCH
	__sync_val_compare_and_swap(lost, seen, 0);
#else
	if (*lost == seen)
		*lost = 0;
#endif
}

static __always_inline void gap_settle(struct conn_info *info, const struct inflight *in, bool sent)
{
	if (!gap_owed(in, sent))
		return;
	if (sent)
		settle_lost(&info->lost, in->lost);
	else
		__sync_fetch_and_add(&info->lost, 1);
}

/* Where the first transferred bytes are, for the protocol decision and TLS record matching. */
static __always_inline __u64 first_buf(const struct inflight *in)
{
	struct iovec iov;
	__u64 iovp = in->ptr;

	if (in->kind == IO_BUF)
		return in->ptr;
	if (in->kind == IO_MSG || in->kind == IO_MMSG) {
		/* the iovecs' address alone (an mmsghdr begins with a msghdr):
		 * a whole msghdr on the stack would count in the 512 bytes a
		 * chain of calls may take (kstream_follow) */
		if (bpf_probe_read_user(
			&iovp, sizeof(iovp),
			(void *)(in->ptr + __builtin_offsetof(struct user_msghdr, msg_iov))))
			return 0;
	}
	if (bpf_probe_read_user(&iov, sizeof(iov), (void *)iovp))
		return 0;
	return (__u64)iov.iov_base;
}

/* Iovecs looked at per call. Without bpf_loop (the compat build) the
 * verifier walks every step of the copy and keeps a pending branch for
 * each test on the way: 256 iovecs stay below its 8192; the bytes of
 * more are counted as uncopied. */
#define COPY_IOVS_MAX (HAVE_BPF_LOOP ? CAPTURE_IOVS_MAX : 256)

/* Cursor over the bytes of one syscall, spread over up to
 * COPY_IOVS_MAX iovecs. */
struct iov_cursor {
	__u64 iov;	/* user address of the iovec array */
	__u64 iov_left; /* iovecs not yet started */
	__u64 base;	/* current iovec */
	__u64 len;
	__u64 done;  /* bytes of the current iovec already copied */
	__u64 total; /* bytes the syscall moved */
	__u64 off;   /* bytes copied so far */
	__u64 fill;  /* of those, bytes in the record not emitted yet */
};

/* Per-CPU work area. The cursor lives here, not on the stack, so that the
 * verifier sees every bpf_loop step start from the same state. */
struct capture_scratch {
	struct iov_cursor c;
	__u8 sent; /* a record of the call went out */
	struct data_event ev;
	/* A record fills from several iovecs: the copy into it starts at a
	 * variable offset below CAPTURE_SEG_MAX with a length up to
	 * CAPTURE_SEG_MAX, which the verifier must see stay in the value. */
	char spill[CAPTURE_SEG_MAX];
};

PERCPU_AREA(struct capture_scratch, scratch)

static __always_inline void data_header(struct data_event *ev, const struct inflight *in, __s64 ret)
{
	ev->h.type = EV_DATA;
	ev->h.tgid = bpf_get_current_pid_tgid() >> 32;
	/* user space knows the stream by its arming time */
	ev->h.ts_ns = in->kstart ? in->t_armed : bpf_ktime_get_ns();
	ev->h.conn_id = in->conn_id;
	ev->fd = in->fd;
	ev->dir = in->dir;
	ev->flags = in->flags;
	ev->len = 0;
	ev->ret = ret;
	ev->offset = 0;
	ev->seg = 0;
	ev->kstart = in->kstart;
	ev->pad = 0;
}

static __always_inline struct capture_scratch *event_init(const struct inflight *in, __s64 ret)
{
	struct capture_scratch *w = scratch_area();

	if (!w)
		return NULL;
	__builtin_memset(&w->c, 0, sizeof(w->c));
	w->sent = 0;
	data_header(&w->ev, in, ret);
	return w;
}

#define SMALL_RECORD (offsetof(struct data_event, data) + CAPTURE_SMALL_MAX)

/* The common case, one SSE event in one write: read it straight into a
 * ring record of fixed size, one copy instead of two. Returns false when
 * the call is not such a case; else *sent tells whether its record went
 * out (not when the ring is full, or its bytes cannot be read). */
static __always_inline bool emit_small(const struct inflight *in, __s64 ret, bool *sent)
{
	struct data_event *ev;
	__u64 n = ret;
	void *ring;

	if (in->kind != IO_BUF || ret <= 0 || ret > CAPTURE_SMALL_MAX)
		return false;
	*sent = false;
	ring = ring_here();
	ev = ring ? bpf_ringbuf_reserve(ring, SMALL_RECORD, 0) : NULL;
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
	record_submit(ring, &ev->h);
	*sent = true;
	return true;
}

/* The record being filled goes out with n bytes; the call's first one
 * out carries its gap, the next ones no more. */
static __always_inline void emit_data(struct capture_scratch *w, __u32 n)
{
	struct data_event *ev = &w->ev;

	if (n > CAPTURE_SEG_MAX)
		n = CAPTURE_SEG_MAX;
	ev->len = n;
	if (emit(ev, offsetof(struct data_event, data) + n)) {
		w->sent = 1;
		ev->flags &= ~DATA_F_GAP; /* told by the first record out */
		ev->kstart = 0;
	}
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

static __always_inline void flush_record(struct capture_scratch *w)
{
	struct iov_cursor *c = &w->c;
	__u64 n = c->fill;

	barrier_var(n); /* bound checked on the register emitted from */
	if (!n || n > CAPTURE_SEG_MAX)
		return;
	w->ev.offset = c->off - n;
	emit_data(w, n);
	c->fill = 0;
}

/* One bpf_loop step: a piece of an iovec into the record being filled, or
 * a move to the next iovec. Pieces of consecutive iovecs share records, so
 * a writev of a thousand small chunk pieces (a stream's backlog flushed
 * after a blocked write) needs a few records, not one per iovec. */
static long copy_step(__u32 i, void *unused)
{
	struct capture_scratch *w = scratch_area();
	struct iov_cursor *c;
	__u64 n, fill;

	if (!w)
		return 1;
	c = &w->c;
	if (c->off >= c->total || w->ev.seg >= CAPTURE_SEGS_MAX)
		return 1;
	if (c->done >= c->len)
		return cursor_next(c) ? 0 : 1;
	fill = c->fill & (CAPTURE_SEG_MAX - 1); /* below CAPTURE_SEG_MAX: flushed when full */
	n = min_u64(min_u64(c->len - c->done, c->total - c->off), CAPTURE_SEG_MAX - fill);
	barrier_var(n); /* keep the bound on the register the helper gets */
	if (n > CAPTURE_SEG_MAX)
		return 1;
	if (bpf_probe_read_user(w->ev.data + fill, n, (void *)(c->base + c->done)))
		return 1;
	c->fill = fill + n;
	c->done += n;
	c->off += n;
	if (c->fill >= CAPTURE_SEG_MAX || c->off >= c->total)
		flush_record(w);
	return 0;
}

static __always_inline void copy_one(struct capture_scratch *w, __u64 ptr, __u64 n)
{
	barrier_var(n); /* keep the bound on the register the helper gets */
	if (n > CAPTURE_SEG_MAX || bpf_probe_read_user(w->ev.data, n, (void *)ptr))
		return;
	emit_data(w, n);
}

/* Copies the syscall's bytes, CAPTURE_SEG_MAX per record; what the record
 * cap leaves out is counted, and user space sees the gap through offset
 * and ret. */
static __always_inline void copy_cursor(struct capture_scratch *w)
{
	/* a step per piece and one per iovec: at most two per iovec, plus one
	 * per record that splits an iovec */
	steps_loop(2 * COPY_IOVS_MAX + CAPTURE_SEGS_MAX, copy_step, NULL);
	flush_record(w); /* the loop stopped short: a bad iovec or the cap */
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
		c->iov_left = min_u64(in->vlen, COPY_IOVS_MAX);
		break;
	case IO_MMSG: /* ret counts messages: copy the first, count the rest */
	case IO_MSG:
		if (bpf_probe_read_user(&msg, sizeof(msg), (void *)in->ptr))
			return;
		c->iov = (__u64)msg.msg_iov;
		c->iov_left = min_u64(msg.msg_iovlen, COPY_IOVS_MAX);
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

#endif
