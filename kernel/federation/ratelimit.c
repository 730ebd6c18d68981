/* Rate limits: token buckets on the calls clients make.
 *
 * A call (tools/call, prompts/get, resources/read) counts against up to three buckets: its
 * caller's (the identity's, from rate.per_identity or rate.subjects; or the one the
 * policy's rate() names; none when rate() exempts it), its public tool's (rate.tools) and
 * its provider's (the provider's rate). It goes when each of them holds a call, and then
 * takes one from each; otherwise it takes none and is refused with the time the slowest
 * of them needs. The provider and tool limits guard the upstreams and apply whatever the
 * policy says of the caller.
 *
 * Buckets are made on first use, full, and are found by kind and name; their limits are
 * the configuration's (or the policy's) of the moment, so a reload changes them at the
 * next call. Their number is bounded (rate.max_buckets): the least recently used goes
 * when a new one needs room, and a full bucket that nobody used lately goes anyway, since
 * a new one would be just the same. Names chosen by a client (through the policy) thus
 * never make the table grow without bound. */
#include "build-config.h"
#include "ratelimit.h"
#include "bucket.h"
#include "federation.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uthash.h>
#include <utlist.h>

typedef struct rbucket {
    char *key;                 /* kind letter, ':', name */
    mf_rate_kind kind;
    mf_bucket b;
    uint64_t refused;
    uint64_t used;             /* when a call last asked for it (ns) */
    struct rbucket *prev, *next;   /* most recently used first */
    UT_hash_handle hh;
} rbucket;

static struct {
    rbucket *by_key;
    rbucket *lru;
    uint64_t admitted, refused[MF_RATE_KINDS], evicted_full, evicted_in_use;
} RL;

/* A bucket unused this long is idle: when full, it may go. */
#define IDLE_NS UINT64_C(1000000000)

static const char *const kind_names[MF_RATE_KINDS] = {"identity", "policy", "tool", "provider"};

const char *mf_rate_kind_name(mf_rate_kind k) { return k < MF_RATE_KINDS ? kind_names[k] : "?"; }

bool mf_rate_counts(const char *method)
{
    return method && (strcmp(method, "tools/call") == 0 || strcmp(method, "prompts/get") == 0 ||
                      strcmp(method, "resources/read") == 0);
}

static void bucket_free(rbucket *r)
{
    HASH_DEL(RL.by_key, r);
    DL_DELETE(RL.lru, r);
    free(r->key);
    free(r);
}

/* Make room for one more under max: full buckets idle the longest first, then the least
 * recently used whatever it holds. */
static void make_room(size_t max, uint64_t now)
{
    while (RL.lru && HASH_COUNT(RL.by_key) >= max) {
        rbucket *last = RL.lru->prev;
        mf_bucket_refill(&last->b, now);
        if (mf_bucket_full(&last->b))
            RL.evicted_full++;
        else
            RL.evicted_in_use++;
        bucket_free(last);
    }
    /* and a full one idle at the end is dropped at no cost: a new one would be the same */
    if (RL.lru && now - RL.lru->prev->used >= IDLE_NS) {
        rbucket *last = RL.lru->prev;
        mf_bucket_refill(&last->b, now);
        if (mf_bucket_full(&last->b)) {
            RL.evicted_full++;
            bucket_free(last);
        }
    }
}

/* The bucket kind:name with limit lim, made full when new, brought to now, and moved to
 * the front. */
static rbucket *bucket_get(mf_rate_kind kind, const char *name, const mf_rate_limit *lim, size_t max,
                           uint64_t now)
{
    size_t n = strlen(name) + 3;
    char *key = mf_xmalloc(n);
    snprintf(key, n, "%c:%s", "iptP"[kind], name);   /* a letter per kind: their names never meet */
    rbucket *r;
    HASH_FIND_STR(RL.by_key, key, r);
    uint64_t rate = mf_bucket_millirate(lim->calls_per_s);
    uint64_t burst = lim->burst > 0 ? (uint64_t)lim->burst : 1;
    if (r) {
        free(key);
        DL_DELETE(RL.lru, r);
        mf_bucket_set(&r->b, rate, burst, now);
    } else {
        make_room(max, now);
        r = mf_xcalloc(1, sizeof *r);
        r->key = key;
        r->kind = kind;
        mf_bucket_init(&r->b, rate, burst, now);
        HASH_ADD_KEYPTR(hh, RL.by_key, r->key, strlen(r->key), r);
    }
    r->used = now;
    DL_PREPEND(RL.lru, r);
    return r;
}

