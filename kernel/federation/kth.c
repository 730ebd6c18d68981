/* Hoare's selection: partition around the middle value, and go on only in the part that
 * holds the k-th. The router took a target's p99 by sorting its 128 recent latencies every
 * eighth call, about 2,700 instructions a routed call (qsort and its comparisons); this
 * looks at each latency about twice. */
#include "build-config.h"
#include "kth.h"

uint32_t mf_kth_smallest(uint32_t *v, unsigned n, unsigned k)
{
    long lo = 0, hi = (long)n - 1, want = (long)k;
    while (lo < hi) {
        uint32_t pivot = v[lo + (hi - lo) / 2];
        long i = lo, j = hi;
        while (i <= j) {
            while (v[i] < pivot)
                i++;
            while (v[j] > pivot)
                j--;
            if (i <= j) {
                uint32_t t = v[i];
                v[i++] = v[j];
                v[j--] = t;
            }
        }
        /* now v[lo..j] <= pivot, v[i..hi] >= pivot, and what lies between equals it */
        if (want <= j)
            hi = j;
        else if (want >= i)
            lo = i;
        else
            return v[want];
    }
    return v[want];
}
