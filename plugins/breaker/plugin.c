/* breaker.so: circuit breakers for the targets mcpfed routes calls to. Its settings (the
 * table breaker_settings) have resilience4j's names and defaults; a lost call or a timeout
 * always counts as a failure, whatever failure_codes says. */
#include <mcpfed/mcpfed.h>

#include "breaker_core.h"

#include <stdlib.h>
#include <string.h>

_Static_assert(BR_DEFAULT_FAILURE_CODE == MF_RPC_INTERNAL_ERROR, "failure_codes' default is -32603");

typedef struct breaker {
    br core;
    char *name;
} breaker;

/* The settings as the table fills them. */
typedef struct settings {
    int window;   /* br_window */
    int64_t window_size, minimum_calls, slow_call_ms, open_wait_ms, open_wait_max_ms, permitted_half_open,
        half_open_max_wait_ms;
    double failure_rate, slow_call_rate, open_wait_multiplier;
    const json_t *failure_codes;
    bool enabled;
} settings;

static const char *const windows[] = {"count", "time", NULL};

/* resilience4j refuses a rate of 0, which would open on any call */
#define S(field) MF_AT(settings, field)
static const mf_setting breaker_settings[] = {
    {"window", MF_SET_ENUM, .def = "count", .choices = windows, .at = S(window),
     .doc = "the sliding window counts calls, or seconds"},
    {"window_size", MF_SET_INT, .def = "100", .min = 1, .max = 100000, .at = S(window_size),
     .doc = "the window's calls, or seconds"},
    {"minimum_calls", MF_SET_INT, .def = "100", .min = 1, .max = 100000, .at = S(minimum_calls),
     .doc = "calls in the window before the rates count"},
    {"failure_rate", MF_SET_NUMBER, MF_SET_ABOVE_MIN, .def = "50", .nmin = 0, .nmax = 100, .at = S(failure_rate),
     .doc = "percent of failed calls that opens the breaker"},
    {"slow_call_ms", MF_SET_DURATION, .def = "60000", .min = 1, .max = 86400000, .at = S(slow_call_ms),
     .doc = "a call that takes longer is slow"},
    {"slow_call_rate", MF_SET_NUMBER, MF_SET_ABOVE_MIN, .def = "100", .nmin = 0, .nmax = 100,
     .at = S(slow_call_rate), .doc = "percent of slow calls that opens the breaker"},
    {"open_wait_ms", MF_SET_DURATION, .def = "60000", .min = 1, .max = 86400000, .at = S(open_wait_ms),
     .doc = "how long an open breaker waits before a trial call"},
    {"open_wait_multiplier", MF_SET_NUMBER, .def = "1", .nmin = 1, .nmax = 100, .at = S(open_wait_multiplier),
     .doc = "the wait grows by this each time the breaker opens again"},
    {"open_wait_max_ms", MF_SET_DURATION, .def = "0", .min = 0, .max = 86400000, .at = S(open_wait_max_ms),
     .doc = "the wait's cap (0: none)"},
    {"permitted_half_open", MF_SET_INT, .def = "10", .min = 1, .max = 100000, .at = S(permitted_half_open),
     .doc = "trial calls while half-open"},
    {"half_open_max_wait_ms", MF_SET_DURATION, .def = "0", .min = 0, .max = 86400000,
     .at = S(half_open_max_wait_ms), .doc = "half-open longer than this opens again (0: no limit)"},
    {"failure_codes", MF_SET_INTS, .def = "{ -32603 }", .at = S(failure_codes),
     .doc = "JSON-RPC error codes that count as failures"},
    {"enabled", MF_SET_BOOL, .def = "true", .at = S(enabled), .doc = "false: every call is admitted, nothing counted"},
    {0},
};
#undef S

static void *create(const json_t *conf, const char *name)
{
    settings st;
    if (mf_settings_check(conf, name, breaker_settings, &st, NULL))
        return NULL;
    br_settings s = {
        .window = (br_window)st.window, .window_size = (unsigned)st.window_size,
        .minimum_calls = (unsigned)st.minimum_calls, .failure_rate = st.failure_rate,
        .slow_call_ms = (uint64_t)st.slow_call_ms, .slow_call_rate = st.slow_call_rate,
        .open_wait_ms = (uint64_t)st.open_wait_ms, .open_wait_multiplier = st.open_wait_multiplier,
        .open_wait_max_ms = (uint64_t)st.open_wait_max_ms, .permitted_half_open = (unsigned)st.permitted_half_open,
        .half_open_max_wait_ms = (uint64_t)st.half_open_max_wait_ms,
    };
    const json_t *codes = st.failure_codes;
    bool enabled = st.enabled;
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
    .create = create, .destroy = destroy, .acquire = acquire, .record = record,
    .release = release, .state = state, .force = force, .status = status, .save = save, .adopt = adopt,
};

MF_PLUGIN(.name = "breaker", .version = "1",
          .description = "circuit breakers with resilience4j's semantics, one per target",
          .breaker = &ops, .breaker_settings = breaker_settings);
