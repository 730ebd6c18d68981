/* Reloading the configuration while serving (`reload config`).
 *
 * The file the gateway was started with is read again and checked whole, as a start
 * checks it (Lua, keys, each plugin's part, the policy), before anything changes: a
 * configuration refused changes nothing. Then providers are compared by name:
 *
 *   - unchanged ones keep running (the same instance, processes, targets and breakers)
 *     and take their entry in the new configuration;
 *   - added ones, and a new instance of each changed one, start beside those in routing;
 *     once each has listed what it offers (or failed, or catalog_wait_ms passed), all
 *     switch in one step: the new set is in routing and the catalog, and sessions hear
 *     of what changed, so a call never finds a changed provider missing;
 *   - removed ones, and those the changed ones replace, leave routing at that step and
 *     drain (drain.c).
 *
 * Top-level settings that can change live do so at the switch; those only a restart
 * changes keep their running values, and the report lists them as restart_needed. */
#include "build-config.h"
#include "reconfig.h"
#include "dropin.h"
#include "plugin_loader.h"
#include "policy.h"
#include "observe.h"
#include "router.h"
#include "cache_hook.h"
#include "session.h"
#include "swap.h"
#include "control.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define RC (mf_ctrl.reconfig)

/* applied at the switch (the breaker defaults through the providers whose settings they change) */
static const char *const live_keys[] = {
    "log_level", "request_timeout_ms", "page_size", "catalog_wait_ms", "policy", "policy_instructions",
    "policy_time_ms", "policy_memory_bytes", "breaker", "handover_timeout_ms", "drain_timeout_ms", "cache", "tasks",
    "tracing", "audit", "rate", NULL,
};

typedef struct plan {
    mf_config *next;          /* a reference, handed over to *current at the switch */
    size_t n;                 /* next's providers */
    mf_provider **kept;       /* per entry of next: the provider of that name in routing now */
    mf_provider **fresh;      /* per entry: the one started for it (added or changed), or NULL */
    mf_policy_next *policy;   /* when the policy's settings change */
    mf_module **before;       /* the plugins loaded before the check, NULL-terminated */
    unsigned waiting;         /* fresh providers that have not listed yet */
    uv_timer_t *timer;        /* catalog_wait_ms, then the switch */
    mf_reconfig_done done;
    void *ud;
    uint64_t started;
} plan;

static const char *reload_blocks_swap(void)
{
    return RC.busy ? "a reload of the configuration is under way" : NULL;
}

void mf_reconfig_init(mf_config **cur, bool stdio)
{
    static const mf_swap_observer swap_waits = { .busy = reload_blocks_swap };
    mf_swap_observe(&swap_waits);
    RC.current = cur;
    RC.serve_stdio = stdio;
    mf_dropin_init();
}

bool mf_reconfig_busy(void) { return RC.busy != NULL; }


static mf_module **plugins_loaded(void)
{
    size_t n = 0;
    for (mf_module *m = mf_plugins_list(); m; m = m->next)
        n++;
    mf_module **l = mf_xcalloc(n + 1, sizeof *l);
    n = 0;
    for (mf_module *m = mf_plugins_list(); m; m = m->next)
        l[n++] = m;
    return l;
}

/* The plugins the check loaded that nothing uses go again: those named by `plugins` load
 * at a restart, and a refused configuration leaves none behind. */
static void unload_unused(mf_module **before)
{
    for (mf_module *m = mf_plugins_list(), *next; m; m = next) {
        next = m->next;
        bool known = false;
        for (mf_module **b = before; *b && !known; b++)
            known = *b == m;
        mf_error err = {0};
        if (!known && m->refs == 0 && !m->superseded)
            mf_plugin_unload(m, &err);
    }
}

static void timer_closed(uv_handle_t *h) { free(h); }

static void plan_free(plan *pl)
{
    if (pl->timer)
        uv_close((uv_handle_t *)pl->timer, timer_closed);
    mf_policy_discard(pl->policy);
    mf_config_unref(pl->next);
    unload_unused(pl->before);
    free(pl->before);
    free(pl->kept);
    free(pl->fresh);
    free(pl);
}

static void refuse(mf_reconfig_done done, void *ud, const char *file, const char *reason)
{
    RC.refused++;
    mf_warn("reconfig", "configuration refused; nothing changed", "reason=\"%s\"", mf_log_esc(reason, (size_t)-1));
    done(ud, 409, json_pack("{s:s,s:s?,s:s}", "error", "the configuration was refused; nothing changed", "file", file,
                            "reason", reason));
}

static bool same_policy(const mf_config *a, const mf_config *b)
{
    return strcmp(a->policy, b->policy) == 0 && a->policy_instructions == b->policy_instructions &&
           a->policy_time_ms == b->policy_time_ms && a->policy_memory_bytes == b->policy_memory_bytes;
}

/* Everything that can fail, before anything changes: the checks, the policy, and the
 * start of each added or changed provider. */
