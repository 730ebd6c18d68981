/* The rate limits' configuration: the top-level rate table (per identity, per subject,
 * per public tool name, the bound on buckets) and a limit, { calls_per_s, burst }, which a
 * provider's rate key is too. The buckets themselves are the federation's (ratelimit.c). */
#include "build-config.h"
#include "config.h"

#include <stdio.h>

const mf_setting mf_rate_limit_settings[] = {
    {"calls_per_s", MF_SET_NUMBER, MF_SET_REQUIRED, .nmin = 0.001, .nmax = 1000000,
     .at = MF_AT(mf_rate_limit, calls_per_s), .doc = "calls a second on average, to a thousandth"},
    {"burst", MF_SET_INT, .def_doc = "calls_per_s, rounded up", .min = 1, .max = 1000000,
     .at = MF_AT(mf_rate_limit, burst), .doc = "calls at once after a quiet time: what the bucket holds"},
    {0},
};

const mf_setting mf_rate_settings[] = {
    {"per_identity", MF_SET_TABLE, MF_SET_OR_FALSE, .def_doc = "none",
     .doc = "a limit for each identity (its subject) apart; false or absent: none"},
    {"subjects", MF_SET_TABLE, .def = "{}", .doc = "subject = limit: that subject's own, instead of per_identity"},
    {"tools", MF_SET_TABLE, .def = "{}", .doc = "public tool name = limit: all calls of that tool together"},
    {"max_buckets", MF_SET_INT, .def = "10000", .min = 16, .max = 10000000, .at = MF_AT(mf_rate_conf, max_buckets),
     .doc = "buckets kept at most; the least recently used goes first"},
    {0},
};

int64_t mf_rate_default_burst(double calls_per_s)
{
    int64_t whole = (int64_t)calls_per_s;
    whole += (double)whole < calls_per_s;   /* rounded up */
    return whole < 1 ? 1 : whole;
}

int mf_rate_limit_parse(const json_t *v, const char *path, mf_rate_limit *out, mf_error *err)
{
    *out = (mf_rate_limit){0};
    if (mf_settings_check(v, path, mf_rate_limit_settings, out, err))
        return -1;
    if (!out->burst)
        out->burst = mf_rate_default_burst(out->calls_per_s);
    return 0;
}

/* Each entry of map (subject or tool name -> limit) is a limit table. */
static int check_map(const json_t *map, const char *path, mf_error *err)
{
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)map, k, v) {
        char kp[300];
        snprintf(kp, sizeof kp, "%s[\"%.200s\"]", path, k);
        mf_rate_limit lim;
        if (mf_rate_limit_parse(v, kp, &lim, err))
            return -1;
    }
    return 0;
}

/* An object, or NULL for none (Lua writes an empty table as an empty list). */
static json_t *map_of(const json_t *v)
{
    return json_is_object(v) && json_object_size(v) ? json_incref((json_t *)v) : NULL;
}

int mf_rate_conf_load(mf_config *c, const json_t *v, mf_error *err)
{
    mf_rate_conf *r = &c->rate;
    if (mf_settings_check(v, "rate", mf_rate_settings, r, err))
        return -1;
    json_t *per = json_object_get(v, "per_identity");
    if (json_is_object(per) && mf_rate_limit_parse(per, "rate.per_identity", &r->per_identity, err))
        return -1;
    if (json_is_array(per)) {   /* {}: a limit with nothing in it */
        mf_error_set(err, -1, "rate.per_identity.calls_per_s: missing (a number is required)");
        return -1;
    }
    json_t *subjects = json_object_get(v, "subjects"), *tools = json_object_get(v, "tools");
    if ((json_is_object(subjects) && check_map(subjects, "rate.subjects", err)) ||
        (json_is_object(tools) && check_map(tools, "rate.tools", err)))
        return -1;
    r->subjects = map_of(subjects);
    r->tools = map_of(tools);
    return 0;
}

void mf_rate_conf_free(mf_rate_conf *r)
{
    json_decref(r->subjects);
    json_decref(r->tools);
    r->subjects = r->tools = NULL;
}
