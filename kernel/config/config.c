/* Configuration loading. The file is Lua returning a table, so configurations can
 * compute values and dofile() each other; the table is converted to JSON and checked
 * here for the kernel's keys. Each plugin checks its own keys (mf_role_ops.check). */
#include "build-config.h"
#include "config.h"
#include "luajson.h"

#include <lauxlib.h>
#include <errno.h>
#include <limits.h>
#include <lualib.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

static const char *const top_keys[] = {
    "log_level", "plugin_dirs", "plugins", "request_timeout_ms", "max_message_bytes",
    "catalog_wait_ms", "shutdown_ms", "providers", "listen", "http", "page_size", "max_processes", "admin", "policy", "policy_instructions",
    "policy_time_ms", "policy_memory_bytes", "breaker", "handover_timeout_ms", "drain_timeout_ms", "watch_plugins", "cache", NULL,
};

/* keys of a provider entry the kernel owns; the rest belong to its transport plugin */
static const char *const provider_keys[] = {"name", "transport", "prefix", "timeout_ms", "attempt_timeout_ms", "fallback",
                                            "weight", "tags", "health", "breaker", "cache", NULL};
static const char *const health_keys[] = {"interval_ms", "timeout_ms", "failures", "successes", NULL};

static void config_free(mf_config *c);

static bool valid_name(const char *s, size_t max)
{
    size_t n = strlen(s);
    if (n == 0 || n > max)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '-'))
            return false;
    }
    return true;
}

static char *resolve(const char *dir, const char *p)
{
    if (p[0] == '/' || !dir)
        return mf_xstrdup(p);
    size_t n = strlen(dir) + strlen(p) + 2;
    char *out = mf_xmalloc(n);
    if (out)
        snprintf(out, n, "%s/%s", dir, p);
    return out;
}

static char **string_list(const json_t *arr, const char *dir)
{
    size_t n = arr ? json_array_size(arr) : 0;
    char **out = mf_xcalloc(n + 1, sizeof *out);
    for (size_t i = 0; out && i < n; i++)
        out[i] = dir ? resolve(dir, json_string_value(json_array_get(arr, i)))
                     : mf_xstrdup(json_string_value(json_array_get(arr, i)));
    return out;
}

static void free_list(char **l)
{
    for (char **p = l; p && *p; p++)
        free(*p);
    free(l);
}

static int print_to_log(lua_State *L)
{
    int n = lua_gettop(L);   /* before luaL_buffinit, which may push a placeholder */
    luaL_Buffer b;
    luaL_buffinit(L, &b);
    for (int i = 1; i <= n; i++) {
        if (i > 1)
            luaL_addchar(&b, '\t');
        luaL_tolstring(L, i, NULL);
        luaL_addvalue(&b);
    }
    luaL_pushresult(&b);
    mf_info("config", "print", "text=\"%s\"", mf_log_esc(lua_tostring(L, -1), (size_t)-1));
    return 0;
}

