/* SPDX-License-Identifier: GPL-2.0 OR MIT */
/*
 * SSE streams counted in the kernel (include/kstream.h): a server's write
 * that begins with an SSE response head arms its connection; each later
 * write of the body is read a piece at a time into a per-CPU buffer and
 * walked with include/sse_scan.h in a bpf_loop, one line or framing run
 * per step, the stream's counters and buckets kept in its line of klines
 * (or, when another stream holds that line, in its kstreams entry).
 * Nothing reaches the ring buffer per event: a record when the stream
 * starts and one when it ends or is given up.
 */
#ifndef SSE_KSTREAM_BPF_H
#define SSE_KSTREAM_BPF_H

#include "capture.bpf.h"
#include "kstream.h"
#include "sse_fast.h"
#include "sse_head.h"

const volatile bool kstreams_on = true;	    /* off: every write is copied (tests, bench) */
const volatile bool kstream_copies = false; /* copy a stream's first writes (correlation) */

/* Streams by their connection's line (kline_index): a write of a stream
 * finds its state in one inlined load, where a hash lookup hashed the id
 * and touched a bucket and an entry (~70 ns, docs/design.md). Mapped by
 * user space for the release of a stream it gives up. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(map_flags, BPF_F_MMAPABLE);
	__uint(max_entries, KLINES);
	__type(key, __u32);
	__type(value, struct kstream);
} klines SEC(".maps");

/* The streams whose line another one holds, by connection id. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, KSTREAMS_MAX);
	__type(key, __u64);
	__type(value, struct kstream);
} kstreams SEC(".maps");

#if !HAVE_BPF_LOOP
/* The compat build counts no stream in the kernel: a body walked step by
 * step without bpf_loop would not fit the verifier's budget, and the walk
 * is a global function taking a pointer (5.12). Every write is copied and
 * user space counts it, as with SSE_EXPORTER_NO_KSTREAMS: the same
 * figures, for more CPU. */
static __always_inline int kstream_write(struct inflight *in, __s64 ret)
{
	return false;
}

static __always_inline int kstream_unwalkable(struct inflight *in)
{
	return 0;
}

static __always_inline void kstream_unarm(struct inflight *in)
{
}
#else
static __always_inline struct kstream *kline_of(__u64 id)
{
	__u32 i = kline_index(id);

	return bpf_map_lookup_elem(&klines, &i);
}

/* id's stream: in its line, else in the hash. id: on the stack (a map
 * key, see kstream_arm). */
static __always_inline struct kstream *kstream_find(const __u64 *id)
{
	struct kstream *line = kline_of(*id);

	if (line && line->id == *id)
		return line;
	return bpf_map_lookup_elem(&kstreams, id);
}

/* Whether id's stream takes its line, fresh: the line is free or holds
 * id's last stream. Claimed busy while it is written, then published: a
 * reader never matches a half-written line. */
static __always_inline bool kline_take(const __u64 *id, struct kstream *fresh)
{
	struct kstream *line = kline_of(*id);
	__u64 was;

	if (!line)
		return false;
	was = line->id == *id ? *id : 0;
	if (__sync_val_compare_and_swap(&line->id, was, KLINE_BUSY) != was)
		return false;
	fresh->id = KLINE_BUSY;
	*line = *fresh;
	__sync_lock_test_and_set(&line->id, *id);
	return true;
}

/* Makes id's stream, walked so far in fresh: in its line if it can take
 * it, else in the hash (an entry made and deleted for every stream cost
 * its writes ~1 us, docs/design.md "One line per stream"). Whether it is
 * made. */
static __always_inline bool kstream_make(const __u64 *id, struct kstream *fresh)
{
	if (kline_take(id, fresh))
		return true;
	fresh->id = 0;
	if (bpf_map_update_elem(&kstreams, id, fresh, BPF_ANY)) {
		count(CNT_KSTREAMS_FULL, 1);
		return false;
	}
	return true;
}

/* id's stream is gone, from its line or from the hash. */
static __always_inline void kstream_drop(const __u64 *id)
{
	struct kstream *line = kline_of(*id);

	if (line && line->id == *id && __sync_val_compare_and_swap(&line->id, *id, 0) == *id)
		return;
	bpf_map_delete_elem(&kstreams, id);
}

/* Per-CPU: the piece of the write being walked, its cursor over the
 * syscall's buffers, and room to build a new entry (too big for the
 * stack). The program cannot be preempted (capture.bpf.h says why). */
