/* SPDX-License-Identifier: GPL-2.0 OR MIT */
/*
 * Which socket an OpenSSL SSL object writes to. The library hooks see an
 * SSL pointer, the syscall hooks see an fd; this state, shared by
 * ssl.bpf.c and sock_io.bpf.c, links them in these ways:
 *
 *  - socket BIO (nginx, blocking clients): the ciphertext read or write
 *    happens inside SSL_read, SSL_write or SSL_do_handshake, on the same
 *    thread: exact.
 *  - memory BIO (Python asyncio and anyio, Node), writes: the library puts
 *    the records into a memory buffer and the process sends them right
 *    after, on the same thread, before any other library call (asyncio's
 *    transport.write, anyio's flush, Node's EncOut). The first TLS write
 *    of the thread after a library call names that call's socket: firm.
 *  - memory BIO, reads: the last TLS read of the thread before the call.
 *    Weak: anyio reads several sockets in one pass of the event loop and
 *    feeds each SSL object later, so the next write corrects it. A client
 *    writes first (ClientHello) and a server answers the ClientHello
 *    before any data moves, so data is attributed by firm links.
 *  - memory BIO, by content (OpenSSL layouts user space recognised): the
 *    first bytes of every TLS record read or written outside the library
 *    are remembered with their socket; at its next call an SSL object not
 *    linked exactly looks up the bytes its read BIO holds and those its
 *    write BIO last handed out. A match is exact and overrides the order
 *    rules above, which anyio defeats: its send() yields to the event loop
 *    between the library call and the syscall, so other connections' calls
 *    come in between.
 *
 * A connection older than the exporter (found in /proc, PROTO_ADOPT) is
 * met in the middle of its session: a socket BIO names its fd at the first
 * call; a memory BIO's first write comes before any syscall could name
 * the socket, so its plaintext is copied at once, held in user space under
 * the SSL object's address (DATA_F_HELD), and handed to the connection by
 * an EV_TLS_LINK record when a firm or exact link is made.
 *
 * A socket taken firmly by one SSL object is not given to another by the
 * order rules (an asyncio transport may flush buffered records of one
 * connection right after a library call on another). An exact link (socket
 * BIO or content) lasts until SSL_free; only content corrects a firm one.
 */
#ifndef SSE_TLS_STATE_BPF_H
#define SSE_TLS_STATE_BPF_H

#include "capture.bpf.h"
#include "maps.bpf.h"
#include "ssl_layout.h"

#define MAX_SSL_OBJECTS 65536
#define MAX_TLS_THREADS 16384

struct ssl_key {
	__u32 tgid;
	__u32 pad;
	__u64 ssl;
};

enum ssl_link_flags {
	SSL_SOCKET_BIO = 1 << 0,  /* ciphertext moves inside the library call */
	SSL_LINK_WEAK = 1 << 1,	  /* guessed from a read: a write corrects it */
	SSL_PEER_CLOSED = 1 << 2, /* the peer's close_notify was reported */
	SSL_LINK_EXACT = 1 << 3,  /* proven by the records' bytes */
	SSL_NO_CONTENT = 1 << 4,  /* BIOs whose bytes we cannot read (Node's) */
	SSL_WRITE_RETRY = 1 << 5, /* a socket-BIO write hit EAGAIN: the next is a retry */
	SSL_HANDSHAKEN = 1 << 6,  /* seen with its handshake over: writes need no check */
};

#define TLS_HEAD_LEN 16

/* The first bytes of a TLS record read or written outside the library:
 * encrypted, so 16 of them name one record. */
struct tls_head_key {
	__u32 tgid;
	__u32 pad;
	__u8 head[TLS_HEAD_LEN];
};

struct tls_head {
	__s32 fd;
	__u32 pad;
	__u64 conn_id;
};

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 8192);
	__type(key, struct tls_head_key);
	__type(value, struct tls_head);
} tls_heads SEC(".maps");

struct ssl_link {
	__s32 fd;
	__u32 flags;
	/* socket BIO: the plaintext the last SSL_write was given (all of it
	 * counted at entry). After EAGAIN OpenSSL wants the same bytes again,
	 * maybe followed by more (nginx appends), from the same buffer, from
	 * where it stopped (partial-write mode) or from a moved buffer. */
	__u64 last_buf;
	__u64 last_len;
	/* A server's connection, linked firmly: its id, by which a write
	 * finds the stream the kernel counts on it (ssl.bpf.c,
	 * ssl_stream_write); else 0. */
	__u64 server_conn;
};

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, MAX_SSL_OBJECTS);
	__type(key, struct ssl_key);
	__type(value, struct ssl_link);
} ssl_links SEC(".maps");