/* The keys of a provider that routing uses: fallback, weight, tags, health, breaker. */
static int provider_routing(mf_config *c, mf_provider_conf *p, json_t *t, mf_error *err)
{
    const json_t *fallback = NULL, *tags = NULL;
    if (mf_conf_strings(t, p->path, "fallback", false, false, &fallback, err) ||
        mf_conf_strings(t, p->path, "tags", false, false, &tags, err))
        return -1;
    p->fallback = string_list(fallback, NULL);
    p->tags = tags ? json_incref((json_t *)tags) : json_array();
    json_t *w = json_object_get(t, "weight");
    p->weight = 1;
    if (w) {
        if (!json_is_number(w) || json_number_value(w) <= 0) {
            mf_error_set(err, -1, "%s.weight: expected a number above 0", p->path);
            return -1;
        }
        p->weight = json_number_value(w);
    }
    p->health_interval_ms = 10000;
    p->health_timeout_ms = 5000;
    p->health_failures = 3;
    p->health_successes = 1;
    json_t *h = json_object_get(t, "health");
    char hp[80];
    snprintf(hp, sizeof hp, "%s.health", p->path);
    if (json_is_false(h)) {
        p->health_interval_ms = 0;
    } else if (h && (mf_conf_keys(h, hp, health_keys, err) ||
                     mf_conf_int(h, hp, "interval_ms", 10, 86400000, &p->health_interval_ms, err) ||
                     mf_conf_int(h, hp, "timeout_ms", 10, 86400000, &p->health_timeout_ms, err) ||
                     mf_conf_int(h, hp, "failures", 1, 1000, &p->health_failures, err) ||
                     mf_conf_int(h, hp, "successes", 1, 1000, &p->health_successes, err))) {
        return -1;
    }
    /* breakers: the top-level settings, then the provider's own; false turns them off */
    json_t *b = json_object_get(t, "breaker");
    if (json_is_false(b) || !c->breaker) {
        p->breaker = NULL;
    } else if (b && !json_is_object(b) && !(json_is_array(b) && json_array_size(b) == 0)) {
        mf_error_set(err, -1, "%s.breaker: expected a table of breaker settings, or false", p->path);
        return -1;
    } else {
        p->breaker = json_deep_copy(c->breaker);
        if (json_is_object(b))
            json_object_update(p->breaker, b);
    }
    /* the result cache: the provider's settings (the cache plugin checks them), unless the
     * top level turns the cache off */
    json_t *cache = json_object_get(t, "cache");
    if (!cache || !c->cache)
        p->cache = NULL;
    else   /* Lua's {} arrives as an empty list */
        p->cache = json_is_array(cache) && json_array_size(cache) == 0 ? json_object() : json_incref(cache);
    return 0;
}

static int check_providers(mf_config *c, json_t *list, mf_error *err)
{
    if (!json_is_array(list)) {
        mf_error_set(err, -1, "providers: expected a list of provider tables");
        return -1;
    }
    c->nproviders = json_array_size(list);
    c->providers = mf_xcalloc(c->nproviders ? c->nproviders : 1, sizeof *c->providers);
    if (!c->providers)
        return -1;
    for (size_t i = 0; i < c->nproviders; i++) {
        mf_provider_conf *p = &c->providers[i];
        json_t *t = json_array_get(list, i);
        p->index = i + 1;
        snprintf(p->path, sizeof p->path, "providers[%zu]", i + 1);
        if (!json_is_object(t)) {
            mf_error_set(err, -1, "%s: expected a table", p->path);
            return -1;
        }
        const char *name = NULL, *transport = NULL;
        if (mf_conf_string(t, p->path, "name", true, &name, err) ||
            mf_conf_string(t, p->path, "transport", true, &transport, err) ||
            mf_conf_int(t, p->path, "timeout_ms", 1, 86400000, &p->timeout_ms, err) ||
            mf_conf_int(t, p->path, "attempt_timeout_ms", 0, 86400000, &p->attempt_timeout_ms, err))
            return -1;
        if (!valid_name(name, 64)) {
            mf_error_set(err, -1, "%s.name: \"%s\" must be 1 to 64 of A-Z a-z 0-9 _ -", p->path, name);
            return -1;
        }
        for (size_t k = 0; k < i; k++)
            if (strcmp(c->providers[k].name, name) == 0) {
                mf_error_set(err, -1, "%s.name: \"%s\" is already the name of providers[%zu]",
                             p->path, name, k + 1);
                return -1;
            }
        p->name = mf_xstrdup(name);
        p->transport = mf_xstrdup(transport);
        if (!p->timeout_ms)
            p->timeout_ms = c->request_timeout_ms;
        json_t *prefix = json_object_get(t, "prefix");
        if (!prefix) {
            p->prefix = mf_xstrdup(name);
        } else if (json_is_false(prefix)) {
            p->prefix = NULL;
        } else if (json_is_string(prefix) && valid_name(json_string_value(prefix), 60)) {
            p->prefix = mf_xstrdup(json_string_value(prefix));
        } else {
            mf_error_set(err, -1, "%s.prefix: expected false or 1 to 60 of A-Z a-z 0-9 _ -", p->path);
            return -1;
        }
        if (provider_routing(c, p, t, err))
            return -1;
        p->table = json_incref(t);
        p->plugin_conf = json_deep_copy(t);
        for (const char *const *k = provider_keys; *k; k++)
            json_object_del(p->plugin_conf, *k);
    }
    /* fallbacks name providers that exist, and not themselves */
    for (size_t i = 0; i < c->nproviders; i++)
        for (char **f = c->providers[i].fallback; f && *f; f++) {
            if (strcmp(*f, c->providers[i].name) == 0) {
                mf_error_set(err, -1, "%s.fallback: a provider is no fallback of itself", c->providers[i].path);
                return -1;
            }
            if (!mf_config_provider(c, *f)) {
                mf_error_set(err, -1, "%s.fallback: no provider is named \"%s\"", c->providers[i].path, *f);
                return -1;
            }
        }
    return 0;
}

