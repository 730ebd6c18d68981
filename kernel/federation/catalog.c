/* The public catalog: every provider's tools, prompts, resources and resource templates
 * under the names clients see.
 *
 * Tools and prompts are named "<prefix>__<name>" (names.c). A resource URI, and a
 * template, is "<prefix>+<upstream URI>": the provider's prefix joined to the upstream's
 * URI by '+', the way "git+https:" joins schemes, so that two providers' URIs never
 * collide and the upstream's URI comes back exactly by cutting at the first '+'. With
 * prefix = false names and URIs are the upstream's own. An item whose public name another
 * provider took first (in configuration order) is left out, with a warning. */
#include "build-config.h"
#include "registry.h"
#include "names.h"
#include "view.h"
#include "tasks.h"
#include "federation.h"

#include <stdlib.h>
#include <string.h>
#include <uthash.h>

const mf_kind_info mf_kinds[MF_KINDS] = {
    {"tools/list", "tools", "name", "tools", "notifications/tools/list_changed"},
    {"prompts/list", "prompts", "name", "prompts", "notifications/prompts/list_changed"},
    {"resources/list", "resources", "uri", "resources", "notifications/resources/list_changed"},
    {"resources/templates/list", "resourceTemplates", "uriTemplate", "resources",
     "notifications/resources/list_changed"},
};

typedef struct mf_catalog_entry {
    mf_entry e;
    char *name;
    UT_hash_handle hh;
} entry;

typedef mf_catalog_kind catalog;   /* in the federation's state */

const mf_entry *mf_catalog_find(mf_kind k, const char *public_name)
{
    entry *x;
    HASH_FIND_STR(mf_fed.catalog[k].by_name, public_name, x);
    return x ? &x->e : NULL;
}

json_t *mf_catalog_items(mf_kind k)
{
    if (!mf_fed.catalog[k].items)
        mf_fed.catalog[k].items = json_array();
    return mf_fed.catalog[k].items;
}

uint64_t mf_catalog_generation(mf_kind k) { return mf_fed.catalog[k].generation; }

char *mf_catalog_public_uri(const mf_provider *p, const char *upstream_uri)
{
    if (!p->conf->prefix)
        return mf_xstrdup(upstream_uri);
    size_t n = strlen(p->conf->prefix) + strlen(upstream_uri) + 2;
    char *out = mf_xmalloc(n);
    snprintf(out, n, "%s+%s", p->conf->prefix, upstream_uri);
    return out;
}

int mf_kind_filter(mf_kind k)
{
    return k == MF_KIND_TOOLS ? MF_FILTER_TOOLS : k == MF_KIND_PROMPTS ? MF_FILTER_PROMPTS : MF_FILTER_RESOURCES;
}

static bool named_kind(mf_kind k) { return k == MF_KIND_TOOLS || k == MF_KIND_PROMPTS; }

/* The public name of an item, or NULL when it has none usable. A tool or prompt the
 * provider renames gets the federation's naming on its new name. */
static char *public_name(mf_kind k, const mf_provider *p, const char *up, bool *renamed)
{
    *renamed = false;
    if (k == MF_KIND_RESOURCES || k == MF_KIND_TEMPLATES)
        return *up ? mf_catalog_public_uri(p, up) : NULL;
    const char *as = json_string_value(json_object_get(p->conf->rename, up));
    char buf[MF_NAME_MAX + 1];
    int changed = mf_public_name(p->conf->prefix, as ? as : up, buf);
    if (changed < 0)
        return NULL;
    *renamed = changed > 0;
    return mf_xstrdup(buf);
}

/* The item as served: the provider's description and annotations over the upstream's, and
 * the task support of the provider's tasks table. */
