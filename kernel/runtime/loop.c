/* The one event loop everything runs on. */
#include "build-config.h"
#include "runtime.h"

#include <stdarg.h>
#include <stdio.h>
#include <time.h>

mf_runtime mf_rt = {
    .log_level = MF_LOG_INFO,
    .calls = {.next_corr = 1},
};

uv_loop_t *mf_loop(void) { return &mf_rt.loop; }

const char *mf_version(void) { return PACKAGE_VERSION; }

uint64_t mf_now(void) { return uv_now(&mf_rt.loop); }

uint64_t mf_thread_cpu_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

int mf_loop_init(void) { return uv_loop_init(&mf_rt.loop); }

void mf_loop_run(void) { uv_run(&mf_rt.loop, UV_RUN_DEFAULT); }

static void close_any(uv_handle_t *h, void *arg)
{
    MF_UNUSED(arg);
    if (!uv_is_closing(h))
        uv_close(h, NULL);
}

/* Close whatever is left (a bug elsewhere otherwise) so the loop can be closed cleanly. */
void mf_loop_close(void)
{
    if (uv_loop_close(&mf_rt.loop) == UV_EBUSY) {
        uv_walk(&mf_rt.loop, close_any, NULL);
        uv_run(&mf_rt.loop, UV_RUN_DEFAULT);
        uv_loop_close(&mf_rt.loop);
    }
}

void mf_error_set(mf_error *err, int code, const char *fmt, ...)
{
    if (!err)
        return;
    va_list ap;
    va_start(ap, fmt);
    err->code = code;
    vsnprintf(err->msg, sizeof err->msg, fmt, ap);
    va_end(ap);
}
