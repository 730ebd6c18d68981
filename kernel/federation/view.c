/* What each caller sees of the catalog.
 *
 * An item is in a session's view when the session's endpoint (the listen entry its
 * transport serves) serves the item's provider and its filters let the public name
 * through, and the policy's visible(request, item), if it has one, says true. What a
 * caller does not see it cannot reach either: a call, get or read of it is answered as
 * for a name no one lists.
 *
 * The policy is asked once per item per session, catalog generation and policy
 * generation (and caller: the client and revision a request names, since a 2026-07-28
 * request carries its own): the decisions are kept in the session, so listing 1,000 tools
 * again costs no decision until the catalog or the policy changes. When one changes, each
 * session's view before and after is compared, and only a session whose view changed is
 * told its list changed. */
#include "build-config.h"
#include "view.h"
#include "listen.h"
#include "policy.h"
#include "session.h"
#include "federation.h"

#include <stdlib.h>
#include <string.h>

typedef struct view_kind {
    bool valid;               /* decided, items belong to these generations */
    uint64_t cat_gen, pol_gen;
    json_t *decided;          /* public name -> true or false */
    json_t *items;            /* the items seen, in catalog order; NULL until listed */
    json_t *before;           /* the items seen before a policy change under way */
    bool touched;             /* a catalog change under way drops or changes an item it saw */
} view_kind;

struct mf_view {
    json_t *caller;           /* {client, protocol} the decisions were made for */
    unsigned listed;          /* bit k: the session listed kind k */
    view_kind k[MF_KINDS];
};

static const char *const item_kinds[MF_KINDS] = {"tool", "prompt", "resource", "resource_template"};

#define SES (mf_fed.sessions)
#define VIEWS (mf_fed.views)

const mf_listener_conf *mf_view_endpoint(const mf_instance *transport)
{
    const char *name = mf_instance_name(transport);
    const mf_config *c = SES.conf;
    for (size_t i = 0; c && name && i < c->nlisteners; i++)
        if (strcmp(c->listeners[i].url, name) == 0)
            return &c->listeners[i];
    return NULL;
}

static bool curated(const session *s) { return s->endpoint && s->endpoint->curated; }

/* Nothing to decide: the session sees the whole catalog. */
static bool unfiltered(const session *s) { return !curated(s) && !mf_policy_has_visible(); }

static bool endpoint_serves(const mf_listener_conf *l, const mf_provider *p)
{
    if (!l || !l->providers)
        return true;
    for (char **n = l->providers; *n; n++)
        if (strcmp(*n, p->conf->name) == 0)
            return true;
    return false;
}

bool mf_view_serves(const session *s, const mf_provider *p) { return endpoint_serves(s->endpoint, p); }

static bool endpoint_admits(const mf_listener_conf *l, mf_kind k, const mf_entry *e)
{
    if (!l || !l->curated)
        return true;
    return endpoint_serves(l, e->provider) && mf_filter_admits(&l->filter[mf_kind_filter(k)], e->name);
}

static void kind_reset(view_kind *vk)
{
    json_decref(vk->decided);
    json_decref(vk->items);
    vk->decided = vk->items = NULL;
    vk->valid = false;
}

static struct mf_view *view_of(session *s)
{
    if (!s->view)
        s->view = mf_xcalloc(1, sizeof *s->view);
    return s->view;
}

void mf_view_caller(const rctx *r)
{
    session *s = r->s;
    if (unfiltered(s))
        return;   /* nothing is decided: no cost on a call's path */
    json_t *info = s->client_info;
    const char *protocol = s->protocol;
    if (r->modern) {
        json_t *meta = json_object_get(json_object_get(r->msg, "params"), "_meta");
        info = json_object_get(meta, MF_META_CLIENT_INFO);
        protocol = json_string_value(json_object_get(meta, MF_META_PROTOCOL_VERSION));
    }
    /* who the session acts for is part of the caller: a refreshed token may bring other
     * scopes */
    json_t *caller = json_pack("{s:O?,s:s?,s:I}", "client", info, "protocol", protocol, "identity",
                               (json_int_t)s->identity_gen);
    struct mf_view *v = view_of(s);
    if (v->caller && json_equal(v->caller, caller)) {
        json_decref(caller);
        return;
    }
    json_decref(v->caller);
    v->caller = caller;
    for (int k = 0; k < MF_KINDS; k++)
        kind_reset(&v->k[k]);
}

