// SPDX-License-Identifier: MIT
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "ident/json_walk.h"
#include "ident/kube_pods.h"

#define KEY_MAX 64

/* A pod's metadata as it is read: the owner and hash wait for the end of
 * the object, as JSON keeps no order. */
struct pod_read {
	struct kube_pod pod;
	char owner_kind[32];
	char owner[KUBE_VALUE_MAX];
	char template_hash[32];
	bool controller_seen;
};

static bool ends_with_segment(const char *s, const char *seg, size_t *cut)
{
	size_t n = strlen(s), m = strlen(seg);

	if (!m || n <= m + 1 || s[n - m - 1] != '-' || strcmp(s + n - m, seg))
		return false;
	*cut = n - m - 1;
	return true;
}

/* NAME-<8 or more digits>: how the CronJob controller names its Jobs. */
static bool cronjob_job(const char *s, size_t *cut)
{
	const char *dash = strrchr(s, '-');
	size_t digits;

	if (!dash || dash == s)
		return false;
	digits = strspn(dash + 1, "0123456789");
	if (digits < 8 || dash[1 + digits])
		return false;
	*cut = dash - s;
	return true;
}

void kube_workload(const char *kind, const char *owner, const char *template_hash, char *out,
		   size_t size)
{
	size_t n = strlen(owner);

	if (!strcmp(kind, "ReplicaSet"))
		ends_with_segment(owner, template_hash, &n);
	else if (!strcmp(kind, "Job"))
		cronjob_job(owner, &n);
	snprintf(out, size, "%.*s", (int)n, owner);
}

static bool string_into(struct json_cursor *c, char *out, size_t size)
{
	return json_peek(c, '"') ? json_string(c, out, size) : json_skip_value(c);
}

static bool label(struct json_cursor *c, void *arg)
{
	struct pod_read *r = arg;
	char key[KEY_MAX];

	if (!json_key(c, key, sizeof(key)))
		return false;
	if (!strcmp(key, "app.kubernetes.io/name"))
		return string_into(c, r->pod.app_name, sizeof(r->pod.app_name));
	if (!strcmp(key, "pod-template-hash"))
		return string_into(c, r->template_hash, sizeof(r->template_hash));
	return json_skip_value(c);
}

static bool annotation(struct json_cursor *c, void *arg)
{
	struct pod_read *r = arg;
	char key[KEY_MAX];

	if (!json_key(c, key, sizeof(key)))
		return false;
	if (!strcmp(key, "resource.opentelemetry.io/service.name"))
		return string_into(c, r->pod.otel_service, sizeof(r->pod.otel_service));
	return json_skip_value(c);
}

struct owner_read {
	char kind[32];
	char name[KUBE_VALUE_MAX];
	char controller[8];
};

static bool owner_member(struct json_cursor *c, void *arg)
{
	struct owner_read *o = arg;
	char key[KEY_MAX];

	if (!json_key(c, key, sizeof(key)))
		return false;
	if (!strcmp(key, "kind"))
		return string_into(c, o->kind, sizeof(o->kind));
	if (!strcmp(key, "name"))
		return string_into(c, o->name, sizeof(o->name));
	if (!strcmp(key, "controller") && json_peek(c, 't')) {
		snprintf(o->controller, sizeof(o->controller), "true");
		return json_skip_value(c);
	}
	return json_skip_value(c);
}

/* The controller among the owners; the first owner when none says so. */
static bool owner(struct json_cursor *c, void *arg)
{
	struct pod_read *r = arg;
	struct owner_read o = {0};

	if (!json_eat(c, '{') || !json_members(c, owner_member, &o))
		return false;
	if (r->controller_seen || (r->owner[0] && !o.controller[0]))
		return true;
	r->controller_seen = o.controller[0] != '\0';
	snprintf(r->owner_kind, sizeof(r->owner_kind), "%s", o.kind);
	snprintf(r->owner, sizeof(r->owner), "%s", o.name);
	return true;
}

static bool metadata_member(struct json_cursor *c, void *arg)
{
	struct pod_read *r = arg;
	char key[KEY_MAX];

	if (!json_key(c, key, sizeof(key)))
		return false;
	if (!strcmp(key, "uid"))
		return string_into(c, r->pod.uid, sizeof(r->pod.uid));
	if (!strcmp(key, "name"))
		return string_into(c, r->pod.name, sizeof(r->pod.name));
	if (!strcmp(key, "namespace"))
		return string_into(c, r->pod.namespace, sizeof(r->pod.namespace));
	if (!strcmp(key, "labels") && json_eat(c, '{'))
		return json_members(c, label, r);
	if (!strcmp(key, "annotations") && json_eat(c, '{'))
		return json_members(c, annotation, r);
	if (!strcmp(key, "ownerReferences") && json_eat(c, '['))
		return json_elements(c, owner, r);
	return json_skip_value(c);
}

static bool pod_member(struct json_cursor *c, void *arg)
{
	char key[KEY_MAX];

	if (!json_key(c, key, sizeof(key)))
		return false;
	if (!strcmp(key, "metadata") && json_eat(c, '{'))
		return json_members(c, metadata_member, arg);
	return json_skip_value(c);
}

struct list_read {
	void (*each)(void *arg, const struct kube_pod *);
	void *arg;
};

static bool item(struct json_cursor *c, void *arg)
{
	struct list_read *l = arg;
	struct pod_read r = {0};

	if (!json_eat(c, '{') || !json_members(c, pod_member, &r))
		return false;
	if (!r.pod.uid[0])
		return true;
	kube_workload(r.owner_kind, r.owner, r.template_hash, r.pod.workload,
		      sizeof(r.pod.workload));
	l->each(l->arg, &r.pod);
	return true;
}

static bool list_member(struct json_cursor *c, void *arg)
{
	char key[KEY_MAX];

	if (!json_key(c, key, sizeof(key)))
		return false;
	if (!strcmp(key, "items") && json_eat(c, '['))
		return json_elements(c, item, arg);
	return json_skip_value(c);
}

int kube_pods_parse(const char *json, size_t len, void (*each)(void *arg, const struct kube_pod *),
		    void *arg)
{
	struct json_cursor c = {json, json + len};
	struct list_read l = {each, arg};

	return json_eat(&c, '{') && json_members(&c, list_member, &l) ? 0 : -1;
}
