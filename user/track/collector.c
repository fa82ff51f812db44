// SPDX-License-Identifier: MIT
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "track/collector.h"
#include "track/kstreams.h"
#include "track/redis_track.h"

#define TABLE_SIZE    16384
#define ADOPT_ID_BASE (1ull << 62) /* kernel ids count up from 1 */

int collector_init(struct collector *c, struct metrics *m, pthread_mutex_t *lock, struct kmaps *km,
		   const struct config *cfg, struct kube_cache *kube)
{
	memset(c, 0, sizeof(*c));
	c->m = m;
	c->lock = lock;
	c->km = km;
	c->cfg = cfg;
	c->next_adopt_id = ADOPT_ID_BASE;
	provider_map_init(&c->providers);
	for (size_t i = 0; i < cfg->nprovider_maps; i++) {
		const char *why = "";

		if (provider_map_add(&c->providers, cfg->provider_maps[i], &why)) {
			log_error("--provider.map=%s: %s", cfg->provider_maps[i], why);
			return -1;
		}
	}
	upstream_index_init(&c->upstreams, &m->up, &c->providers);
	tls_held_init(&c->held);
	c->kread.found = calloc(KSTREAMS_BATCH, sizeof(*c->kread.found));
	c->kread.ks = calloc(KSTREAMS_BATCH, sizeof(*c->kread.ks));
	if (!c->kread.found || !c->kread.ks)
		return -1;
	c->kread.batch = KSTREAMS_BATCH;
	c->sweep_budget = SWEEP_BUDGET;
	if (targets_init(&c->targets, m, cfg, kube))
		return -1;
	return conn_table_init(&c->conns, TABLE_SIZE);
}

void collector_free(struct collector *c)
{
	struct conn_entry *e, *next;
	size_t b;

	if (c->conns.by_id)
		conn_table_for_each(&c->conns, b, e, next)
			target_put(&c->targets, e->target);
	conn_table_free(&c->conns);
	targets_free(&c->targets);
	tls_held_free(&c->held);
	free(c->execs);
	c->execs = NULL;
	c->nexecs = c->execs_cap = 0;
	free(c->probes);
	free(c->kread.ids);
	free(c->kread.found);
	free(c->kread.ks);
	memset(&c->kread, 0, sizeof(c->kread));
	c->probes = NULL;
	c->probes_cap = 0;
}

struct conn_entry *entry_add(struct collector *c, const struct conn_key *key,
			     const struct conn_info *info, uint64_t start_ticks, const char *comm)
{
	struct target *tg = target_get(&c->targets, key->tgid, start_ticks, comm);
	struct conn_entry *e = tg ? conn_table_add(&c->conns, key, info) : NULL;

	if (!e) {
		target_put(&c->targets, tg);
		return NULL;
	}
	e->c = c;
	e->target = tg;
	if (info->role == ROLE_SERVER)
		metrics_conn_open(c->m, tg->key);
	return e;
}

void entry_end(struct collector *c, struct conn_entry *e, enum http_end why, uint64_t ts)
{
	kstream_close(c, e, ts);
	if (e->http)
		http_conn_close(e->http, why, ts);
	if (e->redis)
		redis_track_close(e, ts);
	struct target *tg = e->target;

	if (e->info.role == ROLE_SERVER)
		metrics_conn_close(c->m, tg->key);
	if (e->detached_ns)
		c->ndetached--;
	conn_table_remove(&c->conns, e);
	target_put(&c->targets, tg);
}

/* Its series stay the accepting process's: the service a client reached. */
void entry_detach(struct collector *c, struct conn_entry *e, uint64_t ts)
{
	if (!e->detached_ns)
		c->ndetached++;
	e->detached_ns = ts ? ts : 1;
	e->key = (struct conn_key){.tgid = 0, .fd = -1};
	e->sweeps_gone = 0;
}

void entry_attach(struct collector *c, struct conn_entry *e, const struct conn_key *key)
{
	if (e->detached_ns)
		c->ndetached--;
	e->detached_ns = 0;
	e->key = *key;
	e->sweeps_gone = 0;
}
