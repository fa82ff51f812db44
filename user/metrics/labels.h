/* SPDX-License-Identifier: MIT */
/*
 * The capped labels both sides of the catalog share (path, model,
 * provider), the units they observe in, and the lost-exchange counter.
 * Pure.
 */
#ifndef SSE_LABELS_H
#define SSE_LABELS_H

#include "metrics/label_cap.h"
#include "metrics/registry.h"
#include "proto/http_conn.h"

#define METRICS_TTFC_BUCKETS 16

/* The first label slot of every family about an observed process: who it
 * is. Its value is a target key (target_key), and every per-service table
 * (label caps, breakers) is per target. */
#define TARGET_LABELS  "service,namespace,pod,container"
#define TARGET_KEY_MAX 512

/* The key of service, namespace, pod and container ("" for none): each
 * part printable ASCII (other bytes become '_'), joined by LABEL_SEP,
 * empty parts at the end left off, so a plain process is its name. */
void target_key(char *out, size_t size, const char *service, const char *namespace, const char *pod,
		const char *container);

/* Time to first chunk has the same buckets inbound and upstream. */
extern const double metrics_ttfc_buckets[METRICS_TTFC_BUCKETS];

/* Nanoseconds to seconds, exactly on bucket bounds. */
double seconds(uint64_t ns);

struct metric_labels {
	struct label_cap paths;
	struct label_cap models;
	struct label_cap providers;
};

int metric_labels_init(struct metric_labels *l, size_t max_paths, size_t max_models);
void metric_labels_free(struct metric_labels *l);
/* A gone target's values leave the caps. */
void metric_labels_forget(struct metric_labels *l, const char *service);

/* Labels are looked up at every callback of an exchange; a folded value
 * is counted as dropped once, at the exchange's end (at_end). */
const char *label_path(struct metric_labels *l, const char *service, const struct http_exchange *x,
		       bool at_end);
/* "unknown" without a model */
const char *label_model(struct metric_labels *l, const char *service, const struct http_exchange *x,
			bool at_end);
const char *label_provider(struct metric_labels *l, const char *service, const char *provider,
			   bool at_end);

/* Counts an exchange whose outcome is unknown in lost (labels service,
 * reason: outcome_lost); false when the outcome is known. */
bool count_lost(struct family *lost, const char *service, const struct http_exchange *x,
		enum http_end why);

/* Counts, in undecoded (label reason), an event stream whose events could
 * not be split (x->undecoded); with x NULL, every reason from zero. */
void count_undecoded(struct family *undecoded, const struct http_exchange *x);

#endif