static json_t *curated_item(mf_kind k, const mf_provider *p, const json_t *item, const char *up)
{
    json_t *pub = json_copy((json_t *)item);
    if (!named_kind(k))
        return pub;
    json_t *d = json_object_get(p->conf->describe, up);
    if (d)
        json_object_set(pub, "description", d);
    json_t *a = json_object_get(p->conf->annotations, up);
    if (k == MF_KIND_TOOLS && json_is_object(a)) {
        json_t *had = json_object_get(pub, "annotations");
        json_t *merged = json_is_object(had) ? json_copy(had) : json_object();
        json_object_update(merged, a);
        json_object_set_new(pub, "annotations", merged);
    }
    /* a tool the gateway runs as a task says so, in the terms of both revisions */
    const char *support = k == MF_KIND_TOOLS ? mf_tasks_support(p, up) : NULL;
    if (support) {
        json_t *had = json_object_get(pub, "execution");
        json_t *ex = json_is_object(had) ? json_copy(had) : json_object();
        json_object_set_new(ex, "taskSupport", json_string(support));
        json_object_set_new(pub, "execution", ex);
    }
    return pub;
}

static void free_entries(entry **table)
{
    entry *x, *tmp;
    HASH_ITER(hh, *table, x, tmp) {
        HASH_DEL(*table, x);
        free(x->name);
        free(x);
    }
}

void mf_catalog_rebuild(mf_kind k, mf_provider **providers, size_t n, bool announce)
{
    const mf_kind_info *ki = &mf_kinds[k];
    catalog *c = &mf_fed.catalog[k];
    entry *table = NULL;
    json_t *items = json_array();
    for (size_t i = 0; i < n; i++) {
        mf_provider *p = providers[i];
        size_t j;
        json_t *item;
        json_array_foreach(p->lists[k].items, j, item) {
            const char *up = mf_name_text(json_object_get(item, ki->name_key));
            if (up && !mf_filter_admits(&p->conf->filter[mf_kind_filter(k)], up))
                continue;   /* curated out: as unknown as a name no one lists */
            bool renamed;
            char *name = up ? public_name(k, p, up, &renamed) : NULL;
            if (!name) {
                mf_warn("registry", "item without a name (a string with no NUL) ignored", "provider=%s list=%s",
                        p->conf->name, ki->result_key);
                continue;
            }
            entry *dup;
            HASH_FIND_STR(table, name, dup);
            if (dup) {
                mf_warn("registry", "name collision; the first in configuration order wins",
                        "list=%s name=\"%s\" kept=%s hidden=%s", ki->result_key,
                        mf_log_esc(name, (size_t)-1), dup->e.provider->conf->name, p->conf->name);
                free(name);
                continue;
            }
            if (renamed)
                mf_info("registry", "renamed to a valid public name", "provider=%s upstream=\"%s\" public=%s",
                        p->conf->name, mf_log_esc(up, (size_t)-1), name);
            entry *x = mf_xcalloc(1, sizeof *x);
            x->name = name;
            x->e.name = name;
            x->e.upstream = up;
            x->e.provider = p;
            x->e.item = item;
            HASH_ADD_KEYPTR(hh, table, x->name, strlen(x->name), x);
            json_t *pub = curated_item(k, p, item, up);
            json_object_set_new(pub, ki->name_key, json_string(name));
            x->e.pub = pub;
            json_array_append_new(items, pub);
        }
    }
    bool changed = !c->items || !json_equal(c->items, items);
    /* the sessions' views before the change are taken while the old catalog stands */
    if (changed && announce)
        mf_view_catalog_changing(k, items);
    free_entries(&c->by_name);
    c->by_name = table;
    json_decref(c->items);
    c->items = items;
    if (changed) {
        c->generation++;
        if (announce)
            mf_view_catalog_changed(k);
    }
}

