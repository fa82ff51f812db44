/* SPDX-License-Identifier: MIT */
/*
 * Structures shared by the kernel programs and the user-space daemon:
 * connection map keys and values, and the records of the ring buffer.
 * Everything here must have the same layout on both sides, so only fixed
 * width types are used and every struct is explicitly padded.
 */
#ifndef SSE_CONN_EVENT_H
#define SSE_CONN_EVENT_H

#ifndef __VMLINUX_H__
#include <linux/types.h>
#include <stdbool.h>
#endif

#define MAX_CONNS	    65536
#define MAX_INFLIGHT	    16384 /* threads inside a connect() at once */
#define MAX_FILTER_ENTRIES  1024
#define PID_BITMAP_WORDS    (4194304 / 64) /* PID_MAX_LIMIT bits */
#define CAPTURE_SEG_MAX	    4096	   /* payload bytes of one ring buffer record */
#define CAPTURE_SMALL_MAX   512		   /* a write this small goes in one fixed-size record */
#define CAPTURE_SEGS_MAX    64	 /* records per syscall: <= 256 KiB, the rest is counted */
#define CAPTURE_IOVS_MAX    1024 /* iovecs looked at per readv/writev/sendmsg: UIO_MAXIOV */
#define EVENTS_RING_BYTES   (8 << 20)
#define EVENTS_WAKEUP_BYTES (512 << 10) /* below this, user space polls on a timer */
#define CONN_GATE_BITS	    16
#define CONN_GATE_SLOTS	    (1u << CONN_GATE_BITS)

/* Identity of a connection as the owning process sees it. */
struct conn_key {
	__u32 tgid;
	__s32 fd;
};

enum conn_role {
	ROLE_SERVER = 1, /* accepted */
	ROLE_CLIENT = 2, /* connected */
};

enum conn_proto {
	PROTO_UNKNOWN = 0, /* no byte seen yet: the first ones decide */
	PROTO_HTTP = 1,	   /* copy bytes to user space */
	PROTO_OTHER = 2,   /* count open/close only */
	PROTO_ADOPT = 3,   /* opened before we started: user space decides */
	PROTO_TLS = 4,	   /* TLS: the library hooks copy the plaintext */
	PROTO_RESP = 5,	   /* a Redis client's connection: copy bytes to user space */
};

/* Value of the conns map. Written by the kernel at accept/connect, by
 * user space for connections found in /proc at start-up. */
struct conn_info {
	__u64 id;  /* unique for the life of the exporter: pid and fd reuse safe */
	__u64 sk;  /* struct sock address: links TCP state changes; 0: unix */
	__u64 ino; /* socket inode: user space checks it is still open */
	__u64 open_ns;
	__u16 lport; /* 0: a unix-domain connection (conn_unix_domain) */
	__u16 rport;
	__u8 role;
	__u8 proto;
	__u8 kstream; /* the kernel follows the response being written (kstream.h) */
	__u8 ungated; /* PROTO_OTHER and taken out of the gate (conn_store.bpf.h) */
	/* Calls of it none of whose records went out (ring buffer full), and
	 * end records of its streams lost, since its last record that went
	 * out: they leave no trace of their own, so the next record out
	 * carries DATA_F_GAP and settles the count (capture.bpf.h). The
	 * kernel's, changed atomically; user space writes 0 when it adopts a
	 * connection and keeps it otherwise. */
	__u64 lost;
};

/* A client's unix-domain stream connection (to a Redis or an HTTP API
 * behind a socket file): it has no port, while every TCP connection has
 * its local one. Its bytes are followed when they are HTTP or Redis,
 * never TLS; no TCP state change reaches it. */
static inline bool conn_unix_domain(const struct conn_info *info)
{
	return info->lport == 0;
}

/* A key as one word: a slot's owner is claimed and released by
 * compare-and-swap of it. No process has tgid 0, so neither value below
 * is ever a connection's. */
