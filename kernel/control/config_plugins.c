/* A configuration checked against the plugins it names, before anything runs on it: at
 * start (and by --check), and by `reload config` before it changes anything. */
#include "build-config.h"
#include "config.h"
#include "instance.h"
#include "plugin_loader.h"
#include "policy.h"
#include "catalog.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

json_t *mf_config_stdio_conf(const mf_config *c)
{
    json_t *conf = json_pack("{s:I}", "max_message_bytes", (json_int_t)c->max_message_bytes);
    json_t *identity = json_object_get(c->root, "identity");
    if (identity)
        json_object_set(conf, "identity", identity);
    return conf;
}

static int check_breakers(const mf_config *c, mf_error *err)
{
    mf_module *b = mf_plugin_load("breaker", err);
    if (!b)
        return -1;
    if (!b->desc->breaker) {
        mf_error_set(err, -1, "breaker: plugin \"breaker\" is no circuit breaker");
        return -1;
    }
    if (mf_breaker_check(b->desc, c->breaker, "breaker", err))
        return -1;
    for (size_t i = 0; i < c->nproviders; i++) {
        char path[80];
        snprintf(path, sizeof path, "%s.breaker", c->providers[i].path);
        if (c->providers[i].breaker && mf_breaker_check(b->desc, c->providers[i].breaker, path, err))
            return -1;
    }
    return 0;
}

/* The cache plugin's settings: the top level's and each provider's. */
static int check_cache(const mf_config *c, mf_error *err)
{
    bool used = json_object_get(c->root, "cache") != NULL;
    for (size_t i = 0; i < c->nproviders; i++)
        used |= c->providers[i].cache != NULL;
    if (!used)
        return 0;
    mf_module *m = mf_plugin_load("cache", err);
    if (!m)
        return -1;
    if (!m->desc->cache) {
        mf_error_set(err, -1, "cache: plugin \"cache\" is no result cache");
        return -1;
    }
    if (mf_cache_check(m->desc, false, c->cache, "cache", err))
        return -1;
    for (size_t i = 0; i < c->nproviders; i++) {
        char path[80];
        snprintf(path, sizeof path, "%s.cache", c->providers[i].path);
        if (c->providers[i].cache && mf_cache_check(m->desc, true, c->providers[i].cache, path, err))
            return -1;
    }
    return 0;
}

static int check_listeners(const mf_config *c, mf_error *err)
{
    if (c->nlisteners) {
        /* the http table is checked once on its own, so its errors name it */
        mf_listener_conf *first = &c->listeners[0];
        mf_module *m = mf_plugin_load(first->transport, err);
        json_t *hc = json_deep_copy(c->http);
        /* TLS settings are a listener's: an http table without them is checked as a plain
         * listener's, so that it is not told it lacks a certificate */
        const char *url = first->url;
        char plain[32];
        if (!json_object_get(hc, "tls") && (strncasecmp(url, "https://", 8) == 0 || strncasecmp(url, "wss://", 6) == 0)) {
            snprintf(plain, sizeof plain, "%s://127.0.0.1:1/", url[0] == 'w' || url[0] == 'W' ? "ws" : "http");
            url = plain;
        }
        json_object_set_new(hc, "url", json_string(url));
        int rc = m ? mf_instance_check(m, MF_ROLE_TRANSPORT, hc, "http", err) : -1;
        json_decref(hc);
        if (rc)
            return -1;
    }
    for (size_t i = 0; i < c->nlisteners; i++) {
        mf_listener_conf *l = &c->listeners[i];
        mf_error lerr = {0};
        mf_module *m = mf_plugin_load(l->transport, &lerr);
        if (!m) {
            mf_error_set(err, -1, "%s: %s", l->path, lerr.msg);
            return -1;
        }
        if (mf_instance_check(m, MF_ROLE_TRANSPORT, l->plugin_conf, l->path, err))
            return -1;
    }
    return 0;
}

int mf_config_check_plugins(const mf_config *c, bool stdio, mf_error *err)
{
    for (size_t i = 0; i < c->nproviders; i++) {
        const mf_provider_conf *p = &c->providers[i];
        mf_error lerr = {0};
        mf_module *m = mf_plugin_load(p->transport, &lerr);
        if (!m) {
            mf_error_set(err, -1, "%s.transport: %s", p->path, lerr.msg);
            return -1;
        }
        if (mf_instance_check(m, MF_ROLE_PROVIDER, p->plugin_conf, p->path, err))
            return -1;
    }
    for (char **name = c->plugins; name && *name; name++)
        if (!mf_plugin_load(*name, err))
            return -1;
    if (c->breaker && check_breakers(c, err))
        return -1;
    if (c->cache && check_cache(c, err))
        return -1;
    if (mf_policy_check(c, err) || check_listeners(c, err) || mf_catalog_check_renames(c, err))
        return -1;
    if (stdio) {
        mf_module *m = mf_plugin_load("stdio", err);
        json_t *tc = mf_config_stdio_conf(c);
        int rc = m ? mf_instance_check(m, MF_ROLE_TRANSPORT, tc, "stdio", err) : -1;
        json_decref(tc);
        if (rc)
            return -1;
    }
    return 0;
}
