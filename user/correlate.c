// SPDX-License-Identifier: MIT
#include <string.h>

#include "correlate.h"

void corr_init(struct correlation *k)
{
	memset(k, 0, sizeof(*k));
}

static void copy_provider(char *dst, const char *src)
{
	strncpy(dst, src, CORR_PROVIDER_MAX - 1);
	dst[CORR_PROVIDER_MAX - 1] = '\0';
}

/* The slot of call, or the least voted one to reuse: a call with few
 * votes among many is noise anyway. */
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

void corr_vote(struct correlation *k, uint64_t call, const char *provider, bool mixed)
{
	struct corr_candidate *c = slot_for(k, call);

	if (!k->votes)
		copy_provider(k->only, provider);
	else if (strcmp(k->only, provider))
		k->mixed = true;
	k->mixed |= mixed;
	k->votes++;
	if (!c->votes)
		copy_provider(c->provider, provider);
	c->votes++;
}

static const char *majority(const struct correlation *k)
{
	const struct corr_candidate *top = NULL, *second = NULL;

	for (int i = 0; i < CORR_SLOTS; i++) {
		const struct corr_candidate *c = &k->cand[i];

		if (!c->votes)
			continue;
		if (!top || c->votes > top->votes) {
			second = top;
			top = c;
		} else if (!second || c->votes > second->votes) {
			second = c;
		}
	}
	if (!top || top->votes < CORR_MIN_VOTES)
		return NULL;
	if (second && top->votes < CORR_MARGIN * second->votes)
		return NULL;
	return top->provider;
}

const char *corr_decide(const struct correlation *k, bool final)
{
	const char *p = NULL;

	if (k->votes && !k->mixed)
		p = k->only;
	else if (k->votes)
		p = majority(k);
	return p ? p : final ? "unknown" : NULL;
}
