/* The federation registry.
 *
 * It starts a provider instance per configured provider, follows their status, and lists
 * what each upstream offers (following its pagination) when it comes up and whenever it
 * says a list changed: tools, prompts, resources and resource templates, as far as its
 * capabilities say it has them. Each new listing rebuilds that part of the public
 * catalog (catalog.c).
 *
 * Each provider is an allocation of its own, so that what points to it (targets,
 * listings, catalog entries, requests under way) stays valid when the set changes: a
 * reload (reconfig.c) starts providers beside those in routing, then replaces the set in
 * one step, and the providers it leaves out drain (drain.c). */
#include "build-config.h"
#include "router.h"
#include "stats.h"
#include "call.h"
#include "session.h"
#include "federation.h"
#include "park.h"

#include <stdlib.h>
#include <string.h>

/* the federation's state, which the registry's file defines */
mf_federation mf_fed = {
    .sessions = {.next_id = 1},
    .mrtr = {.next_state = 1, .next_key = 1},
    .policy = {.budget = 1000000, .time_ms = 100, .memcap = 8u * 1024 * 1024},
};
#define REG (mf_fed.registry)

#define MAX_LIST_PAGES 1000

mf_ep mf_registry_ep(void) { return REG.self; }

mf_provider **mf_registry_providers(size_t *n)
{
    *n = REG.nactive;
    return REG.active;
}

mf_provider *mf_registry_named(const char *name)
{
    for (size_t i = 0; i < REG.nactive; i++)
        if (strcmp(REG.active[i]->conf->name, name) == 0)
            return REG.active[i];
    return NULL;
}

mf_provider *mf_registry_all(void) { return REG.all; }

bool mf_registry_settled(void) { return REG.settled; }

void mf_registry_on_settled(void (*fn)(void)) { REG.on_settled = fn; }

bool mf_provider_offers(const mf_provider *p, const char *capability)
{
    json_t *caps = json_object_get(p->init, "capabilities");
    return json_object_get(caps, capability) != NULL;
}

mf_provider *mf_registry_provider_of(mf_ep ep)
{
    /* by instance, so that an old generation still draining is known too */
    mf_instance *i = mf_instance_by_ep(ep);
    return i && i->role == MF_ROLE_PROVIDER ? i->owner : NULL;
}

bool mf_provider_ready(const mf_provider *p)
{
    if (p->state == MF_PROVIDER_FAILED)
        return true;   /* nothing to wait for: its calls fail at once until it comes back */
    for (int k = 0; k < MF_KINDS; k++)
        if (!p->lists[k].loaded)
            return false;
    return true;
}

static void check_settled(void)
{
    if (REG.settled)
        return;
    for (size_t i = 0; i < REG.nactive; i++)
        if (!mf_provider_ready(REG.active[i]))
            return;
    REG.settled = true;
    if (REG.settle_timer_on)
        uv_timer_stop(&REG.settle_timer);
    mf_session_catalog_settled();
    if (REG.on_settled)
        REG.on_settled();
}

static void on_settle_timeout(uv_timer_t *t)
{
    MF_UNUSED(t);
    if (REG.settled)
        return;
    for (size_t i = 0; i < REG.nactive; i++)
        if (!mf_provider_ready(REG.active[i]))
            mf_warn("registry", "provider not ready in time; serving the catalog without it",
                    "provider=%s", REG.active[i]->conf->name);
    REG.settled = true;
    mf_session_catalog_settled();
    if (REG.on_settled)
        REG.on_settled();
}

/* A listing ended or the provider failed: the catalog may be complete, or a provider
 * started by a reload ready to take over. */
static void progress(mf_provider *p)
{
    if (p->standing == MF_STANDING_ACTIVE) {
        check_settled();
    } else if (p->standing == MF_STANDING_PENDING && p->on_ready && mf_provider_ready(p)) {
        void (*fn)(mf_provider *, void *) = p->on_ready;
        p->on_ready = NULL;
        fn(p, p->ready_ud);
    }
}

static void rebuild(mf_provider *p, mf_kind k)
{
    if (p->standing == MF_STANDING_ACTIVE)
        mf_catalog_rebuild(k, REG.active, REG.nactive, REG.settled);
}

static void list_page(mf_provider *p, mf_kind k, json_t *cursor);

static void listing_done(mf_provider *p, mf_kind k, bool ok)
{
    mf_listing *l = &p->lists[k];
    l->call = NULL;
    if (ok) {
        json_decref(l->items);
        l->items = l->pending;
        l->pending = NULL;
        mf_info("registry", "listed", "provider=%s list=%s items=%zu pages=%u", p->conf->name,
                mf_kinds[k].result_key, json_array_size(l->items), l->pages);
        rebuild(p, k);
    } else {
        json_decref(l->pending);
        l->pending = NULL;
    }
    l->loaded = true;
    if (ok)
        mf_catalog_warn_unmatched(p, k);
    progress(p);
    if (l->relist && p->state == MF_PROVIDER_UP) {
        l->relist = false;
        list_page(p, k, NULL);
    }
}