/* The plugin that serves a listener URL, from its scheme. */
static const char *scheme_plugin(const char *url)
{
    static const struct { const char *scheme, *plugin; } map[] = {
        {"http://", "http"}, {"https://", "http"}, {"ws://", "ws"}, {"wss://", "ws"},
    };
    for (size_t i = 0; i < sizeof map / sizeof map[0]; i++)
        if (strncasecmp(url, map[i].scheme, strlen(map[i].scheme)) == 0)
            return map[i].plugin;
    return NULL;
}

static int check_listeners(mf_config *c, json_t *list, mf_error *err)
{
    json_t *http = json_object_get(c->root, "http");
    if (http && !json_is_object(http) && !(json_is_array(http) && json_array_size(http) == 0)) {
        mf_error_set(err, -1, "http: expected a table of settings");
        return -1;
    }
    c->http = json_is_object(http) ? json_incref(http) : json_object();
    if (!list)
        return 0;
    if (!json_is_array(list)) {
        mf_error_set(err, -1, "listen: expected a list of URLs, e.g. { \"http://127.0.0.1:8808/mcp\" }");
        return -1;
    }
    c->nlisteners = json_array_size(list);
    c->listeners = mf_xcalloc(c->nlisteners ? c->nlisteners : 1, sizeof *c->listeners);
    for (size_t i = 0; i < c->nlisteners; i++) {
        mf_listener_conf *l = &c->listeners[i];
        json_t *e = json_array_get(list, i);
        snprintf(l->path, sizeof l->path, "listen[%zu]", i + 1);
        json_t *own = json_is_object(e) ? e : NULL;
        const char *url = json_is_string(e) ? json_string_value(e)
                          : own ? json_string_value(json_object_get(own, "url")) : NULL;
        if (!url) {
            mf_error_set(err, -1, "%s: expected a URL, or a table with url and settings", l->path);
            return -1;
        }
        const char *plugin = scheme_plugin(url);
        if (!plugin) {
            mf_error_set(err, -1, "%s: \"%s\": the URL must start with http:// (or ws://)", l->path, url);
            return -1;
        }
        l->url = mf_xstrdup(url);
        l->transport = mf_xstrdup(plugin);
        /* the listener's settings: the http defaults, then its own */
        l->plugin_conf = json_deep_copy(c->http);
        if (own)
            json_object_update(l->plugin_conf, own);
        json_object_set_new(l->plugin_conf, "url", json_string(url));
        for (size_t k = 0; k < i; k++)
            if (strcmp(c->listeners[k].url, url) == 0) {
                mf_error_set(err, -1, "%s: \"%s\" is already %s", l->path, url, c->listeners[k].path);
                return -1;
            }
    }
    return 0;
}

