/* SPDX-License-Identifier: MIT */
/*
 * Metric families and their series: counters, gauges and histograms keyed
 * by label values. No locking and no I/O: the owner serialises access.
 */
#ifndef SSE_REGISTRY_H
#define SSE_REGISTRY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define METRIC_LABELS_MAX 6

/* One label slot may carry several labels: the names joined by ',' in the
 * family's label name ("service,namespace,pod,container"), the values by
 * LABEL_SEP in the series' value. Who a series is about then travels as
 * one interned value through every call site and every per-service table.
 * Empty parts are left out of the exposition: Prometheus reads an empty
 * label as an absent one. */
#define LABEL_SEP '\x1f'

struct label_part {
	const char *name, *value;
	size_t name_len, value_len;
};

/* The next part of a slot's names and values (both advanced); false at
 * their end. */
bool label_part_next(const char **names, const char **values, struct label_part *p);

enum metric_type {
	METRIC_COUNTER,
	METRIC_GAUGE,
	METRIC_HISTOGRAM,
};

struct series {
	struct series *hash_next;
	struct series *list_next; /* creation order, for stable output */
	char *labels[METRIC_LABELS_MAX];
	double value;	   /* counter, gauge */
	double sum;	   /* histogram */
	uint64_t count;	   /* histogram */
	uint64_t *buckets; /* histogram: per bucket, not cumulative; last is +Inf */
};

struct family {
	struct family *next;
	const char *name;
	const char *help;
	enum metric_type type;
	size_t nlabels;
	const char *const *label_names;
	const double *bounds; /* histogram upper bounds, ascending, no +Inf */
	size_t nbounds;
	struct series **table;
	size_t table_size;
	struct series *first, *last;
	size_t nseries;
};

struct registry {
	struct family *first, *last;
	bool failed; /* a registry_add ran out of memory */
};

void registry_init(struct registry *r);
void registry_free(struct registry *r);

/* label_names and bounds must outlive the registry (static tables). */
struct family *registry_add(struct registry *r, const char *name, const char *help,
			    enum metric_type type, const char *const *label_names, size_t nlabels,
			    const double *bounds, size_t nbounds);

/* The series with these label values, created at zero if new; NULL only
 * when memory runs out. */
struct series *family_series(struct family *f, const char *const *values);

/* On a series already resolved: what hot paths use, no label hashing. */
void series_observe(const struct family *f, struct series *s, double v);

/* Observations counted elsewhere, by bucket: counts[i] more in bucket i
 * (nbounds + 1 of them, the last +Inf), their values summing to sum. */
void series_add_counts(const struct family *f, struct series *s, const uint64_t *counts,
		       double sum);

void metric_add(struct family *f, const char *const *values, double delta);
void metric_set(struct family *f, const char *const *values, double v);
void metric_observe(struct family *f, const char *const *values, double v);

/* Drops every series: for gauges rebuilt from scratch at each scrape. */
void family_clear(struct family *f);

/* Drops the series with these label values, if there is one. */
void family_remove(struct family *f, const char *const *values);

/* Drops, in every family whose first label slot is named first_label,
 * the series whose value there is value; returns how many. */
size_t registry_drop(struct registry *r, const char *first_label, const char *value);

#endif
