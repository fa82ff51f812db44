/* SPDX-License-Identifier: MIT */
/*
 * The kubelet's pods, kept by a thread of their own: polled every
 * interval, and soon after a lookup misses (a pod newer than the last
 * answer). Lookups never wait for the kubelet.
 */
#ifndef SSE_KUBE_CACHE_H
#define SSE_KUBE_CACHE_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "ident/kube_pods.h"
#include "ident/kubelet.h"

struct kube_cache {
	struct kubelet_config k;
	unsigned int interval_s;
	pthread_mutex_t lock;
	pthread_cond_t wake;
	pthread_t thread;
	bool started, stopping, wanted;
	struct kube_pod *pods; /* the last answer's */
	size_t n, cap;
	uint64_t polls_ok, polls_failed;
	bool failing; /* the last poll failed: told once until one succeeds */
};

/* Empty, lookups answer misses until the poller runs. */
void kube_cache_init(struct kube_cache *c, const struct kubelet_config *k, unsigned int interval_s);
/* Starts the poller (after the privileges are dropped: a thread keeps
 * those it was made with); -1 when the thread cannot be made. */
int kube_cache_start(struct kube_cache *c);
void kube_cache_stop(struct kube_cache *c);

/* The pod with this uid in the last answer; a miss asks for a new one. */
bool kube_cache_lookup(struct kube_cache *c, const char *uid, struct kube_pod *out);

/* How many polls succeeded and failed so far. */
void kube_cache_polls(struct kube_cache *c, uint64_t *ok, uint64_t *failed);

#endif
