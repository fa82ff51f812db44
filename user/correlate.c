// SPDX-License-Identifier: MIT
#include <string.h>

#include "correlate.h"

void corr_init(struct correlation *k)
{
	memset(k, 0, sizeof(*k));
}

void corr_note(struct correlation *k, const char *provider)
{
	if (!k->seen) {
		k->seen = true;
		strncpy(k->provider, provider, CORR_PROVIDER_MAX - 1);
		k->provider[CORR_PROVIDER_MAX - 1] = '\0';
	} else if (strcmp(k->provider, provider)) {
		k->mixed = true;
	}
}

const char *corr_decide(const struct correlation *k, bool final)
{
	if (k->seen && !k->mixed)
		return k->provider;
	return final || k->mixed ? "unknown" : NULL;
}