int mf_catalog_check_renames(const mf_config *c, mf_error *err)
{
    json_t *seen = json_object();   /* public name -> "providers[i].rename.X" */
    int rc = 0;
    for (size_t i = 0; i < c->nproviders && rc == 0; i++) {
        const mf_provider_conf *p = &c->providers[i];
        const char *up;
        json_t *v;
        json_object_foreach(p->rename, up, v) {
            char name[MF_NAME_MAX + 1], where[200];
            mf_public_name(p->prefix, json_string_value(v), name);
            snprintf(where, sizeof where, "%s.rename.%s", p->path, up);
            const char *other = json_string_value(json_object_get(seen, name));
            if (other) {
                mf_error_set(err, -1, "%s: the public name \"%s\" is also what %s gives", where, name, other);
                rc = -1;
                break;
            }
            json_object_set_new(seen, name, json_string(where));
        }
    }
    json_decref(seen);
    return rc;
}

void mf_catalog_free(void)
{
    for (int k = 0; k < MF_KINDS; k++) {
        free_entries(&mf_fed.catalog[k].by_name);
        json_decref(mf_fed.catalog[k].items);
        mf_fed.catalog[k].items = NULL;
        mf_fed.catalog[k].generation = 0;
    }
}

/* --- resolving URIs ----------------------------------------------------------------- */

/* Does uri match an RFC 6570 template? Variables match any run of characters (a simple
 * expression stops at '/'); enough to say which provider a URI belongs to. */
bool mf_template_matches(const char *t, const char *u)
{
    while (*t) {
        if (*t == '{') {
            const char *close = strchr(t, '}');
            if (!close)
                return false;
            bool reserved = t[1] == '+' || t[1] == '#' || t[1] == '/';
            const char *rest = close + 1;
            for (const char *v = u;; v++) {
                if (mf_template_matches(rest, v))
                    return true;
                if (!*v || (!reserved && *v == '/'))
                    return false;
            }
        }
        if (*t != *u)
            return false;
        t++;
        u++;
    }
    return *u == '\0';
}

static bool provider_knows(const mf_provider *p, const char *uri)
{
    size_t i;
    json_t *item;
    json_array_foreach(p->lists[MF_KIND_RESOURCES].items, i, item) {
        const char *u = mf_name_text(json_object_get(item, "uri"));
        if (u && strcmp(u, uri) == 0)
            return true;
    }
    json_array_foreach(p->lists[MF_KIND_TEMPLATES].items, i, item) {
        const char *t = mf_name_text(json_object_get(item, "uriTemplate"));
        if (t && mf_template_matches(t, uri))
            return true;
    }
    return false;
}

bool mf_catalog_uri_curated(const mf_provider *p, const char *uri)
{
    const mf_filter *f = &p->conf->filter[MF_FILTER_RESOURCES];
    if (!f->include && !f->exclude)
        return true;
    if (mf_filter_admits(f, uri))
        return true;
    size_t i;
    json_t *item;
    json_array_foreach(p->lists[MF_KIND_TEMPLATES].items, i, item) {
        const char *t = mf_name_text(json_object_get(item, "uriTemplate"));
        if (t && mf_filter_admits(f, t) && mf_template_matches(t, uri))
            return true;
    }
    return false;
}

void mf_catalog_warn_unmatched(const mf_provider *p, mf_kind k)
{
    int fk = mf_kind_filter(k);
    const json_t *inc = p->conf->filter[fk].include;
    /* resources and templates share a filter: judge once both are listed */
    mf_kind kinds[2] = {k, k};
    if (fk == MF_FILTER_RESOURCES) {
        kinds[0] = MF_KIND_RESOURCES;
        kinds[1] = MF_KIND_TEMPLATES;
        if (!p->lists[MF_KIND_RESOURCES].loaded || !p->lists[MF_KIND_TEMPLATES].loaded)
            return;
    }
    size_t g;
    json_t *glob;
    json_array_foreach(inc, g, glob) {
        bool hit = false;
        for (int n = 0; n < 2 && !hit; n++) {
            size_t i;
            json_t *item;
            json_array_foreach(p->lists[kinds[n]].items, i, item) {
                const char *up = mf_name_text(json_object_get(item, mf_kinds[kinds[n]].name_key));
                if (up && mf_glob_match(json_string_value(glob), up)) {
                    hit = true;
                    break;
                }
            }
        }
        if (!hit)
            mf_warn("registry", "an include pattern matches nothing the provider lists", "provider=%s key=%s pattern=\"%s\"",
                    p->conf->name, mf_filter_keys[fk], mf_log_esc(json_string_value(glob), (size_t)-1));
    }
}

