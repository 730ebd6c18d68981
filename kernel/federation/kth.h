/* The k-th smallest of a few numbers (kth.c): what a percentile of recent latencies needs,
 * without sorting them. */
#ifndef MF_KTH_H
#define MF_KTH_H

#include <stdint.h>

/* The k-th smallest (from 0) of v[0..n), k < n; v is reordered. Linear on average. */
uint32_t mf_kth_smallest(uint32_t *v, unsigned n, unsigned k);

#endif
