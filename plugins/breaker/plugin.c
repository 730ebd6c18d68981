/* breaker.so: circuit breakers for the targets mcpfed routes calls to.
 *
 * Settings (resilience4j's names, and its defaults):
 *   window = "count" | "time", window_size = 100 (calls, or seconds), minimum_calls = 100,
 *   failure_rate = 50 (percent, over 0), slow_call_ms = 60000 (slow: longer than that),
 *   slow_call_rate = 100 (percent, over 0),
 *   open_wait_ms = 60000, open_wait_multiplier = 1, open_wait_max_ms = 0 (no cap),
 *   permitted_half_open = 10, half_open_max_wait_ms = 0 (no limit),
 *   failure_codes = { -32603 }: JSON-RPC error codes that count as failures (a lost call or
 *   a timeout always does), enabled = true. */
#include <mcpfed/mcpfed.h>

#include "breaker_core.h"

#include <stdlib.h>
#include <string.h>

_Static_assert(BR_DEFAULT_FAILURE_CODE == MF_RPC_INTERNAL_ERROR, "failure_codes' default is -32603");

typedef struct breaker {
    br core;
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
    /* resilience4j refuses 0: a rate threshold of 0 would open on any call */
    if (!json_is_number(v) || json_number_value(v) <= 0 || json_number_value(v) > 100) {
        mf_error_set(err, -1, "%s.%s: expected a percentage over 0, at most 100", path, key);
        return -1;
    }
    *out = json_number_value(v);
    return 0;
}

