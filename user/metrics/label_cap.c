// SPDX-License-Identifier: MIT
#include <stdlib.h>
#include <string.h>

#include "metrics/label_cap.h"

#define TABLE_SIZE 1024

struct label_cap_entry {
	struct label_cap_entry *next;
	size_t count; /* service entries: distinct values admitted */
	char *service;
	char *value; /* NULL for service entries */
};

int label_cap_init(struct label_cap *c, const char *label, size_t max)
{
	memset(c, 0, sizeof(*c));
	c->label = label;
	c->max = max;
	c->table_size = TABLE_SIZE;
	c->table = calloc(TABLE_SIZE, sizeof(*c->table));
	c->services = calloc(TABLE_SIZE, sizeof(*c->services));
	if (!c->table || !c->services) {
		label_cap_free(c);
		return -1;
	}
	return 0;
}

static void free_chain(struct label_cap_entry *e)
{
	while (e) {
		struct label_cap_entry *next = e->next;

		free(e->service);
		free(e->value);
		free(e);
		e = next;
	}
}

void label_cap_free(struct label_cap *c)
{
	for (size_t i = 0; c->table && i < c->table_size; i++)
		free_chain(c->table[i]);
	for (size_t i = 0; c->services && i < c->table_size; i++)
		free_chain(c->services[i]);
	free(c->table);
	free(c->services);
	c->table = c->services = NULL;
}

static size_t hash2(const char *a, const char *b, size_t size)
{
	uint64_t h = 1469598103934665603ull;

	for (; *a; a++)
		h = (h ^ (unsigned char)*a) * 1099511628211ull;
	h = (h ^ 0xff) * 1099511628211ull;
	for (; b && *b; b++)
		h = (h ^ (unsigned char)*b) * 1099511628211ull;
	return h % size;
}

/* A new entry, put first in its hash chain *head; NULL without memory. */
static struct label_cap_entry *entry_add(struct label_cap_entry **head, const char *service,
					 const char *value)
{
	struct label_cap_entry *e = calloc(1, sizeof(*e));

	if (!e)
		return NULL;
	e->service = strdup(service);
	e->value = value ? strdup(value) : NULL;
	if (!e->service || (value && !e->value)) {
		free(e->service);
		free(e->value);
		free(e);
		return NULL;
	}
	e->next = *head;
	*head = e;
	return e;
}

static struct label_cap_entry *service_entry(struct label_cap *c, const char *service)
{
	size_t slot = hash2(service, NULL, c->table_size);
	struct label_cap_entry *e;

	for (e = c->services[slot]; e; e = e->next)
		if (!strcmp(e->service, service))
			return e;
	return entry_add(&c->services[slot], service, NULL);
}

const char *label_cap_admit(struct label_cap *c, const char *service, const char *value,
			    bool count_drop)
{
	size_t slot = hash2(service, value, c->table_size);
	struct label_cap_entry *e, *svc;

	for (e = c->table[slot]; e; e = e->next)
		if (!strcmp(e->value, value) && !strcmp(e->service, service))
			return e->value;
	svc = service_entry(c, service);
	if (!svc || svc->count >= c->max)
		goto other;
	e = entry_add(&c->table[slot], service, value);
	if (!e)
		goto other;
	svc->count++;
	return e->value;
other:
	if (count_drop)
		c->dropped++;
	return LABEL_OTHER;
}

/* Unlinks and frees the entries of service in one chain. */
static void forget_in_chain(struct label_cap_entry **p, const char *service)
{
	while (*p) {
		struct label_cap_entry *e = *p;

		if (strcmp(e->service, service)) {
			p = &e->next;
			continue;
		}
		*p = e->next;
		e->next = NULL;
		free_chain(e);
	}
}

void label_cap_forget(struct label_cap *c, const char *service)
{
	for (size_t i = 0; i < c->table_size; i++)
		forget_in_chain(&c->table[i], service);
	forget_in_chain(&c->services[hash2(service, NULL, c->table_size)], service);
}
