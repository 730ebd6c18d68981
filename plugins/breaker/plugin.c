/* breaker.so: circuit breakers for the targets mcpfed routes calls to.
 *
 * Settings (resilience4j's names, and its defaults):
 *   window = "count" | "time", window_size = 100 (calls, or seconds), minimum_calls = 100,
 *   failure_rate = 50, slow_call_ms = 60000, slow_call_rate = 100 (percent),
 *   open_wait_ms = 60000, open_wait_multiplier = 1, open_wait_max_ms = 0 (no cap),
 *   permitted_half_open = 10, half_open_max_wait_ms = 0 (no limit),
 *   failure_codes = { -32603 }: JSON-RPC error codes that count as failures (a lost call or
 *   a timeout always does), enabled = true. */
#include <mcpfed/mcpfed.h>

#include "breaker_core.h"

#include <stdlib.h>
#include <string.h>

typedef struct breaker {
    br core;
    int *codes;
    size_t ncodes;
    char *name;
} breaker;

static const char *const keys[] = {"window", "window_size", "minimum_calls", "failure_rate",
                                   "slow_call_ms", "slow_call_rate", "open_wait_ms",
                                   "open_wait_multiplier", "open_wait_max_ms", "permitted_half_open",
                                   "half_open_max_wait_ms", "failure_codes", "enabled", NULL};

static int percent(const json_t *conf, const char *path, const char *key, double *out, mf_error *err)
{
    json_t *v = json_object_get(conf, key);
    if (!v)
        return 0;
    if (!json_is_number(v) || json_number_value(v) < 0 || json_number_value(v) > 100) {
        mf_error_set(err, -1, "%s.%s: expected a percentage from 0 to 100", path, key);
        return -1;
    }
    *out = json_number_value(v);
    return 0;
}

static int parse(const json_t *conf, const char *path, br_settings *s, json_t **codes, bool *enabled,
                 mf_error *err)
{
    *s = (br_settings){BR_COUNT_BASED, 100, 100, 50, 60000, 100, 60000, 1, 0, 10, 0};
    const char *window = NULL;
    int64_t v[7] = {100, 100, 60000, 60000, 0, 10, 0};
    double mult = 1;
    const json_t *list = NULL;
    if (mf_conf_keys(conf, path, keys, err) || mf_conf_string(conf, path, "window", false, &window, err) ||
        mf_conf_int(conf, path, "window_size", 1, 100000, &v[0], err) ||
        mf_conf_int(conf, path, "minimum_calls", 1, 100000, &v[1], err) ||
        mf_conf_int(conf, path, "slow_call_ms", 0, 86400000, &v[2], err) ||
        mf_conf_int(conf, path, "open_wait_ms", 1, 86400000, &v[3], err) ||
        mf_conf_int(conf, path, "open_wait_max_ms", 0, 86400000, &v[4], err) ||
        mf_conf_int(conf, path, "permitted_half_open", 1, 100000, &v[5], err) ||
        mf_conf_int(conf, path, "half_open_max_wait_ms", 0, 86400000, &v[6], err) ||
        percent(conf, path, "failure_rate", &s->failure_rate, err) ||
        percent(conf, path, "slow_call_rate", &s->slow_call_rate, err) ||
        mf_conf_bool(conf, path, "enabled", enabled, err))
        return -1;
    json_t *m = json_object_get(conf, "open_wait_multiplier");
    if (m) {
        if (!json_is_number(m) || json_number_value(m) < 1 || json_number_value(m) > 100) {
            mf_error_set(err, -1, "%s.open_wait_multiplier: expected a number from 1 to 100", path);
            return -1;
        }
        mult = json_number_value(m);
    }
    if (window && strcmp(window, "count") != 0 && strcmp(window, "time") != 0) {
        mf_error_set(err, -1, "%s.window: \"%s\" is not count or time", path, window);
        return -1;
    }
    list = json_object_get(conf, "failure_codes");
    if (list) {
        bool ok = json_is_array(list);
        size_t i;
        json_t *c;
        json_array_foreach(list, i, c) ok = ok && json_is_integer(c);
        if (!ok) {
            mf_error_set(err, -1, "%s.failure_codes: expected a list of JSON-RPC error codes", path);
            return -1;
        }
    }
    s->window = window && strcmp(window, "time") == 0 ? BR_TIME_BASED : BR_COUNT_BASED;
    s->window_size = (unsigned)v[0];
    s->minimum_calls = (unsigned)v[1];
    s->slow_call_ms = (uint64_t)v[2];
    s->open_wait_ms = (uint64_t)v[3];
    s->open_wait_max_ms = (uint64_t)v[4];
    s->permitted_half_open = (unsigned)v[5];
    s->half_open_max_wait_ms = (uint64_t)v[6];
    s->open_wait_multiplier = mult;
    if (codes)
        *codes = (json_t *)list;
    return 0;
}

