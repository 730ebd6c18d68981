/* The result cache on a tools/call's path.
 *
 * Once the routing policy admitted it (a policy may refuse a tool to some clients, cached
 * or not), and before it goes to a target, a call of a tool whose provider caches it (`cache` in the provider's
 * settings) is looked up by its public name and canonical arguments; a hit is answered at
 * once, with the caller's own id and in the caller's era. A miss becomes the leader of a
 * flight: identical calls that arrive while it is under way wait for its answer instead of
 * going upstream, and each gets that answer with its own id. A caller that cancels leaves
 * the flight; a leader whose client leaves goes on for the others, and the last one
 * leaving cancels the upstream call.
 *
 * What is kept and shared: a result (not a JSON-RPC error, not isError, complete) of a call
 * during which the upstream asked no client anything (sampling, elicitation, roots, input
 * required): such a result depends on that client's answers. Waiters of a call that turned
 * out so are sent back through the session layer as if they had just arrived, and go
 * upstream on their own. A failed leader's error goes to every waiter, and is not kept.
 * A call that asks for progress is answered from the cache but never waits for another's
 * call (it would see no progress); its result is kept. A 2026-07-28 retry carrying
 * requestState or inputResponses is not looked up. */
#include "build-config.h"
#include "cache_hook.h"
#include "federation.h"
#include "forward.h"
#include "instance.h"
#include "swap.h"
#include "observe.h"

#include <stdlib.h>
#include <string.h>

typedef struct mf_cache_flight flight;

/* A cached call's part of its downreq. */
typedef struct mf_cached {
    downreq *d;
    char *key;
    size_t len;
    char *tool;               /* the public name */
    uint64_t ttl;
    flight *flight;           /* the flight it leads or waits for */
    bool leads;
    bool personal;            /* the upstream asked its client something */
    bool orphan;              /* a leader whose client left; it goes on for the waiters */
    json_t *msg;              /* a waiter's request, to send again */
    mf_provider *provider;    /* a waiter's, kept here: it has no call under way there, so
                               * it must not count as a client the upstream may be asking */
    struct mf_cached *prev, *next;     /* in all */
    struct mf_cached *wprev, *wnext;   /* among its flight's waiters */
} mf_cached;

struct mf_cache_flight {
    char *key;
    size_t len;
    downreq *leader;
    mf_cached *waiters;       /* in order of arrival */
    size_t n;
    bool listed;              /* in the table of flights (a personal one is not: new calls go alone) */
    UT_hash_handle hh;
};


/* --- the plugin, and its hot swap ---------------------------------------------------- */

static int swap_cache(mf_module *prev, mf_module *next, mf_error *err)
{
    if (prev != mf_fed.cache.mod)
        return 0;
    const mf_cache_ops *nops = next->desc->cache;
    if (!nops) {
        mf_error_set(err, -1, "generation %u of plugin %s is no result cache, and the gateway uses it",
                     next->generation, next->name);
        return -1;
    }
    if (mf_cache_check(next->desc, false, mf_fed.cache.settings, "cache", err))
        return -1;
    size_t len = 0;
    char *state = mf_fed.cache.ops->save && nops->adopt ? mf_fed.cache.ops->save(mf_fed.cache.cache, &len) : NULL;
    void *fresh = state ? nops->adopt(mf_fed.cache.settings, state, len, mf_now()) : nops->create(mf_fed.cache.settings);
    free(state);
    if (!fresh) {
        mf_error_set(err, -1, "generation %u of plugin %s could not take over the cache's entries",
                     next->generation, next->name);
        return -1;
    }
    mf_fed.cache.ops->destroy(mf_fed.cache.cache);
    mf_fed.cache.cache = fresh;
    mf_fed.cache.ops = nops;
    mf_fed.cache.mod = next;
    next->refs++;
    prev->refs--;
    json_t *st = mf_fed.cache.ops->status(mf_fed.cache.cache, mf_now());
    mf_info("cache", "entries handed over", "plugin=%s generation=%u entries=%lld", next->name, next->generation,
            (long long)json_integer_value(json_object_get(st, "entries")));
    json_decref(st);
    return 0;
}

/* Does cfg cache anything? */
static bool wanted(const mf_config *cfg)
{
    if (!cfg->cache)
        return false;
    if (json_object_get(cfg->root, "cache"))
        return true;   /* asked for at the top level (not false: cfg->cache would be NULL) */
    for (size_t i = 0; i < cfg->nproviders; i++)
        if (cfg->providers[i].cache)
            return true;
    return false;
}

