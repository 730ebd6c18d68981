/* Targets, their breakers and health: what a routing decision weighs. The decision itself
 * is the policy's (policy.c), asked and carried out by forward.c.
 *
 * A provider's targets are its replicas (one, unless its plugin reports more). Each keeps
 * what the policy may weigh: readiness, health (active pings, at an interval), in-flight
 * calls, latency (an exponentially weighted mean and the p99 of recent calls), error rate,
 * weight and tags, and a circuit breaker from the breaker plugin. */
#include "build-config.h"
#include "router.h"
#include "kth.h"
#include "call.h"
#include "plugin_loader.h"
#include "swap.h"
#include "federation.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define BRK (mf_fed.breakers)

#define EWMA 0.2

int mf_router_start(const mf_config *cfg, mf_error *err)
{
    static const mf_swap_observer breakers_follow = { .prepare = mf_router_swap_breakers };
    mf_swap_observe(&breakers_follow);
    if (!cfg->breaker || BRK.mod)
        return 0;   /* none wanted, or loaded already (a reload turned breakers on) */
    mf_module *m = mf_plugin_load("breaker", err);
    if (!m)
        return -1;
    if (!m->desc->breaker) {
        mf_error_set(err, -1, "plugin \"breaker\" is no circuit breaker");
        return -1;
    }
    BRK.ops = m->desc->breaker;
    BRK.mod = m;
    m->refs++;
    return 0;
}

void mf_router_stop(void)
{
    if (BRK.mod) {
        BRK.mod->refs--;
        mf_plugin_release(BRK.mod);
    }
    BRK.ops = NULL;
    BRK.mod = NULL;
}

mf_module *mf_router_breaker_module(void) { return BRK.mod; }

int mf_router_swap_breakers(mf_module *prev, mf_module *next, mf_error *err)
{
    if (prev != BRK.mod)
        return 0;
    const mf_breaker_ops *nops = next->desc->breaker;
    if (!nops) {
        mf_error_set(err, -1, "generation %u of plugin %s is no circuit breaker, and the routing uses it",
                     next->generation, next->name);
        return -1;
    }
    /* every provider alive has breakers of the old generation, those leaving too */
    size_t count = 0;
    for (mf_provider *p = mf_registry_all(); p; p = p->next_all) {
        if (p->conf->breaker && mf_breaker_check(next->desc, p->conf->breaker, p->conf->path, err))
            return -1;
        count += (size_t)p->ntargets;
    }
    /* every breaker of the new generation first, carrying the old one's state; then the switch */
    void **fresh = mf_xcalloc(count + 1, sizeof *fresh);
    size_t k = 0;
    for (mf_provider *p = mf_registry_all(); p; p = p->next_all)
        for (int j = 0; j < p->ntargets; j++, k++) {
            mf_target *t = &p->targets[j];
            if (!t->breaker)
                continue;
            size_t len = 0;
            char *state = BRK.ops->save && nops->adopt ? BRK.ops->save(t->breaker, &len) : NULL;
            fresh[k] = state ? nops->adopt(p->conf->breaker, t->name, state, len)
                             : nops->create(p->conf->breaker, t->name);
            free(state);
            if (!fresh[k]) {
                mf_error_set(err, -1, "generation %u of plugin %s could not take over the breaker of %s",
                             next->generation, next->name, t->name);
                for (size_t x = 0; x < k; x++)
                    if (fresh[x])
                        nops->destroy(fresh[x]);
                free(fresh);
                return -1;
            }
        }
    k = 0;
    for (mf_provider *p = mf_registry_all(); p; p = p->next_all)
        for (int j = 0; j < p->ntargets; j++, k++) {
            mf_target *t = &p->targets[j];
            if (!t->breaker)
                continue;
            BRK.ops->destroy(t->breaker);
            t->breaker = fresh[k];
        }
    free(fresh);
    BRK.ops = nops;
    BRK.mod = next;
    next->refs++;
    prev->refs--;
    mf_info("router", "circuit breakers handed over", "plugin=%s generation=%u breakers=%zu", next->name,
            next->generation, count);
    return 0;
}

/* --- targets -------------------------------------------------------------------------- */

static void target_init(mf_provider *p, int i)
{
    mf_target *t = &p->targets[i];
    memset(t, 0, sizeof *t);
    t->provider = p;
    t->index = i;
    t->healthy = true;
    snprintf(t->name, sizeof t->name, "%s#%d", p->conf->name, i + 1);
    if (BRK.ops && p->conf->breaker)
        t->breaker = BRK.ops->create(p->conf->breaker, t->name);
}