struct kscan_scratch {
	struct iov_cursor c;
	__u32 pos, end; /* within buf */
	__u8 buf[SCAN_PIECE + SCAN_PAD];
	/* loop state lives in the map, where the verifier does not track
	 * values: every step then starts from the same abstract state */
	struct head_scan head;
	struct kstream fresh;
	struct kstream_end_event end_ev;
	struct user_msghdr msg; /* a sendmsg's, off the stack the calls share */
};

#ifdef KSCAN_PER_TASK
/* A uprobe program can be preempted, and another task's program on the
 * same CPU would write a per-CPU area under it: the TLS library hooks walk
 * in their task's own. */
struct {
	__uint(type, BPF_MAP_TYPE_TASK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct kscan_scratch);
} kscan_task SEC(".maps");

static __always_inline struct kscan_scratch *kscan_area(void)
{
	return bpf_task_storage_get(&kscan_task, bpf_get_current_task_btf(), NULL,
				    BPF_LOCAL_STORAGE_GET_F_CREATE);
}
#else
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct kscan_scratch);
} kscan SEC(".maps");

static __always_inline struct kscan_scratch *kscan_area(void)
{
	__u32 zero = 0;

	return bpf_map_lookup_elem(&kscan, &zero);
}
#endif

struct kscan_ctx {
	struct kscan_scratch *w;
	struct kstream *ks;
	__u64 ts;
};

/* Points the cursor at the syscall's bytes; false for calls whose bytes
 * cannot be walked (sendfile, sendmmsg). */
static __always_inline bool kscan_begin(struct kscan_scratch *w, const struct inflight *in,
					__s64 ret)
{
	struct iov_cursor *c = &w->c;
	struct user_msghdr *msg = &w->msg;

	__builtin_memset(c, 0, sizeof(*c));
	w->pos = w->end = 0;
	c->total = min_u64(ret, KSTREAM_BYTES);
	switch (in->kind) {
	case IO_BUF:
		c->base = in->ptr;
		c->len = ret;
		return true;
	case IO_IOV:
		c->iov = in->ptr;
		c->iov_left = min_u64(in->vlen, CAPTURE_IOVS_MAX);
		return true;
	case IO_MSG:
		if (bpf_probe_read_user(msg, sizeof(*msg), (void *)in->ptr))
			return false;
		c->iov = (__u64)msg->msg_iov;
		c->iov_left = min_u64(msg->msg_iovlen, CAPTURE_IOVS_MAX);
		return true;
	default:
		return false;
	}
}

/* The next piece of the syscall's bytes into buf; false when none is
 * left or it cannot be read. */
static __always_inline bool kscan_refill(struct kscan_scratch *w)
{
	struct iov_cursor *c = &w->c;
	__u64 n;

	if (c->off >= c->total)
		return false;
	if (c->done >= c->len && !cursor_next(c))
		return false;
	n = min_u64(min_u64(c->len - c->done, c->total - c->off), SCAN_PIECE);
	barrier_var(n); /* keep the bound on the register the helper gets */
	if (n > SCAN_PIECE || (n && bpf_probe_read_user(w->buf, n, (void *)(c->base + c->done))))
		return false;
	c->done += n;
	c->off += n;
	w->pos = 0;
	w->end = n;
	return true;
}

/* Bytes of the syscall walked so far. */
static __always_inline __u64 kscan_consumed(const struct kscan_scratch *w)
{
	return w->c.off - (w->end - w->pos);
}

static long kscan_body_step(__u32 i, void *arg)
{
	struct kscan_ctx *x = arg;
	struct kscan_scratch *w = x->w;
	struct sse_scan *s = &x->ks->scan;
	__u32 pos = w->pos, end = w->end;

	if (pos >= end) {
		if (!kscan_refill(w))
			return 1;
		return 0;
	}
	if (end > SCAN_PIECE)
		return 1;
	w->pos = sse_scan_step(s, &x->ks->stats, w->buf, pos, end, x->ts);
	return sse_scan_done(s) || sse_scan_broken(s);
}

static long kscan_head_step(__u32 i, void *arg)
{
	struct kscan_ctx *x = arg;
	struct kscan_scratch *w = x->w;
	__u32 pos = w->pos, end = w->end;

	if (pos >= end || end > SCAN_PIECE)
		return 1;
	w->pos = head_step(&w->head, w->buf, pos, end);
	return (w->head.flags & (HEAD_END | HEAD_REFUSED)) != 0;
}