int mf_cache_start(const mf_config *cfg, mf_error *err)
{
    static const mf_swap_observer entries_follow = {.prepare = swap_cache};
    mf_swap_observe(&entries_follow);
    if (mf_fed.cache.mod || !wanted(cfg))
        return 0;
    mf_module *m = mf_plugin_load("cache", err);
    if (!m)
        return -1;
    if (!m->desc->cache) {
        mf_error_set(err, -1, "plugin \"cache\" is no result cache");
        return -1;
    }
    void *c = m->desc->cache->create(cfg->cache);
    if (!c) {
        mf_error_set(err, -1, "cache: the plugin refused its settings");
        return -1;
    }
    mf_fed.cache.ops = m->desc->cache;
    mf_fed.cache.mod = m;
    mf_fed.cache.cache = c;
    m->refs++;
    json_decref(mf_fed.cache.settings);
    mf_fed.cache.settings = json_incref(cfg->cache);
    return 0;
}

void mf_cache_configure(const mf_config *cfg)
{
    if (!mf_fed.cache.mod || !cfg->cache)
        return;
    json_decref(mf_fed.cache.settings);
    mf_fed.cache.settings = json_incref(cfg->cache);
    mf_fed.cache.ops->configure(mf_fed.cache.cache, mf_fed.cache.settings);
}

void mf_cache_stop(void)
{
    if (mf_fed.cache.mod) {
        mf_fed.cache.ops->destroy(mf_fed.cache.cache);
        mf_fed.cache.mod->refs--;
        mf_plugin_release(mf_fed.cache.mod);
    }
    json_decref(mf_fed.cache.settings);
    mf_fed.cache.settings = NULL;
    mf_fed.cache.cache = NULL;
    mf_fed.cache.ops = NULL;
    mf_fed.cache.mod = NULL;
}

mf_module *mf_cache_module(void) { return mf_fed.cache.mod; }

/* --- flights --------------------------------------------------------------------------- */

static void unlist(flight *f)
{
    if (f->listed)
        HASH_DEL(mf_fed.cache.flights, f);
    f->listed = false;
}

static void cached_free(mf_cached *c)
{
    DL_DELETE(mf_fed.cache.all, c);
    json_decref(c->msg);
    free(c->key);
    free(c->tool);
    free(c);
}

/* w (a waiter) goes through the session layer again, as the request it came as. */
static void send_again(downreq *w)
{
    session *s = w->s;
    json_t *msg = json_incref(w->cache->msg);
    uint64_t tcorr = w->tcorr;
    w->cache->flight = NULL;
    DL_DELETE(s->reqs, w);
    mf_downreq_free(w);
    mf_msg *m = mf_msg_new(MF_MSG_REQUEST, s->transport, mf_fed.sessions.self, msg);
    if (!m)
        return;
    m->session = s->id;
    m->corr = tcorr;
    mf_send(m);
}

/* The flight ends: each waiter gets resp, or (resp NULL) is sent again. */
static void land(flight *f, json_t *resp)
{
    unlist(f);
    mf_cached *c, *tmp;
    DL_FOREACH_SAFE2(f->waiters, c, tmp, wnext) {
        downreq *w = c->d;
        DL_DELETE2(f->waiters, c, wprev, wnext);
        w->provider = c->provider;
        if (resp) {
            cached_free(c);   /* answered as itself: nothing of it to keep */
            w->cache = NULL;
            mf_downreq_answer(w, resp);
        } else {
            send_again(w);
        }
    }
    free(f->key);
    free(f);
}

bool mf_cache_before(const rctx *r, downreq *d, const char *upstream_tool)
{
    const json_t *pconf = d->provider->conf->cache;
    json_t *params = d->upparams;
    if (!mf_fed.cache.ops || !pconf || !r->tool || json_object_get(params, "requestState") ||
        json_object_get(params, "inputResponses"))
        return false;
    uint64_t ttl = mf_fed.cache.ops->ttl_ms(mf_fed.cache.cache, pconf, upstream_tool);
    const char *name = json_string_value(json_object_get(json_object_get(r->msg, "params"), "name"));
    if (!ttl || !name)
        return false;
    size_t len = 0;
    char *key = mf_fed.cache.ops->key(mf_fed.cache.cache, name, json_object_get(params, "arguments"), &len);
    if (!key)
        return false;   /* arguments that are no object: the upstream says what is wrong */
    mf_obs_cache_begin(d);
    json_t *hit = mf_fed.cache.ops->lookup(mf_fed.cache.cache, key, len, mf_now());
    if (hit) {
        mf_obs_cache_outcome(d, "hit");
        free(key);
        DL_APPEND(r->s->reqs, d);
        json_t *resp = json_pack("{s:o}", "result", hit);
        mf_downreq_answer(d, resp);
        json_decref(resp);
        return true;
    }
    mf_cached *c = mf_xcalloc(1, sizeof *c);
    c->d = d;
    c->key = key;
    c->len = len;
    c->tool = mf_xstrdup(name);
    c->ttl = ttl;
    d->cache = c;
    DL_APPEND(mf_fed.cache.all, c);
    if (d->progress_token) {
        mf_obs_cache_outcome(d, "miss");
        return false;   /* it goes on its own, to see its progress */
    }
    flight *f;
    HASH_FIND(hh, mf_fed.cache.flights, key, len, f);
    mf_obs_cache_outcome(d, f ? "coalesced" : "miss");
    if (f) {
        DL_APPEND2(f->waiters, c, wprev, wnext);
        f->n++;
        c->flight = f;
        c->provider = d->provider;
        d->provider = NULL;
        c->msg = json_incref(r->msg);
        mf_fed.cache.ops->coalesced(mf_fed.cache.cache, name);
        DL_APPEND(r->s->reqs, d);
        return true;
    }
    f = mf_xcalloc(1, sizeof *f);
    f->key = mf_xmalloc(len);
    memcpy(f->key, key, len);
    f->len = len;
    f->leader = d;
    f->listed = true;
    HASH_ADD_KEYPTR(hh, mf_fed.cache.flights, f->key, f->len, f);
    c->flight = f;
    c->leads = true;
    return false;
}

