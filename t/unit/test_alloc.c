/* The allocation policy: a failed allocation ends the process with a message, for the
 * kernel's own allocations and for jansson's alike; and blocks kept for reuse (mf_spare). */
#include "harness.h"

#include <stdint.h>

/* under AddressSanitizer, an impossible size must reach the wrapper as NULL rather than
 * be reported by the sanitizer itself */
const char *__asan_default_options(void);
__attribute__((visibility("default"), used)) const char *__asan_default_options(void) { return "allocator_may_return_null=1"; }

Test(alloc, wrappers_allocate_and_copy)
{
    char *s = mf_xstrdup("mcpfed");
    cr_assert_str_eq(s, "mcpfed");
    char *t = mf_xstrndup("mcpfed", 2);
    cr_assert_str_eq(t, "mc");
    int *z = mf_xcalloc(4, sizeof *z);
    cr_assert(z[0] == 0 && z[3] == 0);
    z = mf_xrealloc(z, 100 * sizeof *z);
    z[99] = 7;
    void *zero = mf_xmalloc(0);
    cr_assert_not_null(zero, "a zero-size allocation is a valid pointer, not a failure");
    free(zero);
    free(s);
    free(t);
    free(z);
}

Test(alloc, spare_blocks_are_reused_last_first_and_bounded)
{
    mf_spare sp = {0};
    void *fresh = mf_spare_take(&sp, 32);   /* none kept: a new one */
    cr_assert_not_null(fresh);
    void *blocks[MF_SPARE_MAX + 1];
    for (int i = 0; i <= MF_SPARE_MAX; i++) {
        blocks[i] = mf_xmalloc(32);
        mf_spare_give(&sp, blocks[i]);
    }
    /* the last one given was freed (the leak checker would say otherwise): MF_SPARE_MAX kept */
    cr_assert_eq(sp.n, MF_SPARE_MAX);
    cr_assert_eq(mf_spare_take(&sp, 32), blocks[MF_SPARE_MAX - 1], "the last kept comes back first");
    cr_assert_eq(sp.n, MF_SPARE_MAX - 1);
    mf_spare_give(&sp, fresh);
    cr_assert_eq(mf_spare_take(&sp, 32), fresh);
    free(fresh);
    free(blocks[MF_SPARE_MAX - 1]);
    mf_spare_clear(&sp);
    cr_assert_eq(sp.n, 0);
}

Test(alloc, a_failed_allocation_aborts, .signal = SIGABRT)
{
    mf_xmalloc(SIZE_MAX / 2);
}

Test(alloc, jansson_allocates_through_the_policy, .signal = SIGABRT)
{
    cr_assert_eq(mf_alloc_init(), 0);
    json_t *s = json_stringn_nocheck("x", 1);
    cr_assert_not_null(s);
    json_decref(s);
    /* a string jansson cannot allocate: the process ends instead of a NULL */
    char *big = (char *)"";
    json_stringn_nocheck(big, SIZE_MAX / 2);
}
