// SPDX-License-Identifier: MIT
#include <errno.h>
#include <malloc.h>

#include "core/array.h"
#include "core/clock.h"
#include "core/log.h"
#include "ident/proc.h"
#include "kernel/kconns.h"
#include "track/collector.h"
#include "track/kernel_sync.h"
#include "track/kstreams.h"

/* Connections that ended since the most open at once before their memory
 * is given back: 1000 held ~2 MB. */
#define TRIM_AFTER_ENDED 1000

/* How long a connection may wait between owners before it is given up. */
#define DETACHED_TTL_NS (10 * 1000000000ull)

static void adopt_existing(void *ctx, pid_t tgid, int fd, const struct sock_entry *t, bool accepted)
{
	struct collector *c = ctx;
	struct conn_key key = {.tgid = tgid, .fd = fd};
	struct conn_info info = {
	    .id = c->next_adopt_id,
	    .ino = t->inode,
	    .open_ns = mono_ns(),
	    .lport = t->lport,
	    .rport = t->rport,
	    .role = accepted ? ROLE_SERVER : ROLE_CLIENT,
	    .proto = PROTO_ADOPT,
	};
	struct conn_entry *e;
	int err;

	if (!kernel_selected(c, tgid, t->lport))
		return;
	err = kernel_adopt(c, &key, &info);
	if (err == -E2BIG)
		c->untracked++;
	if (err)
		return;
	c->next_adopt_id++;
	e = entry_add(c, &key, &info, 0, NULL);
	if (e) /* a provider by address when a call fails before its head */
		e->remote = t->remote;
}

void collector_scan_existing(struct collector *c)
{
	size_t before;

	pthread_mutex_lock(c->lock);
	before = c->conns.n;
	/* clients too: the kernel follows connects only from now on */
	proc_scan_established(adopt_existing, c);
	log_info("found %zu connections opened before start", c->conns.n - before);
	pthread_mutex_unlock(c->lock);
}

/* What the sweep asks /proc about one connection, copied out of the table
 * so that the asking (a readlink per connection) runs unlocked. */
struct sweep_probe {
	uint64_t id;
	struct conn_key key;
	uint64_t ino;
};

/* Copies the sweep's share of the table into c->probes (grown as
 * needed): whole buckets from where the last sweep stopped, until the
 * budget is reached or the table went round. Returns how many. */
static size_t sweep_snapshot(struct collector *c)
{
	const struct conn_table *t = &c->conns;
	size_t n = 0, walked;
	struct conn_entry *e;

	pthread_mutex_lock(c->lock);
	if (array_reserve((void **)&c->probes, &c->probes_cap, t->n, sizeof(*c->probes)) &&
	    !c->told_sweep_nomem) {
		log_warn("sweep: out of memory, some connections closed unseen stay until later "
			 "(not repeated)");
		c->told_sweep_nomem = true;
	}
	for (walked = 0; walked < t->size && n < c->sweep_budget && n < c->probes_cap; walked++)
		for (e = t->by_id[(c->sweep_from + walked) % t->size]; e && n < c->probes_cap;
		     e = e->next)
			if (!e->detached_ns) /* no fd to look at: sweep_detached() */
				c->probes[n++] =
				    (struct sweep_probe){e->info.id, e->key, e->info.ino};
	if (t->size)
		c->sweep_from = (c->sweep_from + walked) % t->size;
	pthread_mutex_unlock(c->lock);
	return n;
}

/* The fd no longer holds the connection's socket. While the kernel still
 * maps the fd to this connection, no close() was seen: it went unseen
 * (dup2, close_range, a process gone). Otherwise the kernel saw the close,
 * and its event is still in the ring buffer behind the connection's last
 * records (user space lags under load): ending it now would lose the
 * exchange those records finish. A sweep later it is over, unless the
 * event was lost (counted as such). */
static bool closed_unseen(struct collector *c, struct conn_entry *e)
{
	if (kernel_holds(c, e))
		return true;
	return ++e->sweeps_gone > 1;
}

/* A process whose fds /proc hides is left alone: the sweep cannot tell its
 * closed connections from open ones, only its close records can. */
