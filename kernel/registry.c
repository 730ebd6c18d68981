/* The federation registry.
 *
 * It starts a provider instance per configured provider, follows their status, lists
 * each upstream's tools (following its pagination) when it comes up and when it says
 * its list changed, and rebuilds the public catalog: every tool under its public name,
 * in configuration order, the first of two equal names winning (with a warning). */
#include "build-config.h"
#include "registry.h"
#include "call.h"
#include "names.h"
#include "session.h"

#include <stdlib.h>
#include <string.h>
#include <uthash.h>

#define MAX_LIST_PAGES 1000

typedef struct entry {
    mf_tool tool;
    char name[MF_NAME_MAX + 1];
    UT_hash_handle hh;
} entry;

static mf_ep self;
static mf_provider *providers;
static size_t nproviders;
static entry *catalog;
static json_t *public_tools;
static uv_timer_t settle_timer;
static bool settle_timer_on;
static bool settled;
static void (*stop_done)(void);
static size_t running;

mf_ep mf_registry_ep(void) { return self; }

mf_provider *mf_registry_providers(size_t *n)
{
    *n = nproviders;
    return providers;
}

const mf_tool *mf_registry_tool(const char *public_name)
{
    entry *e;
    HASH_FIND_STR(catalog, public_name, e);
    return e ? &e->tool : NULL;
}

json_t *mf_registry_tools(void) { return public_tools; }

bool mf_registry_settled(void) { return settled; }

static void check_settled(void)
{
    if (settled)
        return;
    for (size_t i = 0; i < nproviders; i++)
        if (!providers[i].catalog_loaded)
            return;
    settled = true;
    if (settle_timer_on)
        uv_timer_stop(&settle_timer);
    mf_session_catalog_settled();
}

static void on_settle_timeout(uv_timer_t *t)
{
    MF_UNUSED(t);
    if (settled)
        return;
    for (size_t i = 0; i < nproviders; i++)
        if (!providers[i].catalog_loaded)
            mf_warn("registry", "provider not ready in time; serving the catalog without it",
                    "provider=%s", providers[i].conf->name);
    settled = true;
    mf_session_catalog_settled();
}

static void rebuild(void)
{
    entry *old = catalog, *e, *tmp;
    catalog = NULL;
    json_t *tools = json_array();
    for (size_t i = 0; i < nproviders; i++) {
        mf_provider *p = &providers[i];
        size_t k;
        json_t *t;
        json_array_foreach(p->tools, k, t) {
            const char *up = json_string_value(json_object_get(t, "name"));
            entry *n = calloc(1, sizeof *n);
            int changed = mf_public_name(p->conf->prefix, up, n->name);
            if (changed < 0) {
                mf_warn("registry", "tool without a name ignored", "provider=%s", p->conf->name);
                free(n);
                continue;
            }
            entry *dup;
            HASH_FIND_STR(catalog, n->name, dup);
            if (dup) {
                mf_warn("registry", "tool name collision; the first in configuration order wins",
                        "name=%s kept=%s hidden=%s", n->name, dup->tool.provider->conf->name,
                        p->conf->name);
                free(n);
                continue;
            }
            if (changed)
                mf_info("registry", "tool renamed to a valid public name",
                        "provider=%s upstream=\"%s\" public=%s", p->conf->name,
                        mf_log_esc(up, (size_t)-1), n->name);
            n->tool.name = n->name;
            n->tool.upstream = up;
            n->tool.provider = p;
            HASH_ADD_STR(catalog, name, n);
            json_t *pub = json_copy(t);
            json_object_set_new(pub, "name", json_string(n->name));
            json_array_append_new(tools, pub);
        }
    }
    bool changed = !public_tools || !json_equal(public_tools, tools);
    HASH_ITER(hh, old, e, tmp) {
        HASH_DEL(old, e);
        free(e);
    }
    json_decref(public_tools);
    public_tools = tools;
    if (changed && settled)
        mf_session_broadcast(json_pack("{s:s,s:s}", "jsonrpc", "2.0", "method",
                                       "notifications/tools/list_changed"));
}

static void list_page(mf_provider *p, json_t *cursor);

static void listing_done(mf_provider *p, bool ok)
{
    p->list_call = NULL;
    if (ok) {
        json_decref(p->tools);
        p->tools = p->listing;
        p->listing = NULL;
        mf_info("registry", "tools listed", "provider=%s tools=%zu pages=%u", p->conf->name,
                json_array_size(p->tools), p->pages);
        rebuild();
    } else {
        json_decref(p->listing);
        p->listing = NULL;
    }
    p->catalog_loaded = true;
    check_settled();
    if (p->relist && p->state == MF_PROVIDER_UP) {
        p->relist = false;
        list_page(p, NULL);
    }
}

static void on_list_page(void *ud, json_t *resp)
{
    mf_provider *p = ud;
    json_t *result = json_object_get(resp, "result");
    json_t *tools = json_object_get(result, "tools");
    if (!json_is_array(tools)) {
        json_t *e = json_object_get(resp, "error");
        mf_warn("registry", "listing tools failed", "provider=%s code=%lld message=\"%s\"",
                p->conf->name, (long long)json_integer_value(json_object_get(e, "code")),
                mf_log_esc(e ? json_string_value(json_object_get(e, "message")) : "result without tools",
                           (size_t)-1));
        listing_done(p, false);
        return;
    }
    size_t i;
    json_t *t;
    json_array_foreach(tools, i, t) {
        if (json_is_object(t) && json_is_string(json_object_get(t, "name")))
            json_array_append(p->listing, t);
        else
            mf_warn("registry", "malformed tool ignored", "provider=%s index=%zu", p->conf->name, i);
    }
    json_t *next = json_object_get(result, "nextCursor");
    if (json_is_string(next) && json_string_length(next) > 0) {
        if (++p->pages >= MAX_LIST_PAGES) {
            mf_warn("registry", "tool listing has too many pages; keeping what was listed",
                    "provider=%s pages=%u", p->conf->name, p->pages);
            listing_done(p, true);
            return;
        }
        list_page(p, next);
        return;
    }
    p->pages++;
    listing_done(p, true);
}

