// SPDX-License-Identifier: MIT
#include <string.h>

#include "core/ascii.h"
#include "metrics/labels.h"
#include "metrics/metrics_redis.h"
#include "proto/path_norm.h"

#define N(a) (sizeof(a) / sizeof((a)[0]))

#define TIER_L2	   "L2"	   /* a shared cache, as against the process's own (L1) */
#define QUEUE_TYPE "redis" /* beside the queue types of other brokers */

static const double b_command[] = {0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01,
				   0.025,  0.05,    0.1,    0.25,  0.5,	   1,	  2.5};

static const char *const l_tier[] = {TARGET_LABELS, "tier"};
static const char *const l_queue_type[] = {TARGET_LABELS, "queue_type"};
static const char *const l_queue_failure[] = {TARGET_LABELS, "queue_type", "reason"};
static const char *const l_queue_name[] = {TARGET_LABELS, "queue_name"};
static const char *const l_command[] = {TARGET_LABELS, "command"};
static const char *const l_reason[] = {"reason"};

static const char *const unpaired_names[REDIS_UNPAIRED_REASONS] = {
    [REDIS_UNPAIRED_GAP] = "gap",
    [REDIS_UNPAIRED_PARSE] = "parse",
};

static struct family *add(struct registry *r, const char *name, const char *help,
			  enum metric_type type, const char *const *labels, size_t n)
{
	return registry_add(r, name, help, type, labels, n, NULL, 0);
}

static void add_families(struct redis_metrics *rm, struct registry *r)
{
	rm->hits = add(r, "sse_cache_hits_total",
		       "Redis cache reads (GET, GETEX, HGET, JSON.GET; MGET and HMGET per key) "
		       "answered with a value.",
		       METRIC_COUNTER, l_tier, N(l_tier));
	rm->misses = add(r, "sse_cache_misses_total", "Redis cache reads answered with nil.",
			 METRIC_COUNTER, l_tier, N(l_tier));
	rm->attempts = add(r, "sse_queue_produce_attempts_total",
			   "Redis queue produces sent: LPUSH, RPUSH, XADD.", METRIC_COUNTER,
			   l_queue_type, N(l_queue_type));
	rm->successes = add(r, "sse_queue_produce_success_total",
			    "Redis queue produces answered without an error.", METRIC_COUNTER,
			    l_queue_type, N(l_queue_type));
	rm->failures = add(r, "sse_queue_produce_failures_total",
			   "Redis queue produces that failed: the error's prefix, or the "
			   "connection ended first.",
			   METRIC_COUNTER, l_queue_failure, N(l_queue_failure));
	rm->depth = add(r, "sse_queue_depth",
			"Length of a Redis queue as the last LPUSH, RPUSH or XLEN on it answered.",
			METRIC_GAUGE, l_queue_name, N(l_queue_name));
	rm->duration =
	    registry_add(r, "sse_redis_command_duration_seconds",
			 "Redis commands: write of the command to read of its reply.",
			 METRIC_HISTOGRAM, l_command, N(l_command), b_command, N(b_command));
	rm->unpaired = add(r, "sse_exporter_redis_unpaired_total",
			   "Redis connections whose commands could no longer be paired with "
			   "replies, by reason.",
			   METRIC_COUNTER, l_reason, N(l_reason));
	/* every reason from zero, so that a first occurrence is an increase */
	for (size_t i = 0; rm->unpaired && i < REDIS_UNPAIRED_REASONS; i++)
		metric_add(rm->unpaired, &unpaired_names[i], 0);
}

void redis_metrics_free(struct redis_metrics *rm)
{
	label_cap_free(&rm->commands);
	label_cap_free(&rm->queues);
	label_cap_free(&rm->reasons);
}

