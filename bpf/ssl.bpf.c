// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * OpenSSL's plaintext, from uprobes on SSL_write, SSL_read, their _ex
 * forms, SSL_do_handshake and SSL_free, in libssl.so.3 or in a binary that
 * carries OpenSSL (Node). The plaintext goes into the ring buffer as data
 * records of the TLS connection's socket, exactly like the bytes of a
 * plaintext connection, so user space parses both with the same code; the
 * syscall hooks copy nothing of a TLS connection but its end. The writes
 * of an SSE stream the kernel follows are counted here instead, as the
 * syscall hooks count a plaintext server's (kstream.bpf.h).
 *
 * A uprobe costs ~1.7 us on bare metal (11-13 us in a nested VM), so the
 * hot path takes as few as it can: SSL_write is captured at entry only
 * (OpenSSL writes all of it or, after EAGAIN, is called again with the
 * same bytes first, which retried_bytes() skips); SSL_read needs its
 * return to know the bytes.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_tracing.h>
#define KSCAN_PER_TASK /* uprobe programs can be preempted */
#include "kstream.bpf.h"
#include "tls_state.bpf.h"

/* OpenSSL 3.0 and 3.1 on 64-bit: ssl_st begins with version, method,
 * rbio, wbio; bio_st with libctx, method, two callbacks, cb_arg, five
 * ints (init, shutdown, flags, retry_reason, num: a descriptor BIO's fd),
 * ptr; bio_method_st begins with the int type; a memory BIO's ptr is
 * {BUF_MEM *buf, *readp}; a BUF_MEM begins with length, data. */
#define SSL30_RBIO	16
#define SSL30_WBIO	24
#define BIO30_METHOD	8
#define BIO30_NUM	56
#define BIO30_PTR	64
#define BIO_TYPE_MEM	0x0401
#define BIO_TYPE_FD	0x0504
#define BIO_TYPE_SOCKET 0x0505

struct buf_mem {
	__u64 length;
	__u64 data;
};

/* What a hook knows of the file it is attached to: the OpenSSL layout
 * user space recognised there (ssl_layout.h), its attach cookie, read
 * when needed. Before cookies (5.15: the compat build) a program per
 * layout carries it instead (LAYOUT_UPROBE). */
struct hook {
	void *ctx;
	__u64 layout; /* the compat build's */
};

static __always_inline __u64 hook_layout(struct hook h)
{
#if HAVE_ATTACH_COOKIE
	return bpf_get_attach_cookie(h.ctx) & SSL_LAYOUT_MASK;
#else
	return h.layout;
#endif
}

/* A uprobe whose work may depend on the layout: one program reading its
 * cookie, or in the compat build NAME for files of no known layout and
 * NAME_l30 for OpenSSL 3.0 and 3.1, which user space attaches there
 * (tls_attach.c). */
