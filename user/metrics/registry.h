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

void metric_add(struct family *f, const char *const *values, double delta);
void metric_set(struct family *f, const char *const *values, double v);
void metric_observe(struct family *f, const char *const *values, double v);

/* Drops every series: for gauges rebuilt from scratch at each scrape. */
void family_clear(struct family *f);

#endif