static int check_top(mf_config *c, mf_error *err)
{
    json_t *r = c->root;
    const char *level = NULL, *admin = NULL;
    const json_t *dirs = NULL, *plugins = NULL;
    if (!json_is_object(r) && !(json_is_array(r) && json_array_size(r) == 0)) {
        mf_error_set(err, -1, "(top): the file must return a table of settings");
        return -1;
    }
    if (mf_conf_keys(r, "(top)", top_keys, err) ||
        mf_conf_string(r, "(top)", "log_level", false, &level, err) ||
        mf_conf_string(r, "(top)", "admin", false, &admin, err) ||
        mf_conf_strings(r, "(top)", "plugin_dirs", false, false, &dirs, err) ||
        mf_conf_strings(r, "(top)", "plugins", false, false, &plugins, err) ||
        mf_conf_int(r, "(top)", "request_timeout_ms", 1, 86400000, &c->request_timeout_ms, err) ||
        mf_conf_int(r, "(top)", "max_message_bytes", 1024, INT64_C(1) << 32, &c->max_message_bytes, err) ||
        mf_conf_int(r, "(top)", "catalog_wait_ms", 0, 600000, &c->catalog_wait_ms, err) ||
        mf_conf_int(r, "(top)", "shutdown_ms", 0, 600000, &c->shutdown_ms, err) ||
        mf_conf_int(r, "(top)", "page_size", 1, 1000000, &c->page_size, err) ||
        mf_conf_int(r, "(top)", "max_processes", 1, 1000000, &c->max_processes, err) ||
        mf_conf_int(r, "(top)", "handover_timeout_ms", 10, 600000, &c->handover_timeout_ms, err) ||
        mf_conf_int(r, "(top)", "drain_timeout_ms", 0, 86400000, &c->drain_timeout_ms, err) ||
        mf_conf_bool(r, "(top)", "watch_plugins", &c->watch_plugins, err)) {
        /* messages from the checks start with "(top)." : drop that for top-level keys */
        if (strncmp(err->msg, "(top).", 6) == 0)
            memmove(err->msg, err->msg + 6, strlen(err->msg + 6) + 1);
        return -1;
    }
    if (level && mf_log_level_parse(level, &c->log_level)) {
        mf_error_set(err, -1, "log_level: \"%s\" is not one of error, warn, info, debug", level);
        return -1;
    }
    const char *policy = NULL;
    if (mf_conf_string(r, "(top)", "policy", false, &policy, err) ||
        mf_conf_int(r, "(top)", "policy_instructions", 1000, INT64_C(1) << 40, &c->policy_instructions, err) ||
        mf_conf_int(r, "(top)", "policy_time_ms", 1, 60000, &c->policy_time_ms, err) ||
        mf_conf_int(r, "(top)", "policy_memory_bytes", 65536, INT64_C(1) << 34, &c->policy_memory_bytes, err)) {
        if (strncmp(err->msg, "(top).", 6) == 0)
            memmove(err->msg, err->msg + 6, strlen(err->msg + 6) + 1);
        return -1;
    }
    if (policy) {
        c->policy = resolve(c->dir, policy);
    } else {
        const char *lua = getenv("MCPFED_LUA_PATH");
        size_t n = strlen(lua && *lua ? lua : mf_default_lua_dir()) + 16;
        c->policy = mf_xmalloc(n);
        snprintf(c->policy, n, "%s/policy.lua", lua && *lua ? lua : mf_default_lua_dir());
    }
    json_t *breaker = json_object_get(r, "breaker");
    if (json_is_false(breaker)) {
        c->breaker = NULL;
    } else if (breaker && !json_is_object(breaker) && !(json_is_array(breaker) && json_array_size(breaker) == 0)) {
        mf_error_set(err, -1, "breaker: expected a table of breaker settings, or false");
        return -1;
    } else {
        c->breaker = json_is_object(breaker) ? json_incref(breaker) : json_object();
    }
    json_t *cache = json_object_get(r, "cache");
    if (json_is_false(cache)) {
        c->cache = NULL;
    } else if (cache && !json_is_object(cache) && !(json_is_array(cache) && json_array_size(cache) == 0)) {
        mf_error_set(err, -1, "cache: expected a table of cache settings, or false");
        return -1;
    } else {
        c->cache = json_is_object(cache) ? json_incref(cache) : json_object();
    }
    if (admin && !*admin) {
        mf_error_set(err, -1, "admin: expected the path of a socket");
        return -1;
    }
    c->admin = admin ? resolve(c->dir, admin) : NULL;
    c->plugin_dirs = string_list(dirs, c->dir);
    c->plugins = string_list(plugins, NULL);
    if (check_listeners(c, json_object_get(r, "listen"), err))
        return -1;
    json_t *providers = json_object_get(r, "providers");
    if (providers)
        return check_providers(c, providers, err);
    return 0;
}