static int prepare(plan *pl, const mf_config *prev, mf_error *err)
{
    mf_config *next = pl->next;
    if (mf_config_check_plugins(next, RC.serve_stdio, err))
        return -1;
    if (!same_policy(prev, next) && !(pl->policy = mf_policy_prepare(next, err)))
        return -1;
    if (mf_router_start(next, err) || mf_cache_start(next, err))
        return -1;
    for (size_t j = 0; j < pl->n; j++) {
        const mf_provider_conf *c = &next->providers[j];
        pl->kept[j] = mf_registry_named(c->name);
        if (pl->kept[j] && mf_provider_conf_same(pl->kept[j]->conf, c))
            continue;
        mf_error lerr = {0};
        pl->fresh[j] = mf_registry_launch(next, c, &lerr);
        if (!pl->fresh[j]) {
            mf_error_set(err, -1, "%s: %s", c->path, lerr.msg);
            return -1;
        }
    }
    return 0;
}

static bool named(const plan *pl, const mf_provider *p)
{
    for (size_t j = 0; j < pl->n; j++)
        if (pl->kept[j] == p)
            return true;
    return false;
}

/* The new set goes into routing, with the providers of plugins dropped in that it does
 * not name; those it leaves out (removed, or replaced by a fresh one) retire. */
static void take_over(plan *pl, json_t *removed)
{
    size_t n;
    mf_provider **ps = mf_registry_providers(&n);
    mf_provider **leaving = mf_xcalloc(n + 1, sizeof *leaving);
    mf_provider **list = mf_xcalloc(pl->n + n + 1, sizeof *list);
    size_t nleaving = 0, k = 0;
    for (size_t j = 0; j < pl->n; j++)
        list[k++] = pl->fresh[j] ? pl->fresh[j] : pl->kept[j];
    for (size_t i = 0; i < n; i++) {
        bool stays = false, dropped_in = mf_dropin_is(ps[i]);
        for (size_t j = 0; j < pl->n && !stays; j++)
            stays = !pl->fresh[j] && pl->kept[j] == ps[i];
        if (dropped_in && !named(pl, ps[i]))
            list[k++] = ps[i];
        else if (dropped_in)
            mf_dropin_forget(ps[i]);   /* the configuration's from now on */
        if (!stays && !(dropped_in && !named(pl, ps[i])))
            leaving[nleaving++] = ps[i];
    }
    mf_registry_replace(list, k);
    for (size_t i = 0; i < nleaving; i++) {
        mf_provider *successor = NULL;
        for (size_t j = 0; j < pl->n && !successor; j++)
            if (pl->kept[j] == leaving[i])
                successor = pl->fresh[j];
        if (!successor)
            json_array_append_new(removed, json_string(leaving[i]->conf->name));
        mf_session_provider_replaced(leaving[i], successor);
        mf_registry_retire(leaving[i], (uint64_t)pl->next->drain_timeout_ms);
    }
    free(leaving);
}

static json_t *differing(const mf_config *a, const mf_config *b, const char *const *keys)
{
    json_t *out = json_array();
    for (const char *const *k = keys; *k; k++)
        if (!mf_config_key_same(a, b, *k))
            json_array_append_new(out, json_string(*k));
    return out;
}

/* A listener's answer to being told the configuration was reloaded (it reads its
 * certificates again); one given at once goes into the report. */
static void listener_reloaded(void *ud, int code, json_t *report)
{
    json_t *listeners = ud;
    if (code != 200)
        mf_warn("reconfig", "a listener kept what it had loaded", "code=%d", code);
    if (listeners)
        json_array_append_new(listeners, report);
    else
        json_decref(report);
}

/* `listen` and `http` take a restart; what their listeners load from files (TLS
 * certificates and keys) is read again now. */
static json_t *reload_listeners(void)
{
    json_t *listeners = json_array();
    for (mf_instance *i = mf_instances(); i; i = i->next)
        if (i->role == MF_ROLE_TRANSPORT && i->phase == MF_SWAP_NONE && !i->stopping && i->ops->reload)
            i->ops->reload(i->self, listener_reloaded, listeners);
    return listeners;
}

