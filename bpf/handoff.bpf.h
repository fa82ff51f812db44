/* SPDX-License-Identifier: GPL-2.0 OR MIT */
/*
 * A connection changing hands. Connections are keyed (tgid, fd), but a
 * socket may sit behind several fds: a process forked with it (a forking
 * server's child, inetd, systemd's Accept=yes), one it was passed to over
 * a unix socket (SCM_RIGHTS), a dup. So:
 *
 * - a close() of the tracked fd while its file has other references, or
 *   its fd passed over a unix socket, is not the connection's end: the
 *   connection is detached, kept by its struct sock in `detached`, until a
 *   call on another fd of the socket takes it over, or the socket's last
 *   fd is closed (FIN_WAIT1, LAST_ACK) or it goes (CLOSE);
 * - a call on an fd that is not tracked, by a process forked by one with
 *   connections (`heirs`), or by any process while detached connections
 *   wait, looks for the socket's connection (sock_owner, detached) and
 *   takes it over: from then on it is keyed by this fd.
 *
 * The connection keeps its id; EV_HANDOFF tells user space its new key. A
 * process that calls on the socket while its tracked fd is still open
 * elsewhere, being no heir nor a receiver of it over a unix socket (it
 * took it with pidfd_getfd), is not seen until that fd is closed.
 */
#ifndef SSE_HANDOFF_BPF_H
#define SSE_HANDOFF_BPF_H

#include "ring.bpf.h"
#include "sock_lookup.bpf.h"

/* struct file before Linux 6.13, when f_count became f_ref */
struct file___f_count {
	atomic_long_t f_count;
} __attribute__((preserve_access_index));

enum leave {
	LEAVE_CLOSE, /* close(): detached if the file has other references */
	LEAVE_SENT,  /* passed to another process (SCM_RIGHTS): detached */
};

/* Whether fd's file has references besides fd: other fds (dup, fork,
 * SCM_RIGHTS, one in flight in a unix socket) or, briefly, a call of
 * another thread on it. f_ref counts from 0 for one reference. */
static __always_inline bool fd_shared(int fd)
{
	struct file *file = fd_file(fd);

	if (!file)
		return false;
	if (bpf_core_field_exists(file->f_ref))
		return (__s64)BPF_CORE_READ(file, f_ref.refcnt.counter) > 0;
	return BPF_CORE_READ((struct file___f_count *)file, f_count.counter) > 1;
}

/* key's connection leaves its fd: its entry goes (deleting it is the
 * right to: another process may be taking it over), and it ends, or, when
 * the socket lives on elsewhere, waits in detached for another fd to take
 * it over. EV_CLOSE says which. */
static __always_inline void conn_leave(const struct conn_key *key, enum leave why)
{
	struct close_event ev = {};
	struct conn_info *info, copy;
	__u64 *n;

	info = conn_find(key);
	if (!info)
		return;
	copy = *info;
	if (conn_drop(key))
		return;
	ev.h.type = EV_CLOSE;
	ev.h.tgid = key->tgid;
	ev.h.ts_ns = bpf_ktime_get_ns();
	ev.h.conn_id = copy.id;
	ev.key = *key;
	ev.gap = copy.lost != 0; /* e.g. a lost EOF: the close tells */
	if (copy.sk)		 /* a unix socket has no owner there */
		sock_owner_drop(copy.sk);
	gate_release(key, copy.id); /* not before: the entry would be hidden */
	proc_conns_add(key->tgid, -1);
	n = handoffs_cell();
	/* waits by its socket: one it has (sk), whose state changes end it */
	if (n && copy.sk && (why == LEAVE_SENT || fd_shared(key->fd)) &&
	    !bpf_map_update_elem(&detached, &copy.sk, &copy, BPF_NOEXIST)) {
		__sync_fetch_and_add(n, 1);
		ev.detached = 1;
	}
	emit(&ev, sizeof(ev));
}

#define SOL_SOCKET   1
#define SCM_RIGHTS   1
#define SCM_FDS_MAX  8					 /* fds of one message looked at */
#define CMSG_DATA_AT ((sizeof(struct cmsghdr) + 7) & ~7) /* CMSG_DATA on 64-bit */

/* A sendmsg() by a process with connections that passes fds over a unix
 * socket (SCM_RIGHTS): those of tracked connections are detached at once,
 * so that the receiver's first call takes them over, whether or not the
 * sender has closed its own fd by then. The first control message only,
 * its first SCM_FDS_MAX fds. */