mf_provider *mf_catalog_resolve_uri(const char *uri, char **upstream)
{
    const mf_entry *e = mf_catalog_find(MF_KIND_RESOURCES, uri);
    if (e) {
        *upstream = mf_xstrdup(e->upstream);
        return e->provider;
    }
    size_t n;
    mf_provider **ps = mf_registry_providers(&n);
    /* "<prefix>+<uri>": the prefix is what comes before the first '+' of the scheme */
    const char *colon = strchr(uri, ':');
    const char *plus = strchr(uri, '+');
    if (plus && (!colon || plus < colon)) {
        for (size_t i = 0; i < n; i++) {
            const char *pre = ps[i]->conf->prefix;
            if (pre && strlen(pre) == (size_t)(plus - uri) && strncmp(pre, uri, (size_t)(plus - uri)) == 0) {
                *upstream = mf_xstrdup(plus + 1);
                return ps[i];
            }
        }
    }
    /* the upstream's own URI: a provider that keeps its names and knows it, then any
     * provider that knows it (a link from a tool result, say), in configuration order */
    for (int pass = 0; pass < 2; pass++)
        for (size_t i = 0; i < n; i++)
            if ((pass == 1 || !ps[i]->conf->prefix) && provider_knows(ps[i], uri)) {
                *upstream = mf_xstrdup(uri);
                return ps[i];
            }
    /* a URI no listing shows: the one provider that keeps its names and offers resources */
    mf_provider *only = NULL;
    for (size_t i = 0; i < n; i++)
        if (!ps[i]->conf->prefix && mf_provider_offers(ps[i], "resources")) {
            if (only)
                return NULL;
            only = ps[i];
        }
    if (only)
        *upstream = mf_xstrdup(uri);
    return only;
}

/* --- URIs inside results ------------------------------------------------------------ */

/* Each object of a result whose "uri" names a resource: its contents (resources/read),
 * its content's links and embedded resources (tools/call), its messages' (prompts/get).
 * With p, each is made public; without, only whether there is one: most results name
 * none, and go on as they came rather than copied. */
static bool uri_at(const mf_provider *p, json_t *obj)
{
    const char *u = json_string_value(json_object_get(obj, "uri"));
    if (!u)
        return false;
    if (p) {
        char *pub = mf_catalog_public_uri(p, u);
        json_object_set_new(obj, "uri", json_string(pub));
        free(pub);
    }
    return true;
}

static bool item_uri(const mf_provider *p, json_t *item)
{
    const char *type = json_string_value(json_object_get(item, "type"));
    if (!type)
        return false;
    if (strcmp(type, "resource_link") == 0)
        return uri_at(p, item);
    json_t *res = json_object_get(item, "resource");
    return strcmp(type, "resource") == 0 && json_is_object(res) && uri_at(p, res);
}

static bool result_uris(const mf_provider *p, json_t *r)
{
    unsigned found = 0;
    size_t i, k;
    json_t *item, *c;
    json_array_foreach(json_object_get(r, "contents"), i, item)
        found += uri_at(p, item);
    json_array_foreach(json_object_get(r, "content"), i, item)
        found += item_uri(p, item);
    json_array_foreach(json_object_get(r, "messages"), i, item) {
        json_t *content = json_object_get(item, "content");
        if (json_is_object(content))
            found += item_uri(p, content);
        json_array_foreach(content, k, c)
            found += item_uri(p, c);
    }
    return found > 0;
}

json_t *mf_catalog_publish_uris(const mf_provider *p, json_t *result)
{
    if (!p->conf->prefix || !json_is_object(result) || !result_uris(NULL, result))
        return json_incref(result);
    json_t *r = json_deep_copy(result);
    result_uris(p, r);
    return r;
}