static inline __u64 conn_key_word(const struct conn_key *key)
{
	return (__u64)key->tgid << 32 | (__u32)key->fd;
}

/* The key of conn_key_word(). */
static inline struct conn_key conn_key_of_word(__u64 word)
{
	struct conn_key key = {.tgid = word >> 32, .fd = (__s32)word};

	return key;
}

#define CONN_SLOT_FREE 0ull
#define CONN_SLOT_BUSY 0xffffffffull /* its owner's conn_info being written */

/* The slot of a key in conn_slots: a multiplicative hash, computed alike
 * by the kernel and by user space (which counts the connections it
 * adopts). Consecutive fds of a process fall far apart. */
static inline __u32 conn_gate_slot(const struct conn_key *key)
{
	return (conn_key_word(key) * 0x9e3779b97f4a7c15ull) >> (64 - CONN_GATE_BITS);
}

/* Value of gate_lines (bpf/conn_store.bpf.h), by gate_line_index() of
 * the connection's id: the connection counted in the gate, and the key it
 * was counted under. Ids are handed out in sequence, so a line is free
 * again long before the id that next falls on it, unless MAX_CONNS
 * connections came between; such a connection is counted in the
 * gated_ids hash instead. */
struct gate_line {
	__u64 id; /* GATE_LINE_FREE, GATE_LINE_BUSY (key being written) or an id */
	struct conn_key key;
};

#define GATE_LINES     MAX_CONNS
#define GATE_LINE_FREE 0ull
#define GATE_LINE_BUSY (~0ull)

static inline __u32 gate_line_index(__u64 id)
{
	return id & (GATE_LINES - 1);
}

/* Value of conn_counts (bpf/conn_store.bpf.h): the lines of conn_slots
 * that hold a connection (for the count user space exports: a walk of the
 * lines would map them all into its memory), and the connections counted
 * in the gate, in gate_lines or gated_ids (which user space's adoptions
 * count in too: at most --bpf.max-connections of them). */
struct conn_counts {
	__u64 slots_owned;
	__u64 gate_held;
	__u64 sock_lines;  /* lines of sock_lines that hold a socket's owner */
	__u64 sock_hashed; /* entries of the sock_owner hash, counted first */
};

/* Value of sock_lines (bpf/maps.bpf.h), by sock_line_index() of a TCP
 * connection's struct sock: its owner, for its state changes and for a
 * process taking it over. A socket whose line another holds has its owner
 * in the sock_owner hash. */
struct sock_line {
	__u64 sk;    /* SOCK_LINE_FREE, SOCK_LINE_BUSY (being claimed) or the address */
	__u64 owner; /* conn_key_word() of the owner's key */
};

#define SOCK_LINES_BITS 16
#define SOCK_LINES	(1u << SOCK_LINES_BITS)
#define SOCK_LINE_FREE	0ull
#define SOCK_LINE_BUSY	(~0ull)

/* struct sock addresses are slab objects of a few KB: their low bits say
 * little, a multiplicative hash spreads them. */
static inline __u32 sock_line_index(__u64 sk)
{
	return (sk * 0x9e3779b97f4a7c15ull) >> (64 - SOCK_LINES_BITS);
}

/* Value of conn_slots (bpf/conn_store.bpf.h), one cache line: the gate's
 * count of the connections hashed to the slot whose bytes are needed, and
 * the first of them to claim it, so that a call finds both in one line.
 * The others live in the conns hash, and `hashed` counts those of the
 * slot's keys: while it is 0 a key that does not own the line has no
 * connection, with no lookup (every close() of the host asks). */
struct conn_slot {
	__u32 gate;
	__u32 hashed;
	__u64 owner; /* conn_key_word(), CONN_SLOT_FREE or CONN_SLOT_BUSY */
	struct conn_info info;
};