static int check(const json_t *conf, const char *path, mf_error *err)
{
    br_settings s;
    bool enabled = true;
    return parse(conf, path, &s, NULL, &enabled, err);
}

static void *create(const json_t *conf, const char *name)
{
    br_settings s;
    json_t *codes = NULL;
    bool enabled = true;
    if (parse(conf, name, &s, &codes, &enabled, NULL))
        return NULL;
    breaker *b = calloc(1, sizeof *b);
    br_init(&b->core, &s);
    b->name = strdup(name);
    if (codes) {
        b->ncodes = json_array_size(codes);
        b->codes = calloc(b->ncodes ? b->ncodes : 1, sizeof *b->codes);
        for (size_t i = 0; i < b->ncodes; i++)
            b->codes[i] = (int)json_integer_value(json_array_get(codes, i));
    } else {
        b->ncodes = 1;
        b->codes = malloc(sizeof *b->codes);
        b->codes[0] = MF_RPC_INTERNAL_ERROR;
    }
    if (!enabled)
        br_force(&b->core, 3, 0);
    return b;
}

static void destroy(void *p)
{
    breaker *b = p;
    br_free(&b->core);
    free(b->codes);
    free(b->name);
    free(b);
}

static bool acquire(void *p, uint64_t now) { return br_acquire(&((breaker *)p)->core, now); }

static void record(void *p, const mf_call_outcome *o, uint64_t now)
{
    breaker *b = p;
    bool failure = o->lost;
    for (size_t i = 0; !failure && o->error_code && i < b->ncodes; i++)
        failure = b->codes[i] == o->error_code;
    br_record(&b->core, failure, o->duration_ms, now);
}

static void release(void *p) { br_release(&((breaker *)p)->core); }

static mf_breaker_state state(void *p, uint64_t now)
{
    static const mf_breaker_state map[] = {MF_BREAKER_CLOSED, MF_BREAKER_OPEN, MF_BREAKER_HALF_OPEN,
                                          MF_BREAKER_FORCED_OPEN, MF_BREAKER_DISABLED};
    return map[br_state_now(&((breaker *)p)->core, now)];
}

static void force(void *p, mf_breaker_force f, uint64_t now) { br_force(&((breaker *)p)->core, (int)f, now); }

static json_t *status(void *p, uint64_t now)
{
    breaker *b = p;
    static const char *const names[] = {"closed", "open", "half_open", "forced_open", "disabled"};
    br *c = &b->core;
    br_state st = br_state_now(c, now);
    json_t *j = json_pack("{s:s,s:f,s:f,s:I,s:I,s:I,s:I}", "state", names[st], "failure_rate",
                          br_failure_rate(c, now), "slow_call_rate", br_slow_rate(c, now), "calls",
                          (json_int_t)c->total_calls, "failures", (json_int_t)c->total_failures, "slow",
                          (json_int_t)c->total_slow, "refused", (json_int_t)c->total_refused);
    if (st == BR_OPEN)
        json_object_set_new(j, "opens_in_ms", json_integer((json_int_t)(c->opened_at + c->wait_ms - now)));
    return j;
}

static const mf_breaker_ops ops = {
    .check = check, .create = create, .destroy = destroy, .acquire = acquire, .record = record,
    .release = release, .state = state, .force = force, .status = status,
};

MF_PLUGIN(.name = "breaker", .version = "1",
          .description = "circuit breakers with resilience4j's semantics, one per target",
          .breaker = &ops);
