// SPDX-License-Identifier: MIT
#include <stdio.h>
#include <string.h>

#include "llm/correlate.h"

#define PROBES 4 /* slots an entry may sit in: a small bucket */

void corr_init(struct correlation *k)
{
	memset(k, 0, sizeof(*k));
}

void corr_match(struct correlation *k, const char *provider)
{
	if (k->matched)
		return;
	k->matched = true;
	snprintf(k->matched_provider, sizeof(k->matched_provider), "%s", provider);
}

void corr_note(struct correlation *k, const char *provider)
{
	if (!k->seen) {
		k->seen = true;
		snprintf(k->provider, sizeof(k->provider), "%s", provider);
	} else if (strcmp(k->provider, provider)) {
		k->mixed = true;
	}
}

const char *corr_decide(const struct correlation *k, bool final)
{
	if (k->matched)
		return k->matched_provider;
	if (!final)
		return NULL;
	return k->seen && !k->mixed ? k->provider : "unknown";
}

void corr_index_init(struct corr_index *ix)
{
	memset(ix, 0, sizeof(*ix));
}

static size_t slot_of(uint32_t tgid, uint64_t hash)
{
	uint64_t h = (hash ^ tgid) * 0x9e3779b97f4a7c15ull;

	return (h >> 32) % CORR_INDEX_SLOTS;
}

static bool fresh(const struct corr_entry *e, uint64_t now_ns)
{
	/* records of two CPUs may arrive slightly out of order */
	return e->t_ns && (now_ns <= e->t_ns || now_ns - e->t_ns <= CORR_INDEX_TTL_NS);
}

static bool is(const struct corr_entry *e, uint32_t tgid, uint64_t hash)
{
	return e->t_ns && e->tgid == tgid && e->hash == hash;
}

void corr_index_learn(struct corr_index *ix, uint32_t tgid, uint64_t call, uint64_t hash,
		      const char *provider, uint64_t now_ns)
{
	size_t base = slot_of(tgid, hash);
	struct corr_entry *e, *oldest = NULL;

	for (size_t i = 0; i < PROBES; i++) {
		e = &ix->slots[(base + i) % CORR_INDEX_SLOTS];
		if (is(e, tgid, hash)) {
			e->common = fresh(e, now_ns) && (e->common || e->call != call);
			e->call = call;
			snprintf(e->provider, sizeof(e->provider), "%s", provider);
			e->t_ns = now_ns;
			return;
		}
		if (!oldest || e->t_ns < oldest->t_ns)
			oldest = e;
	}
	/* the bucket's oldest goes: lookups follow learning within
	 * milliseconds, so recent entries are the ones that matter */
	*oldest = (struct corr_entry){.hash = hash, .t_ns = now_ns, .call = call, .tgid = tgid};
	snprintf(oldest->provider, sizeof(oldest->provider), "%s", provider);
}

const char *corr_index_find(const struct corr_index *ix, uint32_t tgid, uint64_t hash,
			    uint64_t now_ns)
{
	size_t base = slot_of(tgid, hash);

	for (size_t i = 0; i < PROBES; i++) {
		const struct corr_entry *e = &ix->slots[(base + i) % CORR_INDEX_SLOTS];

		if (is(e, tgid, hash))
			return fresh(e, now_ns) && !e->common ? e->provider : NULL;
	}
	return NULL;
}
