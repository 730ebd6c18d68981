/* cache.so: the result cache of tools/call.
 *
 * Settings, top level (`cache = { ... }`):
 *   max_bytes = 67108864: the entries' keys and results (as compact JSON) together, at most;
 *   beyond, the least recently used go.
 * A provider's (`providers[N].cache = { ... }`), which turns caching on for it:
 *   ttl_ms = 60000: how long a result is served from the cache;
 *   tools = { "query", ... }: the tools (upstream names) whose results are kept; all of the
 *   provider's when absent.
 *
 * The kernel decides what may be shared (no error, no question asked of the caller) and
 * coalesces identical calls in flight; this keeps the entries (store.c) under canonical
 * keys (canon.c). */
#include <mcpfed/mcpfed.h>

#include "canon.h"
#include "store.h"

#include <stdlib.h>
#include <string.h>

typedef struct top_conf {
    int64_t max_bytes;
} top_conf;

typedef struct provider_conf {
    int64_t ttl_ms;
    const json_t *tools;   /* NULL: all of the provider's */
} provider_conf;

static const mf_setting top_settings[] = {
    {"max_bytes", MF_SET_BYTES, .def = "67108864", .min = 0, .max = INT64_C(1) << 40,
     .at = MF_AT(top_conf, max_bytes),
     .doc = "the entries' keys and results (as compact JSON) together; beyond, the least recently used go"},
    {0},
};

static const mf_setting provider_settings[] = {
    {"ttl_ms", MF_SET_DURATION, .def = "60000", .min = 1, .max = (int64_t)CS_MAX_TTL_MS,
     .at = MF_AT(provider_conf, ttl_ms), .doc = "how long a result is served from the cache"},
    {"tools", MF_SET_STRINGS, .def_doc = "all of the provider's", .at = MF_AT(provider_conf, tools),
     .doc = "the tools (upstream names) whose results are kept"},
    {0},
};

/* Settings the kernel has checked against the tables, filled with their defaults. */
static int parse(const json_t *conf, int64_t *max_bytes)
{
    top_conf tc = {0};
    if (mf_settings_check(conf, "cache", top_settings, &tc, NULL))
        return -1;
    *max_bytes = tc.max_bytes;
    return 0;
}

static void *create(const json_t *conf)
{
    int64_t max;
    if (parse(conf, &max))
        return NULL;
    return cs_new((uint64_t)max);
}

static void configure(void *c, const json_t *conf)
{
    int64_t max;
    if (parse(conf, &max) == 0)
        cs_set_cap(c, (uint64_t)max);
}

static void destroy(void *c) { cs_free(c); }

static uint64_t ttl_ms(void *c, const json_t *pconf, const char *tool)
{
    (void)c;
    provider_conf pc = {0};
    if (!pconf || mf_settings_check(pconf, "cache", provider_settings, &pc, NULL))
        return 0;
    uint64_t ttl = (uint64_t)pc.ttl_ms;
    const json_t *tools = pc.tools;
    if (!tools)
        return ttl;
    size_t i;
    json_t *t;
    json_array_foreach(tools, i, t) {
        if (strcmp(json_string_value(t), tool) == 0)
            return ttl;
    }
    return 0;
}

static char *key(void *c, const char *tool, const json_t *args, size_t *len)
{
    (void)c;
    return cache_canon_key(tool, args, len);
}

static json_t *lookup(void *c, const char *k, size_t len, uint64_t now) { return cs_get(c, k, len, now); }

static void store(void *c, const char *k, size_t len, const char *tool, const json_t *result, uint64_t ttl,
                  uint64_t now)
{
    cs_put(c, k, len, tool, (json_t *)result, ttl, now);
}

static void coalesced(void *c, const char *tool) { cs_coalesced(c, tool); }

static size_t clear(void *c, const char *tool) { return cs_clear(c, tool); }

static json_t *status(void *c, uint64_t now) { return cs_status(c, now); }

static char *save(void *c, size_t *len)
{
    json_t *st = cs_save(c);
    char *buf = mf_state_pack(st, len);
    json_decref(st);
    return buf;
}

static void *adopt(const json_t *conf, const char *state, size_t len, uint64_t now)
{
    json_t *st = mf_state_unpack(state, len, NULL);
    if (!st)
        return NULL;
    cstore *c = create(conf);
    if (c)
        cs_load(c, st, now);
    json_decref(st);
    return c;
}

static const mf_cache_ops ops = {
    .create = create, .configure = configure,
    .destroy = destroy, .ttl_ms = ttl_ms, .key = key, .lookup = lookup, .store = store,
    .coalesced = coalesced, .clear = clear, .status = status, .save = save, .adopt = adopt,
};

MF_PLUGIN(.name = "cache", .version = "1",
          .description = "a result cache for tools/call: canonical keys, time to live, LRU within a byte cap",
          .cache = &ops, .cache_settings = top_settings, .cache_provider_settings = provider_settings);