static void told_unseeable(struct collector *c, pid_t tgid)
{
	if (c->told_proc_denied)
		return;
	c->told_proc_denied = true;
	log_warn("sweep: /proc/%d/fd is not readable (CAP_SYS_PTRACE, CAP_DAC_READ_SEARCH "
		 "missing?): connections whose close record is lost stay open (not repeated)",
		 tgid);
}

static bool same_key(const struct conn_key *a, const struct conn_key *b)
{
	return a->tgid == b->tgid && a->fd == b->fd;
}

/* Connections between owners (bpf/handoff.bpf.h). One the kernel no
 * longer holds was taken over or ended, its record on the way: a sweep
 * later, lost. One no process took within DETACHED_TTL_NS is given up:
 * its socket is held by a process that does not use it, and while it
 * waits every call of every process looks for it. */
static void sweep_detached(struct collector *c, uint64_t ts)
{
	struct conn_entry *e, *next;
	size_t b;

	conn_table_for_each(&c->conns, b, e, next) {
		if (!e->detached_ns)
			continue;
		if (kernel_holds(c, e)) {
			if (ts < e->detached_ns + DETACHED_TTL_NS || !kernel_forget_detached(c, e))
				continue;
			c->untracked++;
			log_debug("connection %llu given up: between owners for %llu s",
				  (unsigned long long)e->info.id,
				  (unsigned long long)(ts - e->detached_ns) / 1000000000ull);
		} else if (++e->sweeps_gone < 2) {
			continue;
		}
		entry_end(c, e, HTTP_END_LOST_CLOSE, ts);
	}
}

/* The connections of the sweep's share whose fd no longer holds their
 * socket, asked of /proc unlocked: moved to the front of c->probes.
 * Returns how many. */
static size_t sweep_probe(struct collector *c)
{
	size_t n = sweep_snapshot(c), gone = 0;
	struct sweep_probe *p = c->probes;

	for (size_t i = 0; i < n; i++) {
		uint64_t ino = proc_socket_inode(p[i].key.tgid, p[i].key.fd);

		if (ino == PROC_INODE_UNKNOWN)
			told_unseeable(c, p[i].key.tgid);
		else if (ino != p[i].ino)
			p[gone++] = p[i];
	}
	return gone;
}

/* Those connections judged under the lock: one that ended meanwhile is no
 * longer in the table, one handed over meanwhile has another key. */
static void sweep_gone(struct collector *c, size_t gone, uint64_t ts)
{
	const struct sweep_probe *p = c->probes;
	struct conn_entry *e;

	for (size_t i = 0; i < gone; i++) {
		e = conn_table_find(&c->conns, p[i].id);
		if (!e || !same_key(&e->key, &p[i].key) || !closed_unseen(c, e))
			continue;
		log_debug("connection %d/%d closed unseen", e->key.tgid, e->key.fd);
		kernel_forget(c, e);
		kernel_forget_process(c, e->key.tgid);
		entry_end(c, e, HTTP_END_LOST_CLOSE, ts);
	}
}

void collector_sweep(struct collector *c, bool (*drain)(void *ctx), void *ctx)
{
	size_t gone = sweep_probe(c);
	uint64_t ts;
	bool shrunk;

	/* An fd found gone may be an owner that wrote its last bytes and
	 * exited after the records were last read: the records of both are
	 * committed before its fds go, and read now, or the exchange they
	 * end would be judged closed unseen, and lost. Records held back
	 * behind one still being written may be those: the fds are judged
	 * when the sweep comes round to them again. */
	if (gone && drain && drain(ctx))
		gone = 0;
	ts = mono_ns(); /* not before: what the drain ended is older */
	pthread_mutex_lock(c->lock);
	sweep_gone(c, gone, ts);
	if (c->ndetached)
		sweep_detached(c, ts);
	kernel_remark(c);
	tls_held_expire(&c->held, ts);
	targets_check_alive(&c->targets);
	targets_enrich(&c->targets);
	targets_expire(&c->targets, ts, c->cfg->stale_after_s * 1000000000ull);
	shrunk = conn_table_shrunk(&c->conns, TRIM_AFTER_ENDED);
	pthread_mutex_unlock(c->lock);
	/* glibc keeps what a burst of connections freed for reuse, and in the
	 * middle of the heap it never returns it by itself */
	if (shrunk)
		malloc_trim(0);
}

