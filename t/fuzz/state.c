/* Fuzz target: the state a plugin's next generation reads at a hot swap (kernel/state.c's
 * msgpack, and the breaker plugin's loader on top of it). A truncated or hostile state
 * must be refused or read as some state; never a crash.
 *
 * Every object of the state is also read as the stdio plugin reads its queued messages and
 * unfinished lines (plugins/stdio/swapstate.c).
 *
 * Input: one byte choosing the breaker's settings, then the state.
 * Properties: a state that reads, written again, reads back the same; an adopted breaker
 * works (admits, records, reports, saves a state that reads). */
#include "build-config.h"
#include "kernel.h"
#include "plugin_loader.h"
#include "../../plugins/stdio/swapstate.h"
#include "fuzz.h"

#include <string.h>

static const mf_breaker_ops *breaker;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    mf_log_set_level(MF_LOG_ERROR);
    mf_error err = {0};
    mf_module *m = NULL;
    if (mf_plugins_init(NULL, &err) == 0)
        m = mf_plugin_load("breaker", &err);
    if (!m || !m->desc->breaker) {
        fprintf(stderr, "fuzz_state: cannot load the breaker plugin (MCPFED_PLUGIN_PATH?): %s\n", err.msg);
        exit(1);
    }
    breaker = m->desc->breaker;
    atexit(mf_plugins_shutdown);
    return 0;
}

static const char *const settings[] = {
    "{}",
    "{\"window\":\"time\",\"window_size\":2,\"minimum_calls\":1}",
    "{\"window_size\":3,\"minimum_calls\":2,\"permitted_half_open\":1,\"open_wait_ms\":1}",
    "{\"enabled\":false}",
};

static void use_breaker(uint8_t steer, const char *state, size_t len)
{
    json_t *conf = json_loads(settings[steer % 4], 0, NULL);
    void *b = breaker->adopt(conf, "fuzz", state, len);
    if (b) {
        uint64_t now = (steer & 0x80) ? 0 : UINT64_C(1) << 40;
        for (int i = 0; i < 8; i++, now += 7) {
            breaker->state(b, now);
            if (breaker->acquire(b, now)) {
                mf_call_outcome o = {.error_code = (i & 1) ? MF_RPC_INTERNAL_ERROR : 0, .lost = i == 5,
                                     .duration_ms = (uint64_t)i * 1000};
                if (i == 6)
                    breaker->release(b);
                else
                    breaker->record(b, &o, now);
            }
        }
        json_decref(breaker->status(b, now));
        size_t n = 0;
        char *again = breaker->save(b, &n);
        FUZZ_ASSERT(again);
        json_t *st = mf_state_unpack(again, n, NULL);
        FUZZ_ASSERT(st);
        json_decref(st);
        free(again);
        breaker->destroy(b);
    }
    json_decref(conf);
}

/* Each object of v, as a queued message and as an unfinished line. */
static void stdio_pieces(const json_t *v, int depth)
{
    if (depth > 64)
        return;
    if (json_is_object(v)) {
        mf_msg *m = swap_msg_load(v, 1);
        if (m) {
            json_t *again = swap_msg_save(m);
            FUZZ_ASSERT(again);
            json_decref(again);
            mf_msg_free(m);
        }
        mf_lines l;
        mf_lines_init(&l, 4096);
        swap_lines_load(&l, v);
        FUZZ_ASSERT(mf_lines_pending(&l) <= 4096);
        mf_lines_free(&l);
        const char *k;
        json_t *x;
        json_object_foreach((json_t *)v, k, x)
            stdio_pieces(x, depth + 1);
    } else if (json_is_array(v)) {
        size_t i;
        json_t *x;
        json_array_foreach(v, i, x)
            stdio_pieces(x, depth + 1);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint8_t steer = fuzz_take_byte(&data, &size);
    mf_error err = {0};
    json_t *st = mf_state_unpack((const char *)data, size, &err);
    FUZZ_ASSERT(st || err.msg[0]);
    if (st) {
        size_t n = 0;
        char *packed = mf_state_pack(st, &n);
        FUZZ_ASSERT(packed);
        json_t *again = mf_state_unpack(packed, n, NULL);
        FUZZ_ASSERT(again && json_equal(again, st));
        json_decref(again);
        free(packed);
        stdio_pieces(st, 0);
        json_decref(st);
    }
    use_breaker(steer, (const char *)data, size);
    return 0;
}