enum ssl_call_kind {
	SSL_CALL_NONE = 0,
	SSL_CALL_READ,
	SSL_CALL_HANDSHAKE,
};

/* Per thread: the library call in flight, and what the syscall hooks saw
 * last. */
struct tls_thread {
	__u64 call_ssl;	 /* SSL_read/SSL_do_handshake in flight, else 0 */
	__u64 call_buf;	 /* its plaintext buffer */
	__u64 call_lenp; /* SSL_read_ex: where the byte count goes */
	__s32 call_fd;	 /* TLS socket it read or wrote, -1 if none */
	__u8 call_kind;
	__u8 read_fresh; /* a TLS read since the last library call */
	__u8 pad[2];
	__s32 last_read_fd;
	__s32 pad2;
	__u64 out_ssl;	  /* memory BIO: whose records the next write carries */
	__u64 inexact_ns; /* last call of an SSL object not linked exactly */
};

/* Record bytes are remembered only on threads where an SSL object not
 * linked exactly made a call lately: elsewhere nobody would look. An
 * event loop moves a record between the syscall and the library call
 * within one pass (milliseconds); every remembered record costs ~1 us. */
#define TLS_HEADS_WINDOW_NS 100000000ull

#if HAVE_BPF_LOOP
/* In the thread's own storage: found through its task_struct, which every
 * program here reads already, where a hash lookup hashed the thread id and
 * touched a bucket and an entry (20-35 ns per TLS syscall, docs/design.md);
 * freed with the thread. Task storage in tracing programs (5.12) comes
 * with bpf_loop (features.bpf.h). */
struct {
	__uint(type, BPF_MAP_TYPE_TASK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct tls_thread);
} tls_threads SEC(".maps");
#else
/* by thread id; an LRU forgets the dead threads */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, MAX_TLS_THREADS);
	__type(key, __u64);
	__type(value, struct tls_thread);
} tls_threads SEC(".maps");
#endif

/* The other way round: which SSL object a connection's socket belongs
 * to, so that a read or write of a socket already taken is not taken as
 * the socket of another SSL object (an asyncio reader paused after its
 * recv() leaves that read "fresh" for the next handshake on the thread). */
struct fd_owner {
	__u64 ssl;
	__u64 conn_id; /* the connection it was for: fds are reused */
};

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, MAX_SSL_OBJECTS);
	__type(key, struct conn_key);
	__type(value, struct fd_owner);
} ssl_fd_owners SEC(".maps");

/* SSL objects with held plaintext (one write each at most: a second
 * before the link is counted as unattributed, not held). */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 4096);
	__type(key, struct ssl_key);
	__type(value, __u8);
} ssl_held SEC(".maps");

static __always_inline struct tls_thread *tls_thread_get(bool create)
{
	struct tls_thread fresh = {.call_fd = -1, .last_read_fd = -1};
#if HAVE_BPF_LOOP
	return bpf_task_storage_get(&tls_threads, bpf_get_current_task_btf(),
				    create ? &fresh : NULL,
				    create ? BPF_LOCAL_STORAGE_GET_F_CREATE : 0);
#else
	__u64 id = bpf_get_current_pid_tgid();
	struct tls_thread *t = bpf_map_lookup_elem(&tls_threads, &id);

	if (t || !create)
		return t;
	bpf_map_update_elem(&tls_threads, &id, &fresh, BPF_NOEXIST);
	return bpf_map_lookup_elem(&tls_threads, &id);
#endif
}

static __always_inline struct ssl_key ssl_key_of(__u64 ssl)
{
	struct ssl_key k = {
	    .tgid = bpf_get_current_pid_tgid() >> 32,
	    .ssl = ssl,
	};
	return k;
}

/* False when fd's connection already belongs to another SSL object. */
static __always_inline bool fd_free_for(__s32 fd, __u64 ssl)
{
	struct conn_key key = current_key(fd);
	struct fd_owner *o = bpf_map_lookup_elem(&ssl_fd_owners, &key);
	struct conn_info *info;

	if (!o || o->ssl == ssl)
		return true;
	info = conn_find(&key);
	return !info || info->id != o->conn_id;
}