static __always_inline void kstream_mark(const struct inflight *in, __u8 armed)
{
	struct conn_info *info = conn_of(in);

	if (info)
		info->kstream = armed;
}

/* Whether the peer of info's TCP connection had acknowledged every byte
 * written: at the body's end, whether a client whose FIN user space saw
 * first had read the whole body before it left (the FIN's ACK covers
 * it), or left before its end (then it answers what follows with a
 * reset, not an ACK). Read once per stream. */
static __always_inline __u8 peer_had_all(const struct conn_info *info)
{
	struct tcp_sock *tp;

	if (!info || !info->sk)
		return 0;
	tp = (struct tcp_sock *)info->sk;
	return (__s32)(BPF_CORE_READ(tp, snd_una) - BPF_CORE_READ(tp, write_seq)) >= 0;
}

/* The stream ends here (or is given up): its last figures to user space,
 * with the event held for an LF if any (the body ends), its entry and mark
 * gone. rest_off: where the body ended in the write, if the write is
 * copied for what follows it. An end record lost is a gap of the
 * connection (capture.bpf.h): without it, user space would end the stream
 * with the figures it read last, at the connection's end. */
static __always_inline void kstream_end(struct kscan_scratch *w, struct inflight *in,
					struct kstream *ks, __u8 reason, __u64 rest_off, __u64 ts)
{
	struct kstream_end_event *ev = &w->end_ev;
	__u64 id = in->conn_id; /* a map key from the stack (see kstream_arm) */
	struct conn_info *info = conn_of(in);
	bool sent;

	ev->h.type = EV_KSTREAM_END;
	ev->h.tgid = bpf_get_current_pid_tgid() >> 32;
	ev->h.ts_ns = ts;
	ev->h.conn_id = in->conn_id;
	ev->fd = in->fd;
	ev->rest_off = rest_off;
	ev->reason = reason;
	ev->peer_had_all = peer_had_all(info);
	ev->wire_out = ks->wire_out;
	sse_scan_release(&ks->scan, &ks->stats);
	ev->stats = ks->stats;
	sent = emit(ev, sizeof(*ev));
	kstream_drop(&id);
	if (!info)
		return;
	info->kstream = 0;
	if (!sent)
		gap_open(info, in);
}

enum kstream_walked {
	WALK_ON,       /* the body goes on */
	WALK_COMPLETE, /* it ended in this write */
	WALK_BROKEN,   /* its framing broke */
	WALK_SHORT,    /* bytes the kernel could not read or walk */
};

/* Walks the body bytes of this write from where the cursor is. */
static __always_inline int kstream_walk(struct kscan_scratch *w, struct kstream *ks, __s64 ret,
					__u64 ts)
{
	struct kscan_ctx x = {.w = w, .ks = ks, .ts = ts};

	ks->stats.t_last_write = ts;
	bpf_loop(KSTREAM_STEPS, kscan_body_step, &x, 0);
	if (sse_scan_done(&ks->scan))
		return WALK_COMPLETE;
	if (sse_scan_broken(&ks->scan))
		return WALK_BROKEN;
	return kscan_consumed(w) < (__u64)ret ? WALK_SHORT : WALK_ON;
}

/* The common write, one whole data event in one chunk (sse_fast.h):
 * read once and counted without the step loop. */
static __always_inline bool kstream_fast(struct kscan_scratch *w, const struct inflight *in,
					 struct kstream *ks, __s64 ret, __u64 ts)
{
	__u64 n = ret;

	if (in->kind != IO_BUF || n > FAST_MAX)
		return false;
	barrier_var(n); /* keep the bound on the register the helper gets */
	if (n > FAST_MAX || bpf_probe_read_user(w->buf, n, (void *)in->ptr) ||
	    !sse_fast_event(&ks->scan, &ks->stats, w->buf, n, ts))
		return false;
	ks->stats.t_last_write = ts;
	return true;
}

/* Counts the write's body bytes, by the shortcut or by the step loop. */
static __always_inline int kstream_count(struct kscan_scratch *w, const struct inflight *in,
					 struct kstream *ks, __s64 ret, __u64 ts)
{
	if (kstream_fast(w, in, ks, ret, ts))
		return WALK_ON;
	if (!kscan_begin(w, in, ret))
		return WALK_SHORT;
	return kstream_walk(w, ks, ret, ts);
}

/* Whether write_time may read the socket (the loader's: bpf_rdonly_cast,
 * 6.2, is there). Where it is not, the call below is dead code, which
 * the verifier removes: libbpf leaves a weak kfunc it did not find unset. */