static void switch_over(plan *pl)
{
    mf_config *prev = *RC.current, *next = pl->next;
    json_t *added = json_array(), *changed = json_array(), *unchanged = json_array(), *removed = json_array();
    json_t *late = json_array();
    for (size_t j = 0; j < pl->n; j++) {
        const mf_provider_conf *c = &next->providers[j];
        if (pl->fresh[j]) {
            json_array_append_new(pl->kept[j] ? changed : added, json_string(c->name));
            if (!mf_provider_ready(pl->fresh[j]))
                json_array_append_new(late, json_string(c->name));
        } else {
            json_array_append_new(unchanged, json_string(c->name));
            mf_provider_move(pl->kept[j], next, c);
        }
    }
    take_over(pl, removed);
    for (size_t j = 0; j < pl->n; j++)
        if (pl->fresh[j] && pl->fresh[j]->state == MF_PROVIDER_UP)
            mf_session_provider_up(pl->fresh[j]);   /* the subscriptions and log level it now serves */

    json_t *applied = differing(prev, next, live_keys);
    json_t *restart = differing(prev, next, mf_config_fixed_keys);
    size_t i;
    json_t *k;
    json_array_foreach(restart, i, k) {
        mf_warn("reconfig", "setting changed; it takes a restart, the running value stays", "key=%s",
                json_string_value(k));
    }
    mf_config_keep_fixed(next, prev);
    json_t *listeners = reload_listeners();
    mf_log_set_level(next->log_level);
    mf_session_set_conf(next);
    mf_cache_configure(next);
    mf_swap_init(next);
    mf_error oerr = {0};   /* a file that cannot be opened now leaves the log as it was */
    if (mf_trace_configure(next, &oerr) || mf_audit_configure(next, &oerr))
        mf_warn("reconfig", "tracing or audit settings not applied", "reason=\"%s\"", mf_log_esc(oerr.msg, (size_t)-1));
    if (pl->policy) {
        mf_policy_install(pl->policy);
        pl->policy = NULL;
    }
    *RC.current = next;
    pl->next = NULL;
    mf_config_unref(prev);

    uint64_t ms = mf_now() - pl->started;
    mf_info("reconfig", "configuration applied",
            "added=%zu removed=%zu changed=%zu unchanged=%zu applied=%zu restart_needed=%zu ms=%llu",
            json_array_size(added), json_array_size(removed), json_array_size(changed), json_array_size(unchanged),
            json_array_size(applied), json_array_size(restart), (unsigned long long)ms);
    json_t *report = json_pack("{s:s?,s:{s:o,s:o,s:o,s:o},s:o,s:o,s:o,s:o,s:I}", "file", next->file, "providers",
                               "added", added, "removed", removed, "changed", changed, "unchanged", unchanged,
                               "not_ready", late, "applied", applied, "restart_needed", restart, "listeners",
                               listeners, "ms", (json_int_t)ms);
    mf_reconfig_done done = pl->done;
    void *ud = pl->ud;
    RC.busy = NULL;
    plan_free(pl);
    RC.ok++;
    done(ud, 200, report);
}

static void on_wait_over(uv_timer_t *t) { switch_over(t->data); }

static void on_ready(mf_provider *p, void *ud)
{
    MF_UNUSED(p);
    plan *pl = ud;
    if (--pl->waiting == 0)
        uv_timer_start(pl->timer, on_wait_over, 0, 0);   /* from the loop, not inside the registry */
}

void mf_reconfig_reload(mf_reconfig_done done, void *ud)
{
    if (RC.busy || mf_swap_busy() || mf_dropin_busy()) {
        done(ud, 409, json_pack("{s:s}", "error", RC.busy ? "a reload of the configuration is under way; try again "
                                                         "when it is done"
                                                       : "a plugin reload or a plugin dropped in is under way; try "
                                                         "again when it is done"));
        return;
    }
    mf_config *prev = *RC.current;
    mf_error err = {0};
    mf_config *next = mf_config_load(prev->file, RC.serve_stdio, &err);
    if (!next) {
        refuse(done, ud, prev->file, err.msg);
        return;
    }
    plan *pl = mf_xcalloc(1, sizeof *pl);
    pl->next = next;
    pl->n = next->nproviders;
    pl->kept = mf_xcalloc(pl->n + 1, sizeof *pl->kept);
    pl->fresh = mf_xcalloc(pl->n + 1, sizeof *pl->fresh);
    pl->before = plugins_loaded();
    pl->done = done;
    pl->ud = ud;
    pl->started = mf_now();
    if (prepare(pl, prev, &err)) {
        for (size_t j = 0; j < pl->n; j++)
            if (pl->fresh[j])
                mf_registry_retire(pl->fresh[j], 0);
        char reason[1200];
        snprintf(reason, sizeof reason, "%s: %s", prev->file ? prev->file : "embedded default", err.msg);
        plan_free(pl);
        refuse(done, ud, prev->file, reason);
        return;
    }
    RC.busy = pl;
    for (size_t j = 0; j < pl->n; j++)
        if (pl->fresh[j]) {
            pl->fresh[j]->on_ready = on_ready;
            pl->fresh[j]->ready_ud = pl;
            pl->waiting++;
        }
    pl->timer = mf_xmalloc(sizeof *pl->timer);
    uv_timer_init(mf_loop(), pl->timer);
    pl->timer->data = pl;
    uv_timer_start(pl->timer, on_wait_over, pl->waiting ? (uint64_t)next->catalog_wait_ms : 0, 0);
}

void mf_reconfig_shutdown(void)
{
    mf_dropin_shutdown();
    plan *pl = RC.busy;
    if (!pl)
        return;
    RC.busy = NULL;
    for (size_t j = 0; j < pl->n; j++)
        if (pl->fresh[j])
            pl->fresh[j]->on_ready = NULL;   /* stopped with the others by the registry */
    mf_reconfig_done done = pl->done;
    void *ud = pl->ud;
    plan_free(pl);
    done(ud, 409, json_pack("{s:s}", "error", "the gateway is shutting down; the configuration was not applied"));
}
