/* Plugins dropped in: a provider plugin that declares a default instance
 * (mf_plugin.default_instance) and appears in a watched plugin directory starts as a
 * provider with no configuration entry, and leaves when its file is deleted. Both go the
 * way `reload config` adds and removes providers: the new one starts beside those in
 * routing and joins them (and the catalog, sessions hearing of it) once it has listed
 * what it offers or catalog_wait_ms passed; the one leaving is out of routing at once and
 * drains. A reload of the configuration keeps the providers dropped in, unless it names
 * a provider of the same name, which then takes over. */
#include "build-config.h"
#include "dropin.h"
#include "control.h"
#include "plugin_loader.h"
#include "reconfig.h"
#include "registry.h"
#include "session.h"
#include "swap.h"

#include <stdlib.h>
#include <string.h>

typedef struct dropin {
    mf_provider *p;
    char *plugin;                /* by name: a hot swap loads another module of it */
    struct dropin *next;
} dropin;

#define DI (mf_ctrl.dropin)

bool mf_dropin_is(const mf_provider *p)
{
    for (dropin *d = DI.running; d; d = d->next)
        if (d->p == p)
            return true;
    return false;
}

static void dropin_free(dropin *d)
{
    free(d->plugin);
    free(d);
}

static const char *dropin_busy(void)
{
    return DI.starting ? "a plugin dropped in is starting" : NULL;
}

bool mf_dropin_busy(void) { return DI.starting != NULL; }

static void timer_closed(uv_handle_t *h) { free(h); }

static void stop_waiting(void)
{
    if (DI.wait_timer)
        uv_close((uv_handle_t *)DI.wait_timer, timer_closed);
    DI.wait_timer = NULL;
    DI.starting = NULL;
    DI.starting_mod = NULL;
}

/* Routing without p, or with p added. */
static void set_routing(mf_provider *out, mf_provider *in)
{
    size_t n;
    mf_provider **ps = mf_registry_providers(&n);
    mf_provider **list = mf_xcalloc(n + 2, sizeof *list);
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        if (ps[i] != out)
            list[k++] = ps[i];
    if (in)
        list[k++] = in;
    mf_registry_replace(list, k);
}

static void join(void)
{
    mf_provider *p = DI.starting;
    mf_module *m = DI.starting_mod;
    stop_waiting();
    if (p->state != MF_PROVIDER_UP) {
        mf_warn("dropin", "plugin dropped in did not come up; not served", "plugin=%s provider=%s reason=\"%s\"",
                m->name, p->conf->name, mf_log_esc(p->reason ? p->reason : "not up in catalog_wait_ms", (size_t)-1));
        mf_registry_retire(p, 0);
        if (m == mf_plugin_find(m->name))
            mf_plugin_retire(m);   /* unloaded once its instance is gone */
        return;
    }
    set_routing(NULL, p);
    mf_session_provider_up(p);
    dropin *d = mf_xcalloc(1, sizeof *d);
    d->p = p;
    d->plugin = mf_xstrdup(m->name);
    d->next = DI.running;
    DI.running = d;
    mf_info("dropin", "plugin dropped in; its provider serves", "plugin=%s provider=%s", m->name, p->conf->name);
}

static void on_wait_over(uv_timer_t *t)
{
    MF_UNUSED(t);
    join();
}

static void on_ready(mf_provider *p, void *ud)
{
    MF_UNUSED(p);
    MF_UNUSED(ud);
    uv_timer_start(DI.wait_timer, on_wait_over, 0, 0);   /* from the loop, not inside the registry */
}

/* A plugin dropped in that does not run is unloaded, unless something else uses it, so that
 * the next file dropped in is loaded afresh (and not taken for a new version to swap in). */
static void not_started(mf_module *m)
{
    if (m->refs == 0)
        mf_plugin_retire(m);
}

/* One starts at a time: the watcher holds the next file back while one is starting
 * (dropin_busy). */
static bool loaded(mf_module *m)
{
    const mf_plugin *d = m->desc;
    if (!d->provider || d->sdk_minor < 1 || !d->default_instance)
        return false;   /* loaded for the configuration to use, as before */
    const char *name = d->default_instance->name ? d->default_instance->name : m->name;
    if (mf_registry_named(name)) {
        mf_warn("dropin", "plugin dropped in not started: a provider has its name", "plugin=%s provider=%s",
                m->name, name);
        not_started(m);
        return true;
    }
    mf_error err = {0};
    mf_config *c = mf_config_dropin(*mf_ctrl.reconfig.current, name, m->name, &err);
    mf_provider *p = NULL;
    if (c && mf_instance_check(m, MF_ROLE_PROVIDER, c->providers[0].plugin_conf, c->providers[0].path, &err) == 0)
        p = mf_registry_launch(c, &c->providers[0], &err);
    if (!p) {
        mf_warn("dropin", "plugin dropped in not started", "plugin=%s reason=\"%s\"", m->name,
                mf_log_esc(err.msg, (size_t)-1));
        mf_config_unref(c);
        not_started(m);
        return true;
    }
    DI.starting = p;
    DI.starting_mod = m;
    p->on_ready = on_ready;
    DI.wait_timer = mf_xmalloc(sizeof *DI.wait_timer);
    uv_timer_init(mf_loop(), DI.wait_timer);
    uv_timer_start(DI.wait_timer, on_wait_over, (uint64_t)c->catalog_wait_ms, 0);
    mf_config_unref(c);   /* the provider holds it */
    return true;
}

static void removed(mf_module *m)
{
    for (dropin **dp = &DI.running; *dp; dp = &(*dp)->next) {
        dropin *d = *dp;
        if (strcmp(d->plugin, m->name) != 0)
            continue;
        *dp = d->next;
        mf_provider *p = d->p;
        dropin_free(d);
        mf_info("dropin", "plugin file removed; its provider leaves", "plugin=%s provider=%s", m->name,
                p->conf->name);
        set_routing(p, NULL);
        mf_session_provider_replaced(p, NULL);
        mf_registry_retire(p, (uint64_t)p->cfg->drain_timeout_ms);
        mf_plugin_retire(m);   /* unloaded once its instance is gone */
        return;
    }
}

void mf_dropin_forget(const mf_provider *p)
{
    for (dropin **dp = &DI.running; *dp; dp = &(*dp)->next)
        if ((*dp)->p == p) {
            dropin *d = *dp;
            *dp = d->next;
            dropin_free(d);
            return;
        }
}

void mf_dropin_init(void)
{
    static const mf_watch_observer watch = {.loaded = loaded, .removed = removed};
    static const mf_swap_observer swap_waits = {.busy = dropin_busy};
    mf_watch_observe(&watch);
    mf_swap_observe(&swap_waits);
}

void mf_dropin_shutdown(void)
{
    if (DI.starting)
        DI.starting->on_ready = NULL;   /* stopped with the others by the registry */
    stop_waiting();
    while (DI.running) {
        dropin *d = DI.running;
        DI.running = d->next;
        dropin_free(d);
    }
}