mf_config *mf_config_load(const char *file, bool stdio, mf_error *err)
{
    mf_config *c = mf_xcalloc(1, sizeof *c);
    if (!c)
        return NULL;
    c->refs = 1;
    c->log_level = MF_LOG_INFO;
    c->request_timeout_ms = 60000;
    c->max_message_bytes = 4 * 1024 * 1024;
    c->catalog_wait_ms = 10000;
    c->shutdown_ms = 5000;
    c->page_size = 500;
    c->max_processes = 1024;
    c->handover_timeout_ms = 5000;
    c->drain_timeout_ms = 30000;
    c->policy_instructions = 1000000;
    c->policy_time_ms = 100;
    c->policy_memory_bytes = 8 * 1024 * 1024;
    const char *label = "embedded default";
    if (file) {
        c->file = realpath(file, NULL);
        if (!c->file) {
            mf_error_set(err, -1, "%s: cannot open: %s", file, strerror(errno));
            config_free(c);
            return NULL;
        }
        label = c->file;   /* the same name in every message, whoever finds the error */
        char *slash = strrchr(c->file, '/');
        c->dir = mf_xstrndup(c->file, slash > c->file ? (size_t)(slash - c->file) : 1);
    } else {
        char cwd[PATH_MAX];
        c->dir = mf_xstrdup(getcwd(cwd, sizeof cwd) ? cwd : "/");
    }

    lua_State *L = luaL_newstate();
    luaL_openlibs(L);
    lua_pushcfunction(L, print_to_log);
    lua_setglobal(L, "print");
    lua_newtable(L);
    lua_pushstring(L, PACKAGE_VERSION);
    lua_setfield(L, -2, "version");
    lua_pushstring(L, c->dir);
    lua_setfield(L, -2, "config_dir");
    lua_pushboolean(L, stdio);
    lua_setfield(L, -2, "stdio");
    lua_setglobal(L, "mcpfed");
    /* require "mcpfed.config" and other helpers from lua/ */
    const char *luadir = getenv("MCPFED_LUA_PATH");
    lua_getglobal(L, "package");
    lua_pushfstring(L, "%s/?.lua;", luadir && *luadir ? luadir : mf_default_lua_dir());
    lua_getfield(L, -2, "path");
    lua_concat(L, 2);
    lua_setfield(L, -2, "path");
    lua_pop(L, 1);

    int rc = file ? luaL_loadfile(L, file)
                  : luaL_loadbuffer(L, mf_default_config, mf_default_config_len, "=etc/mcpfed.lua");
    if (rc == LUA_OK)
        rc = lua_pcall(L, 0, 1, 0);
    if (rc != LUA_OK) {
        mf_error_set(err, -1, "%s: %s", label, lua_tostring(L, -1));
        lua_close(L);
        config_free(c);
        return NULL;
    }
    mf_error cerr = {0};
    c->root = lua_istable(L, -1) ? mf_lua_to_json(L, -1, &cerr) : NULL;
    if (!lua_istable(L, -1))
        mf_error_set(&cerr, -1, "the file must return a table of settings, not a %s",
                     luaL_typename(L, -1));
    lua_close(L);
    if (!c->root || check_top(c, &cerr)) {
        mf_error_set(err, -1, "%s: %s", label, cerr.msg);
        config_free(c);
        return NULL;
    }
    return c;
}