#define LAYOUT_UPROBE_AS(name, fixed, call, args...)                                               \
	SEC("uprobe")                                                                              \
	int BPF_KPROBE(name, ##args)                                                               \
	{                                                                                          \
		struct hook h = {.ctx = ctx, .layout = fixed};                                     \
                                                                                                   \
		call;                                                                              \
		return 0;                                                                          \
	}
#if HAVE_ATTACH_COOKIE
#define LAYOUT_UPROBE(name, call, args...) LAYOUT_UPROBE_AS(name, 0, call, ##args)
#else
#define LAYOUT_UPROBE(name, call, args...)                                                         \
	LAYOUT_UPROBE_AS(name, SSL_LAYOUT_UNKNOWN, call, ##args)                                   \
	LAYOUT_UPROBE_AS(name##_l30, SSL_LAYOUT_30, call, ##args)
#endif

static __always_inline __u64 read_ptr(__u64 addr)
{
	__u64 v = 0;

	if (addr)
		bpf_probe_read_user(&v, sizeof(v), (void *)addr);
	return v;
}

static __always_inline int bio_type(__u64 bio)
{
	__u64 method = read_ptr(bio ? bio + BIO30_METHOD : 0);
	int type = 0;

	if (method)
		bpf_probe_read_user(&type, sizeof(type), (void *)method);
	return type;
}

/* The bytes of a memory BIO: those it holds unread, or those at the
 * start of its buffer (a write BIO the process emptied: its last output). */
static __always_inline bool mem_bio_bytes(__u64 bio, bool unread, struct buf_mem *out)
{
	__u64 bm;

	if (bio_type(bio) != BIO_TYPE_MEM)
		return false;
	bm = read_ptr(read_ptr(bio + BIO30_PTR) + (unread ? 8 : 0));
	return bm && !bpf_probe_read_user(out, sizeof(*out), (void *)bm) &&
	       out->length >= TLS_HEAD_LEN;
}

/* A socket or fd BIO holds its descriptor: proof before any byte moves,
 * for an SSL object met long after its handshake (a connection older
 * than the exporter) or one whose handshake runs inside SSL_write, which
 * is not followed as a call (openssl s_client). The read BIO, because
 * OpenSSL puts a buffering BIO in front of the write BIO while it
 * handshakes. -1 for other BIOs. */
static __always_inline __s32 descriptor_of(__u64 bio)
{
	int type = bio_type(bio);
	__s32 fd = -1;

	if (type == BIO_TYPE_SOCKET || type == BIO_TYPE_FD)
		bpf_probe_read_user(&fd, sizeof(fd), (void *)(bio + BIO30_NUM));
	return fd;
}

/* A connection found in /proc at start turns out to carry TLS: its
 * plaintext now comes from the library hooks, its ciphertext from no one. */
static __always_inline void adopted_is_tls(__s32 fd)
{
	struct conn_key key = current_key(fd);
	struct conn_info *info = conn_find(&key);

	if (info && info->proto == PROTO_ADOPT) {
		info->proto = PROTO_TLS;
		upstream_note(key.tgid, info);
	}
}

/* The socket whose record began with the bytes this BIO holds, if any
 * (-1); *mem tells whether it was a memory BIO at all. */
static __always_inline __s32 socket_of_bytes(__u64 bio, bool unread, bool *mem)
{
	struct tls_head_key k = {.tgid = bpf_get_current_pid_tgid() >> 32};
	struct conn_key key;
	struct conn_info *info;
	struct tls_head *h;
	struct buf_mem bm;

	if (!mem_bio_bytes(bio, unread, &bm))
		return -1;
	*mem = true;
	if (bpf_probe_read_user(k.head, sizeof(k.head), (void *)bm.data))
		return -1;
	h = bpf_map_lookup_elem(&tls_heads, &k);
	if (!h)
		return -1;
	key = current_key(h->fd);
	info = conn_find(&key);
	return info && info->id == h->conn_id ? h->fd : -1;
}

/* At a call of an SSL object not linked exactly: its socket BIO names
 * its socket; else the bytes its write BIO last handed out, or those its
 * read BIO was fed. */
static __always_inline void link_by_content(struct hook h, __u64 ssl, struct ssl_link *link)
{
	bool mem = false;
	__s32 fd = -1;

	if (hook_layout(h) == SSL_LAYOUT_30) {
		fd = descriptor_of(read_ptr(ssl + SSL30_RBIO));
		if (fd >= 0) {
			adopted_is_tls(fd);
			ssl_link_set(ssl, fd, SSL_SOCKET_BIO);
			return;
		}
		fd = socket_of_bytes(read_ptr(ssl + SSL30_WBIO), false, &mem);
		if (fd < 0)
			fd = socket_of_bytes(read_ptr(ssl + SSL30_RBIO), true, &mem);
	}
	if (fd >= 0) {
		ssl_link_set(ssl, fd, SSL_LINK_EXACT);
	} else if (!mem) {
		/* Node's own BIOs, an unknown layout: not worth trying again,
		 * nor recording records for (that costs ~1 us per TLS syscall) */
		if (link)
			link->flags |= SSL_NO_CONTENT;
	} else {
		struct tls_thread *t = tls_thread_get(true);

		if (t) /* records may name it: remember them for a while */
			t->inexact_ns = bpf_ktime_get_ns();
	}
}

/* Before a call: an SSL object whose socket is not proven yet tries. */
static __always_inline struct ssl_link *ssl_link_checked(struct hook h, __u64 ssl)
{
	struct ssl_key k = ssl_key_of(ssl);
	struct ssl_link *link = bpf_map_lookup_elem(&ssl_links, &k);

	if (link && (link->flags & (SSL_SOCKET_BIO | SSL_LINK_EXACT | SSL_NO_CONTENT)))
		return link;
	link_by_content(h, ssl, link);
	return bpf_map_lookup_elem(&ssl_links, &k);
}

/* The tracked TLS connection behind an SSL object, or NULL. A call's
 * plaintext (counted) names untracked sockets too: a socket BIO names
 * sockets nobody tracks (not selected, or the conns map was full), whose
 * calls count as unattributed, as before their socket could be named. */
static __always_inline struct conn_info *tls_conn_of(__s32 fd, bool count_untracked)
{
	struct conn_key key = current_key(fd);
	struct conn_info *info = conn_find(&key);

	if (!info && count_untracked)
		count(CNT_TLS_UNMAPPED, 1);
	return info && info->proto == PROTO_TLS ? info : NULL;
}

static __always_inline struct conn_info *ssl_conn(__s32 fd)
{
	return tls_conn_of(fd, false);
}

static __always_inline struct conn_info *ssl_data_conn(__s32 fd)
{
	return tls_conn_of(fd, true);
}

/* Copy state of one plaintext buffer, on the stack: a uprobe program can
 * be preempted, so a per-CPU scratch area could be overwritten under it
 * by another program on the same CPU (but in the compat build, below).
 * The verifier follows the stack through every bpf_loop step, which
 * bounds the records per call lower than the syscall path's (TLS records
 * hold 16 KiB at most anyway). */
#if HAVE_BPF_LOOP
#define PLAIN_SEGS_MAX 16
#else
/* the compat build: 16 KiB per call, a TLS record's most. 5.10's verifier
 * stores few states inside a loop, and the paths of each step doubled
 * through 16 steps past its 1M instructions */
#define PLAIN_SEGS_MAX 4
#endif
struct plain_copy {
	struct inflight in; /* conn_id and fd: the SSL object and -1 for held plaintext */
	__u64 len;
	__u64 off;
	__u32 seg;
	bool sent; /* a record went out */
};

/* One bpf_loop step: one full-size record, reserved and filled in place. */
static long plain_step(__u32 i, void *ctx)
{
	struct plain_copy *p = ctx;
	struct data_event *ev;
	void *ring;
	__u64 n;

	if (p->off >= p->len || p->seg >= PLAIN_SEGS_MAX)
		return 1;
	ring = ring_here();
	ev = ring ? bpf_ringbuf_reserve(ring, sizeof(*ev), 0) : NULL;
	if (!ev) {
		count(CNT_EVENTS_LOST, 1);
		return 1;
	}
	data_header(ev, &p->in, p->len);
	n = min_u64(p->len - p->off, CAPTURE_SEG_MAX);
	barrier_var(n); /* keep the bound on the register the helper gets */
	if (n > CAPTURE_SEG_MAX || bpf_probe_read_user(ev->data, n, (void *)(p->in.ptr + p->off))) {
		bpf_ringbuf_discard(ev, BPF_RB_NO_WAKEUP);
		return 1;
	}
	ev->len = n;
	ev->offset = p->off;
	ev->seg = p->seg++;
	record_submit(ring, &ev->h);
	p->off += n;
	p->sent = true;
	p->in.flags &= ~DATA_F_GAP; /* told by the first record out */
	p->in.kstart = 0;
	return 0;
}

/* The records of p's bytes, a step each; whether any went out. */
static __always_inline bool plain_loop(struct plain_copy *p)
{
	steps_loop(PLAIN_SEGS_MAX, plain_step, p);
	if (p->len > p->off)
		count(CNT_BYTES_UNCOPIED, p->len - p->off);
	return p->sent;
}

#if HAVE_BPF_LOOP
static __always_inline struct plain_copy *plain_copy_area(struct plain_copy *on_stack)
{
	return on_stack;
}
#else
/* The compat build's verifier walks every step of the loop, once per path
 * its caller took to it (ssl_write_enter passed 1M instructions on 5.10):
 * so the loop is a global function, checked once on its own, and its
 * state, which it cannot take as a pointer before 5.12, lives in a map
 * value, where each step starts from the same abstract state. Kernels
 * without bpf_loop run a uprobe's program with preemption off: the area
 * is the call's alone. */
PERCPU_AREA(struct plain_copy, plain_copies)

static __always_inline struct plain_copy *plain_copy_area(struct plain_copy *on_stack)
{
	struct plain_copy *p = plain_copies_area();

	if (p)
		*p = *on_stack;
	return p;
}

__noinline int plain_loop_global(void)
{
	struct plain_copy *p = plain_copies_area();

	return p && plain_loop(p);
}
#endif

/* The records of in's len bytes; whether any went out. */
static __always_inline bool emit_records(const struct inflight *in, __s64 len)
{
	struct plain_copy on_stack = {.in = *in, .len = len}, *p;
	bool sent;

	p = plain_copy_area(&on_stack);
	if (!p)
		return false;
	if (emit_small(&p->in, len, &sent))
		return sent;
#if HAVE_BPF_LOOP
	return plain_loop(p);
#else
	return plain_loop_global();
#endif
}

/* A call's plaintext at buf, on connection id, as its records and the
 * kernel's counting take it. */
static __always_inline void plaintext_in(struct inflight *in, __u64 id, __u8 role, __u8 kstream,
					 __s32 fd, __u64 buf, enum data_dir dir, __u8 flags)
{
	*in = (struct inflight){.ptr = buf,
				.conn_id = id,
				.fd = fd,
				.kind = IO_BUF,
				.dir = dir,
				.proto = PROTO_TLS,
				.role = role,
				.flags = flags,
				.kstream = kstream};
}

static __always_inline void plaintext_call(struct inflight *in, const struct conn_info *info,
					   __s32 fd, __u64 buf, enum data_dir dir, __u8 flags)
{
	plaintext_in(in, info->id, info->role, info->kstream, fd, buf, dir, flags);
	gap_take(in, info);
}

/* A call's len bytes of plaintext as records of the connection, with its
 * gap; a stream its head armed is not, if none of them went out. */
static __always_inline void emit_plaintext(struct conn_info *info, struct inflight *in, __s64 len)
{
	bool sent = emit_records(in, len);

	if (!sent)
		kstream_unarm(in);
	gap_settle(info, in, sent);
}

/* ssl->statem.in_init, OpenSSL 1.1.1 to 3.1: the state machine follows
 * shutdown (68) and begins with seven enums (checked on 3.0.19 and in
 * Node's copy). */
#define SSL30_IN_INIT 100

/* 1 while the handshake runs, 0 once it is over, -1: layout unknown. */
static __always_inline int handshake_state(struct hook h, __u64 ssl)
{
	int in_init = 0;

	if (hook_layout(h) != SSL_LAYOUT_30 ||
	    bpf_probe_read_user(&in_init, sizeof(in_init), (void *)(ssl + SSL30_IN_INIT)))
		return -1;
	return in_init != 0;
}

/* A write of an SSL object whose socket is not known (a connection older
 * than the exporter, memory BIO: the send right after names the socket).
 * The caller's buffer holds the plaintext now, not at that send: copy it
 * now, for user space to hold until the link (tls_state.bpf.h). One write
 * per SSL object: the link comes at its send. Only after the handshake: a
 * write that starts one fails (wants the peer's answer) and is made again
 * once linked, and would be counted twice. */
static __always_inline void hold_plaintext(struct hook h, __u64 ssl, __u64 buf, __s64 len)
{
	struct inflight in = {.ptr = buf,
			      .conn_id = ssl,
			      .fd = -1,
			      .kind = IO_BUF,
			      .dir = DIR_OUT,
			      .proto = PROTO_TLS,
			      .flags = DATA_F_HELD};
	struct ssl_key k = ssl_key_of(ssl);
	__u8 one = 1;

	if (handshake_state(h, ssl) != 0 || bpf_map_update_elem(&ssl_held, &k, &one, BPF_NOEXIST)) {
		count(CNT_TLS_UNMAPPED, 1);
		return;
	}
	emit_records(&in, len);
}

/* A record without bytes that tells user space how the session ends. */
static __always_inline void emit_marker(struct conn_info *info, __s32 fd, enum data_dir dir,
					__u8 flags)
{
	struct inflight in = {.conn_id = info->id, .fd = fd, .dir = dir, .flags = flags};
	struct data_event *ev;
	void *ring;
	bool sent = false;

	gap_take(&in, info);
	ring = ring_here();
	ev = ring ? bpf_ringbuf_reserve(ring, offsetof(struct data_event, data), 0) : NULL;
	if (ev) {
		data_header(ev, &in, 0);
		record_submit(ring, &ev->h);
		sent = true;
	} else {
		count(CNT_EVENTS_LOST, 1);
	}
	gap_settle(info, &in, sent);
}

/* Bytes at the start of a retried write that the blocked one already
 * counted: up to where the last write's bytes ended, in the same buffer
 * (same start, or advanced past what was sent), else as many as it had
 * (a moved buffer holds the same bytes first). */
static __always_inline __u64 retried_bytes(const struct ssl_link *link, __u64 buf)
{
	__u64 end = link->last_buf + link->last_len;

	if (buf >= link->last_buf && buf <= end)
		return end - buf;
	return link->last_len;
}

/* SSL_write before the handshake finished drives the handshake first. With
 * a memory BIO it fails while the peer's next flight is not in yet, and
 * the caller makes it again with the same bytes (Node does at every turn
 * of the handshake), or it completes the handshake and succeeds: only
 * what follows on the connection tells which, so user space waits. Once
 * the handshake is seen over, the link remembers it: no read per write
 * (a TLS 1.2 renegotiation later is not looked for). */
static __always_inline __u8 write_flags(struct hook h, __u64 ssl, struct ssl_link *link)
{
	int state;

	if (link->flags & SSL_HANDSHAKEN)
		return 0;
	state = handshake_state(h, ssl);
	if (state == 0)
		link->flags |= SSL_HANDSHAKEN;
	return state == 1 ? DATA_F_TENTATIVE : 0;
}

#if HAVE_BPF_LOOP
/* A write of a stream the kernel counts in its own line of klines (most
 * do), found by the connection id the link keeps: the connection's entry
 * is looked up only when the write is to be copied (60-70 ns less in
 * this uprobe, some of it paid back by the syscall's probe that first
 * touches the connection's line, docs/design.md). Whether the write is
 * done with. The handshake is over: a stream's head came after it. */
static __always_inline bool ssl_stream_write(const struct ssl_link *link, __u64 buf, __s64 len)
{
	__u64 id = link->server_conn;
	struct conn_info *info;
	struct kstream *line;
	struct inflight in;

	if (!id || !(link->flags & SSL_HANDSHAKEN))
		return false;
	line = kline_of(id);
	if (!line || line->id != id)
		return false;
	plaintext_in(&in, id, ROLE_SERVER, 1, link->fd, buf, DIR_OUT, 0);
	if (!kstream_counted(&in, line, len))
		return true;
	/* the body's end with bytes after it, a give-up, or a copy for
	 * correlation (kstream_counted) */
	info = ssl_data_conn(link->fd);
	if (info && info->id == id) {
		gap_take(&in, info);
		emit_plaintext(info, &in, len);
	}
	return true;
}
#else
static __always_inline bool ssl_stream_write(const struct ssl_link *link, __u64 buf, __s64 len)
{
	return false; /* the compat build counts no stream in the kernel */
}
#endif

static __always_inline void ssl_write(struct hook h, __u64 ssl, __u64 buf, __s64 len)
{
	struct ssl_key k = ssl_key_of(ssl);
	struct ssl_link *link;
	struct tls_thread *t;
	struct conn_info *info;
	struct inflight in;
	__u64 skip = 0;
	__u8 flags;

	/* only processes that own tracked connections have TLS ones */
	if (!proc_has_conns(k.tgid))
		return;
	/* before the length: s_client handshakes in SSL_write(ssl, buf, 0) */
	link = ssl_link_checked(h, ssl);
	if (len <= 0)
		return;
	if (!link) {
		t = tls_thread_get(true);
		if (t)
			t->out_ssl = ssl; /* its send names the socket */
		hold_plaintext(h, ssl, buf, len);
		return;
	}
	if (link->flags & SSL_WRITE_RETRY) {
		link->flags &= ~SSL_WRITE_RETRY;
		skip = retried_bytes(link, buf);
	}
	if (link->flags & SSL_SOCKET_BIO) {
		link->last_buf = buf;
		link->last_len = len;
	} else if ((link->flags & SSL_LINK_WEAK) && !(link->flags & SSL_LINK_EXACT)) {
		t = tls_thread_get(true);
		if (t)
			t->out_ssl = ssl; /* its send confirms or corrects the link */
	}
	if (skip < (__u64)len && ssl_stream_write(link, buf + skip, len - skip))
		return;
	info = ssl_data_conn(link->fd);
	if (!info || skip >= (__u64)len)
		return;
	flags = write_flags(h, ssl, link);
	plaintext_call(&in, info, link->fd, buf + skip, DIR_OUT, flags);
	/* a stream the kernel follows counts as on a plaintext connection
	 * (kstream.bpf.h), at entry, like its copy: OpenSSL writes all of
	 * it, or is called again with the same bytes first */
	if (!flags && kstream_write(&in, len - skip))
		return;
	emit_plaintext(info, &in, len - skip);
}

static __always_inline void call_enter(struct hook h, __u64 ssl, __u64 buf, __u64 lenp,
				       enum ssl_call_kind kind)
{
	struct tls_thread *t;

	/* only processes that own tracked connections have TLS ones */
	if (!proc_has_conns(bpf_get_current_pid_tgid() >> 32))
		return;
	ssl_link_checked(h, ssl);
	t = tls_thread_get(true);
	if (!t)
		return;
	t->call_ssl = ssl;
	t->call_buf = buf;
	t->call_lenp = lenp;
	t->call_fd = -1;
	t->call_kind = kind;
}

/* Which socket the call's SSL object belongs to, learning it if new: its
 * fd, or -1. firm: the link is no guess from the thread's last read (the
 * map's entry may be replaced by ssl_link_set, so the caller is told here
 * rather than looking again). */
static __always_inline __s32 call_socket(struct tls_thread *t, bool *firm)
{
	struct ssl_key k = ssl_key_of(t->call_ssl);
	struct ssl_link *link = bpf_map_lookup_elem(&ssl_links, &k);
	bool fresh = t->read_fresh;

	t->read_fresh = 0;
	*firm = true;
	if (t->call_fd >= 0) {
		if (!link || link->fd != t->call_fd || !(link->flags & SSL_SOCKET_BIO))
			ssl_link_set(t->call_ssl, t->call_fd, SSL_SOCKET_BIO);
		return t->call_fd;
	}
	if (link && !(link->flags & SSL_LINK_WEAK))
		return link->fd;
	*firm = false;
	if (fresh && t->last_read_fd >= 0 && fd_free_for(t->last_read_fd, t->call_ssl)) {
		ssl_link_set(t->call_ssl, t->last_read_fd, SSL_LINK_WEAK);
		return t->last_read_fd;
	}
	return link ? link->fd : -1;
}

/* SSL_read_ex returns 0 for "no data yet" and for "the peer closed the
 * session" alike; the library records the latter in ssl->shutdown, at
 * the same place from OpenSSL 1.1.1 to 3.1 (after version, method, three
 * BIOs, rwstate, handshake_func, server, new_session, quiet_shutdown). */
#define SSL_SHUTDOWN_OFFSET   68
#define SSL_RECEIVED_SHUTDOWN 2

static __always_inline bool peer_sent_close_notify(__u64 ssl)
{
	int shutdown = 0;

	return !bpf_probe_read_user(&shutdown, sizeof(shutdown),
				    (void *)(ssl + SSL_SHUTDOWN_OFFSET)) &&
	       (shutdown & SSL_RECEIVED_SHUTDOWN);
}

/* Once per session: the peer's close_notify reads as the EOF of a
 * plaintext connection. */
static __always_inline void peer_closed(__u64 ssl, __s32 fd)
{
	struct ssl_key k = ssl_key_of(ssl);
	struct ssl_link *link = bpf_map_lookup_elem(&ssl_links, &k);
	struct conn_info *info = ssl_conn(fd);

	if (!link || !info || (link->flags & SSL_PEER_CLOSED))
		return;
	link->flags |= SSL_PEER_CLOSED;
	emit_marker(info, fd, DIR_IN, DATA_F_EOF);
}

static __always_inline void call_exit(int ret)
{
	struct tls_thread *t = tls_thread_get(false);
	struct conn_info *info;
	struct inflight in;
	__u64 ssl, buf, lenp, n = 0;
	bool firm;
	__s32 fd;
	__u8 kind;

	if (!t || !t->call_ssl)
		return;
	ssl = t->call_ssl;
	buf = t->call_buf;
	lenp = t->call_lenp;
	kind = t->call_kind;
	fd = call_socket(t, &firm);
	t->call_ssl = 0;
	if (!firm)
		t->out_ssl = ssl; /* records it produced, if any, go out next */
	if (kind == SSL_CALL_HANDSHAKE)
		return;
	if (lenp) { /* SSL_read_ex: 1 and a count, or 0 (no data, or the end) */
		if (ret == 1 && bpf_probe_read_user(&n, sizeof(n), (void *)lenp))
			return;
	} else if (ret > 0) {
		n = (__u32)ret;
	}
	if (!n) {
		if (fd >= 0 && peer_sent_close_notify(ssl))
			peer_closed(ssl, fd);
		return;
	}
	if (fd < 0) {
		count(CNT_TLS_UNMAPPED, 1);
		return;
	}
	info = ssl_data_conn(fd);
	if (!info)
		return;
	plaintext_call(&in, info, fd, buf, DIR_IN, 0);
	emit_plaintext(info, &in, n);
}

LAYOUT_UPROBE(ssl_read_enter, call_enter(h, (__u64)ssl, (__u64)buf, 0, SSL_CALL_READ), void *ssl,
	      void *buf, int num)

LAYOUT_UPROBE(ssl_read_ex_enter,
	      call_enter(h, (__u64)ssl, (__u64)buf, (__u64)readbytes, SSL_CALL_READ), void *ssl,
	      void *buf, size_t num, size_t *readbytes)

SEC("uretprobe")
int BPF_KRETPROBE(ssl_read_exit, long ret)
{
	call_exit((int)ret); /* OpenSSL returns int: the upper half is junk */
	return 0;
}

LAYOUT_UPROBE(ssl_handshake_enter, call_enter(h, (__u64)ssl, 0, 0, SSL_CALL_HANDSHAKE), void *ssl)

SEC("uretprobe")
int BPF_KRETPROBE(ssl_handshake_exit, long ret)
{
	call_exit((int)ret);
	return 0;
}

/* BIO_f_ssl (openssl s_server -WWW and -HTTP, daemons that stack BIOs):
 * its read and write methods call the library's internal functions, not
 * SSL_read or SSL_write, and handshake inside them too. They take what
 * SSL_read_ex and SSL_write_ex take, with the BIO for the SSL object: its
 * ptr points at a BIO_SSL, whose first member is the SSL object. Only
 * attached to OpenSSL 3.0 and 3.1 (the cookie's layout). */
static __always_inline __u64 ssl_of_bio(__u64 bio)
{
	return read_ptr(read_ptr(bio + BIO30_PTR));
}

#if HAVE_ATTACH_COOKIE
/* SSL_write, SSL_write_ex and BIO_f_ssl's write method: one program, which
 * the cookie tells how its function takes its arguments (ssl_layout.h).
 * A write program carries the stream counting, and the verifier took
 * ~0.17 s for each of the three at start. The compat build, without
 * cookies, keeps one for each. */
SEC("uprobe")
int BPF_KPROBE(ssl_write_enter, void *first, const void *buf, __u64 num)
{
	struct hook h = {.ctx = ctx};
	__u64 shape = bpf_get_attach_cookie(ctx);
	__u64 ssl = shape & SSL_HOOK_BIO ? ssl_of_bio((__u64)first) : (__u64)first;

	ssl_write(h, ssl, (__u64)buf, shape & SSL_HOOK_INT_LEN ? (__s64)(int)num : (__s64)num);
	return 0;
}
#else
LAYOUT_UPROBE(ssl_write_enter, ssl_write(h, (__u64)ssl, (__u64)buf, num), void *ssl,
	      const void *buf, int num)

LAYOUT_UPROBE(ssl_write_ex_enter, ssl_write(h, (__u64)ssl, (__u64)buf, num), void *ssl,
	      const void *buf, size_t num)

LAYOUT_UPROBE(bio_ssl_write_enter, ssl_write(h, ssl_of_bio((__u64)bio), (__u64)buf, num), void *bio,
	      const void *buf, size_t num)
#endif

LAYOUT_UPROBE(bio_ssl_read_enter,
	      call_enter(h, ssl_of_bio((__u64)bio), (__u64)buf, (__u64)readbytes, SSL_CALL_READ),
	      void *bio, void *buf, size_t num, size_t *readbytes)

/* The owner ends the TLS session: for an HTTP exchange under way, the
 * same as its close(), which may only come after the peer answered. */
SEC("uprobe")
int BPF_KPROBE(ssl_shutdown_enter, void *ssl)
{
	struct ssl_key k = ssl_key_of((__u64)ssl);
	struct ssl_link *link = bpf_map_lookup_elem(&ssl_links, &k);
	struct conn_info *info;

	if (!link)
		return 0;
	info = ssl_conn(link->fd);
	if (!info)
		return 0;
	emit_marker(info, link->fd, DIR_OUT, DATA_F_CLOSING);
	return 0;
}

/* The address may come back as a new SSL object on another socket. */
SEC("uprobe")
int BPF_KPROBE(ssl_free_enter, void *ssl)
{
	struct ssl_key k = ssl_key_of((__u64)ssl);

	bpf_map_delete_elem(&ssl_links, &k);
	bpf_map_delete_elem(&ssl_held, &k);
	return 0;
}

char LICENSE[] SEC("license") = "Dual MIT/GPL";
