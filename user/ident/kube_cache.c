// SPDX-License-Identifier: MIT
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/array.h"
#include "core/log.h"
#include "ident/kube_cache.h"

/* A miss asks for a poll; polls come at most this often all the same. */
#define MIN_GAP_S 1

struct fresh {
	struct kube_pod *pods;
	size_t n, cap;
	bool oom;
};

static void keep_pod(void *arg, const struct kube_pod *p)
{
	struct fresh *f = arg;

	if (array_reserve((void **)&f->pods, &f->cap, f->n + 1, sizeof(*f->pods))) {
		f->oom = true;
		return;
	}
	f->pods[f->n++] = *p;
}

/* One poll; the answer replaces the last one whole. */
static void poll_once(struct kube_cache *c)
{
	struct fresh f = {0};
	char why[256] = "not a pod list";
	size_t len = 0;
	char *body = kubelet_get_pods(&c->k, &len, why, sizeof(why));
	bool ok = body && !kube_pods_parse(body, len, keep_pod, &f) && !f.oom;

	free(body);
	pthread_mutex_lock(&c->lock);
	if (ok) {
		free(c->pods);
		c->pods = f.pods;
		c->n = f.n;
		c->cap = f.cap;
		c->polls_ok++;
		if (c->failing)
			log_info("kubelet: %s/pods answers again (%zu pods)", c->k.url, f.n);
	} else {
		free(f.pods);
		c->polls_failed++;
		if (!c->failing)
			log_warn("kubelet: %s (pods keep the names they had; told again once it "
				 "answers)",
				 why);
	}
	c->failing = !ok;
	pthread_mutex_unlock(&c->lock);
}

static struct timespec after_s(unsigned int s)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	t.tv_sec += s;
	return t;
}

static void *poller(void *arg)
{
	struct kube_cache *c = arg;

	pthread_mutex_lock(&c->lock);
	while (!c->stopping) {
		struct timespec next = after_s(c->interval_s), gap;

		c->wanted = false;
		pthread_mutex_unlock(&c->lock);
		poll_once(c);
		gap = after_s(MIN_GAP_S);
		pthread_mutex_lock(&c->lock);
		while (!c->stopping &&
		       pthread_cond_timedwait(&c->wake, &c->lock, c->wanted ? &gap : &next) == 0)
			;
	}
	pthread_mutex_unlock(&c->lock);
	return NULL;
}

void kube_cache_init(struct kube_cache *c, const struct kubelet_config *k, unsigned int interval_s)
{
	pthread_condattr_t attr;

	memset(c, 0, sizeof(*c));
	c->k = *k;
	c->interval_s = interval_s;
	pthread_mutex_init(&c->lock, NULL);
	pthread_condattr_init(&attr);
	pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
	pthread_cond_init(&c->wake, &attr);
	pthread_condattr_destroy(&attr);
}

int kube_cache_start(struct kube_cache *c)
{
	if (pthread_create(&c->thread, NULL, poller, c))
		return -1;
	c->started = true;
	return 0;
}

void kube_cache_stop(struct kube_cache *c)
{
	if (c->started) {
		pthread_mutex_lock(&c->lock);
		c->stopping = true;
		pthread_cond_signal(&c->wake);
		pthread_mutex_unlock(&c->lock);
		pthread_join(c->thread, NULL);
		c->started = false;
	}
	free(c->pods);
	c->pods = NULL;
	c->n = c->cap = 0;
}

bool kube_cache_lookup(struct kube_cache *c, const char *uid, struct kube_pod *out)
{
	bool found = false;

	pthread_mutex_lock(&c->lock);
	for (size_t i = 0; i < c->n && !found; i++) {
		if (strcmp(c->pods[i].uid, uid))
			continue;
		*out = c->pods[i];
		found = true;
	}
	if (!found && !c->wanted) {
		c->wanted = true;
		pthread_cond_signal(&c->wake);
	}
	pthread_mutex_unlock(&c->lock);
	return found;
}

void kube_cache_polls(struct kube_cache *c, uint64_t *ok, uint64_t *failed)
{
	pthread_mutex_lock(&c->lock);
	*ok = c->polls_ok;
	*failed = c->polls_failed;
	pthread_mutex_unlock(&c->lock);
}
