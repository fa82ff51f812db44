// SPDX-License-Identifier: MIT
#include <stdlib.h>
#include <unistd.h>

#include "ident/proc.h"
#include "kernel/kconns.h"
#include "track/kernel_sync.h"

/* The kernel's entry of e, when it is still e's: under e's key, or by
 * its socket while it is between owners (detached). */
static bool kernel_entry(struct collector *c, const struct conn_entry *e, struct conn_info *cur)
{
	if (e->detached_ns)
		return kmaps_lookup(c->km, KMAP_DETACHED, &e->info.sk, cur) == 0 &&
		       cur->id == e->info.id;
	return kconns_lookup(c->km, &e->key, cur) == 0 && cur->id == e->info.id;
}

bool kernel_holds(struct collector *c, const struct conn_entry *e)
{
	struct conn_info cur;

	return kernel_entry(c, e, &cur);
}

bool kernel_lost_records(struct collector *c, const struct conn_entry *e)
{
	struct conn_info cur;

	return kernel_entry(c, e, &cur) && cur.lost;
}

/* Counts a connection in the gate (bpf/conn_store.bpf.h) before its entry is
 * made, as the kernel does at accept: never an entry whose bytes the
 * gate hides. */
static int gate_take(struct collector *c, const struct conn_key *key, uint64_t id)
{
	int err = kmaps_gate_held_take(c->km);

	if (err)
		return err;
	err = kmaps_gate_add(c->km, key, 1);
	if (err) {
		kmaps_gate_held_drop(c->km);
		return err;
	}
	err = kmaps_update(c->km, KMAP_GATED_IDS, &id, key, KMAP_NOEXIST);
	if (err) {
		kmaps_gate_add(c->km, key, -1);
		kmaps_gate_held_drop(c->km);
	}
	return err;
}

/* Uncounts it, unless the kernel did (close, PROTO_OTHER): whoever
 * takes the id out of its line or the hash does, at the key it was
 * counted under (the kernel may have handed the connection to another
 * key since, handoff.bpf.h). */
static void gate_release(struct collector *c, uint64_t id)
{
	struct conn_key key;

	if (kmaps_gate_line_take(c->km, id, &key) == 0 ||
	    kmaps_take(c->km, KMAP_GATED_IDS, &id, &key) == 0) {
		kmaps_gate_add(c->km, &key, -1);
		kmaps_gate_held_drop(c->km);
	}
}

bool kernel_forget_detached(struct collector *c, const struct conn_entry *e)
{
	struct conn_info cur;

	if (kmaps_take(c->km, KMAP_DETACHED, &e->info.sk, &cur))
		return false;
	kmaps_handoffs_add(c->km, -1);
	if (cur.id == e->info.id)
		return true;
	/* another connection's, made since: put back */
	if (kmaps_update(c->km, KMAP_DETACHED, &e->info.sk, &cur, KMAP_NOEXIST) == 0)
		kmaps_handoffs_add(c->km, 1);
	return false;
}

/* The owner of e's socket, if it is still e's. e's entry in
 * conns outlives its socket when its process exited (the kernel closed
 * its fds without close() calls) or its close record was lost; by the
 * time user space ends it, the socket may be gone and its address a new
 * connection's, whose entry deleted would hide it from its TCP state
 * changes and from a process taking it over (bpf/handoff.bpf.h: a forking
 * server's child would write its stream unseen). Left alone: a new
 * connection's entry made between the lookup and the delete. */
static void forget_sock_owner(struct collector *c, const struct conn_entry *e)
{
	if (e->info.sk)
		kmaps_sock_owner_forget(c->km, e->info.sk, &e->key);
}

void kernel_forget(struct collector *c, const struct conn_entry *e)
{
	struct conn_info cur;

	if (e->detached_ns) {
		kernel_forget_detached(c, e);
		return;
	}
	if (kernel_entry(c, e, &cur)) {
		kconns_delete(c->km, &e->key, e->info.id);
		forget_sock_owner(c, e);
	}
	gate_release(c, e->info.id);
}