static void on_list_page(void *ud, json_t *resp)
{
    mf_listing *l = ud;
    mf_provider *p = l->owner;
    mf_kind k = l->kind;
    const mf_kind_info *ki = &mf_kinds[k];
    json_t *result = json_object_get(resp, "result");
    json_t *items = json_object_get(result, ki->result_key);
    if (!json_is_array(items)) {
        json_t *e = json_object_get(resp, "error");
        mf_warn("registry", "listing failed", "provider=%s list=%s code=%lld message=\"%s\"",
                p->conf->name, ki->result_key, (long long)json_integer_value(json_object_get(e, "code")),
                mf_log_esc(e ? json_string_value(json_object_get(e, "message")) : "result without a list",
                           (size_t)-1));
        listing_done(p, k, false);
        return;
    }
    size_t i;
    json_t *item;
    json_array_foreach(items, i, item) {
        if (json_is_object(item) && json_is_string(json_object_get(item, ki->name_key)))
            json_array_append(l->pending, item);
        else
            mf_warn("registry", "malformed item ignored", "provider=%s list=%s index=%zu", p->conf->name,
                    ki->result_key, i);
    }
    l->pages++;
    json_t *next = json_object_get(result, "nextCursor");
    if (json_is_string(next) && json_string_length(next) > 0) {
        if (l->pages >= MAX_LIST_PAGES) {
            mf_warn("registry", "listing has too many pages; keeping what was listed",
                    "provider=%s list=%s pages=%u", p->conf->name, ki->result_key, l->pages);
            listing_done(p, k, true);
            return;
        }
        list_page(p, k, next);
        return;
    }
    listing_done(p, k, true);
}

static void list_page(mf_provider *p, mf_kind k, json_t *cursor)
{
    mf_listing *l = &p->lists[k];
    if (l->call && !cursor) {
        l->relist = true;   /* one listing at a time; list again when this one ends */
        return;
    }
    if (!cursor) {
        json_decref(l->pending);
        l->pending = json_array();
        l->pages = 0;
    }
    json_t *params = cursor ? json_pack("{s:O}", "cursor", cursor) : json_object();
    json_t *req = json_pack("{s:s,s:o}", "method", mf_kinds[k].list_method, "params", params);
    l->call = mf_call_start(mf_instance_ep(p->inst), 0, req, (uint64_t)p->conf->timeout_ms,
                            on_list_page, l);
}

/* List every kind the upstream says it offers; a kind it does not offer is empty. */
static void list_all(mf_provider *p)
{
    for (int k = 0; k < MF_KINDS; k++) {
        if (mf_provider_offers(p, mf_kinds[k].capability)) {
            list_page(p, (mf_kind)k, NULL);
        } else if (json_array_size(p->lists[k].items) || !p->lists[k].loaded) {
            json_decref(p->lists[k].items);
            p->lists[k].items = json_array();
            p->lists[k].loaded = true;
            rebuild(p, (mf_kind)k);
        }
    }
    progress(p);
}

static void on_targets(mf_provider *p, mf_msg *m)
{
    if (mf_ctl_verb(m) == MF_CTL_PROVIDER_TARGETS) {
        p->reports_targets = true;
        mf_targets_resize(p, (int)mf_ctl_int(m, "count", 1));
    } else {
        int i = (int)mf_ctl_int(m, "index", -1);
        if (i >= 0 && i < p->ntargets) {
            bool was = p->targets[i].up;
            p->targets[i].up = mf_ctl_bool(m, "up", false);
            if (p->targets[i].up && !was && p->state == MF_PROVIDER_UP && p->standing == MF_STANDING_ACTIVE)
                mf_park_wake(p);   /* the calls waiting for a target may go there now */
        }
    }
}