const volatile bool tcp_send_time = false;

extern void *bpf_rdonly_cast(const void *obj, __u32 btf_id) __ksym __weak;

/*
 * When a counted write happened. Reading the clock costs ~60 ns in this
 * nested VM, a quarter of such a write's BPF time, and TCP took it
 * already: each transmit refreshes tcp_sock.tcp_clock_cache
 * (tcp_clock_ns(), the monotonic clock bpf_ktime_get_ns reads too). Once
 * every byte written is sent (snd_nxt at write_seq), the last transmit
 * came after this write queued its bytes and before now, so the cache
 * holds a time within the syscall. A write left queued (autocorking, a
 * full window), TLS plaintext (counted before its syscall) and unix
 * sockets read the clock. in->sk is a TCP socket (sock_lookup.bpf.h), the
 * one the syscall just used: three plain loads of warm lines.
 */
static __always_inline __u64 write_time(const struct inflight *in)
{
	struct tcp_sock *tp;

	if (!tcp_send_time || !in->sk)
		return bpf_ktime_get_ns();
	tp = bpf_rdonly_cast((void *)in->sk, bpf_core_type_id_kernel(struct tcp_sock));
	if (tp->snd_nxt != tp->write_seq)
		return bpf_ktime_get_ns();
	return tp->tcp_clock_cache;
}

/* A write of an armed stream, counted into ks. Returns whether it is to
 * be copied: the stream's end with bytes after it (user space skips the
 * body's part), a give-up (all of it), or one of the first writes of a
 * process with upstream calls, which user space reads for correlation
 * only. A global function: ks is a line
 * of klines or an entry of the hash, two map values the verifier keeps
 * apart; inlined, all that follows the lookup was checked once for each
 * and start-up took 1.6 s longer (docs/design.md). Here it is memory of
 * one type. */
__noinline int kstream_counted(struct inflight *in, struct kstream *ks, __s64 ret)
{
	struct kscan_scratch *w = kscan_area();
	__u64 ts, done;

	if (!in || !ks || !w)
		return true;
	/* never before the stream's last write: the clock and TCP's may
	 * disagree by a few ns, and a gap is a difference of the two */
	ts = write_time(in);
	if (ts < ks->stats.t_last_write)
		ts = ks->stats.t_last_write;
	switch (kstream_count(w, in, ks, ret, ts)) {
	case WALK_ON:
		break;
	case WALK_COMPLETE:
		done = kscan_consumed(w);
		if (done >= (__u64)ret)
			ks->wire_out += ret; /* not copied: nothing follows the body */
		kstream_end(w, in, ks, KSTREAM_COMPLETE, done < (__u64)ret ? done : 0, ts);
		return done < (__u64)ret;
	case WALK_BROKEN:
		kstream_end(w, in, ks, KSTREAM_FRAMING, 0, ts);
		return true;
	default:
		kstream_end(w, in, ks, KSTREAM_UNFOLLOWED, 0, ts);
		return true;
	}
	/* one of the first writes: copied for correlation, where a process
	 * has upstream calls to match it with (asked at each write: a
	 * gateway may send the head before it calls its provider) */
	if (ks->copies_left) {
		ks->copies_left--;
		if (proc_has_upstream(bpf_get_current_pid_tgid() >> 32)) {
			in->flags |= DATA_F_KCOUNTED;
			return true;
		}
	}
	ks->wire_out += ret;
	return false;
}

/* A write of an armed stream: whether it is to be copied. A global
 * function, so that the callers' stack holds none of this: the verifier
 * of 6.1 allows 512 bytes for a chain of calls, bpf_loop's callbacks
 * counted, and the exit probes' own take 232. */
__noinline int kstream_follow(struct inflight *in, __s64 ret)
{
	struct kstream *ks;
	__u64 id; /* a map key from the stack (see kstream_arm) */

	if (!in)
		return true;
	id = in->conn_id;
	ks = kstream_find(&id);
	if (!ks) { /* user space gave it up */
		kstream_mark(in, 0);
		return true;
	}
	return kstream_counted(in, ks, ret);
}

/* Whether the write begins with "HTTP/1.": most writes of a server are
 * not heads, and leave after this one 8-byte read. */
static __always_inline bool starts_response(const struct inflight *in)
{
	char b[8] = {};

	if (bpf_probe_read_user(b, sizeof(b), (const void *)first_buf(in)))
		return false;
	return b[0] == 'H' && b[1] == 'T' && b[2] == 'T' && b[3] == 'P' && b[4] == '/' &&
	       b[5] == '1' && b[6] == '.';
}