void mf_targets_resize(mf_provider *p, int n)
{
    if (n < 1 || n == p->ntargets)
        return;
    for (int i = n; i < p->ntargets; i++) {
        if (p->targets[i].health_call)
            mf_call_cancel(p->targets[i].health_call, "target removed");
        if (p->targets[i].breaker)
            BRK.ops->destroy(p->targets[i].breaker);
    }
    mf_target *t = mf_xrealloc(p->targets, (size_t)n * sizeof *t);
    p->targets = t;
    for (int i = 0; i < p->ntargets && i < n; i++)
        t[i].provider = p;   /* moved */
    for (int i = p->ntargets; i < n; i++)
        target_init(p, i);
    p->ntargets = n;
}

void mf_targets_free(mf_provider *p)
{
    for (int i = 0; i < p->ntargets; i++)
        if (p->targets[i].breaker && BRK.ops)
            BRK.ops->destroy(p->targets[i].breaker);
    free(p->targets);
    p->targets = NULL;
    p->ntargets = 0;
}

mf_target *mf_target_find(const char *name)
{
    size_t n;
    mf_provider **ps = mf_registry_providers(&n);
    for (size_t i = 0; i < n; i++)
        for (int k = 0; k < ps[i]->ntargets; k++)
            if (strcmp(ps[i]->targets[k].name, name) == 0 || (ps[i]->ntargets == 1 && strcmp(ps[i]->conf->name, name) == 0))
                return &ps[i]->targets[k];
    return NULL;
}

/* One sign of t's health, from a ping or from a call: enough in a row of one kind turn
 * it healthy or unhealthy. */
static void health_signal(mf_target *t, bool ok, const char *why)
{
    const mf_provider_conf *c = t->provider->conf;
    if (ok) {
        t->health_fail = 0;
        if (++t->health_ok >= (unsigned)c->health_successes && !t->healthy) {
            t->healthy = true;
            mf_info("router", "target healthy", "target=%s", t->name);
        }
    } else {
        t->health_ok = 0;
        if (++t->health_fail >= (unsigned)c->health_failures && t->healthy) {
            t->healthy = false;
            mf_warn("router", "target unhealthy", "target=%s reason=\"%s\"", t->name, mf_log_esc(why, (size_t)-1));
        }
    }
}

void mf_target_outcome(mf_target *t, int error_code, bool lost, uint64_t duration_ms)
{
    /* with health checks on, calls count too: one lost or timed out is a failed ping, one
     * answered (even with an error: the upstream is there) a good one; without them
     * nothing would ever bring a target marked unhealthy back */
    if (t->provider->conf->health_interval_ms)
        health_signal(t, !lost, error_code == MF_RPC_TIMEOUT ? "a call timed out" : "a call was lost");
    t->calls++;
    bool failed = lost || (error_code && error_code != MF_RPC_INVALID_PARAMS && error_code != MF_RPC_METHOD_NOT_FOUND);
    t->failures += failed;
    t->error_ewma = t->error_ewma * (1 - EWMA) + (failed ? EWMA : 0);
    t->ewma_ms = t->calls == 1 ? (double)duration_ms : t->ewma_ms * (1 - EWMA) + EWMA * (double)duration_ms;
    t->lat[t->latpos] = (uint32_t)(duration_ms > UINT32_MAX ? UINT32_MAX : duration_ms);
    t->latpos = (t->latpos + 1) % (sizeof t->lat / sizeof t->lat[0]);
    if (t->nlat < sizeof t->lat / sizeof t->lat[0])
        t->nlat++;
    t->since_p99++;
    if (t->breaker) {
        mf_call_outcome o = {error_code, lost, duration_ms};
        BRK.ops->record(t->breaker, &o, mf_now());
    }
}

/* The pct-th percentile of the recent latencies (t->nlat > 0). */
static double recent_percentile(const mf_target *t, unsigned pct)
{
    uint32_t v[sizeof t->lat / sizeof t->lat[0]];
    memcpy(v, t->lat, t->nlat * sizeof *v);
    unsigned i = (unsigned)((t->nlat * pct + 99) / 100) - 1;
    return mf_kth_smallest(v, t->nlat, i < t->nlat ? i : t->nlat - 1);
}

