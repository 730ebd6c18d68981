/* Shared set-up for the kernel's unit tests: a loop, endpoints, and bounded waits. */
#ifndef MF_TEST_HARNESS_H
#define MF_TEST_HARNESS_H

#include "kernel.h"
#include <criterion/criterion.h>

/* Run the loop until pred(ud) is true or ms pass; returns pred's last value. */
static inline bool run_until(bool (*pred)(void *), void *ud, uint64_t ms)
{
    uint64_t end = uv_hrtime() / 1000000 + ms;
    while (!pred(ud)) {
        if (uv_hrtime() / 1000000 > end)
            return false;
        uv_update_time(mf_loop());
        uv_run(mf_loop(), UV_RUN_NOWAIT);
        /* don't spin hot when the loop has nothing ready */
        if (!pred(ud))
            uv_sleep(1);
    }
    return true;
}

static inline void kernel_up(void)
{
    cr_assert_eq(mf_alloc_init(), 0);
    cr_assert_eq(mf_loop_init(), 0);
    cr_assert_eq(mf_endpoints_init(), 0);
}

static inline void kernel_down(void)
{
    mf_endpoints_close();
    mf_loop_close();
}

#endif