static void config_free(mf_config *c)
{
    if (!c)
        return;
    for (size_t i = 0; i < c->nproviders; i++) {
        free(c->providers[i].name);
        free(c->providers[i].transport);
        free(c->providers[i].prefix);
        json_decref(c->providers[i].plugin_conf);
        json_decref(c->providers[i].table);
        free_list(c->providers[i].fallback);
        json_decref(c->providers[i].tags);
        json_decref(c->providers[i].breaker);
        json_decref(c->providers[i].cache);
    }
    free(c->providers);
    for (size_t i = 0; i < c->nlisteners; i++) {
        free(c->listeners[i].url);
        free(c->listeners[i].transport);
        json_decref(c->listeners[i].plugin_conf);
    }
    free(c->listeners);
    json_decref(c->http);
    free_list(c->plugin_dirs);
    free_list(c->plugins);
    json_decref(c->root);
    free(c->admin);
    free(c->policy);
    json_decref(c->breaker);
    json_decref(c->cache);
    free(c->file);
    free(c->dir);
    free(c);
}

const mf_provider_conf *mf_config_provider(const mf_config *c, const char *name)
{
    for (size_t i = 0; i < c->nproviders; i++)
        if (strcmp(c->providers[i].name, name) == 0)
            return &c->providers[i];
    return NULL;
}

mf_config *mf_config_ref(mf_config *c)
{
    c->refs++;
    return c;
}

void mf_config_unref(mf_config *c)
{
    if (c && --c->refs == 0)
        config_free(c);
}

static bool json_same(const json_t *a, const json_t *b)
{
    return a == b || (a && b && json_equal(a, b));
}

bool mf_provider_conf_same(const mf_provider_conf *a, const mf_provider_conf *b)
{
    /* the breaker settings also come from the top level: compare what they add up to */
    return json_same(a->table, b->table) && json_same(a->breaker, b->breaker);
}

bool mf_config_key_same(const mf_config *a, const mf_config *b, const char *key)
{
    return json_same(json_object_get(a->root, key), json_object_get(b->root, key));
}

const char *const mf_config_fixed_keys[] = {
    "listen", "http", "admin", "plugin_dirs", "plugins", "max_processes", "max_message_bytes",
    "shutdown_ms", "watch_plugins", NULL,
};

#define SWAP(a, b)                                                                             \
    do {                                                                                       \
        __typeof__(a) tmp_ = (a);                                                              \
        (a) = (b);                                                                             \
        (b) = tmp_;                                                                            \
    } while (0)

void mf_config_keep_fixed(mf_config *next, mf_config *prev)
{
    SWAP(next->listeners, prev->listeners);
    SWAP(next->nlisteners, prev->nlisteners);
    SWAP(next->http, prev->http);
    SWAP(next->admin, prev->admin);
    SWAP(next->plugin_dirs, prev->plugin_dirs);
    SWAP(next->plugins, prev->plugins);
    SWAP(next->max_processes, prev->max_processes);
    SWAP(next->max_message_bytes, prev->max_message_bytes);
    SWAP(next->shutdown_ms, prev->shutdown_ms);
    SWAP(next->watch_plugins, prev->watch_plugins);
    /* its table too, so that the next reload compares the file with what runs */
    if (!json_is_object(next->root))
        return;
    for (const char *const *k = mf_config_fixed_keys; *k; k++) {
        json_t *v = json_object_get(prev->root, *k);
        if (v)
            json_object_set(next->root, *k, v);
        else
            json_object_del(next->root, *k);
    }
}