/* A limit from the table map[name], if there is one. */
static bool limit_in(const json_t *map, const char *name, mf_rate_limit *lim)
{
    const json_t *t = name ? json_object_get(map, name) : NULL;
    return t && mf_rate_limit_parse(t, "", lim, NULL) == 0;
}

bool mf_rate_configured(const mf_config *cfg, const mf_provider_conf *provider)
{
    const mf_rate_conf *rc = &cfg->rate;
    return provider->rate.calls_per_s > 0 || rc->per_identity.calls_per_s > 0 || rc->subjects || rc->tools ||
           mf_policy_has_rate();
}

/* A bucket a call counts against. */
typedef struct wanted {
    mf_rate_kind kind;
    const char *name;
    mf_rate_limit lim;
} wanted;

bool mf_rate_admit(const mf_config *cfg, const mf_policy_request *req, const mf_provider_conf *provider,
                   mf_rate_refusal *out)
{
    if (!mf_rate_counts(req->method))
        return true;
    const mf_rate_conf *rc = &cfg->rate;
    wanted want[3];
    int n = 0;
    mf_policy_rate pol;
    mf_policy_rate_of(req, &pol);   /* a failure counts in the policy's status; the configuration applies */
    const char *subject = json_string_value(json_object_get(req->identity, "subject"));
    if (!subject)
        subject = "anonymous";
    if (pol.choice == MF_POLICY_RATE_BUCKET) {
        want[n++] = (wanted){MF_RATE_POLICY, pol.bucket, {pol.calls_per_s, pol.burst}};
    } else if (pol.choice == MF_POLICY_RATE_CONFIG) {
        want[n] = (wanted){MF_RATE_IDENTITY, subject, rc->per_identity};
        if (limit_in(rc->subjects, subject, &want[n].lim) || rc->per_identity.calls_per_s > 0)
            n++;
    }
    if (strcmp(req->method, "tools/call") == 0) {
        want[n] = (wanted){MF_RATE_TOOL, req->name, {0, 0}};
        if (limit_in(rc->tools, req->name, &want[n].lim))
            n++;
    }
    if (provider->rate.calls_per_s > 0)
        want[n++] = (wanted){MF_RATE_PROVIDER, provider->name, provider->rate};
    if (n == 0) {
        RL.admitted++;
        return true;
    }
    uint64_t now = uv_hrtime();
    size_t max = rc->max_buckets > 0 ? (size_t)rc->max_buckets : 10000;
    rbucket *got[3];
    uint64_t wait = 0;
    int slowest = -1;
    for (int i = 0; i < n; i++) {
        got[i] = bucket_get(want[i].kind, want[i].name, &want[i].lim, max, now);
        uint64_t w = mf_bucket_wait(&got[i]->b);
        if (w > wait) {
            wait = w;
            slowest = i;
        }
    }
    if (slowest < 0) {
        for (int i = 0; i < n; i++)
            mf_bucket_take(&got[i]->b);
        RL.admitted++;
        return true;
    }
    rbucket *r = got[slowest];
    r->refused++;
    RL.refused[r->kind]++;
    out->kind = r->kind;
    out->retry_ms = (wait + 999999) / 1000000;   /* rounded up: then it holds a call */
    snprintf(out->bucket, sizeof out->bucket, "%s", want[slowest].name);
    return false;
}

json_t *mf_rate_status(void)
{
    json_t *list = json_array();
    uint64_t now = uv_hrtime();
    rbucket *r;
    DL_FOREACH(RL.lru, r) {
        mf_bucket_refill(&r->b, now);
        json_array_append_new(list, json_pack("{s:s,s:s,s:f,s:I,s:f,s:I}", "kind", kind_names[r->kind], "name",
                                              r->key + 2, "tokens", (double)r->b.level / (double)MF_BUCKET_UNIT,
                                              "burst", (json_int_t)r->b.burst, "calls_per_s",
                                              (double)r->b.millirate / 1000.0, "refused", (json_int_t)r->refused));
    }
    json_t *refused = json_object();
    for (int k = 0; k < MF_RATE_KINDS; k++)
        json_object_set_new(refused, kind_names[k], json_integer((json_int_t)RL.refused[k]));
    return json_pack("{s:I,s:o,s:I,s:I,s:o}", "admitted", (json_int_t)RL.admitted, "refused", refused,
                     "evicted_full", (json_int_t)RL.evicted_full, "evicted_in_use", (json_int_t)RL.evicted_in_use,
                     "buckets", list);
}

void mf_rate_shutdown(void)
{
    rbucket *r, *tmp;
    HASH_ITER(hh, RL.by_key, r, tmp) bucket_free(r);
}