static void on_status(mf_provider *p, mf_msg *m)
{
    mf_provider_state st = (mf_provider_state)mf_ctl_int(m, "state", MF_PROVIDER_DOWN);
    const char *reason = mf_ctl_str(m, "reason");
    mf_provider_state was = p->state;
    p->state = st;
    if (!p->reports_targets)   /* one target: the provider itself */
        for (int i = 0; i < p->ntargets; i++)
            p->targets[i].up = st == MF_PROVIDER_UP;
    free(p->reason);
    p->reason = reason ? mf_xstrdup(reason) : NULL;
    if (p->standing == MF_STANDING_RETIRING)
        return;   /* it only finishes its calls: nothing more is asked of it */
    switch (st) {
    case MF_PROVIDER_UP:
        json_decref(p->init);
        p->init = m->json ? json_incref(m->json) : json_object();
        p->log_level = -1;   /* a new upstream session has no level yet */
        mf_info("registry", "provider up", "provider=%s", p->conf->name);
        list_all(p);
        if (p->standing == MF_STANDING_ACTIVE) {   /* else when it takes over */
            mf_session_provider_up(p);
            mf_park_wake(p);
        }
        break;
    case MF_PROVIDER_FAILED:
        mf_warn("registry", "provider failed", "provider=%s reason=\"%s\"", p->conf->name,
                mf_log_esc(reason, (size_t)-1));
        progress(p);
        mf_park_wake(p);   /* its waiting calls hear why from it, at once */
        break;
    case MF_PROVIDER_DOWN:
        if (was != MF_PROVIDER_UP && reason)   /* a start failed: its waiting calls hear why now */
            mf_park_fail(p, reason);
        break;
    default:
        break;
    }
}

static void on_message(void *ud, mf_msg *m)
{
    MF_UNUSED(ud);
    mf_provider *p = mf_registry_provider_of(m->src);
    if (!p) {
        mf_msg_free(m);
        return;
    }
    switch (mf_ctl_verb(m)) {
    case MF_CTL_PROVIDER_STATUS:
        on_status(p, m);
        mf_msg_free(m);
        return;
    case MF_CTL_PROVIDER_TARGETS:
    case MF_CTL_TARGET_STATUS:
        on_targets(p, m);
        mf_msg_free(m);
        return;
    default:
        break;
    }
    if (m->kind == MF_MSG_NOTIFY) {
        const char *method = mf_rpc_method(m->json);
        bool relisted = false;
        for (int k = 0; method && k < MF_KINDS; k++)
            if (strcmp(method, mf_kinds[k].changed) == 0 && p->state == MF_PROVIDER_UP &&
                p->standing != MF_STANDING_RETIRING) {
                list_page(p, (mf_kind)k, NULL);
                relisted = true;
            }
        if (relisted) {
            mf_msg_free(m);
            return;
        }
    }
    /* notifications and requests from the upstream for downstream sessions */
    mf_session_from_upstream(p, m);
}

static mf_provider *provider_new(mf_config *cfg, const mf_provider_conf *conf, mf_standing standing)
{
    mf_provider *p = mf_xcalloc(1, sizeof *p);
    p->conf = conf;
    p->cfg = mf_config_ref(cfg);
    p->standing = standing;
    p->state = MF_PROVIDER_STARTING;
    p->log_level = -1;
    for (int k = 0; k < MF_KINDS; k++) {
        p->lists[k].owner = p;
        p->lists[k].kind = (mf_kind)k;
        p->lists[k].items = json_array();
    }
    mf_targets_resize(p, 1);
    mf_health_start(p);
    p->next_all = REG.all;
    REG.all = p;
    return p;
}

static int provider_launch(mf_provider *p, mf_error *err)
{
    mf_module *mod = mf_plugin_load(p->conf->transport, err);
    if (!mod)
        return -1;
    if (!mf_instance_start(mod, MF_ROLE_PROVIDER, p->conf->name, p->conf->plugin_conf, p, &p->inst, err))
        return -1;
    REG.running++;
    return 0;
}

static void cancel_listings(mf_provider *p, const char *why)
{
    for (int k = 0; k < MF_KINDS; k++)
        if (p->lists[k].call) {
            mf_call_cancel(p->lists[k].call, why);
            p->lists[k].call = NULL;
        }
}

static void timer_closed(uv_handle_t *h) { free(h); }

void mf_registry_free_provider(mf_provider *p)
{
    for (mf_provider **pp = &REG.all; *pp; pp = &(*pp)->next_all)
        if (*pp == p) {
            *pp = p->next_all;
            break;
        }
    cancel_listings(p, "provider gone");
    mf_stats_provider_gone(p->conf->name, mf_registry_named(p->conf->name));
    mf_health_stop(p);
    mf_health_close(p);
    if (p->drain_timer)
        uv_close((uv_handle_t *)p->drain_timer, timer_closed);
    json_decref(p->init);
    for (int k = 0; k < MF_KINDS; k++) {
        json_decref(p->lists[k].items);
        json_decref(p->lists[k].pending);
    }
    free(p->reason);
    mf_targets_free(p);
    mf_config_unref(p->cfg);
    free(p);
}