enum event_type {
	EV_OPEN = 1,	     /* connection accepted or connected */
	EV_CLOSE = 2,	     /* close() of a tracked fd */
	EV_DATA = 3,	     /* bytes read or written on an HTTP or RESP connection */
	EV_EXIT = 4,	     /* a process that owned tracked connections exited */
	EV_SOCK_STATE = 5,   /* TCP state change of a tracked socket */
	EV_EXEC = 6,	     /* a process exec'd (only when selection needs it) */
	EV_CONNECT_FAIL = 7, /* an outbound connect failed (open_event, no entry) */
	EV_TLS_LINK = 8,     /* held TLS plaintext belongs to a connection */
	EV_KSTREAM_END = 10, /* the kernel followed a stream's body up to here (kstream.h) */
	EV_HANDOFF = 11,     /* another fd of the socket took the connection over */
};

enum data_dir {
	DIR_IN = 0,  /* read by the observed process */
	DIR_OUT = 1, /* written by the observed process */
};

enum data_flags {
	DATA_F_NOCOPY = 1 << 0,	 /* bytes moved (sendfile) but not copied */
	DATA_F_EOF = 1 << 1,	 /* read returned 0: the peer closed */
	DATA_F_ERROR = 1 << 2,	 /* syscall failed: ret holds -errno */
	DATA_F_CLOSING = 1 << 3, /* the owner began closing (SSL_shutdown) */
	/* a TLS write made before the handshake finished: it may fail and be
	 * made again with the same bytes, so user space waits for what
	 * follows before counting it */
	DATA_F_TENTATIVE = 1 << 4,
	/* TLS plaintext written by an SSL object whose socket is not known
	 * yet (a connection older than the exporter: its first write since
	 * start): h.conn_id holds the SSL object's address, fd is -1; user
	 * space holds it until an EV_TLS_LINK names the connection */
	DATA_F_HELD = 1 << 5,
	/* a write of a stream the kernel counts, copied all the same while
	 * user space may still match its events with upstream calls */
	DATA_F_KCOUNTED = 1 << 6,
	/* records of this connection, in either direction, were lost before
	 * this one beyond what offset and ret show: whole calls' records
	 * (conn_info.lost). How many bytes is unknown. */
	DATA_F_GAP = 1 << 7,
};

struct event_hdr {
	__u32 type;
	__u32 tgid;
	__u64 ts_ns; /* CLOCK_MONOTONIC (bpf_ktime_get_ns) */
	__u64 conn_id;
	/* with a ring per CPU: the record's place in the order of all
	 * (bpf/ring.bpf.h); else 0 */
	__u64 seq;
};

/* Remote end of a connection, for user space only (provider of a call
 * whose connect failed before any Host header was sent). */
struct conn_addr {
	__u16 family; /* AF_INET or AF_INET6; AF_UNIX, the rest 0: no address */
	__u16 port;
	__u8 addr[16]; /* IPv4 in the first 4 bytes */
};

struct open_event {
	struct event_hdr h;
	struct conn_key key;
	struct conn_info info;
	struct conn_addr remote;
	__s32 err; /* EV_CONNECT_FAIL: -errno, or 0 when reset while connecting */
	/* the owner's start (boot clock, as /proc/PID/stat's starttime): a
	 * pid reused by another process is another process to user space */
	__u64 proc_start_ns;
	char comm[16]; /* the owner may be gone before user space looks in /proc */
	/* an accepted TCP connection's: its socket's write sequence then,
	 * where the bytes its owner writes are numbered from */
	__u32 out_seq;
};

/* EV_CLOSE: a close() of the tracked fd, or the end of a detached
 * connection (handoff.bpf.h: key.tgid 0) */
struct close_event {
	struct event_hdr h;
	struct conn_key key;
	__u8 gap; /* records of it were lost since its last one out (DATA_F_GAP) */
	/* the socket lives on in another fd: the connection is detached, not
	 * ended, until a call on that fd takes it over or the socket closes */
	__u8 detached;
	__u8 pad[6];
};