/* The plaintext held for ssl goes to this connection. */
static __always_inline void release_held(const struct ssl_key *k, __s32 fd, __u64 conn_id)
{
	struct tls_link_event ev = {
	    .h = {.type = EV_TLS_LINK, .tgid = k->tgid, .conn_id = conn_id},
	    .fd = fd,
	    .ssl = k->ssl,
	};

	if (!bpf_map_lookup_elem(&ssl_held, k))
		return;
	bpf_map_delete_elem(&ssl_held, k);
	ev.h.ts_ns = bpf_ktime_get_ns();
	emit(&ev, sizeof(ev));
}

/* Links ssl to fd; an exact link is never replaced by a guess. */
static __always_inline void ssl_link_set(__u64 ssl, __s32 fd, __u32 flags)
{
	struct ssl_key k = ssl_key_of(ssl);
	struct ssl_link v = {.fd = fd, .flags = flags};
	struct ssl_link *old = bpf_map_lookup_elem(&ssl_links, &k);
	struct conn_key key = current_key(fd);
	struct fd_owner o = {.ssl = ssl};
	struct conn_info *info;

	if (old && (old->flags & SSL_LINK_EXACT) && !(flags & SSL_LINK_EXACT))
		return;
	if (old && old->fd == fd) /* same socket: keep what was learned of it */
		v = *old;
	v.flags = (v.flags & ~(__u32)SSL_LINK_WEAK) | flags;
	info = flags & SSL_LINK_WEAK ? NULL : conn_find(&key);
	if (info)
		v.server_conn = info->role == ROLE_SERVER ? info->id : 0;
	bpf_map_update_elem(&ssl_links, &k, &v, BPF_ANY);
	if (!info)
		return;
	o.conn_id = info->id;
	bpf_map_update_elem(&ssl_fd_owners, &key, &o, BPF_ANY);
	release_held(&k, fd, info->id);
}

static __always_inline void remember_head(const struct inflight *in, struct tls_thread *t)
{
	struct tls_head_key k = {.tgid = bpf_get_current_pid_tgid() >> 32};
	struct tls_head v = {.fd = in->fd, .conn_id = in->conn_id};

	if (!t->inexact_ns)
		return;
	/* past the window, forgotten: the thread's next TLS calls need not
	 * read the clock (~60 ns here) to know it */
	if (bpf_ktime_get_ns() - t->inexact_ns > TLS_HEADS_WINDOW_NS) {
		t->inexact_ns = 0;
		return;
	}
	if (bpf_probe_read_user(k.head, sizeof(k.head), (void *)first_buf(in)))
		return;
	bpf_map_update_elem(&tls_heads, &k, &v, BPF_ANY);
}

/* A write outside SSL_read blocked: the SSL_write of the socket's SSL
 * object will be called again for the same bytes. */
static __always_inline void mark_write_retry(__s32 fd)
{
	struct conn_key key = current_key(fd);
	struct fd_owner *o = bpf_map_lookup_elem(&ssl_fd_owners, &key);
	struct ssl_link *link;
	struct ssl_key k;

	if (!o)
		return;
	k = ssl_key_of(o->ssl);
	link = bpf_map_lookup_elem(&ssl_links, &k);
	if (link && link->fd == fd && (link->flags & SSL_SOCKET_BIO))
		link->flags |= SSL_WRITE_RETRY;
}

/* Called by the syscall hooks for every completed read or write of a TLS
 * connection: the ciphertext itself is never copied. */
static __always_inline void tls_syscall_seen(const struct inflight *in, __s64 ret)
{
	struct tls_thread *t = tls_thread_get(true);
	enum data_dir dir = in->dir;
	__s32 fd = in->fd;

	if (!t)
		return;
	if (t->call_ssl) { /* inside the library: a socket BIO */
		t->call_fd = fd;
		return;
	}
	if (ret >= TLS_HEAD_LEN)
		remember_head(in, t);
	if (dir == DIR_IN) {
		if (ret > 0) {
			t->last_read_fd = fd;
			t->read_fresh = 1;
		}
		return;
	}
	if (ret > 0 && t->out_ssl) {
		if (fd_free_for(fd, t->out_ssl))
			ssl_link_set(t->out_ssl, fd, 0);
		t->out_ssl = 0;
	}
	if (ret == -11 /* EAGAIN */)
		mark_write_retry(fd);
}

#endif