static __always_inline void handoff_sent(__u64 msg_ptr)
{
	struct conn_key key = current_key(-1);
	struct user_msghdr msg;
	struct cmsghdr cm;
	int fds[SCM_FDS_MAX] = {}; /* 6.1: no read of a variable size into stack never written */
	__u64 n;

	if (!proc_has_conns(key.tgid) || bpf_probe_read_user(&msg, sizeof(msg), (void *)msg_ptr) ||
	    !msg.msg_control || msg.msg_controllen < CMSG_DATA_AT + sizeof(int) ||
	    bpf_probe_read_user(&cm, sizeof(cm), msg.msg_control) || cm.cmsg_level != SOL_SOCKET ||
	    cm.cmsg_type != SCM_RIGHTS || cm.cmsg_len < CMSG_DATA_AT + sizeof(int))
		return;
	n = (cm.cmsg_len - CMSG_DATA_AT) / sizeof(int);
	if (n > SCM_FDS_MAX)
		n = SCM_FDS_MAX;
	if (bpf_probe_read_user(fds, n * sizeof(int), msg.msg_control + CMSG_DATA_AT))
		return;
	for (__u32 i = 0; i < SCM_FDS_MAX; i++) {
		if (i >= n)
			break;
		key.fd = fds[i];
		conn_leave(&key, LEAVE_SENT);
	}
}

/* Whether a call of tgid on an fd that is not tracked may be on a
 * tracked socket: two inlined loads (a hash lookup too in the compat
 * build while there are heirs). */
static __always_inline bool handoff_possible(__u32 tgid)
{
	__u64 *n = handoffs_cell();

	return (n && *n) || heir_test(tgid);
}

static __always_inline void handoff_tell(const struct conn_key *key, __u64 id)
{
	struct handoff_event ev = {};

	ev.h.type = EV_HANDOFF;
	ev.h.tgid = key->tgid;
	ev.h.ts_ns = bpf_ktime_get_ns();
	ev.h.conn_id = id;
	ev.key = *key;
	ev.proc_start_ns = current_proc_start();
	bpf_get_current_comm(ev.comm, sizeof(ev.comm));
	emit(&ev, sizeof(ev));
}

/* The connection of sk, tracked under another key or detached, removed
 * from there into copy once it is key's (made first: a call racing with
 * us finds one or the other). False when there is none, or another call
 * took it first. */
static __always_inline bool handoff_claim(const struct conn_key *key, __u64 sk,
					  struct conn_info *copy)
{
	struct conn_info *info;
	struct conn_key old;
	__u64 *n;

	if (sock_owner_get(sk, &old)) {
		info = conn_find(&old);
		if (!info || info->sk != sk)
			return false;
		*copy = *info;
		if (conn_add(key, copy))
			return false;
		if (conn_drop(&old))
			goto lost_race;
		gate_release(&old, copy->id);
		proc_conns_add(old.tgid, -1);
		return true;
	}
	info = bpf_map_lookup_elem(&detached, &sk);
	n = handoffs_cell();
	if (!info || !n)
		return false;
	*copy = *info;
	if (conn_add(key, copy))
		return false;
	if (bpf_map_delete_elem(&detached, &sk))
		goto lost_race;
	__sync_fetch_and_add(n, -1);
	return true;
lost_race:
	conn_drop(key);
	return false;
}

/* A call on key's fd, which is not tracked: the socket's connection if it
 * has one, key's from now on. */
static __always_inline struct conn_info *handoff_take(const struct conn_key *key)
{
	struct conn_sock_ref ref;
	struct conn_info copy;
	struct conn_info *info;
	__u64 sk;

	/* TCP only: a unix socket has no sock_owner entry, nor a detached one */
	if (!fd_conn_sock(key->fd, false, &ref))
		return NULL;
	sk = (__u64)ref.sk;
	if (!handoff_claim(key, sk, &copy))
		return NULL;
	info = conn_find(key);
	if (!info)
		return NULL;
	/* its bytes go on being read unless it was out of the gate */
	if (!copy.ungated && !gate_take(key, copy.id)) {
		info->ungated = 1;
		count(CNT_CONNS_FULL, 1);
	}
	sock_owner_put(sk, key);
	proc_conns_add(key->tgid, 1);
	proc_mark(key->tgid, true);
	upstream_note(key->tgid, info);
	handoff_tell(key, copy.id);
	return info;
}

/* A detached connection of sk ends: its socket's last fd was closed, or
 * the socket is gone. */
static __always_inline void handoff_end(__u64 sk)
{
	struct close_event ev = {};
	struct conn_info *info;
	__u64 *n = handoffs_cell();

	if (!n || !*n)
		return;
	info = bpf_map_lookup_elem(&detached, &sk);
	if (!info)
		return;
	ev.h.type = EV_CLOSE;
	ev.h.ts_ns = bpf_ktime_get_ns();
	ev.h.conn_id = info->id;
	ev.key.fd = -1;
	ev.gap = info->lost != 0;
	if (bpf_map_delete_elem(&detached, &sk))
		return;
	__sync_fetch_and_add(n, -1);
	emit(&ev, sizeof(ev));
}

/* A detached connection of sk, for its TCP state changes. */
static __always_inline struct conn_info *handoff_detached(__u64 sk)
{
	__u64 *n = handoffs_cell();

	return n && *n ? bpf_map_lookup_elem(&detached, &sk) : NULL;
}

#endif