/* The connection h.conn_id is key's from now on: a process forked with
 * its socket, or passed it, or a dup of its fd, used it (handoff.bpf.h). */
struct handoff_event {
	struct event_hdr h;
	struct conn_key key;
	__u64 proc_start_ns;
	char comm[16];
};

struct exit_event {
	struct event_hdr h;
};

struct exec_event {
	struct event_hdr h;
};

struct sock_state_event {
	struct event_hdr h;
	__s32 oldstate;
	__s32 newstate;
	/* records of it were lost since its last one out (conn_info.lost):
	 * what was under way cannot be told to have ended so */
	__u8 gap;
	/* CLOSE_WAIT of an HTTP server's connection in clear: out_seq is its
	 * socket's write sequence as the client's FIN came, which tells the
	 * writes the client got from those it never read */
	__u8 out_valid;
	__u8 pad[2];
	__u32 out_seq;
};

/* The SSL object's held plaintext (DATA_F_HELD) is the next bytes the
 * connection h.conn_id (fd) wrote: sent once per held write, when the
 * syscalls name the object's socket. */
struct tls_link_event {
	struct event_hdr h;
	__s32 fd;
	__u32 pad;
	__u64 ssl;
};

/*
 * One syscall's bytes arrive as up to CAPTURE_SEGS_MAX records with
 * increasing offsets; ret is the syscall's full result, so user space can
 * tell bytes that were not copied (cap reached or records lost) and
 * resynchronise instead of misparsing.
 */
struct data_event {
	struct event_hdr h;
	__s32 fd;
	__u8 dir;
	__u8 flags;
	__u16 len;    /* bytes in data[] */
	__s64 ret;    /* syscall result: byte count, or -errno */
	__u32 offset; /* where data[0] is within the syscall's bytes */
	__u16 seg;    /* record index within the syscall */
	/* the write's response head armed its connection's stream: its
	 * framing (enum scan_framing; 0: not), on the call's first record
	 * out (kstream.h) */
	__u8 kstart;
	__u8 pad;
	char data[CAPTURE_SEG_MAX];
};

/* Indices of the per-CPU counters array. */
enum counter_idx {
	CNT_EVENTS_LOST = 0, /* ring buffer full: record dropped */
	CNT_BYTES_UNCOPIED,  /* bytes beyond the per-syscall capture cap */
	CNT_CONNS_FULL,	     /* conns map full: connection not tracked */
	CNT_INFLIGHT_FULL,   /* no task storage for a syscall: not followed */
	CNT_TLS_UNMAPPED,    /* TLS plaintext whose socket was not known: dropped */
	CNT_KSTREAMS_FULL,   /* kstreams map full: a stream copied, not counted in the kernel */
	CNT_MAX,
};

/* Both compilers must lay every record out alike: sizes, and the offsets
 * user space reads records by. A change here is a change of the contract. */
#define SSE_LAYOUT(type, size) _Static_assert(sizeof(struct type) == (size), #type " layout")
SSE_LAYOUT(conn_key, 8);
SSE_LAYOUT(conn_info, 48);
SSE_LAYOUT(conn_slot, 64);
SSE_LAYOUT(event_hdr, 32);
SSE_LAYOUT(conn_addr, 20);
SSE_LAYOUT(open_event, 144);
SSE_LAYOUT(close_event, 48);
SSE_LAYOUT(handoff_event, 64);
SSE_LAYOUT(exit_event, 32);
SSE_LAYOUT(exec_event, 32);
SSE_LAYOUT(sock_state_event, 48);
SSE_LAYOUT(tls_link_event, 48);
SSE_LAYOUT(data_event, 56 + CAPTURE_SEG_MAX);
_Static_assert(__builtin_offsetof(struct open_event, comm) == 120, "open_event layout");
_Static_assert(__builtin_offsetof(struct data_event, data) == 56, "data_event layout");
#undef SSE_LAYOUT

#endif
