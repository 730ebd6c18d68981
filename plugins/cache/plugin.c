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

#define DEFAULT_MAX_BYTES (INT64_C(64) << 20)
#define DEFAULT_TTL_MS 60000

static const char *const keys[] = {"max_bytes", NULL};
static const char *const provider_keys[] = {"ttl_ms", "tools", NULL};

static int parse(const json_t *conf, const char *path, int64_t *max_bytes, mf_error *err)
{
    *max_bytes = DEFAULT_MAX_BYTES;
    if (!conf)
        return 0;
    return mf_conf_keys(conf, path, keys, err) ||
           mf_conf_int(conf, path, "max_bytes", 0, INT64_C(1) << 40, max_bytes, err)
               ? -1
               : 0;
}

static int parse_provider(const json_t *conf, const char *path, int64_t *ttl, const json_t **tools,
                          mf_error *err)
{
    *ttl = DEFAULT_TTL_MS;
    *tools = NULL;
    return mf_conf_keys(conf, path, provider_keys, err) ||
           mf_conf_int(conf, path, "ttl_ms", 1, (int64_t)CS_MAX_TTL_MS, ttl, err) ||
           mf_conf_strings(conf, path, "tools", false, false, tools, err)
               ? -1
               : 0;
}

static int check(const json_t *conf, const char *path, mf_error *err)
{
    int64_t max;
    return parse(conf, path, &max, err);
}

static int check_provider(const json_t *conf, const char *path, mf_error *err)
{
    int64_t ttl;
    const json_t *tools;
    if (!json_is_object(conf) && !(json_is_array(conf) && json_array_size(conf) == 0)) {
        mf_error_set(err, -1, "%s: expected a table of cache settings", path);
        return -1;
    }
    return parse_provider(conf, path, &ttl, &tools, err);
}

static void *create(const json_t *conf)
{
    int64_t max;
    if (parse(conf, "cache", &max, NULL))
        return NULL;
    return cs_new((uint64_t)max);
}

static void configure(void *c, const json_t *conf)
{
    int64_t max;
    if (parse(conf, "cache", &max, NULL) == 0)
        cs_set_cap(c, (uint64_t)max);
}

static void destroy(void *c) { cs_free(c); }

static uint64_t ttl_ms(void *c, const json_t *pconf, const char *tool)
{
    (void)c;
    int64_t ttl;
    const json_t *tools;
    if (!pconf || parse_provider(pconf, "cache", &ttl, &tools, NULL))
        return 0;
    if (!tools)
        return (uint64_t)ttl;
    size_t i;
    json_t *t;
    json_array_foreach(tools, i, t) {
        if (strcmp(json_string_value(t), tool) == 0)
            return (uint64_t)ttl;
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
    .check = check, .check_provider = check_provider, .create = create, .configure = configure,
    .destroy = destroy, .ttl_ms = ttl_ms, .key = key, .lookup = lookup, .store = store,
    .coalesced = coalesced, .clear = clear, .status = status, .save = save, .adopt = adopt,
};

MF_PLUGIN(.name = "cache", .version = "1",
          .description = "a result cache for tools/call: canonical keys, time to live, LRU within a byte cap",
          .cache = &ops);
