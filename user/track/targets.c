// SPDX-License-Identifier: MIT
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/clock.h"
#include "core/log.h"
#include "ident/proc.h"
#include "track/targets.h"

#define TABLE_SIZE 4096
/* sweeps that ask the kubelet's answers for a pod before giving up */
#define KUBE_MISSES_MAX 10

/* How many processes name one target, and since when none has. */
struct target_life {
	struct target_life *next;
	size_t live;
	uint64_t gone_ns;
	char key[TARGET_KEY_MAX];
};

const char *targets_host_root(const struct config *cfg)
{
	char self[64] = "", init[64] = "";
	ssize_t a, b;

	if (cfg->host_root)
		return strcmp(cfg->host_root, "/") ? cfg->host_root : "";
	a = readlink("/proc/self/ns/mnt", self, sizeof(self) - 1);
	b = readlink("/proc/1/ns/mnt", init, sizeof(init) - 1);
	if (a <= 0 || b <= 0) { /* no CAP_SYS_PTRACE over PID 1, or a guarded one */
		log_info("identity: cannot compare this mount namespace with PID 1's (%s): "
			 "container names are read from this file system's /run and /var/lib; "
			 "--ident.host-root sets where the host's are",
			 strerror(errno));
		return "";
	}
	return strcmp(self, init) ? "/proc/1/root" : "";
}

int targets_init(struct targets *t, struct metrics *m, const struct config *cfg,
		 struct kube_cache *kube)
{
	memset(t, 0, sizeof(*t));
	t->by_tgid = calloc(TABLE_SIZE, sizeof(*t->by_tgid));
	if (!t->by_tgid)
		return -1;
	t->size = TABLE_SIZE;
	t->m = m;
	t->roots.proc = "/proc";
	t->roots.host = targets_host_root(cfg);
	t->order = cfg->service_from;
	t->norder = cfg->nservice_from;
	t->kube = kube;
	return 0;
}

static struct target **chain_of(struct targets *t, pid_t tgid)
{
	return &t->by_tgid[(uint32_t)tgid % t->size];
}

static struct target *find(struct targets *t, pid_t tgid)
{
	for (struct target *tg = *chain_of(t, tgid); tg; tg = tg->next)
		if (tg->tgid == tgid)
			return tg;
	return NULL;
}

static struct target_life *life_of(struct targets *t, const char *key)
{
	struct target_life *l;

	for (l = t->lives; l; l = l->next)
		if (!strcmp(l->key, key))
			return l;
	l = calloc(1, sizeof(*l));
	if (!l)
		return NULL;
	snprintf(l->key, sizeof(l->key), "%s", key);
	l->next = t->lives;
	t->lives = l;
	return l;
}

static void life_leave(struct target_life *l)
{
	if (!--l->live)
		l->gone_ns = mono_ns();
}

static void facts_of(const struct target *tg, struct target_facts *f)
{
	*f = (struct target_facts){
	    .container_id = tg->id.cgroup.container_id,
	    .pod_uid = tg->id.cgroup.pod_uid,
	    .image = tg->id.oci.image,
	    .comm = tg->comm,
	    .pid = tg->tgid,
	};
}

/* The kubelet's word on the pod, when it has one; a pod it has not
 * named yet stays pending. */
static void enrich(struct targets *t, struct target *tg)
{
	tg->kube_pending = false;
	if (!t->kube || !tg->id.cgroup.pod_uid[0])
		return;
	if (!kube_cache_lookup(t->kube, tg->id.cgroup.pod_uid, &tg->id.kube)) {
		tg->kube_pending = ++tg->kube_misses < KUBE_MISSES_MAX;
		return;
	}
	identity_pick_service(&tg->id, t->order, t->norder, tg->comm);
}

/* comm is the last resort of every order; the runtime's names of the pod
 * win over the kubelet's (they are there from the first request). */
static void make_key(struct target *tg, char *key, size_t size)
{
	const struct oci_ident *oci = &tg->id.oci;
	const struct kube_pod *kube = &tg->id.kube;

	target_key(key, size, tg->id.service[0] ? tg->id.service : tg->comm,
		   oci->namespace[0] ? oci->namespace : kube->namespace,
		   oci->pod[0] ? oci->pod : kube->name, oci->container);
}

/* Reads who the process is. */
static struct target *resolve(struct targets *t, pid_t tgid, uint64_t start_ticks, const char *comm)
{
	struct target *tg = calloc(1, sizeof(*tg));
	struct target_facts f;