/* The kind's decisions for the generations in force. */
static view_kind *current(session *s, mf_kind k)
{
    view_kind *vk = &view_of(s)->k[k];
    if (vk->valid && vk->cat_gen == mf_catalog_generation(k) && vk->pol_gen == mf_policy_generation())
        return vk;
    kind_reset(vk);
    vk->valid = true;
    vk->cat_gen = mf_catalog_generation(k);
    vk->pol_gen = mf_policy_generation();
    vk->decided = json_object();
    return vk;
}

/* The policy's request table for s's caller. */
static void begin(const session *s, const char *method)
{
    if (!mf_policy_has_visible())
        return;
    const json_t *caller = s->view ? s->view->caller : NULL;
    const json_t *info = caller ? json_object_get(caller, "client") : s->client_info;
    const char *protocol = caller ? json_string_value(json_object_get(caller, "protocol")) : s->protocol;
    mf_policy_request req = {
        .method = method,
        .session = s->id,
        .client = json_string_value(json_object_get(info, "name")),
        .client_version = json_string_value(json_object_get(info, "version")),
        .protocol = protocol && *protocol ? protocol : NULL,
        .identity = s->identity,
        .identity_gen = s->identity_gen,
    };
    mf_policy_visible_begin(&req);
}

/* Decide e for s (begin was called). */
static bool decide(const session *s, mf_kind k, const mf_entry *e)
{
    if (!endpoint_admits(s->endpoint, k, e))
        return false;
    mf_policy_item it = {
        .kind = item_kinds[k],
        .name = e->name,
        .provider = e->provider->conf->name,
        .upstream = e->upstream,
        .annotations = json_object_get(e->pub, "annotations"),
        .tags = e->provider->conf->tags,
    };
    return mf_policy_visible(&it);
}

static bool allows(session *s, mf_kind k, const mf_entry *e, const char *method)
{
    if (unfiltered(s))
        return true;
    view_kind *vk = current(s, k);
    json_t *d = json_object_get(vk->decided, e->name);
    if (d)
        return json_is_true(d);
    begin(s, method);
    bool ok = decide(s, k, e);
    json_object_set_new(vk->decided, e->name, json_boolean(ok));
    return ok;
}

bool mf_view_allows(const rctx *r, mf_kind k, const mf_entry *e)
{
    return allows(r->s, k, e, mf_rpc_method(r->msg));
}

bool mf_view_allows_uri(const rctx *r, const mf_provider *p, const char *upstream)
{
    if (unfiltered(r->s))
        return true;
    /* a URI of a template the caller sees */
    size_t i;
    json_t *item;
    json_array_foreach(mf_catalog_items(MF_KIND_TEMPLATES), i, item) {
        const mf_entry *e = mf_catalog_find(MF_KIND_TEMPLATES, json_string_value(json_object_get(item, "uriTemplate")));
        if (e && e->provider == p && mf_template_matches(e->upstream, upstream) &&
            allows(r->s, MF_KIND_TEMPLATES, e, mf_rpc_method(r->msg)))
            return true;
    }
    return false;
}

/* What s sees of kind k now (borrowed). */
static json_t *items_now(session *s, mf_kind k, const char *method)
{
    if (unfiltered(s))
        return mf_catalog_items(k);
    view_kind *vk = current(s, k);
    if (vk->items)
        return vk->items;
    vk->items = json_array();
    begin(s, method);
    const char *key = mf_kinds[k].name_key;
    size_t i;
    json_t *item;
    json_array_foreach(mf_catalog_items(k), i, item) {
        const char *name = json_string_value(json_object_get(item, key));
        json_t *d = json_object_get(vk->decided, name);
        bool ok;
        if (d) {
            ok = json_is_true(d);
        } else {
            const mf_entry *e = mf_catalog_find(k, name);
            ok = e && decide(s, k, e);
            json_object_set_new(vk->decided, name, json_boolean(ok));
        }
        if (ok)
            json_array_append(vk->items, item);
    }
    return vk->items;
}