/* A write that may begin a stream's head: arms the connection when it
 * does and the body goes on past this write (a whole body in one write is
 * left to user space, which gets the copy). The body bytes the write
 * carries count at once. The write is copied in any case: user space
 * parses the head, and its first record out tells the start (in->kstart;
 * kstream_unarm if none goes out). A global function (see kstream_write).
 * Its argument is plain memory to the verifier, which before 6.2 or so
 * takes no map key from there ("R2 type=mem expected=fp, ..." on 6.1):
 * the functions under it copy the connection id to the stack for the
 * kstreams map. */
__noinline int kstream_arm(struct inflight *in, __s64 ret)
{
	__u64 id; /* a map key from the stack (see above) */
	struct kscan_ctx x = {};
	struct kscan_scratch *w;
	__u64 ts;

	if (!in || in->kind == IO_SENDFILE || in->kind == IO_MMSG || !starts_response(in))
		return false;
	id = in->conn_id;
	w = kscan_area();
	if (!w || !kscan_begin(w, in, ret) || !kscan_refill(w))
		return false;
	x.w = w;
	__builtin_memset(&w->head, 0, sizeof(w->head));
	bpf_loop(8 * SCAN_WORDS, kscan_head_step, &x, 0);
	if (!head_framing(&w->head))
		return false;
	ts = bpf_ktime_get_ns();
	__builtin_memset(&w->fresh, 0, sizeof(w->fresh));
	sse_scan_init(&w->fresh.scan, head_framing(&w->head));
	w->fresh.t_armed = ts;
	w->fresh.copies_left = kstream_copies ? KSTREAM_COPIES : 0;
	/* walked in the scratch, before the stream has a place: one pointer
	 * type for the verifier, and a body that ends here needs none */
	if (kstream_walk(w, &w->fresh, ret, ts) != WALK_ON || !kstream_make(&id, &w->fresh))
		return false;
	in->kstart = w->fresh.scan.framing;
	in->t_armed = ts;
	kstream_mark(in, 1);
	return true;
}

/* The head's records all went unsent, the start with them: the stream is
 * not armed, and its writes are copied as any other's. */
static __always_inline void kstream_unarm(struct inflight *in)
{
	__u64 id = in->conn_id; /* a map key from the stack (see kstream_arm) */

	if (!in->kstart)
		return;
	kstream_drop(&id);
	kstream_mark(in, 0);
	in->kstart = 0;
}

/* A successful write of a server's HTTP connection (or its plaintext, at
 * SSL_write). Returns true when the kernel counted it and nothing is to
 * be copied. Only the write family's exits and SSL_write's entry (the
 * plaintext of a TLS connection, ssl.bpf.c) call it. What it does past
 * the tests and the lookup is in global functions, kstream_counted and
 * kstream_arm, which the verifier checks once per program, apart from
 * their callers' states: inlined, the walk multiplied them and loading
 * took 12 s longer, long enough for connections open at start to end
 * before they were adopted. */
static __always_inline int kstream_write(struct inflight *in, __s64 ret)
{
	if (!kstreams_on || in->dir != DIR_OUT || in->role != ROLE_SERVER ||
	    (in->proto != PROTO_HTTP && in->proto != PROTO_TLS))
		return false;
	if (in->kstream)
		return !kstream_follow(in, ret);
	kstream_arm(in, ret);
	return false;
}

/* A write the kernel cannot walk (sendfile, sendmmsg): an armed stream
 * is given up and the write copied, as kstream_write would, without the
 * walk, so that the programs of those calls leave it out and the
 * verifier with it (~150 ms of start-up each). A global function, off
 * its callers' stack (see kstream_follow). */
__noinline int kstream_unwalkable(struct inflight *in)
{
	struct kscan_scratch *w;
	struct kstream *ks;
	__u64 id; /* a map key from the stack (see kstream_arm) */

	if (!in || !in->kstream)
		return 0;
	id = in->conn_id;
	ks = kstream_find(&id);
	w = kscan_area();
	if (!ks) {
		kstream_mark(in, 0);
		return 0;
	}
	if (w)
		kstream_end(w, in, ks, KSTREAM_UNFOLLOWED, 0, bpf_ktime_get_ns());
	return 0;
}

#endif /* HAVE_BPF_LOOP */

#endif