	if (!tg)
		return NULL;
	tg->tgid = tgid;
	tg->start_ticks = start_ticks;
	proc_service_name(tgid, tg->comm, sizeof(tg->comm));
	if (!strcmp(tg->comm, "unknown") && comm && comm[0])
		snprintf(tg->comm, sizeof(tg->comm), "%s", comm);
	identity_resolve(&t->roots, tgid, tg->comm, t->order, t->norder, &tg->id);
	enrich(t, tg);
	make_key(tg, tg->key, sizeof(tg->key));
	tg->life = life_of(t, tg->key);
	if (!tg->life) {
		free(tg);
		return NULL;
	}
	tg->life->live++;
	facts_of(tg, &f);
	metrics_target_up(t->m, tg->key, &f);
	return tg;
}

/* A reused pid whose new process looks the same shares the info series. */
static bool info_shared(struct targets *t, const struct target *tg)
{
	const struct target *now = find(t, tg->tgid);

	return now && now != tg && !strcmp(now->key, tg->key) && !strcmp(now->comm, tg->comm) &&
	       !strcmp(now->id.cgroup.container_id, tg->id.cgroup.container_id) &&
	       !strcmp(now->id.cgroup.pod_uid, tg->id.cgroup.pod_uid) &&
	       !strcmp(now->id.oci.image, tg->id.oci.image);
}

void target_put(struct targets *t, struct target *tg)
{
	struct target_facts f;

	if (!tg || --tg->refs)
		return;
	facts_of(tg, &f);
	if (!info_shared(t, tg))
		metrics_target_down(t->m, tg->key, &f);
	life_leave(tg->life);
	if (tg->first_life)
		life_leave(tg->first_life);
	free(tg);
}

static void unlist(struct targets *t, struct target *tg)
{
	struct target **p = chain_of(t, tg->tgid);

	while (*p != tg)
		p = &(*p)->next;
	*p = tg->next;
	tg->listed = false;
	t->n--;
	target_put(t, tg);
}

struct target *target_get(struct targets *t, pid_t tgid, uint64_t start_ticks, const char *comm)
{
	struct target *tg = find(t, tgid);

	if (!start_ticks)
		start_ticks = proc_start_ticks(tgid);
	/* a process gone before we asked keeps what was known of it */
	if (tg && (tg->start_ticks == start_ticks || !start_ticks)) {
		tg->refs++;
		return tg;
	}
	if (tg)
		unlist(t, tg); /* the pid names another process now */
	tg = resolve(t, tgid, start_ticks, comm);
	if (!tg)
		return NULL;
	tg->refs = 2;
	tg->listed = true;
	tg->next = *chain_of(t, tgid);
	*chain_of(t, tgid) = tg;
	t->n++;
	return tg;
}

void targets_exit(struct targets *t, pid_t tgid)
{
	struct target *tg = find(t, tgid);

	if (tg)
		unlist(t, tg);
}

void targets_check_alive(struct targets *t)
{
	for (size_t b = 0; b < t->size; b++) {
		struct target *tg = t->by_tgid[b], *next;

		for (; tg; tg = next) {
			next = tg->next;
			if (proc_start_ticks(tg->tgid) != tg->start_ticks)
				unlist(t, tg);
		}
	}
}

/* The target under its new name from now on; the old life is kept until
 * the target ends. */
static void rename_target(struct targets *t, struct target *tg, const char *key)
{
	struct target_life *l = life_of(t, key);
	struct target_facts f;

	if (!l)
		return; /* keeps its name: no memory for another */
	facts_of(tg, &f);
	metrics_target_down(t->m, tg->key, &f);
	tg->first_life = tg->life;
	tg->life = l;
	l->live++;
	snprintf(tg->key, sizeof(tg->key), "%s", key);
	metrics_target_up(t->m, tg->key, &f);
}

void targets_enrich(struct targets *t)
{
	char key[TARGET_KEY_MAX];

	for (size_t b = 0; t->kube && b < t->size; b++)
		for (struct target *tg = t->by_tgid[b]; tg; tg = tg->next) {
			if (!tg->kube_pending)
				continue;
			enrich(t, tg);
			make_key(tg, key, sizeof(key));
			if (!tg->kube_pending && strcmp(key, tg->key))
				rename_target(t, tg, key);
		}
}

void targets_expire(struct targets *t, uint64_t now, uint64_t stale_ns)
{
	struct target_life **p = &t->lives;

	while (*p) {
		struct target_life *l = *p;

		/* not now - gone_ns: a clock read before the exit is not
		 * a very late one */
		if (l->live || now < l->gone_ns + stale_ns) {
			p = &l->next;
			continue;
		}
		metrics_forget_target(t->m, l->key);
		*p = l->next;
		free(l);
	}
}

/* Holders put their references first (the collector's connections). */
void targets_free(struct targets *t)
{
	for (size_t b = 0; t->by_tgid && b < t->size; b++)
		while (t->by_tgid[b])
			unlist(t, t->by_tgid[b]);
	while (t->lives) {
		struct target_life *l = t->lives;

		t->lives = l->next;
		free(l);
	}
	free(t->by_tgid);
	t->by_tgid = NULL;
}