json_t *mf_view_items(const rctx *r, mf_kind k)
{
    view_of(r->s)->listed |= 1u << k;
    return items_now(r->s, k, mf_rpc_method(r->msg));
}

uint64_t mf_view_stamp(const session *s, mf_kind k)
{
    uint64_t g = mf_catalog_generation(k);
    if (unfiltered(s))
        return g;
    /* FNV-1a over what the view depends on: a cursor of another endpoint or policy fails */
    uint64_t parts[3] = {g, mf_policy_generation(), (uint64_t)(uintptr_t)s->endpoint};
    uint64_t h = 1469598103934665603u;
    const unsigned char *b = (const unsigned char *)parts;
    for (size_t i = 0; i < sizeof parts; i++) {
        h ^= b[i];
        h *= 1099511628211u;
    }
    return h;
}

void mf_view_free(session *s)
{
    if (!s->view)
        return;
    for (int k = 0; k < MF_KINDS; k++) {
        kind_reset(&s->view->k[k]);
        json_decref(s->view->k[k].before);
    }
    json_decref(s->view->caller);
    free(s->view);
    s->view = NULL;
}

/* --- changes ------------------------------------------------------------------------ */

/* Sessions that can be told a list changed. */
static bool listening(const session *s) { return s->initialized || s->listens; }

/* Has s listed kind k (or does it listen for changes), so that a change of its view is
 * news to it? */
static bool knows(const session *s, mf_kind k) { return s->listens || (s->view && (s->view->listed & (1u << k))); }

static void tell(session *s, mf_kind k)
{
    json_t *note = json_pack("{s:s,s:s}", "jsonrpc", "2.0", "method", mf_kinds[k].changed);
    if (s->initialized)
        mf_send_to(s, MF_MSG_NOTIFY, 0, json_incref(note));
    mf_listen_list_changed(s, k, note);
    json_decref(note);
}

/* name -> item of a list of kind k */
static json_t *by_name(mf_kind k, const json_t *items)
{
    json_t *map = json_object();
    size_t i;
    json_t *item;
    json_array_foreach(items, i, item) {
        json_object_set(map, json_string_value(json_object_get(item, mf_kinds[k].name_key)), item);
    }
    return map;
}

/* Does s see one of the catalog's entries named in names (under the catalog in force)? */
static bool sees_any(session *s, mf_kind k, const json_t *names)
{
    const char *name;
    json_t *v;
    json_object_foreach((json_t *)names, name, v) {
        const mf_entry *e = mf_catalog_find(k, name);
        if (e && allows(s, k, e, mf_kinds[k].list_method))
            return true;
    }
    return false;
}

/* A rebuild's change is news to a session that sees one of the items it adds, drops or
 * changes, before or after: only those are decided, not the whole list again. */
void mf_view_catalog_changing(mf_kind k, const json_t *next)
{
    json_t *old = by_name(k, mf_catalog_items(k)), *now = by_name(k, next);
    json_t *changed = json_object();
    const char *name;
    json_t *item;
    json_object_foreach(now, name, item) {
        json_t *was = json_object_get(old, name);
        if (!was || !json_equal(was, item))
            json_object_set_new(changed, name, json_true());
    }
    json_object_foreach(old, name, item) {
        if (!json_object_get(now, name))
            json_object_set_new(changed, name, json_true());
    }
    json_decref(old);
    json_decref(now);
    json_decref(VIEWS.changed[k]);
    VIEWS.changed[k] = changed;
    session *s, *tmp;
    HASH_ITER(hh, SES.all, s, tmp) {
        if (!listening(s))
            continue;
        view_of(s)->k[k].touched = unfiltered(s) || sees_any(s, k, changed);
    }
}

void mf_view_catalog_changed(mf_kind k)
{
    session *s, *tmp;
    HASH_ITER(hh, SES.all, s, tmp) {
        if (!listening(s))
            continue;
        view_kind *vk = &view_of(s)->k[k];
        bool tell_it = vk->touched || unfiltered(s) || sees_any(s, k, VIEWS.changed[k]);
        vk->touched = false;
        if (tell_it)
            tell(s, k);
    }
    json_decref(VIEWS.changed[k]);
    VIEWS.changed[k] = NULL;
}