int mf_registry_start(mf_config *cfg, mf_error *err)
{
    REG.self = mf_endpoint_open("registry", on_message, NULL);
    mf_instance_provider_sink(REG.self);
    if (!REG.self) {
        mf_error_set(err, -1, "registry endpoint taken");
        return -1;
    }
    uv_timer_init(mf_loop(), &REG.settle_timer);
    REG.nactive = cfg->nproviders;
    REG.active = mf_xcalloc(REG.nactive ? REG.nactive : 1, sizeof *REG.active);
    for (size_t i = 0; i < REG.nactive; i++)
        REG.active[i] = provider_new(cfg, &cfg->providers[i], MF_STANDING_ACTIVE);
    for (size_t i = 0; i < REG.nactive; i++)
        if (provider_launch(REG.active[i], err))
            return -1;
    if (REG.nactive && cfg->catalog_wait_ms) {
        uv_timer_start(&REG.settle_timer, on_settle_timeout, (uint64_t)cfg->catalog_wait_ms, 0);
        REG.settle_timer_on = true;
    } else {
        REG.settled = true;
    }
    check_settled();
    return 0;
}

mf_provider *mf_registry_launch(mf_config *cfg, const mf_provider_conf *conf, mf_error *err)
{
    if (REG.stop_done) {
        mf_error_set(err, -1, "the gateway is shutting down");
        return NULL;
    }
    mf_provider *p = provider_new(cfg, conf, MF_STANDING_PENDING);
    if (provider_launch(p, err)) {
        mf_registry_free_provider(p);
        return NULL;
    }
    return p;
}

void mf_provider_move(mf_provider *p, mf_config *cfg, const mf_provider_conf *conf)
{
    mf_config *old = p->cfg;
    p->conf = conf;
    p->cfg = mf_config_ref(cfg);
    mf_config_unref(old);
}

void mf_registry_replace(mf_provider **list, size_t n)
{
    free(REG.active);
    REG.active = list;
    REG.nactive = n;
    for (size_t i = 0; i < n; i++) {
        list[i]->standing = MF_STANDING_ACTIVE;
        list[i]->on_ready = NULL;
    }
    for (int k = 0; k < MF_KINDS; k++)
        mf_catalog_rebuild((mf_kind)k, REG.active, REG.nactive, REG.settled);
    check_settled();
    mf_park_wake(NULL);   /* the calls waiting for a target are ranked among the new ones */
}

static void stop_step(void);

static void provider_stopped(mf_instance *inst, void *ud)
{
    mf_provider *p = ud;
    MF_UNUSED(inst);
    p->inst = NULL;
    REG.running--;
    if (p->standing == MF_STANDING_RETIRING && p->refs == 0)
        mf_registry_free_provider(p);
    if (REG.stop_done)
        stop_step();
}

void mf_registry_stop_provider(mf_provider *p)
{
    if (p->inst)
        mf_instance_stop(p->inst, provider_stopped, p);
}

/* The gateway's shutdown stops the providers one after another, last started first (as
 * a supervisor stops its children), each bounded by its own shutdown waits; done is
 * called once none runs. A provider already stopping (retiring) is not waited for in
 * turn, only at the end. */
static void stop_step(void)
{
    if (REG.stop_in_step) {
        REG.stop_again = true;   /* a stop finished at once: go on in the loop below */
        return;
    }
    REG.stop_in_step = true;
    do {
        REG.stop_again = false;
        mf_provider *p = REG.all;
        while (p && (!p->inst || p->shutdown_sent))
            p = p->next_all;
        if (p) {
            p->shutdown_sent = true;
            if (p->inst->stopping)
                REG.stop_again = true;
            else
                mf_instance_stop(p->inst, provider_stopped, p);
        } else if (REG.running == 0 && !REG.stop_finished && REG.stop_done) {
            void (*done)(void) = REG.stop_done;
            REG.stop_finished = true;   /* once */
            REG.stop_in_step = false;
            done();
            return;
        }
    } while (REG.stop_again);
    REG.stop_in_step = false;
}

void mf_registry_stop(void (*done)(void))
{
    REG.stop_done = done;
    if (REG.settle_timer_on)
        uv_timer_stop(&REG.settle_timer);
    for (mf_provider *p = REG.all; p; p = p->next_all) {
        mf_health_stop(p);
        cancel_listings(p, "gateway shutting down");
        if (p->drain_timer)
            uv_timer_stop(p->drain_timer);
    }
    stop_step();
}

void mf_registry_close(void)
{
    mf_catalog_free();
    free(REG.active);   /* first: freeing a provider looks up the active ones by name */
    REG.active = NULL;
    REG.nactive = 0;
    while (REG.all)
        mf_registry_free_provider(REG.all);
    REG.stop_done = NULL;
    REG.stop_finished = false;
    REG.settled = REG.settle_timer_on = false;
    if (REG.self) {
        uv_close((uv_handle_t *)&REG.settle_timer, NULL);
        mf_endpoint_close(REG.self);
        REG.self = 0;
        mf_instance_provider_sink(0);
    }
}
