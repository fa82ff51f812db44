// SPDX-License-Identifier: MIT
#include "metrics/labels.h"
#include "metrics/outcome.h"

const double metrics_ttfc_buckets[METRICS_TTFC_BUCKETS] = {
    0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10};

/* Division, not a multiplication by 1e-9: 75 ms must be exactly 0.075 so
 * that it falls in the le="0.075" bucket. */
double seconds(uint64_t ns)
{
	return ns / 1e9;
}

/* Appends part at *at, cleaned; the caller left room for the NUL. */
static void key_part(char *out, size_t size, size_t *at, const char *part)
{
	for (; *part && *at + 1 < size; part++) {
		unsigned char ch = *part;

		out[(*at)++] = ch >= 0x20 && ch < 0x7f ? ch : '_';
	}
}

void target_key(char *out, size_t size, const char *service, const char *namespace, const char *pod,
		const char *container)
{
	const char *parts[] = {service, namespace, pod, container};
	size_t at = 0, used = 1;

	for (size_t i = 1; i < 4; i++)
		if (parts[i][0])
			used = i + 1;
	for (size_t i = 0; i < used; i++) {
		if (i && at + 1 < size)
			out[at++] = LABEL_SEP;
		key_part(out, size, &at, parts[i]);
	}
	out[at] = '\0';
}

int metric_labels_init(struct metric_labels *l, size_t max_paths, size_t max_models)
{
	if (label_cap_init(&l->paths, "path", max_paths))
		return -1;
	if (label_cap_init(&l->models, "model", max_models)) {
		label_cap_free(&l->paths);
		return -1;
	}
	if (label_cap_init(&l->providers, "provider", max_paths)) {
		label_cap_free(&l->models);
		label_cap_free(&l->paths);
		return -1;
	}
	return 0;
}

void metric_labels_free(struct metric_labels *l)
{
	label_cap_free(&l->paths);
	label_cap_free(&l->models);
	label_cap_free(&l->providers);
}

void metric_labels_forget(struct metric_labels *l, const char *service)
{
	label_cap_forget(&l->paths, service);
	label_cap_forget(&l->models, service);
	label_cap_forget(&l->providers, service);
}

const char *label_path(struct metric_labels *l, const char *service, const struct http_exchange *x,
		       bool at_end)
{
	if (!x->has_request)
		return "unknown";
	return label_cap_admit(&l->paths, service, x->req.path, at_end);
}

const char *label_model(struct metric_labels *l, const char *service, const struct http_exchange *x,
			bool at_end)
{
	if (!x->has_request || !x->req.model[0])
		return "unknown";
	return label_cap_admit(&l->models, service, x->req.model, at_end);
}

const char *label_provider(struct metric_labels *l, const char *service, const char *provider,
			   bool at_end)
{
	return label_cap_admit(&l->providers, service, provider, at_end);
}

bool count_lost(struct family *lost, const char *service, const struct http_exchange *x,
		enum http_end why)
{
	const char *reason = outcome_lost(x, why);

	if (!reason)
		return false;
	metric_add(lost, (const char *const[]){service, reason}, 1);
	return true;
}

static const char *const undecoded_names[HTTP_UNDECODED_REASONS] = {
    [HTTP_UNDECODED_BR] = "br",
    [HTTP_UNDECODED_CODING] = "unsupported",
    [HTTP_UNDECODED_INFLATE] = "inflate_error",
    [HTTP_UNDECODED_LIMIT] = "limit",
};

void count_undecoded(struct family *undecoded, const struct http_exchange *x)
{
	if (!x) {
		for (int r = HTTP_DECODED + 1; r < HTTP_UNDECODED_REASONS; r++)
			metric_add(undecoded, &undecoded_names[r], 0);
	} else if (x->sse && x->undecoded != HTTP_DECODED) {
		metric_add(undecoded, &undecoded_names[x->undecoded], 1);
	}
}
