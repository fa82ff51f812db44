// SPDX-License-Identifier: MIT
#include <stdlib.h>
#include <string.h>

#include "metrics/histogram.h"
#include "metrics/registry.h"

#define TABLE_SIZE 256

void registry_init(struct registry *r)
{
	memset(r, 0, sizeof(*r));
}

static void series_free(struct series *s, size_t nlabels)
{
	for (size_t i = 0; i < nlabels; i++)
		free(s->labels[i]);
	free(s->buckets);
	free(s);
}

void family_clear(struct family *f)
{
	struct series *s = f->first, *next;

	for (; s; s = next) {
		next = s->list_next;
		series_free(s, f->nlabels);
	}
	memset(f->table, 0, f->table_size * sizeof(*f->table));
	f->first = f->last = NULL;
	f->nseries = 0;
}

void registry_free(struct registry *r)
{
	struct family *f = r->first, *next;

	for (; f; f = next) {
		next = f->next;
		family_clear(f);
		free(f->table);
		free(f);
	}
	registry_init(r);
}

struct family *registry_add(struct registry *r, const char *name, const char *help,
			    enum metric_type type, const char *const *label_names, size_t nlabels,
			    const double *bounds, size_t nbounds)
{
	struct family *f;

	f = nlabels <= METRIC_LABELS_MAX ? calloc(1, sizeof(*f)) : NULL;
	if (f)
		f->table = calloc(TABLE_SIZE, sizeof(*f->table));
	if (!f || !f->table) {
		free(f);
		r->failed = true;
		return NULL;
	}
	f->table_size = TABLE_SIZE;
	f->name = name;
	f->help = help;
	f->type = type;
	f->label_names = label_names;
	f->nlabels = nlabels;
	f->bounds = bounds;
	f->nbounds = nbounds;
	if (r->last)
		r->last->next = f;
	else
		r->first = f;
	r->last = f;
	return f;
}

static uint64_t hash_labels(const char *const *values, size_t n)
{
	uint64_t h = 1469598103934665603ull; /* FNV-1a */

	for (size_t i = 0; i < n; i++) {
		for (const char *p = values[i]; *p; p++)
			h = (h ^ (unsigned char)*p) * 1099511628211ull;
		h = (h ^ 0xff) * 1099511628211ull; /* separator */
	}
	return h;
}

static bool labels_equal(const struct series *s, const char *const *values, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(s->labels[i], values[i]))
			return false;
	return true;
}

static struct series *series_new(const struct family *f, const char *const *values)
{
	struct series *s = calloc(1, sizeof(*s));

	if (!s)
		return NULL;
	for (size_t i = 0; i < f->nlabels; i++) {
		s->labels[i] = strdup(values[i]);
		if (!s->labels[i])
			goto fail;
	}
	if (f->type == METRIC_HISTOGRAM) {
		s->buckets = calloc(f->nbounds + 1, sizeof(*s->buckets));
		if (!s->buckets)
			goto fail;
	}
	return s;
fail:
	series_free(s, f->nlabels);
	return NULL;
}

struct series *family_series(struct family *f, const char *const *values)
{
	size_t slot = hash_labels(values, f->nlabels) % f->table_size;
	struct series *s;

	for (s = f->table[slot]; s; s = s->hash_next)
		if (labels_equal(s, values, f->nlabels))
			return s;
	s = series_new(f, values);
	if (!s)
		return NULL;
	s->hash_next = f->table[slot];
	f->table[slot] = s;
	if (f->last)
		f->last->list_next = s;
	else
		f->first = s;
	f->last = s;
	f->nseries++;
	return s;
}

void metric_add(struct family *f, const char *const *values, double delta)
{
	struct series *s = family_series(f, values);

	if (s)
		s->value += delta;
}

void metric_set(struct family *f, const char *const *values, double v)
{
	struct series *s = family_series(f, values);

	if (s)
		s->value = v;
}

void series_observe(const struct family *f, struct series *s, double v)
{
	s->buckets[histogram_bucket(f->bounds, f->nbounds, v)]++;
	s->sum += v;
	s->count++;
}

void series_add_counts(const struct family *f, struct series *s, const uint64_t *counts, double sum)
{
	for (size_t i = 0; i <= f->nbounds; i++) {
		s->buckets[i] += counts[i];
		s->count += counts[i];
	}
	s->sum += sum;
}

void metric_observe(struct family *f, const char *const *values, double v)
{
	struct series *s = family_series(f, values);

	if (s)
		series_observe(f, s, v);
}

bool label_part_next(const char **names, const char **values, struct label_part *p)
{
	const char *name_end, *value_end;

	if (!**names)
		return false;
	name_end = strchrnul(*names, ',');
	value_end = strchrnul(*values, LABEL_SEP);
	p->name = *names;
	p->name_len = name_end - *names;
	p->value = *values;
	p->value_len = value_end - *values;
	*names = *name_end ? name_end + 1 : name_end;
	*values = *value_end ? value_end + 1 : value_end;
	return true;
}

static void unlink_series(struct family *f, struct series *s, struct series *list_prev)
{
	size_t slot = hash_labels((const char *const *)s->labels, f->nlabels) % f->table_size;
	struct series **p = &f->table[slot];

	while (*p != s)
		p = &(*p)->hash_next;
	*p = s->hash_next;
	if (list_prev)
		list_prev->list_next = s->list_next;
	else
		f->first = s->list_next;
	if (f->last == s)
		f->last = list_prev;
	f->nseries--;
}

static size_t family_drop(struct family *f, const char *value)
{
	struct series *s = f->first, *prev = NULL, *next;
	size_t dropped = 0;

	for (; s; s = next) {
		next = s->list_next;
		if (strcmp(s->labels[0], value)) {
			prev = s;
			continue;
		}
		unlink_series(f, s, prev);
		series_free(s, f->nlabels);
		dropped++;
	}
	return dropped;
}

void family_remove(struct family *f, const char *const *values)
{
	struct series *s = f->first, *prev = NULL;

	for (; s; prev = s, s = s->list_next) {
		if (!labels_equal(s, values, f->nlabels))
			continue;
		unlink_series(f, s, prev);
		series_free(s, f->nlabels);
		return;
	}
}

size_t registry_drop(struct registry *r, const char *first_label, const char *value)
{
	size_t dropped = 0;

	for (struct family *f = r->first; f; f = f->next)
		if (f->nlabels && !strcmp(f->label_names[0], first_label))
			dropped += family_drop(f, value);
	return dropped;
}
