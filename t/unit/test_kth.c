/* The k-th smallest (kernel/federation/kth.c), held to a sort: every k of arrays of every
 * size up to the router's window, of distinct values, of few values repeated (latencies
 * of 0 ms, mostly), sorted, reversed, and all equal. */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "../../kernel/federation/kth.h"

static int cmp(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return x < y ? -1 : x > y;
}

static uint32_t next(uint32_t *s)
{
    *s = *s * 1103515245u + 12345u;
    return *s >> 8;
}

/* every k of v[0..n): the sorted array's v[k] */
static void check(const uint32_t *v, unsigned n, const char *what)
{
    uint32_t sorted[128], work[128];
    memcpy(sorted, v, n * sizeof *v);
    qsort(sorted, n, sizeof *v, cmp);
    for (unsigned k = 0; k < n; k++) {
        memcpy(work, v, n * sizeof *v);
        cr_assert_eq(mf_kth_smallest(work, n, k), sorted[k], "%s: n %u, k %u", what, n, k);
        qsort(work, n, sizeof *v, cmp);   /* reordered, nothing lost or made up */
        cr_assert_eq(memcmp(work, sorted, n * sizeof *v), 0, "%s: n %u, k %u: the values kept", what, n, k);
    }
}

Test(kth, agrees_with_a_sort)
{
    uint32_t seed = 7, v[128];
    for (unsigned n = 1; n <= 128; n++) {
        for (int round = 0; round < 4; round++) {
            for (unsigned i = 0; i < n; i++)
                v[i] = next(&seed);
            check(v, n, "distinct");
            for (unsigned i = 0; i < n; i++)
                v[i] = next(&seed) % 3 == 0 ? next(&seed) % 5 : 0;
            check(v, n, "few values");
        }
        for (unsigned i = 0; i < n; i++)
            v[i] = i;
        check(v, n, "sorted");
        for (unsigned i = 0; i < n; i++)
            v[i] = n - i;
        check(v, n, "reversed");
        for (unsigned i = 0; i < n; i++)
            v[i] = 42;
        check(v, n, "all equal");
        for (unsigned i = 0; i < n; i++)
            v[i] = i % 2 ? UINT32_MAX : 0;
        check(v, n, "the extremes");
    }
}