void kernel_forget_process(struct collector *c, pid_t tgid)
{
	uint32_t key = tgid;

	if (!proc_running(tgid))
		kmaps_delete(c->km, KMAP_TRACKED_PROCS, &key);
}

/* An adopted connection the kernel found to be TLS stays TLS when its
 * plaintext shows HTTP or Redis: its bytes come from the library hooks. */
void kernel_set_proto(struct collector *c, struct conn_entry *e, enum conn_proto proto)
{
	struct conn_info cur;

	e->info.proto = proto;
	if (!kernel_entry(c, e, &cur))
		return;
	if (cur.proto == PROTO_TLS && proto != PROTO_OTHER) {
		e->info.proto = PROTO_TLS;
		return;
	}
	kconns_set_proto(c->km, &e->key, e->info.id, proto);
	/* as the kernel marks the upstream calls it classifies itself */
	if (proto == PROTO_HTTP && e->info.role == ROLE_CLIENT)
		kmaps_upstream_mark(c->km, e->key.tgid);
	if (proto == PROTO_OTHER) /* its calls need no lookup any more */
		gate_release(c, e->info.id);
}

static bool selected_by_rules(const struct config *cfg, pid_t tgid)
{
	for (size_t i = 0; i < cfg->npids; i++)
		if (cfg->pids[i] == tgid)
			return true;
	return (cfg->nexes && proc_exe_matches(tgid, cfg->exes, cfg->nexes)) ||
	       (cfg->ncgroups && proc_cgroup_matches(tgid, cfg->cgroups, cfg->ncgroups));
}

void kernel_select(struct collector *c, pid_t tgid)
{
	uint32_t key = tgid;
	uint8_t one = 1;

	if (selected_by_rules(c->cfg, tgid))
		kmaps_update(c->km, KMAP_ALLOWED_TGIDS, &key, &one, KMAP_ANY);
	else
		kmaps_delete(c->km, KMAP_ALLOWED_TGIDS, &key);
}

static void select_cb(void *ctx, pid_t tgid)
{
	kernel_select(ctx, tgid);
}

void collector_select_initial(struct collector *c)
{
	uint8_t one = 1;

	for (size_t i = 0; i < c->cfg->nports; i++)
		kmaps_update(c->km, KMAP_ALLOWED_PORTS, &c->cfg->ports[i], &one, KMAP_ANY);
	if (c->cfg->npids || c->cfg->nexes || c->cfg->ncgroups)
		proc_for_each_tgid(select_cb, c);
}

bool kernel_selected(struct collector *c, pid_t tgid, uint16_t lport)
{
	uint32_t key = tgid;
	uint8_t v;

	if (tgid == getpid())
		return false;
	if (!config_selective(c->cfg))
		return true;
	return kmaps_lookup(c->km, KMAP_ALLOWED_TGIDS, &key, &v) == 0 ||
	       kmaps_lookup(c->km, KMAP_ALLOWED_PORTS, &lport, &v) == 0;
}

int kernel_adopt(struct collector *c, const struct conn_key *key, const struct conn_info *info)
{
	uint64_t one = 1;
	int err = gate_take(c, key, info->id);

	if (err)
		return err;
	/* KMAP_NOEXIST: a connection accepted since we attached is the
	 * kernel's already, with better information */
	err = kconns_adopt(c->km, key, info);
	if (err) {
		gate_release(c, info->id);
		return err;
	}
	kmaps_update(c->km, KMAP_TRACKED_PROCS, &key->tgid, &one, KMAP_NOEXIST);
	kmaps_procs_mark(c->km, key->tgid);
	return 0;
}

void kernel_remark(struct collector *c)
{
	struct conn_entry *e, *next;
	size_t b;

	conn_table_for_each(&c->conns, b, e, next)
		if (!e->detached_ns) /* no process holds it: it has no fd */
			kmaps_procs_mark(c->km, e->key.tgid);
}