/* The maps whose fill is exported. */
static const enum kmap filled[] = {
    KMAP_CONNS,		KMAP_SOCK_OWNER,    KMAP_TRACKED_PROCS, KMAP_GATED_IDS, KMAP_CONNECTING,
    KMAP_ALLOWED_TGIDS, KMAP_ALLOWED_PORTS, KMAP_KSTREAMS,	KMAP_KLINES,	KMAP_DETACHED,
};

#define NFILLED (sizeof(filled) / sizeof(filled[0]))

static void set_fill(struct collector *c, const uint32_t entries[NFILLED])
{
	for (size_t i = 0; i < NFILLED; i++) {
		const char *const name[] = {c->km->name[filled[i]]};

		if (!kmaps_has(c->km, filled[i]))
			continue;
		metric_set(c->m->map_entries, name, entries[i]);
		metric_set(c->m->map_max, name, c->km->max_entries[filled[i]]);
		if (filled[i] == KMAP_TRACKED_PROCS)
			metric_set(c->m->tracked_procs, NULL, entries[i]);
	}
}

static void set_map_errors(struct collector *c)
{
	for (int map = 0; map < KMAP_COUNT; map++)
		for (int op = 0; op < KMAP_OPS; op++)
			if (c->km->used[map][op])
				metric_set(
				    c->m->map_errors,
				    (const char *const[]){c->km->name[map], kmap_op_names[op]},
				    c->km->failed[map][op]);
}

static void set_counters(struct collector *c, const uint64_t cnt[CNT_MAX])
{
	metric_set(c->m->events_lost, NULL, cnt[CNT_EVENTS_LOST] + cnt[CNT_INFLIGHT_FULL]);
	metric_set(c->m->bytes_uncopied, NULL, cnt[CNT_BYTES_UNCOPIED]);
	metric_set(c->m->conns_untracked, NULL, cnt[CNT_CONNS_FULL] + c->untracked);
	metric_set(c->m->tls_unmapped, NULL, cnt[CNT_TLS_UNMAPPED] + c->held.dropped);
	metrics_kstreams_map_full(c->m, cnt[CNT_KSTREAMS_FULL]);
}

/* A map's entries: counting them copies them all out of the kernel (a
 * syscall per KMAPS_BATCH). klines' are the streams just read from their
 * lines (an array's entries are all there); gated_ids' are all the
 * connections counted in the gate, in its hash and in gate_lines;
 * sock_owner's the sockets with an owner, in its hash and in sock_lines. */
static uint32_t fill_of(struct collector *c, enum kmap map, size_t in_lines)
{
	if (map == KMAP_KLINES)
		return (uint32_t)in_lines;
	if (map == KMAP_GATED_IDS)
		return (uint32_t)__atomic_load_n(c->km->gate_held, __ATOMIC_RELAXED);
	if (map == KMAP_SOCK_OWNER)
		return kmaps_entries(c->km, map) +
		       (uint32_t)__atomic_load_n(c->km->sock_lines, __ATOMIC_RELAXED);
	return map == KMAP_CONNS ? kconns_entries(c->km) : kmaps_entries(c->km, map);
}

/* The kernel is read before the lock is taken, and a scrape must not
 * wait for that. Counters that cannot be read keep their last values;
 * the failure shows in the map errors. */
void collector_refresh_self(struct collector *c)
{
	uint64_t cnt[CNT_MAX], polls_ok = 0, polls_failed = 0;
	size_t in_lines = kstreams_refresh(c, mono_ns());
	uint32_t entries[NFILLED];
	bool counted = kmaps_counters(c->km, cnt) == 0;

	if (c->targets.kube)
		kube_cache_polls(c->targets.kube, &polls_ok, &polls_failed);
	for (size_t i = 0; i < NFILLED; i++)
		entries[i] = kmaps_has(c->km, filled[i]) ? fill_of(c, filled[i], in_lines) : 0;
	pthread_mutex_lock(c->lock);
	if (counted)
		set_counters(c, cnt);
	set_fill(c, entries);
	set_map_errors(c);
	metrics_sync_caps(c->m);
	metrics_breakers_refresh(&c->m->up, mono_ns());
	metrics_kubelet_polls(c->m, polls_ok, polls_failed);
	pthread_mutex_unlock(c->lock);
}
