/* SPDX-License-Identifier: MIT */
/* CLOCK_MONOTONIC, the clock of the kernel's bpf_ktime_get_ns(): times
 * from records and from user space compare directly. */
#ifndef SSE_CLOCK_H
#define SSE_CLOCK_H

#include <stdint.h>
#include <time.h>

static inline uint64_t mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000000000ull + ts.tv_nsec;
}

static inline double mono_seconds(void)
{
	return mono_ns() * 1e-9;
}

#endif