static int parse(const json_t *conf, const char *path, br_settings *s, json_t **codes, bool *enabled,
                 mf_error *err)
{
    *s = (br_settings){.window = BR_COUNT_BASED, .window_size = 100, .minimum_calls = 100, .failure_rate = 50,
                       .slow_call_ms = 60000, .slow_call_rate = 100, .open_wait_ms = 60000,
                       .open_wait_multiplier = 1, .permitted_half_open = 10};
    const char *window = NULL;
    int64_t v[7] = {100, 100, 60000, 60000, 0, 10, 0};
    double mult = 1;
    const json_t *list = NULL;
    if (mf_conf_keys(conf, path, keys, err) || mf_conf_string(conf, path, "window", false, &window, err) ||
        mf_conf_int(conf, path, "window_size", 1, 100000, &v[0], err) ||
        mf_conf_int(conf, path, "minimum_calls", 1, 100000, &v[1], err) ||
        mf_conf_int(conf, path, "slow_call_ms", 1, 86400000, &v[2], err) ||
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
    size_t n = codes ? json_array_size(codes) : 0;
    int *list = codes ? calloc(n ? n : 1, sizeof *list) : NULL;
    for (size_t i = 0; i < n; i++)
        list[i] = (int)json_integer_value(json_array_get(codes, i));
    s.failure_codes = list;
    s.nfailure_codes = n;
    breaker *b = calloc(1, sizeof *b);
    br_init(&b->core, &s);
    free(list);
    b->name = strdup(name);
    if (!enabled)
        br_force(&b->core, 3, 0);
    return b;
}

static void destroy(void *p)
{
    breaker *b = p;
    br_free(&b->core);
    free(b->name);
    free(b);
}

static bool acquire(void *p, uint64_t now) { return br_acquire(&((breaker *)p)->core, now); }

static void record(void *p, const mf_call_outcome *o, uint64_t now)
{
    br *c = &((breaker *)p)->core;
    br_record(c, br_is_failure(c, o->error_code, o->lost), o->duration_ms, now);
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
        json_object_set_new(j, "opens_in_ms", json_integer((json_int_t)br_open_for(c, now)));
    return j;
}

/* --- hot swap: the whole state goes to the next generation, window included --- */

static char *save(void *p, size_t *len)
{
    br *c = &((breaker *)p)->core;
    json_t *ring = json_array();
    for (unsigned i = 0; i < c->ring_len; i++)
        json_array_append_new(ring, json_pack("[I,i,i,i]", (json_int_t)c->ring[i].epoch, (int)c->ring[i].calls,
                                              (int)c->ring[i].failures, (int)c->ring[i].slow));
    json_t *st = json_pack("{s:i,s:o,s:i,s:i,s:i,s:i,s:i,s:I,s:I,s:i,s:I,s:i,s:i,s:i,s:i,s:I,s:I,s:I,s:I}",
                           "state", (int)c->state, "ring", ring, "head", (int)c->head, "filled", (int)c->filled,
                           "calls", (int)c->calls, "failures", (int)c->failures, "slow", (int)c->slow,
                           "opened_at", (json_int_t)c->opened_at, "wait_ms", (json_int_t)c->wait_ms,
                           "opens_in_a_row", (int)c->opens_in_a_row, "half_since", (json_int_t)c->half_since,
                           "half_admitted", (int)c->half_admitted, "half_calls", (int)c->half_calls,
                           "half_failures", (int)c->half_failures, "half_slow", (int)c->half_slow,
                           "total_calls", (json_int_t)c->total_calls, "total_failures",
                           (json_int_t)c->total_failures, "total_slow", (json_int_t)c->total_slow,
                           "total_refused", (json_int_t)c->total_refused);
    char *buf = mf_state_pack(st, len);
    json_decref(st);
    return buf;
}

static uint64_t u64(const json_t *st, const char *key)
{
    json_int_t v = json_integer_value(json_object_get(st, key));
    return v > 0 ? (uint64_t)v : 0;
}

static void *adopt(const json_t *conf, const char *name, const char *state, size_t len)
{
    json_t *st = mf_state_unpack(state, len, NULL);
    if (!st)
        return NULL;
    breaker *b = create(conf, name);
    if (!b) {
        json_decref(st);
        return NULL;
    }
    br *c = &b->core;
    json_int_t s = json_integer_value(json_object_get(st, "state"));
    /* an operator's choice stays; so do the rules' own states */
    if (s >= BR_CLOSED && s <= BR_DISABLED)
        c->state = (br_state)s;
    c->opened_at = u64(st, "opened_at");
    c->wait_ms = u64(st, "wait_ms");
    c->opens_in_a_row = (unsigned)u64(st, "opens_in_a_row");
    c->half_since = u64(st, "half_since");
    c->half_admitted = (unsigned)u64(st, "half_admitted");
    c->half_calls = (unsigned)u64(st, "half_calls");
    c->half_failures = (unsigned)u64(st, "half_failures");
    c->half_slow = (unsigned)u64(st, "half_slow");
    c->total_calls = u64(st, "total_calls");
    c->total_failures = u64(st, "total_failures");
    c->total_slow = u64(st, "total_slow");
    c->total_refused = u64(st, "total_refused");
    /* the window, when its shape is unchanged (new settings start it afresh) */
    json_t *ring = json_object_get(st, "ring");
    if (json_array_size(ring) == c->ring_len) {
        for (unsigned i = 0; i < c->ring_len; i++) {
            json_t *x = json_array_get(ring, i);
            c->ring[i] = (br_bucket){(uint64_t)json_integer_value(json_array_get(x, 0)),
                                     (unsigned)json_integer_value(json_array_get(x, 1)),
                                     (unsigned)json_integer_value(json_array_get(x, 2)),
                                     (unsigned)json_integer_value(json_array_get(x, 3))};
        }
        c->head = (unsigned)u64(st, "head") % c->ring_len;
        c->filled = (unsigned)u64(st, "filled");
        if (c->filled > c->ring_len)
            c->filled = c->ring_len;
        c->calls = (unsigned)u64(st, "calls");
        c->failures = (unsigned)u64(st, "failures");
        c->slow = (unsigned)u64(st, "slow");
    }
    json_decref(st);
    return b;
}

static const mf_breaker_ops ops = {
    .check = check, .create = create, .destroy = destroy, .acquire = acquire, .record = record,
    .release = release, .state = state, .force = force, .status = status, .save = save, .adopt = adopt,
};

MF_PLUGIN(.name = "breaker", .version = "1",
          .description = "circuit breakers with resilience4j's semantics, one per target",
          .breaker = &ops);
