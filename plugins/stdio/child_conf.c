/* Settings of supervised children (child_conf.h). */
#include "child_conf.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const restart_keys[] = {"type", "strategy", "backoff_min_ms", "backoff_max_ms",
                                           "backoff_reset_ms", "intensity", "period_ms", "cooldown_ms",
                                           "shutdown_ms", NULL};

int child_conf_restart(const json_t *conf, const char *path, mf_child_spec *spec, mf_sup_spec *sup,
                       mf_error *err)
{
    json_t *r = json_object_get(conf, "restart");
    if (!r)
        return 0;
    char rp[128];
    snprintf(rp, sizeof rp, "%s.restart", path);
    int64_t v[7] = {0};
    v[2] = -1;
    const char *type = NULL, *strategy = NULL;
    if (mf_conf_keys(r, rp, restart_keys, err) ||
        mf_conf_string(r, rp, "type", false, &type, err) ||
        mf_conf_string(r, rp, "strategy", false, &strategy, err) ||
        mf_conf_int(r, rp, "backoff_min_ms", 1, 3600000, &v[0], err) ||
        mf_conf_int(r, rp, "backoff_max_ms", 1, 3600000, &v[1], err) ||
        mf_conf_int(r, rp, "intensity", 0, 100000, &v[2], err) ||
        mf_conf_int(r, rp, "period_ms", 1, 86400000, &v[3], err) ||
        mf_conf_int(r, rp, "cooldown_ms", 1, 86400000, &v[4], err) ||
        mf_conf_int(r, rp, "shutdown_ms", 1, 600000, &v[5], err) ||
        mf_conf_int(r, rp, "backoff_reset_ms", 1, 86400000, &v[6], err))
        return -1;
    int64_t bmin = v[0] ? v[0] : 100, bmax = v[1] ? v[1] : 30000;
    if (bmax < bmin) {
        if (v[1])
            mf_error_set(err, -1, "%s.backoff_max_ms: %lld is less than backoff_min_ms (%lld)", rp,
                         (long long)bmax, (long long)bmin);
        else
            mf_error_set(err, -1, "%s.backoff_min_ms: %lld is more than backoff_max_ms (%lld, the default)",
                         rp, (long long)bmin, (long long)bmax);
        return -1;
    }
    static const char *const types[] = {"permanent", "transient", "temporary"};
    static const char *const strategies[] = {"one_for_one", "one_for_all", "rest_for_one", "simple_one_for_one"};
    int t = 0, st = 0;
    if (type) {
        for (t = 0; t < 3 && strcmp(types[t], type) != 0; t++)
            ;
        if (t == 3) {
            mf_error_set(err, -1, "%s.type: \"%s\" is not one of permanent, transient, temporary", rp, type);
            return -1;
        }
    }
    if (strategy) {
        for (st = 0; st < 4 && strcmp(strategies[st], strategy) != 0; st++)
            ;
        if (st == 4) {
            mf_error_set(err, -1, "%s.strategy: \"%s\" is not one of one_for_one, one_for_all, rest_for_one, "
                         "simple_one_for_one", rp, strategy);
            return -1;
        }
    }
    if (spec) {
        spec->restart = (mf_restart)t;
        spec->backoff_min_ms = (uint32_t)v[0];
        spec->backoff_max_ms = (uint32_t)v[1];
        spec->shutdown_ms = (uint32_t)v[5];
        spec->backoff_reset_ms = (uint32_t)v[6];
    }
    if (sup) {
        sup->strategy = (mf_strategy)st;
        /* intensity 0 is OTP's "no restart at all": keep it apart from "not set" */
        sup->intensity = v[2] < 0 ? 10 : v[2] == 0 ? 0 : (uint32_t)v[2];
        sup->period_ms = (uint32_t)v[3];
        sup->cooldown_ms = (uint32_t)v[4];
    }
    return 0;
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
