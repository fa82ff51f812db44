/* SPDX-License-Identifier: MIT */
/*
 * Cardinality caps: at most `max` distinct values of one label per
 * service; later values become "other" and are counted as dropped. Pure.
 */
#ifndef SSE_LABEL_CAP_H
#define SSE_LABEL_CAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define LABEL_OTHER "other"

struct label_cap_entry;

struct label_cap {
	const char *label; /* label name, for the dropped-series counter */
	size_t max;	   /* distinct values per service */
	uint64_t dropped;  /* values folded into "other" */
	struct label_cap_entry **table;
	size_t table_size;
	struct label_cap_entry **services; /* per-service value counts */
};

int label_cap_init(struct label_cap *c, const char *label, size_t max);
void label_cap_free(struct label_cap *c);

/* value when it is known for the service or there is room for it, else
 * LABEL_OTHER, counted in dropped when count_drop is set (callers count
 * once per observation that was folded, not per lookup). The returned
 * string lives as long as the cap. */
const char *label_cap_admit(struct label_cap *c, const char *service, const char *value,
			    bool count_drop);

/* Forgets every value of service (a target gone for good): pointers
 * label_cap_admit returned for it are invalid after. */
void label_cap_forget(struct label_cap *c, const char *service);

#endif
