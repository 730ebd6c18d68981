/* Curation: what a provider serves of its upstream's items (include and exclude globs per
 * kind, rename, describe, annotations), and what a listener's endpoint serves of the
 * federation (its providers, and globs over public names). Globs follow fnmatch(3) without
 * flags: '*' and '?' match '/' too, so a URI glob that ends in a star takes the
 * whole tree. */
#include "build-config.h"
#include "config.h"

#include <fnmatch.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *const mf_filter_keys[MF_FILTERS] = {"tools", "prompts", "resources"};

const mf_setting mf_filter_settings[] = {
    {"include", MF_SET_STRINGS, .def_doc = "every name",
     .doc = "globs (fnmatch) of the names served; a name must match one"},
    {"exclude", MF_SET_STRINGS, .def = "{}", .doc = "globs of the names not served, whatever include says"},
    {0},
};

const mf_setting mf_endpoint_settings[] = {
    {"providers", MF_SET_STRINGS, .def_doc = "every provider", .doc = "the providers this endpoint serves"},
    {"tools", MF_SET_TABLE, .def = "{}", .sub = mf_filter_settings,
     .doc = "which tools (public names) it serves: include and exclude globs"},
    {"prompts", MF_SET_TABLE, .def = "{}", .sub = mf_filter_settings,
     .doc = "which prompts (public names) it serves"},
    {"resources", MF_SET_TABLE, .def = "{}", .sub = mf_filter_settings,
     .doc = "which resources and templates (public URIs) it serves"},
    {.type = MF_SET_OTHERS, .doc = "the transport's keys"},
    {0},
};

bool mf_glob_match(const char *glob, const char *name)
{
    return fnmatch(glob, name, 0) == 0;
}

static bool any_match(const json_t *globs, const char *name)
{
    size_t i;
    json_t *g;
    json_array_foreach(globs, i, g) {
        if (mf_glob_match(json_string_value(g), name))
            return true;
    }
    return false;
}

bool mf_filter_admits(const mf_filter *f, const char *name)
{
    if (f->include && !any_match(f->include, name))
        return false;
    return !f->exclude || !any_match(f->exclude, name);
}

/* The filters of the tables at tools, prompts and resources of t (already checked). */
static void read_filters(mf_filter *filters, const json_t *t)
{
    for (int k = 0; k < MF_FILTERS; k++) {
        const json_t *ft = json_object_get(t, mf_filter_keys[k]);
        const json_t *inc = json_object_get(ft, "include");
        const json_t *exc = json_object_get(ft, "exclude");
        filters[k].include = json_is_array(inc) ? json_incref((json_t *)inc) : NULL;
        filters[k].exclude = json_array_size(exc) ? json_incref((json_t *)exc) : NULL;
    }
}

static bool filtered(const mf_filter *filters)
{
    for (int k = 0; k < MF_FILTERS; k++)
        if (filters[k].include || filters[k].exclude)
            return true;
    return false;
}

static void free_filters(mf_filter *filters)
{
    for (int k = 0; k < MF_FILTERS; k++) {
        json_decref(filters[k].include);
        json_decref(filters[k].exclude);
        filters[k].include = filters[k].exclude = NULL;
    }
}

/* A map's value (Lua's {} arrives as an empty list): the object, or a new empty one. */
static json_t *object_or_empty(const json_t *v)
{
    return json_is_object(v) ? json_incref((json_t *)v) : json_object();
}

int mf_curation_provider(mf_provider_conf *p, const json_t *t, mf_error *err)
{
    read_filters(p->filter, t);
    p->rename = object_or_empty(json_object_get(t, "rename"));
    p->describe = object_or_empty(json_object_get(t, "describe"));
    p->annotations = object_or_empty(json_object_get(t, "annotations"));
    const char *up;
    json_t *v;
    json_object_foreach(p->rename, up, v) {
        if (!*json_string_value(v)) {
            mf_error_set(err, -1, "%s.rename.%s: the new name must not be empty", p->path, up);
            return -1;
        }
    }
    json_object_foreach(p->annotations, up, v) {
        if (!json_is_object(v) && !(json_is_array(v) && json_array_size(v) == 0)) {
            mf_error_set(err, -1, "%s.annotations.%s: expected a table of annotations, e.g. { readOnlyHint = true }",
                         p->path, up);
            return -1;
        }
    }
    return 0;
}

void mf_curation_provider_free(mf_provider_conf *p)
{
    free_filters(p->filter);
    json_decref(p->rename);
    json_decref(p->describe);
    json_decref(p->annotations);
}

int mf_curation_listener(mf_listener_conf *l, const json_t *own, mf_error *err)
{
    if (own && mf_settings_check(own, l->path, mf_endpoint_settings, NULL, err))
        return -1;
    read_filters(l->filter, own);
    const json_t *ps = json_object_get(own, "providers");
    if (json_is_array(ps)) {
        size_t n = json_array_size(ps);
        l->providers = mf_xcalloc(n + 1, sizeof *l->providers);
        for (size_t i = 0; i < n; i++)
            l->providers[i] = mf_xstrdup(json_string_value(json_array_get(ps, i)));
    }
    l->curated = l->providers || filtered(l->filter);
    /* the transport sees its own keys only */
    for (const mf_setting *k = mf_endpoint_settings; k->type != MF_SET_END; k++)
        if (k->name)
            json_object_del(l->plugin_conf, k->name);
    return 0;
}

int mf_curation_listeners(const mf_config *c, mf_error *err)
{
    for (size_t i = 0; i < c->nlisteners; i++)
        for (char **n = c->listeners[i].providers; n && *n; n++)
            if (!mf_config_provider(c, *n)) {
                mf_error_set(err, -1, "%s.providers: no provider is named \"%s\"", c->listeners[i].path, *n);
                return -1;
            }
    return 0;
}

void mf_curation_listener_free(mf_listener_conf *l)
{
    for (char **n = l->providers; n && *n; n++)
        free(*n);
    free(l->providers);
    l->providers = NULL;
    free_filters(l->filter);
}
