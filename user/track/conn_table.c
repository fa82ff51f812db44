// SPDX-License-Identifier: MIT
#include <stdlib.h>

#include "track/conn_table.h"
#include "track/redis_track.h"

int conn_table_init(struct conn_table *t, size_t size)
{
	t->by_id = calloc(size, sizeof(*t->by_id));
	t->size = t->by_id ? size : 0;
	t->n = t->peak = 0;
	return t->by_id ? 0 : -1;
}

static struct conn_entry **slot_of(const struct conn_table *t, uint64_t id)
{
	struct conn_entry **p = &t->by_id[(id * 0x9e3779b97f4a7c15ull) % t->size];

	while (*p && (*p)->info.id != id)
		p = &(*p)->next;
	return p;
}

struct conn_entry *conn_table_find(const struct conn_table *t, uint64_t id)
{
	return *slot_of(t, id);
}

void conn_drop_http(struct conn_entry *e)
{
	if (e->up)
		upstream_call_release(e->up);
	free(e->up);
	if (e->http)
		http_conn_release(e->http);
	free(e->http);
	free(e->srv);
	e->up = NULL;
	e->http = NULL;
	e->srv = NULL;
}

static void entry_free(struct conn_entry *e)
{
	conn_drop_http(e);
	redis_track_free(e->redis);
	tentative_write_drop(&e->tentative);
	free(e);
}

void conn_table_free(struct conn_table *t)
{
	struct conn_entry *e, *next;
	size_t b;

	conn_table_for_each(t, b, e, next)
		entry_free(e);
	free(t->by_id);
	t->by_id = NULL;
	t->size = t->n = t->peak = 0;
}

struct conn_entry *conn_table_add(struct conn_table *t, const struct conn_key *key,
				  const struct conn_info *info)
{
	struct conn_entry **slot = slot_of(t, info->id);
	struct conn_entry *e;

	if (*slot)
		return NULL;
	e = calloc(1, sizeof(*e));
	if (!e)
		return NULL;
	e->key = *key;
	e->info = *info;
	*slot = e;
	if (++t->n > t->peak)
		t->peak = t->n;
	return e;
}

bool conn_table_shrunk(struct conn_table *t, size_t n)
{
	if (t->peak - t->n < n)
		return false;
	t->peak = t->n;
	return true;
}

void conn_table_remove(struct conn_table *t, struct conn_entry *e)
{
	struct conn_entry **slot = slot_of(t, e->info.id);

	*slot = e->next;
	t->n--;
	entry_free(e);
}