bool mf_cache_answer(downreq *d, json_t *resp)
{
    mf_cached *c = d->cache;
    if (!c)
        return false;
    /* the upstream asked d's client something: the answer, whatever it is, is that client's */
    bool personal = c->personal || d->rounds || d->asks || d->inputs;
    const json_t *result = json_object_get(resp, "result");
    const char *type = json_string_value(json_object_get(result, "resultType"));
    bool failed = json_object_get(resp, "error") || json_is_true(json_object_get(result, "isError"));
    bool complete = json_is_object(result) && (!type || strcmp(type, "complete") == 0);
    if (!personal && !failed && complete)
        mf_fed.cache.ops->store(mf_fed.cache.cache, c->key, c->len, c->tool, result, c->ttl, mf_now());
    flight *f = c->leads ? c->flight : NULL;
    c->flight = NULL;
    bool orphan = c->orphan;
    if (f)
        /* a failed leader's error is every waiter's; an answer that is not the same for
         * everyone (input required, or the leader's client was asked) is nobody else's:
         * they go again, each on its own */
        land(f, !personal && (failed || complete) ? resp : NULL);
    if (!orphan)
        return false;
    mf_downreq_free(d);
    return true;
}

bool mf_cache_keeps(downreq *d)
{
    mf_cached *c = d->cache;
    if (!c || !c->leads || !c->flight || c->flight->n == 0 || !d->s)
        return false;
    /* its client goes; the call stays, answered to nobody but the waiters */
    DL_DELETE(d->s->reqs, d);
    d->s = NULL;
    d->log_level = 99;   /* no log message is this call's any more */
    c->orphan = true;
    return true;
}

void mf_cache_leave(downreq *d)
{
    mf_cached *c = d->cache;
    if (!c)
        return;
    d->cache = NULL;
    flight *f = c->flight;
    if (f && f->leader != d) {
        DL_DELETE2(f->waiters, c, wprev, wnext);
        f->n--;
    }
    cached_free(c);
    if (!f)
        return;
    if (f->leader == d) {
        /* gone without an answer (refused before it went out, or stopped): the waiters
         * go on their own */
        land(f, NULL);
        return;
    }
    downreq *l = f->leader;
    if (f->n == 0 && l && l->cache && l->cache->orphan)
        mf_downreq_cancel(l, "every caller of the call left");   /* the last one out */
}

void mf_cache_asked(mf_provider *p, downreq *d)
{
    for (mf_cached *c = mf_fed.cache.all; c; c = c->next) {
        if (d ? c->d != d : c->d->provider != p)   /* (a waiter's provider is NULL) */
            continue;
        c->personal = true;
        if (c->flight && c->leads)
            unlist(c->flight);   /* calls from now on go alone */
    }
}

/* --- the admin socket -------------------------------------------------------------------- */

json_t *mf_cache_status(void)
{
    if (!mf_fed.cache.ops)
        return json_pack("{s:b}", "enabled", 0);
    json_t *st = mf_fed.cache.ops->status(mf_fed.cache.cache, mf_now());
    unsigned in_flight = HASH_COUNT(mf_fed.cache.flights);
    json_object_set_new(st, "enabled", json_true());
    json_object_set_new(st, "in_flight", json_integer(in_flight));
    return st;
}

long mf_cache_clear(const char *tool)
{
    if (!mf_fed.cache.ops)
        return -1;
    size_t n = mf_fed.cache.ops->clear(mf_fed.cache.cache, tool);
    mf_info("cache", "cleared", "tool=%s entries=%zu", tool ? tool : "(all)", n);
    return (long)n;
}
