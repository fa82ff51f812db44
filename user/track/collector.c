// SPDX-License-Identifier: MIT
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "ident/proc.h"
#include "track/collector.h"

#define TABLE_SIZE    16384
#define ADOPT_ID_BASE (1ull << 62) /* kernel ids count up from 1 */

int collector_init(struct collector *c, struct metrics *m, pthread_mutex_t *lock, struct kmaps *km,
		   const struct config *cfg)
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
	return conn_table_init(&c->conns, TABLE_SIZE);
}

void collector_free(struct collector *c)
{
	conn_table_free(&c->conns);
	tls_held_free(&c->held);
	free(c->execs);
	c->execs = NULL;
	c->nexecs = c->execs_cap = 0;
	free(c->probes);
	c->probes = NULL;
	c->probes_cap = 0;
}

struct conn_entry *entry_add(struct collector *c, const struct conn_key *key,
			     const struct conn_info *info)
{
	struct conn_entry *e = conn_table_add(&c->conns, key, info);

	if (!e)
		return NULL;
	e->c = c;
	proc_service_name(key->tgid, e->service, sizeof(e->service));
	if (info->role == ROLE_SERVER)
		metrics_conn_open(c->m, e->service);
	return e;
}

void entry_end(struct collector *c, struct conn_entry *e, enum http_end why, uint64_t ts)
{
	if (e->http)
		http_conn_close(e->http, why, ts);
	if (e->info.role == ROLE_SERVER)
		metrics_conn_close(c->m, e->service);
	conn_table_remove(&c->conns, e);
}