double mf_target_p99(const mf_target *t)
{
    if (!t->nlat)
        return 0;
    /* selected now and then: every decision would pay a pass over the window */
    mf_target *m = (mf_target *)t;
    if (m->since_p99 >= 8 || (m->since_p99 && m->nlat < 8)) {
        m->p99 = recent_percentile(t, 99);
        m->since_p99 = 0;
    }
    return m->p99;
}

const char *mf_target_breaker(const mf_target *t)
{
    static const char *const names[] = {"closed", "open", "half_open", "forced_open", "disabled"};
    return t->breaker ? names[BRK.ops->state(t->breaker, mf_now())] : "none";
}

bool mf_target_acquire(mf_target *t) { return !t->breaker || BRK.ops->acquire(t->breaker, mf_now()); }

bool mf_target_available(const mf_target *t)
{
    const mf_provider *p = t->provider;
    if (!t->up || t->draining || !p->inst || p->standing == MF_STANDING_RETIRING || p->state != MF_PROVIDER_UP)
        return false;
    if (!t->breaker)
        return true;
    mf_breaker_state st = BRK.ops->state(t->breaker, mf_now());
    return st != MF_BREAKER_OPEN && st != MF_BREAKER_FORCED_OPEN;
}

void mf_target_release(mf_target *t)
{
    if (t->breaker)
        BRK.ops->release(t->breaker);
}

void mf_target_force(mf_target *t, mf_breaker_force f)
{
    if (t->breaker)
        BRK.ops->force(t->breaker, f, mf_now());
}

json_t *mf_target_status(const mf_target *t)
{
    json_t *j = json_pack("{s:s,s:s,s:b,s:b,s:b,s:i,s:f,s:f,s:f,s:I,s:I,s:s}", "name", t->name, "provider",
                          t->provider->conf->name, "up", t->up, "healthy", t->healthy, "draining", t->draining,
                          "inflight", (int)t->inflight, "latency_ms", t->ewma_ms,
                          "p99_ms", mf_target_p99(t), "error_rate", t->error_ewma, "calls", (json_int_t)t->calls,
                          "failures", (json_int_t)t->failures, "breaker", mf_target_breaker(t));
    /* the median only for people reading it (never for routing): computed when asked */
    json_object_set_new(j, "p50_ms", json_real(t->nlat ? recent_percentile(t, 50) : 0));
    if (t->breaker)
        json_object_set_new(j, "breaker_status", BRK.ops->status(t->breaker, mf_now()));
    return j;
}

/* --- health checks ---------------------------------------------------------------------- */

static void on_ping(void *ud, json_t *resp)
{
    mf_target *t = ud;
    t->health_call = NULL;
    json_t *e = json_object_get(resp, "error");
    health_signal(t, json_object_get(resp, "result") != NULL,
                  json_string_value(json_object_get(e, "message")));
}

static void on_health_timer(uv_timer_t *h)
{
    mf_provider *p = h->data;
    if (p->state != MF_PROVIDER_UP || !p->inst)
        return;
    for (int i = 0; i < p->ntargets; i++) {
        mf_target *t = &p->targets[i];
        if (!t->up || t->health_call)
            continue;
        json_t *req = json_pack("{s:s,s:{},s:i}", "method", "ping", "params", "target", i + 1);
        t->health_call = mf_call_start(mf_instance_ep(p->inst), 0, req, (uint64_t)p->conf->health_timeout_ms,
                                       on_ping, t);
    }
}

void mf_health_start(mf_provider *p)
{
    p->health_timer = mf_xmalloc(sizeof *p->health_timer);
    uv_timer_init(mf_loop(), p->health_timer);
    p->health_timer->data = p;
    if (p->conf->health_interval_ms) {
        uv_timer_start(p->health_timer, on_health_timer, (uint64_t)p->conf->health_interval_ms,
                       (uint64_t)p->conf->health_interval_ms);
        uv_unref((uv_handle_t *)p->health_timer);
    }
}

static void health_closed(uv_handle_t *h) { free(h); }

void mf_health_close(mf_provider *p)
{
    if (p->health_timer)
        uv_close((uv_handle_t *)p->health_timer, health_closed);
    p->health_timer = NULL;
}

void mf_health_stop(mf_provider *p)
{
    if (p->health_timer)
        uv_timer_stop(p->health_timer);
    for (int i = 0; i < p->ntargets; i++)
        if (p->targets[i].health_call) {
            mf_call_cancel(p->targets[i].health_call, "stopping");
            p->targets[i].health_call = NULL;
        }
}
