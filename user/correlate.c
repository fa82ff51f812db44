// SPDX-License-Identifier: MIT
#include <string.h>

#include "correlate.h"

void corr_init(struct correlation *k)
{
	memset(k, 0, sizeof(*k));
}

void corr_event(struct correlation *k)
{
	k->events++;
}

/* The slot of call, or the least voted one to reuse: a call with few
 * votes is out of the running anyway. */
static struct corr_candidate *slot_for(struct correlation *k, uint64_t call)
{
	struct corr_candidate *least = &k->cand[0];

	for (int i = 0; i < CORR_SLOTS; i++) {
		if (k->cand[i].votes && k->cand[i].call == call)
			return &k->cand[i];
		if (k->cand[i].votes < least->votes)
			least = &k->cand[i];
	}
	least->call = call;
	least->votes = 0;
	return least;
}

void corr_vote(struct correlation *k, uint64_t call, const char *provider)
{
	struct corr_candidate *c = slot_for(k, call);

	if (!c->votes) {
		strncpy(c->provider, provider, CORR_PROVIDER_MAX - 1);
		c->provider[CORR_PROVIDER_MAX - 1] = '\0';
	}
	c->votes++;
}

/* Only when every call that could have fed the stream agrees. */
const char *corr_decide(const struct correlation *k, bool final)
{
	const char *p = NULL;

	for (int i = 0; k->events && i < CORR_SLOTS; i++) {
		const struct corr_candidate *c = &k->cand[i];

		if (!c->votes)
			continue;
		if (p && strcmp(p, c->provider))
			return final ? "unknown" : NULL; /* two providers were under way */
		p = c->provider;
	}
	return p ? p : final ? "unknown" : NULL;
}
