/* Fuzz target: the state a plugin's next generation reads at a hot swap (kernel/state.c's
 * msgpack, and the breaker and cache plugins' loaders on top of it). A truncated or hostile
 * state must be refused or read as some state; never a crash.
 *
 * Every object of the state is also read as the stdio plugin reads its queued messages and
 * unfinished lines (plugins/stdio/swapstate.c).
 *
 * Input: one byte choosing the breaker's settings, then the state.
 * Properties: a state that reads, written again, reads back the same; an adopted breaker
 * works (admits, records, reports, saves a state that reads); an adopted cache keeps within
 * its byte cap, answers lookups, takes entries, and saves a state that the next generation
 * reads to the same entries. */
#include "build-config.h"
#include "kernel.h"
#include "plugin_loader.h"
#include "../../plugins/stdio/swapstate.h"
#include "fuzz.h"

#include <string.h>

static const mf_breaker_ops *breaker;
static const mf_cache_ops *cache;

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
    m = mf_plugin_load("cache", &err);
    if (!m || !m->desc->cache) {
        fprintf(stderr, "fuzz_state: cannot load the cache plugin (MCPFED_PLUGIN_PATH?): %s\n", err.msg);
        exit(1);
    }
    cache = m->desc->cache;
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

static json_int_t figure(void *c, const char *name)
{
    json_t *st = cache->status(c, 1000);
    json_int_t v = json_integer_value(json_object_get(st, name));
    json_decref(st);
    return v;
}

static void use_cache(uint8_t steer, const char *state, size_t len)
{
    static const char *const caps[] = {"{}", "{\"max_bytes\":400}", "{\"max_bytes\":0}", "{\"max_bytes\":4096}"};
    json_t *conf = json_loads(caps[steer % 4], 0, NULL);
    int64_t cap = json_integer_value(json_object_get(conf, "max_bytes"));
    void *c = cache->adopt(conf, state, len, (steer & 0x80) ? 0 : 1000);
    if (c) {
        FUZZ_ASSERT(!cap || figure(c, "bytes") <= cap);
        json_t *args = json_pack("{s:i}", "a", steer);
        size_t klen = 0;
        char *key = cache->key(c, "t", args, &klen);
        FUZZ_ASSERT(key);
        json_decref(cache->lookup(c, key, klen, 1000));
        json_t *result = json_pack("{s:[]}", "content");
        cache->store(c, key, klen, "t", result, 1000, 1000);
        json_decref(result);
        cache->coalesced(c, "t");
        FUZZ_ASSERT(!cap || figure(c, "bytes") <= cap);
        size_t n = 0;
        char *again = cache->save(c, &n);
        FUZZ_ASSERT(again);
        void *next = cache->adopt(conf, again, n, 1000);
        FUZZ_ASSERT(next && figure(next, "entries") == figure(c, "entries"));
        cache->clear(next, (steer & 1) ? "t" : NULL);
        cache->destroy(next);
        free(again);
        free(key);
        json_decref(args);
        cache->destroy(c);
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
    use_cache(steer, (const char *)data, size);
    return 0;
}