int redis_metrics_init(struct redis_metrics *rm, struct registry *r, size_t max_queues)
{
	struct label_cap *caps[] = {&rm->commands, &rm->queues, &rm->reasons};
	const char *const names[] = {"command", "queue_name", "reason"};
	const size_t max[] = {REDIS_COMMANDS_MAX, max_queues, REDIS_REASONS_MAX};

	memset(rm, 0, sizeof(*rm));
	for (size_t i = 0; i < N(caps); i++) {
		if (label_cap_init(caps[i], names[i], max[i])) {
			redis_metrics_free(rm); /* a cap never made frees as one freed */
			return -1;
		}
	}
	add_families(rm, r);
	return 0;
}

void redis_metrics_forget(struct redis_metrics *rm, const char *service)
{
	label_cap_forget(&rm->commands, service);
	label_cap_forget(&rm->queues, service);
	label_cap_forget(&rm->reasons, service);
}

void redis_metrics_sync_caps(struct redis_metrics *rm, struct family *series_dropped)
{
	const struct label_cap *caps[] = {&rm->commands, &rm->queues, &rm->reasons};

	for (size_t i = 0; i < N(caps); i++)
		metric_set(series_dropped, &caps[i]->label, caps[i]->dropped);
}

void metrics_redis_unpaired(struct redis_metrics *rm, enum redis_unpaired why)
{
	metric_add(rm->unpaired, &unpaired_names[why], 1);
}

/* A name or error prefix as sent, its bytes but letters, digits and
 * those of extra made '_', admitted by cap ("unknown" when empty). */
static const char *token(struct label_cap *cap, const char *service, const char *s,
			 const char *extra, char *buf, size_t size)
{
	size_t i;

	for (i = 0; s[i] && i + 1 < size; i++)
		buf[i] = is_alnum(s[i]) || strchr(extra, s[i]) ? s[i] : '_';
	buf[i] = '\0';
	return label_cap_admit(cap, service, i ? buf : "unknown", true);
}

static void count_produce(struct redis_metrics *rm, const char *service, const struct redis_obs *o)
{
	const char *const labels[] = {service, QUEUE_TYPE};
	char buf[RESP_HEAD_MAX];
	const char *reason;

	metric_add(rm->attempts, labels, 1);
	switch (o->outcome) {
	case REDIS_REPLIED:
		metric_add(rm->successes, labels, 1);
		return;
	case REDIS_FAILED:
	case REDIS_ABORTED:
		reason = token(&rm->reasons, service, o->reason, "_-", buf, sizeof(buf));
		break;
	case REDIS_CONNECTION: /* never folded into "other" */
		reason = o->reason;
		break;
	default: /* not run (DISCARD), or not known */
		return;
	}
	metric_add(rm->failures, (const char *const[]){service, QUEUE_TYPE, reason}, 1);
}

static void set_depth(struct redis_metrics *rm, const char *service, const struct redis_obs *o)
{
	char name[3 * RESP_ARG_MAX]; /* "a:1:2" grows to "a::id::id" */

	key_normalise(o->key->s, o->key->len, name, sizeof(name));
	metric_set(
	    rm->depth,
	    (const char *const[]){service, label_cap_admit(&rm->queues, service, name, true)},
	    o->depth);
}

void metrics_redis_command(struct redis_metrics *rm, const char *service, const struct redis_obs *o)
{
	char buf[RESP_HEAD_MAX];
	const char *name;

	if (o->cls == REDIS_CLASS_CACHE_READ && o->outcome == REDIS_REPLIED) {
		metric_add(rm->hits, (const char *const[]){service, TIER_L2}, o->hits);
		metric_add(rm->misses, (const char *const[]){service, TIER_L2}, o->misses);
	}
	if (o->cls == REDIS_CLASS_PRODUCE)
		count_produce(rm, service, o);
	if (o->has_depth && o->key)
		set_depth(rm, service, o);
	if ((o->outcome != REDIS_REPLIED && o->outcome != REDIS_FAILED) || o->t_end < o->t_start)
		return;
	name = token(&rm->commands, service, o->name, "_-.", buf, sizeof(buf));
	metric_observe(rm->duration, (const char *const[]){service, name},
		       seconds(o->t_end - o->t_start));
}
