/* Settings of supervised children (child_conf.h). */
#include "child_conf.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const restart_types[] = {"permanent", "transient", "temporary", NULL};
static const char *const strategies[] = {"one_for_one", "one_for_all", "rest_for_one", "simple_one_for_one", NULL};

const mf_setting child_restart_settings[] = {
    {"type", MF_SET_ENUM, .def = "permanent", .choices = restart_types, .at = MF_AT(child_restart, type),
     .doc = "which exits are restarted: always, only abnormal ones, or none"},
    {"strategy", MF_SET_ENUM, .def = "one_for_one", .choices = strategies, .at = MF_AT(child_restart, strategy),
     .doc = "which children a restart takes along; simple_one_for_one: a dynamic pool"},
    {"backoff_min_ms", MF_SET_DURATION, .def = "100", .min = 1, .max = 3600000,
     .at = MF_AT(child_restart, backoff_min_ms), .doc = "the first restart delay"},
    {"backoff_max_ms", MF_SET_DURATION, .def = "30000", .min = 1, .max = 3600000,
     .at = MF_AT(child_restart, backoff_max_ms), .doc = "the restart delay's cap (not below backoff_min_ms)"},
    {"backoff_reset_ms", MF_SET_DURATION, .def = "10000", .min = 1, .max = 86400000,
     .at = MF_AT(child_restart, backoff_reset_ms), .doc = "a run this long resets the delay"},
    {"intensity", MF_SET_INT, .def = "10", .min = 0, .max = 100000, .at = MF_AT(child_restart, intensity),
     .doc = "restarts within period_ms beyond which the supervisor gives up"},
    {"period_ms", MF_SET_DURATION, .def = "60000", .min = 1, .max = 86400000,
     .at = MF_AT(child_restart, period_ms), .doc = "the period of intensity"},
    {"cooldown_ms", MF_SET_DURATION, .def = "60000", .min = 1, .max = 86400000,
     .at = MF_AT(child_restart, cooldown_ms), .doc = "a supervisor that gave up starts again after this"},
    {"shutdown_ms", MF_SET_DURATION, .def = "5000", .min = 1, .max = 600000,
     .at = MF_AT(child_restart, shutdown_ms), .doc = "SIGTERM to SIGKILL when a child is stopped"},
    {0},
};

int child_conf_check(const child_restart *r, const json_t *conf, const char *path, mf_error *err)
{
    if (r->backoff_max_ms >= r->backoff_min_ms)
        return 0;
    if (json_object_get(json_object_get(conf, "restart"), "backoff_max_ms"))
        mf_error_set(err, -1, "%s.restart.backoff_max_ms: %lld is less than backoff_min_ms (%lld)", path,
                     (long long)r->backoff_max_ms, (long long)r->backoff_min_ms);
    else
        mf_error_set(err, -1, "%s.restart.backoff_min_ms: %lld is more than backoff_max_ms (%lld, the default)",
                     path, (long long)r->backoff_min_ms, (long long)r->backoff_max_ms);
    return -1;
}

void child_conf_apply(const child_restart *r, mf_child_spec *spec, mf_sup_spec *sup)
{
    spec->restart = (mf_restart)r->type;
    spec->backoff_min_ms = (uint32_t)r->backoff_min_ms;
    spec->backoff_max_ms = (uint32_t)r->backoff_max_ms;
    spec->shutdown_ms = (uint32_t)r->shutdown_ms;
    spec->backoff_reset_ms = (uint32_t)r->backoff_reset_ms;
    sup->strategy = (mf_strategy)r->strategy;
    /* 0 in the configuration allows no restart; to the SDK, 0 is the default */
    sup->intensity = r->intensity ? (uint32_t)r->intensity : MF_SUP_NO_RESTARTS;
    sup->period_ms = (uint32_t)r->period_ms;
    sup->cooldown_ms = (uint32_t)r->cooldown_ms;
}

char **child_conf_env(const json_t *map)
{
    size_t n = json_is_object(map) ? json_object_size(map) : 0, i = 0;
    char **out = mf_xcalloc(n + 1, sizeof *out);
    const char *k;
    json_t *v;
    if (n)
        json_object_foreach((json_t *)map, k, v) {
            size_t len = strlen(k) + json_string_length(v) + 2;
            out[i] = mf_xmalloc(len);
            snprintf(out[i++], len, "%s=%s", k, json_string_value(v));
        }
    return out;
}