/* A policy may change any decision: the views of the kinds a session knows are compared
 * whole. */
void mf_view_policy_changing(void)
{
    session *s, *tmp;
    HASH_ITER(hh, SES.all, s, tmp) {
        if (!listening(s))
            continue;
        for (int k = 0; k < MF_KINDS; k++) {
            if (!knows(s, (mf_kind)k))
                continue;
            view_kind *vk = &view_of(s)->k[k];
            json_decref(vk->before);
            vk->before = json_incref(items_now(s, (mf_kind)k, mf_kinds[k].list_method));
        }
    }
}

/* Whether s's view of k differs from the one taken before; the one before is let go. */
static bool differs(session *s, mf_kind k)
{
    if (!s->view || !s->view->k[k].before)
        return false;
    json_t *before = s->view->k[k].before;
    s->view->k[k].before = NULL;
    bool d = !json_equal(before, items_now(s, k, mf_kinds[k].list_method));
    json_decref(before);
    return d;
}

void mf_view_policy_changed(void)
{
    session *s, *tmp;
    HASH_ITER(hh, SES.all, s, tmp) {
        if (!listening(s))
            continue;
        bool resources = false;
        for (int k = 0; k < MF_KINDS; k++) {
            if (!differs(s, (mf_kind)k))
                continue;
            /* resources and templates share one notification */
            if (k == MF_KIND_RESOURCES || k == MF_KIND_TEMPLATES) {
                if (resources)
                    continue;
                resources = true;
            }
            tell(s, (mf_kind)k);
        }
    }
}

/* --- the admin socket ------------------------------------------------------------------- */

static json_t *endpoint_view(const mf_listener_conf *l)
{
    json_t *out = json_object();
    static const char *const keys[MF_KINDS] = {"tools", "prompts", "resources", "resource_templates"};
    for (int k = 0; k < MF_KINDS; k++) {
        json_t *names = json_array();
        size_t i;
        json_t *item;
        json_array_foreach(mf_catalog_items((mf_kind)k), i, item) {
            const mf_entry *e = mf_catalog_find((mf_kind)k, json_string_value(json_object_get(item, mf_kinds[k].name_key)));
            if (e && endpoint_admits(l, (mf_kind)k, e))
                json_array_append_new(names, json_string(e->name));
        }
        json_object_set_new(out, keys[k], names);
    }
    if (l && l->providers) {
        json_t *ps = json_array();
        for (char **n = l->providers; *n; n++)
            json_array_append_new(ps, json_string(*n));
        json_object_set_new(out, "providers", ps);
    }
    return out;
}

json_t *mf_view_endpoints(const char *endpoint)
{
    const mf_config *c = SES.conf;
    json_t *out = json_object();
    for (size_t i = 0; c && i < c->nlisteners; i++)
        if (!endpoint || strcmp(endpoint, c->listeners[i].url) == 0)
            json_object_set_new(out, c->listeners[i].url, endpoint_view(&c->listeners[i]));
    if (!endpoint || strcmp(endpoint, "stdio") == 0)
        json_object_set_new(out, "stdio", endpoint_view(NULL));
    if (endpoint && json_object_size(out) == 0) {
        json_decref(out);
        return NULL;
    }
    return out;
}

mf_provider *mf_view_resolve_uri(const rctx *r, const char *uri, char **upstream)
{
    *upstream = NULL;
    mf_provider *p = mf_catalog_resolve_uri(uri, upstream);
    if (!p)
        return NULL;
    const mf_entry *e = mf_catalog_find(MF_KIND_RESOURCES, uri);
    bool ok = e ? mf_view_allows(r, MF_KIND_RESOURCES, e)
                : mf_catalog_uri_curated(p, *upstream) && mf_view_allows_uri(r, p, *upstream);
    if (ok)
        return p;
    free(*upstream);
    *upstream = NULL;
    return NULL;
}