static void list_page(mf_provider *p, json_t *cursor)
{
    if (p->list_call && !cursor) {
        p->relist = true;   /* one listing at a time; list again when this one ends */
        return;
    }
    if (!cursor) {
        json_decref(p->listing);
        p->listing = json_array();
        p->pages = 0;
    }
    json_t *params = cursor ? json_pack("{s:O}", "cursor", cursor) : json_object();
    json_t *req = json_pack("{s:s,s:o}", "method", "tools/list", "params", params);
    p->list_call = mf_call_start(mf_instance_ep(p->inst), 0, req, (uint64_t)p->conf->timeout_ms,
                                 on_list_page, p);
}

static mf_provider *provider_of(mf_ep ep)
{
    for (size_t i = 0; i < nproviders; i++)
        if (providers[i].inst && mf_instance_ep(providers[i].inst) == ep)
            return &providers[i];
    return NULL;
}

static void on_status(mf_provider *p, mf_msg *m)
{
    mf_provider_state st = (mf_provider_state)mf_ctl_int(m, "state", MF_PROVIDER_DOWN);
    const char *reason = mf_ctl_str(m, "reason");
    p->state = st;
    free(p->reason);
    p->reason = reason ? strdup(reason) : NULL;
    switch (st) {
    case MF_PROVIDER_UP:
        json_decref(p->init);
        p->init = m->json ? json_incref(m->json) : NULL;
        mf_info("registry", "provider up", "provider=%s", p->conf->name);
        list_page(p, NULL);
        break;
    case MF_PROVIDER_FAILED:
        mf_warn("registry", "provider failed", "provider=%s reason=\"%s\"", p->conf->name,
                reason ? reason : "");
        /* nothing to wait for: its calls fail at once until it comes back */
        p->catalog_loaded = true;
        check_settled();
        break;
    default:
        break;
    }
}

static void on_message(void *ud, mf_msg *m)
{
    MF_UNUSED(ud);
    mf_provider *p = provider_of(m->src);
    if (!p) {
        mf_msg_free(m);
        return;
    }
    if (m->kind == MF_MSG_CONTROL && strcmp(m->verb, "provider.status") == 0) {
        on_status(p, m);
    } else if (m->kind == MF_MSG_NOTIFY) {
        const char *method = mf_rpc_method(m->json);
        if (method && strcmp(method, "notifications/tools/list_changed") == 0)
            list_page(p, NULL);
        else
            mf_session_from_upstream(p, m->json, m->corr);
    }
    mf_msg_free(m);
}

int mf_registry_start(const mf_config *cfg, mf_error *err)
{
    self = mf_endpoint_open("registry", on_message, NULL);
    if (!self) {
        mf_error_set(err, -1, "registry endpoint taken");
        return -1;
    }
    uv_timer_init(mf_loop(), &settle_timer);
    public_tools = json_array();
    nproviders = cfg->nproviders;
    providers = calloc(nproviders ? nproviders : 1, sizeof *providers);
    for (size_t i = 0; i < nproviders; i++) {
        mf_provider *p = &providers[i];
        p->conf = &cfg->providers[i];
        p->state = MF_PROVIDER_STARTING;
        mf_module *mod = mf_plugin_load(p->conf->transport, err);
        if (!mod)
            return -1;
        p->inst = mf_instance_start(mod, MF_ROLE_PROVIDER, p->conf->name, p->conf->plugin_conf, p, err);
        if (!p->inst)
            return -1;
        running++;
    }
    if (nproviders && cfg->catalog_wait_ms) {
        uv_timer_start(&settle_timer, on_settle_timeout, (uint64_t)cfg->catalog_wait_ms, 0);
        settle_timer_on = true;
    } else {
        settled = true;
    }
    check_settled();
    return 0;
}

static void provider_stopped(mf_instance *inst, void *ud)
{
    mf_provider *p = ud;
    MF_UNUSED(inst);
    p->inst = NULL;
    if (--running == 0 && stop_done)
        stop_done();
}

void mf_registry_stop(void (*done)(void))
{
    stop_done = done;
    if (settle_timer_on)
        uv_timer_stop(&settle_timer);
    if (running == 0) {
        done();
        return;
    }
    for (size_t i = 0; i < nproviders; i++) {
        mf_provider *p = &providers[i];
        if (p->list_call) {
            mf_call_cancel(p->list_call, "gateway shutting down");
            p->list_call = NULL;
        }
        if (p->inst)
            mf_instance_stop(p->inst, provider_stopped, p);
    }
}

void mf_registry_close(void)
{
    entry *e, *tmp;
    HASH_ITER(hh, catalog, e, tmp) {
        HASH_DEL(catalog, e);
        free(e);
    }
    for (size_t i = 0; i < nproviders; i++) {
        json_decref(providers[i].init);
        json_decref(providers[i].tools);
        json_decref(providers[i].listing);
        free(providers[i].reason);
    }
    free(providers);
    providers = NULL;
    nproviders = 0;
    json_decref(public_tools);
    public_tools = NULL;
    if (self) {
        uv_close((uv_handle_t *)&settle_timer, NULL);
        mf_endpoint_close(self);
        self = 0;
    }
}
