// SPDX-License-Identifier: MIT
#include "metrics/histogram.h"

size_t histogram_bucket(const double *bounds, size_t n, double v)
{
	size_t lo = 0, hi = n;

	/* NaN compares false everywhere and lands in +Inf, as Prometheus does */
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (v <= bounds[mid])
			hi = mid;
		else
			lo = mid + 1;
	}
	return lo;
}
