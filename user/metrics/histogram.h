/* SPDX-License-Identifier: MIT */
/* Histogram bucket selection with Prometheus `le` semantics. Pure. */
#ifndef SSE_HISTOGRAM_H
#define SSE_HISTOGRAM_H

#include <stddef.h>

/* Index of the first upper bound >= v, or n (+Inf) when v exceeds all.
 * A value equal to a bound falls in that bound's bucket. */
size_t histogram_bucket(const double *bounds, size_t n, double v);

#endif
