/* The allocation policy: a failed allocation ends the process with a message, for the
 * kernel's own allocations and for jansson's alike. */
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
