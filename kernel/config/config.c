/* Configuration loading. The file is Lua returning a table, so configurations can
 * compute values and dofile() each other; the table is converted to JSON and checked
 * here against the kernel's settings tables (mf_top_settings, mf_provider_settings). Each
 * plugin's keys are checked against its own tables and by its check (config_plugins.c). */
#include "build-config.h"
#include "config.h"
#include "rundir.h"
#include "url.h"
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

static const char *const log_levels[] = {"error", "warn", "info", "debug", NULL};

static const mf_setting health_settings[] = {
    {"interval_ms", MF_SET_DURATION, .def = "10000", .min = 10, .max = 86400000,
     .at = MF_AT(mf_provider_conf, health_interval_ms), .doc = "how often each target is pinged"},
    {"timeout_ms", MF_SET_DURATION, .def = "5000", .min = 10, .max = 86400000,
     .at = MF_AT(mf_provider_conf, health_timeout_ms), .doc = "how long a ping may take"},
    {"failures", MF_SET_INT, .def = "3", .min = 1, .max = 1000, .at = MF_AT(mf_provider_conf, health_failures),
     .doc = "failed pings in a row that make a target unhealthy"},
    {"successes", MF_SET_INT, .def = "1", .min = 1, .max = 1000, .at = MF_AT(mf_provider_conf, health_successes),
     .doc = "good pings in a row that make it healthy again"},
    {0},
};

static const mf_setting provider_task_settings[] = {
    {"tools", MF_SET_STRINGS, .def_doc = "all of the provider's",
     .doc = "the tools run as tasks, by the upstream's names; shell patterns (build_*) match"},
    {"required", MF_SET_STRINGS, .def = "{}",
     .doc = "of those, the tools run only as tasks: a client that cannot take one is refused"},
    {"after_input", MF_SET_STRINGS, .def = "{}",
     .doc = "of those, the tools a 2026-07-28 client gets as a task once the input they ask is answered"},
    {"ttl_ms", MF_SET_DURATION, .def_doc = "tasks.default_ttl_ms", .min = 1, .max = 30LL * 86400000,
     .doc = "how long a task and its result are kept, from its creation"},
    {0},
};

static const mf_setting task_settings[] = {
    {"max_tasks", MF_SET_INT, .def = "1000", .min = 1, .max = 10000000, .at = MF_AT(mf_config, tasks_max),
     .doc = "tasks kept at once, running or done; a call beyond gets -32012"},
    {"max_result_bytes", MF_SET_BYTES, .def = "67108864", .min = 1024, .max = INT64_C(1) << 40,
     .at = MF_AT(mf_config, tasks_max_result_bytes), .doc = "the kept results and errors together"},
    {"default_ttl_ms", MF_SET_DURATION, .def = "3600000", .min = 1, .max = 30LL * 86400000,
     .at = MF_AT(mf_config, tasks_default_ttl_ms), .doc = "a task's time to live when nothing says otherwise"},
    {"max_ttl_ms", MF_SET_DURATION, .def = "86400000", .min = 1, .max = 30LL * 86400000,
     .at = MF_AT(mf_config, tasks_max_ttl_ms), .doc = "the longest time to live a client may ask for"},
    {"poll_interval_ms", MF_SET_DURATION, .def = "1000", .min = 1, .max = 3600000,
     .at = MF_AT(mf_config, tasks_poll_ms), .doc = "the polling interval suggested to clients"},
    {0},
};

/* audit = {...} of a provider: what its calls' records carry, over the top level's */
static const mf_setting provider_audit_settings[] = {
    {"arguments", MF_SET_BOOL, .def_doc = "audit.arguments", .doc = "record the arguments of its calls"},
    {"results", MF_SET_BOOL, .def_doc = "audit.results", .doc = "record the results of its calls"},
    {0},
};

static const char *const otlp_protocols[] = {"http/protobuf", "http/json", NULL};

static const mf_setting tracing_settings[] = {
    {"endpoint", MF_SET_STRING, .def_doc = "none",
     .doc = "the OTLP/HTTP collector's base URL (spans go to ENDPOINT/v1/traces)"},
    {"protocol", MF_SET_ENUM, .def = "http/protobuf", .choices = otlp_protocols,
     .at = MF_AT(mf_config, tracing.protocol), .doc = "the export's encoding: protobuf, or its JSON mapping"},
    {"sample_ratio", MF_SET_NUMBER, .def = "1", .nmin = 0, .nmax = 1, .at = MF_AT(mf_config, tracing.sample_ratio),
     .doc = "the share of traces recorded (a client's unsampled traceparent is never recorded)"},
    {"service_name", MF_SET_STRING, .def = "mcpfed", .at = MF_AT(mf_config, tracing.service_name),
     .doc = "the resource's service.name"},
    {"max_queue_spans", MF_SET_INT, .def = "8192", .min = 1, .max = 1000000,
     .at = MF_AT(mf_config, tracing.max_queue_spans), .doc = "spans waiting for export at most; more are dropped"},
    {"batch_spans", MF_SET_INT, .def = "2048", .min = 1, .max = 100000, .at = MF_AT(mf_config, tracing.batch_spans),
     .doc = "spans per export at most; a full batch leaves at once"},
    {"flush_ms", MF_SET_DURATION, .def = "1000", .min = 10, .max = 600000, .at = MF_AT(mf_config, tracing.flush_ms),
     .doc = "how often what is queued is exported"},
    {"headers", MF_SET_MAP, .def = "{}", .at = MF_AT(mf_config, tracing.headers),
     .doc = "HTTP headers sent with each export (e.g. an API key)"},
    {"ca_file", MF_SET_STRING, .def_doc = "the system's",
     .doc = "the certificate authorities (PEM, relative to the configuration's directory) an https:// collector's "
            "certificate is checked against"},
    {"cert_file", MF_SET_STRING, .def_doc = "none",
     .doc = "a client certificate (PEM, relative to the configuration's directory) shown to a collector that asks "
            "for one (mTLS)"},
    {"key_file", MF_SET_STRING, .def_doc = "none", .doc = "cert_file's private key (PEM)"},
    {0},
};

static const mf_setting audit_settings[] = {
    {"file", MF_SET_STRING, .def_doc = "none",
     .doc = "the JSON-lines file (relative to the configuration's directory), or \"-\" for stderr"},
    {"arguments", MF_SET_BOOL, .def = "false", .at = MF_AT(mf_config, audit.arguments),
     .doc = "record calls' arguments"},
    {"results", MF_SET_BOOL, .def = "false", .at = MF_AT(mf_config, audit.results), .doc = "record calls' results"},
    {"max_field_bytes", MF_SET_BYTES, .def = "4096", .min = 16, .max = 16777216,
     .at = MF_AT(mf_config, audit.max_field_bytes), .doc = "arguments and results longer than this are cut (marked truncated)"},
    {"max_buffer_bytes", MF_SET_BYTES, .def = "4194304", .min = 4096, .max = INT64_C(1) << 32,
     .at = MF_AT(mf_config, audit.max_buffer_bytes),
     .doc = "records waiting to be written at most; more are dropped (counted)"},
    {0},
};

/* A provider's keys the kernel owns; the rest belong to its transport plugin. */
const mf_setting mf_provider_settings[] = {
    {"name", MF_SET_STRING, MF_SET_REQUIRED, .doc = "unique; 1 to 64 of A-Z a-z 0-9 _ -"},
    {"transport", MF_SET_STRING, MF_SET_REQUIRED, .doc = "the plugin that reaches the upstream"},
    {"prefix", MF_SET_STRING, MF_SET_OR_FALSE, .def_doc = "the name",
     .doc = "of the public names (1 to 60 of A-Z a-z 0-9 _ -); false keeps the upstream's"},
    {"timeout_ms", MF_SET_DURATION, .def_doc = "request_timeout_ms", .min = 1, .max = 86400000,
     .at = MF_AT(mf_provider_conf, timeout_ms), .doc = "deadline of each call, all its tries together"},
    {"attempt_timeout_ms", MF_SET_DURATION, .def = "0", .min = 0, .max = 86400000,
     .at = MF_AT(mf_provider_conf, attempt_timeout_ms),
     .doc = "one try's bound when another target may follow (0: none)"},
    {"fallback", MF_SET_STRINGS, .def = "{}", .doc = "providers whose targets take calls this one's cannot"},
    {"weight", MF_SET_NUMBER, MF_SET_ABOVE_MIN, .def = "1", .nmin = 0, .at = MF_AT(mf_provider_conf, weight),
     .doc = "what the routing policy may weigh"},
    {"tags", MF_SET_STRINGS, .def = "{}", .doc = "what the routing policy may match"},
    {"optional", MF_SET_BOOL, .def = "false", .at = MF_AT(mf_provider_conf, optional),
     .doc = "the metrics endpoint's /readyz does not wait for it"},
    {"health", MF_SET_TABLE, MF_SET_OR_FALSE, .def = "{}", .sub = health_settings,
     .doc = "active health checks (MCP ping); false turns them off"},
    {"breaker", MF_SET_TABLE, MF_SET_OR_FALSE, .def_doc = "the top-level breaker",
     .doc = "breaker settings over the top-level ones; false: none"},
    {"cache", MF_SET_TABLE, MF_SET_OR_FALSE, .def_doc = "none",
     .doc = "result cache settings (the cache plugin's); a table turns caching on for it"},
    {"tasks", MF_SET_TABLE, MF_SET_OR_FALSE, .def_doc = "none", .sub = provider_task_settings,
     .doc = "run its tools as tasks for the clients that can take one"},
    {"tools", MF_SET_TABLE, .def = "{}", .sub = mf_filter_settings,
     .doc = "which of the upstream's tools are served: include and exclude globs over its names"},
    {"prompts", MF_SET_TABLE, .def = "{}", .sub = mf_filter_settings,
     .doc = "which of the upstream's prompts are served"},
    {"resources", MF_SET_TABLE, .def = "{}", .sub = mf_filter_settings,
     .doc = "which of the upstream's resources (by URI) and templates (by uriTemplate) are served"},
    {"rename", MF_SET_MAP, .def = "{}", .doc = "upstream tool or prompt name = the name it is served under"},
    {"describe", MF_SET_MAP, .def = "{}", .doc = "upstream tool or prompt name = the description served"},
    {"annotations", MF_SET_TABLE, .def = "{}",
     .doc = "upstream tool name = annotations merged over the upstream's"},
    {"audit", MF_SET_TABLE, .def = "{}", .sub = provider_audit_settings,
     .doc = "what the audit log records of its calls, over the top-level audit settings"},
    {"rate", MF_SET_TABLE, .def_doc = "none", .doc = "a limit on all calls to it together: { calls_per_s, burst }"},
    {.type = MF_SET_OTHERS, .doc = "the transport plugin's keys"},
    {0},
};

const mf_setting mf_top_settings[] = {
    {"log_level", MF_SET_ENUM, .def = "info", .choices = log_levels, .doc = "the least severe level logged"},
    {"plugin_dirs", MF_SET_STRINGS, .def = "{}", .doc = "directories searched for plugins first"},
    {"plugins", MF_SET_STRINGS, .def = "{}", .doc = "plugins loaded at start besides those in use"},
    {"request_timeout_ms", MF_SET_DURATION, .def = "60000", .min = 1, .max = 86400000,
     .at = MF_AT(mf_config, request_timeout_ms), .doc = "how long a call may take (then -32001)"},
    {"max_message_bytes", MF_SET_BYTES, .def = "4194304", .min = 1024, .max = INT64_C(1) << 32,
     .at = MF_AT(mf_config, max_message_bytes), .doc = "the longest message a client may send"},
    {"catalog_wait_ms", MF_SET_DURATION, .def = "10000", .min = 0, .max = 600000,
     .at = MF_AT(mf_config, catalog_wait_ms), .doc = "how long lists and calls wait for providers to list"},
    {"page_size", MF_SET_INT, .def = "500", .min = 1, .max = 1000000, .at = MF_AT(mf_config, page_size),
     .doc = "items per page of the lists mcpfed serves"},
    {"max_processes", MF_SET_INT, .def = "1024", .min = 1, .max = 1000000, .at = MF_AT(mf_config, max_processes),
     .doc = "child processes at once, all providers together"},
    {"admin", MF_SET_STRING, .doc = "path of the admin socket, relative to the file's directory"},
    {"metrics", MF_SET_STRING, .doc = "URL of the Prometheus metrics endpoint (its own listener; /healthz, /readyz too)"},
    {"policy", MF_SET_STRING, .def_doc = "lua/policy.lua of the installation", .doc = "the routing policy (Lua)"},
    {"policy_instructions", MF_SET_INT, .def = "1000000", .min = 1000, .max = INT64_C(1) << 40,
     .at = MF_AT(mf_config, policy_instructions), .doc = "each routing decision's instruction budget"},
    {"policy_time_ms", MF_SET_DURATION, .def = "100", .min = 1, .max = 60000, .at = MF_AT(mf_config, policy_time_ms),
     .doc = "each routing decision's time budget"},
    {"policy_memory_bytes", MF_SET_BYTES, .def = "8388608", .min = 65536, .max = INT64_C(1) << 34,
     .at = MF_AT(mf_config, policy_memory_bytes), .doc = "the routing policy's memory cap"},
    {"breaker", MF_SET_TABLE, MF_SET_OR_FALSE, .def = "{}",
     .doc = "circuit breaker settings for every target (the breaker plugin's); false: none"},
    {"cache", MF_SET_TABLE, MF_SET_OR_FALSE, .def = "{}",
     .doc = "the result cache's settings (the cache plugin's); false: no provider's results are cached"},
    {"tasks", MF_SET_TABLE, .def = "{}", .sub = task_settings, .doc = "the tasks the gateway runs and keeps"},
    {"shutdown_ms", MF_SET_DURATION, .def = "5000", .min = 0, .max = 600000, .at = MF_AT(mf_config, shutdown_ms),
     .doc = "bound on an orderly shutdown beyond the upstreams' own"},
    {"handover_timeout_ms", MF_SET_DURATION, .def = "5000", .min = 10, .max = 600000,
     .at = MF_AT(mf_config, handover_timeout_ms), .doc = "a plugin reload's bound on an instance's handing over"},
    {"drain_timeout_ms", MF_SET_DURATION, .def = "30000", .min = 0, .max = 86400000,
     .at = MF_AT(mf_config, drain_timeout_ms), .doc = "how long what a reload replaced may take to finish"},
    {"watch_plugins", MF_SET_BOOL, .def = "false", .at = MF_AT(mf_config, watch_plugins),
     .doc = "reload a plugin whose file changes in a plugin directory"},
    {"providers", MF_SET_LIST, .def = "{}", .sub = mf_provider_settings,
     .doc = "the upstream servers, in order of precedence"},
    {"listen", MF_SET_VALUE, .def = "{}", .doc = "URLs to serve, each a string or a table with url and settings"},
    {"http", MF_SET_TABLE, .def = "{}", .doc = "settings for every listener (the http transport's)"},
    {"identity", MF_SET_TABLE, .def = "{}", .doc = "who the stdio client is (the stdio transport's identity settings)"},
    {"tracing", MF_SET_TABLE, .def = "{}", .sub = tracing_settings,
     .doc = "OpenTelemetry traces exported over OTLP/HTTP; off without an endpoint"},
    {"audit", MF_SET_TABLE, .def = "{}", .sub = audit_settings,
     .doc = "a JSON-lines record of every tool call, prompt get and resource read; off without a file"},
    {"rate", MF_SET_TABLE, .def = "{}", .doc = "rate limits per identity and per tool (the keys of kernel rate)"},
    {0},
};

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
    snprintf(out, n, "%s/%s", dir, p);
    return out;
}

/* A PEM file of a TLS setting (key names it), resolved into *out, and checked now
 * (mf_conf_pem_file): libcurl would only say so at the first connection, in a status.
 * Absent (NULL) is fine. */
static int tls_file(mf_config *c, const char *key, const char *path, const char **out, mf_error *err)
{
    if (!path)
        return 0;
    if (!*path) {
        mf_error_set(err, -1, "%s: expected the path of a PEM file", key);
        return -1;
    }
    *out = resolve(c->dir, path);
    return mf_conf_pem_file(key, *out, err);
}

static char **string_list(const json_t *arr, const char *dir)
{
    size_t n = arr ? json_array_size(arr) : 0;
    char **out = mf_xcalloc(n + 1, sizeof *out);
    for (size_t i = 0; i < n; i++)
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

/* What the table cannot say of a provider's routing keys: fallback, tags, health, breaker,
 * cache. */
static void provider_routing(mf_config *c, mf_provider_conf *p, json_t *t)
{
    json_t *tags = json_object_get(t, "tags");
    p->fallback = string_list(json_object_get(t, "fallback"), NULL);
    p->tags = json_is_array(tags) ? json_incref(tags) : json_array();
    if (json_is_false(json_object_get(t, "health")))
        p->health_interval_ms = 0;
    /* breakers: the top-level settings, then the provider's own; false turns them off */
    json_t *b = json_object_get(t, "breaker");
    if (json_is_false(b) || !c->breaker) {
        p->breaker = NULL;
    } else {
        p->breaker = json_deep_copy(c->breaker);
        if (json_is_object(b))
            json_object_update(p->breaker, b);
    }
    /* the result cache: the provider's settings (the cache plugin checks them), unless the
     * top level turns the cache off */
    json_t *cache = json_object_get(t, "cache");
    if (!cache || json_is_false(cache) || !c->cache)
        p->cache = NULL;
    else   /* Lua's {} arrives as an empty list */
        p->cache = json_is_object(cache) ? json_incref(cache) : json_object();
    json_t *tasks = json_object_get(t, "tasks");
    if (!tasks || json_is_false(tasks))
        p->tasks = NULL;
    else
        p->tasks = json_is_object(tasks) ? json_incref(tasks) : json_object();
    json_t *audit = json_object_get(t, "audit");
    json_t *args = json_object_get(audit, "arguments"), *results = json_object_get(audit, "results");
    p->audit_arguments = args ? json_is_true(args) : -1;
    p->audit_results = results ? json_is_true(results) : -1;
}

static int check_providers(mf_config *c, json_t *list, mf_error *err)
{
    c->nproviders = json_array_size(list);
    c->providers = mf_xcalloc(c->nproviders ? c->nproviders : 1, sizeof *c->providers);
    for (size_t i = 0; i < c->nproviders; i++) {
        mf_provider_conf *p = &c->providers[i];
        json_t *t = json_array_get(list, i);
        p->index = i + 1;
        snprintf(p->path, sizeof p->path, "providers[%zu]", i + 1);
        /* checked as a whole with the top level; this fills the entry */
        if (mf_settings_check(t, p->path, mf_provider_settings, p, err))
            return -1;
        const char *name = json_string_value(json_object_get(t, "name"));
        const char *transport = json_string_value(json_object_get(t, "transport"));
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
        } else if (valid_name(json_string_value(prefix), 60)) {
            p->prefix = mf_xstrdup(json_string_value(prefix));
        } else {
            mf_error_set(err, -1, "%s.prefix: expected false or 1 to 60 of A-Z a-z 0-9 _ -", p->path);
            return -1;
        }
        provider_routing(c, p, t);
        json_t *rate = json_object_get(t, "rate");
        char rp[64];
        snprintf(rp, sizeof rp, "%s.rate", p->path);
        if (mf_curation_provider(p, t, err) || (rate && mf_rate_limit_parse(rate, rp, &p->rate, err)))
            return -1;
        p->table = json_incref(t);
        p->plugin_conf = json_deep_copy(t);
        for (const mf_setting *k = mf_provider_settings; k->type != MF_SET_END; k++)
            if (k->name)
                json_object_del(p->plugin_conf, k->name);
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

/* "127.0.0.1:8808" of "http://127.0.0.1:8808/mcp": a pointer into url and its length. Port
 * 0 (any free port) is a socket of its own each time. */
static const char *authority(const char *url, size_t *n)
{
    const char *a = strstr(url, "://");
    a = a ? a + 3 : url;
    *n = strcspn(a, "/?#");
    return a;
}

static int check_listeners(mf_config *c, json_t *list, mf_error *err)
{
    json_t *http = json_object_get(c->root, "http");
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
            mf_error_set(err, -1, "%s: \"%s\": the URL must start with http://, https://, ws:// or wss://", l->path, url);
            return -1;
        }
        l->url = mf_xstrdup(url);
        l->transport = mf_xstrdup(plugin);
        /* the listener's settings: the http defaults, then its own */
        l->plugin_conf = json_deep_copy(c->http);
        if (own)
            json_object_update(l->plugin_conf, own);
        json_object_set_new(l->plugin_conf, "url", json_string(url));
        if (mf_curation_listener(l, own, err))
            return -1;
        for (size_t k = 0; k < i; k++) {
            if (strcmp(c->listeners[k].url, url) == 0) {
                mf_error_set(err, -1, "%s: \"%s\" is already %s", l->path, url, c->listeners[k].path);
                return -1;
            }
            /* each listen entry is a transport instance with a socket of its own */
            size_t an, bn;
            const char *a = authority(url, &an), *b = authority(c->listeners[k].url, &bn);
            if (an == bn && strncasecmp(a, b, an) == 0 && !(an > 2 && strncmp(a + an - 2, ":0", 2) == 0)) {
                mf_error_set(err, -1, "%s: \"%s\" has the address and port of %s; each listen entry needs a port of its own",
                             l->path, url, c->listeners[k].path);
                return -1;
            }
        }
    }
    return 0;
}

/* The metrics endpoint: an http:// URL of its own, on no MCP listener's address. */
static int check_metrics(mf_config *c, const char *url, mf_error *err)
{
    if (!url)
        return 0;
    mf_url m, l;
    char why[160];
    if (mf_url_parse(url, &m, why, sizeof why) != 0 || strcmp(m.scheme, "http") != 0) {
        mf_error_set(err, -1, "metrics: %s: %s", url, m.scheme[0] && strcmp(m.scheme, "http") ? "expected http://" : why);
        return -1;
    }
    for (size_t i = 0; i < c->nlisteners; i++)
        if (mf_url_parse(c->listeners[i].url, &l, why, sizeof why) == 0 && mf_url_same_address(&m, &l)) {
            mf_error_set(err, -1, "metrics: %s: the address of %s; the metrics endpoint is never served on an MCP listener",
                         url, c->listeners[i].path);
            return -1;
        }
    c->metrics = mf_xstrdup(url);
    return 0;
}

static int check_top(mf_config *c, mf_error *err)
{
    json_t *r = c->root;
    if (!json_is_object(r) && !(json_is_array(r) && json_array_size(r) == 0)) {
        mf_error_set(err, -1, "(top): the file must return a table of settings");
        return -1;
    }
    if (mf_settings_check(r, "", mf_top_settings, c, err))
        return -1;
    const char *level = json_string_value(json_object_get(r, "log_level"));
    const char *admin = json_string_value(json_object_get(r, "admin"));
    const char *policy = json_string_value(json_object_get(r, "policy"));
    /* one of the table's choices, or its default */
    mf_log_level_parse(level ? level : mf_settings_find(mf_top_settings, "log_level")->def, &c->log_level);
    if (policy) {
        c->policy = resolve(c->dir, policy);
    } else {
        const char *lua = getenv("MCPFED_LUA_PATH");
        size_t n = strlen(lua && *lua ? lua : mf_default_lua_dir()) + 16;
        c->policy = mf_xmalloc(n);
        snprintf(c->policy, n, "%s/policy.lua", lua && *lua ? lua : mf_default_lua_dir());
    }
    json_t *breaker = json_object_get(r, "breaker");
    c->breaker = json_is_false(breaker) ? NULL : json_is_object(breaker) ? json_incref(breaker) : json_object();
    json_t *cache = json_object_get(r, "cache");
    c->cache = json_is_false(cache) ? NULL : json_is_object(cache) ? json_incref(cache) : json_object();
    if (admin && !*admin) {
        mf_error_set(err, -1, "admin: expected the path of a socket");
        return -1;
    }
    c->admin = admin ? resolve(c->dir, admin) : NULL;
    json_t *tracing = json_object_get(r, "tracing"), *audit = json_object_get(r, "audit");
    c->tracing.endpoint = json_string_value(json_object_get(tracing, "endpoint"));
    if (c->tracing.endpoint && strncmp(c->tracing.endpoint, "http://", 7) != 0 &&
        strncmp(c->tracing.endpoint, "https://", 8) != 0) {
        mf_error_set(err, -1, "tracing.endpoint: expected an http:// or https:// URL, not \"%s\"", c->tracing.endpoint);
        return -1;
    }
    /* header lines are written as they are: a name that is a token, a value on one line */
    const char *hk;
    json_t *hv;
    json_object_foreach(json_object_get(tracing, "headers"), hk, hv) {
        const char *value = json_string_value(hv);
        bool name_ok = *hk && strspn(hk, "!#$%&'*+-.^_`|~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz") == strlen(hk);
        if (!name_ok || !value || strcspn(value, "\r\n") != json_string_length(hv)) {
            mf_error_set(err, -1, "tracing.headers[\"%s\"]: %s", hk,
                         !name_ok ? "not an HTTP header name" : "expected a value on one line (no CR, LF or NUL)");
            return -1;
        }
    }
    if (json_object_size(tracing) && !c->tracing.endpoint) {
        mf_error_set(err, -1, "tracing.endpoint: missing (the collector's URL, e.g. \"http://127.0.0.1:4318\")");
        return -1;
    }
    const char *cert = json_string_value(json_object_get(tracing, "cert_file")),
               *key = json_string_value(json_object_get(tracing, "key_file"));
    if (!cert != !key) {
        mf_error_set(err, -1, "tracing.%s: needed with %s", cert ? "key_file" : "cert_file", cert ? "cert_file" : "key_file");
        return -1;
    }
    if (tls_file(c, "tracing.ca_file", json_string_value(json_object_get(tracing, "ca_file")), &c->tracing.ca_file, err) ||
        tls_file(c, "tracing.cert_file", cert, &c->tracing.cert_file, err) ||
        tls_file(c, "tracing.key_file", key, &c->tracing.key_file, err))
        return -1;
    const char *audit_file = json_string_value(json_object_get(audit, "file"));
    if (json_object_size(audit) && (!audit_file || !*audit_file)) {
        mf_error_set(err, -1, "audit.file: missing (a path, or \"-\" for stderr)");
        return -1;
    }
    c->audit.file = !audit_file ? NULL : strcmp(audit_file, "-") == 0 ? mf_xstrdup("-") : resolve(c->dir, audit_file);
    c->plugin_dirs = string_list(json_object_get(r, "plugin_dirs"), c->dir);
    c->plugins = string_list(json_object_get(r, "plugins"), NULL);
    if (check_listeners(c, json_object_get(r, "listen"), err) ||
        mf_rate_conf_load(c, json_object_get(r, "rate"), err))
        return -1;
    if (check_metrics(c, json_string_value(json_object_get(r, "metrics")), err))
        return -1;
    json_t *providers = json_object_get(r, "providers");
    if (providers && check_providers(c, providers, err))
        return -1;
    return mf_curation_listeners(c, err);
}

mf_config *mf_config_load(const char *file, bool stdio, mf_error *err)
{
    mf_config *c = mf_xcalloc(1, sizeof *c);
    c->refs = 1;   /* the defaults come from mf_top_settings */
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
    lua_pushstring(L, mf_examples_dir());
    lua_setfield(L, -2, "examples_dir");
    lua_pushboolean(L, stdio);
    lua_setfield(L, -2, "stdio");
    char sock[PATH_MAX];
    if (mf_admin_socket_default(0, false, sock, sizeof sock)) {   /* else nil: no default place */
        lua_pushstring(L, sock);
        lua_setfield(L, -2, "admin_socket");
    }
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
        json_decref(c->providers[i].tasks);
        mf_curation_provider_free(&c->providers[i]);
    }
    free(c->providers);
    for (size_t i = 0; i < c->nlisteners; i++) {
        free(c->listeners[i].url);
        free(c->listeners[i].transport);
        json_decref(c->listeners[i].plugin_conf);
        mf_curation_listener_free(&c->listeners[i]);
    }
    free(c->listeners);
    json_decref(c->http);
    mf_rate_conf_free(&c->rate);
    free_list(c->plugin_dirs);
    free_list(c->plugins);
    json_decref(c->root);
    free(c->admin);
    free((char *)c->audit.file);
    free((char *)c->tracing.ca_file);
    free((char *)c->tracing.cert_file);
    free((char *)c->tracing.key_file);
    free(c->metrics);
    free(c->policy);
    json_decref(c->breaker);
    json_decref(c->cache);
    free(c->file);
    free(c->dir);
    free(c);
}

mf_config *mf_config_dropin(const mf_config *base, const char *name, const char *transport, mf_error *err)
{
    mf_config *c = mf_xcalloc(1, sizeof *c);
    c->refs = 1;
    c->dir = mf_xstrdup(base->dir);
    c->request_timeout_ms = base->request_timeout_ms;
    c->catalog_wait_ms = base->catalog_wait_ms;
    c->drain_timeout_ms = base->drain_timeout_ms;
    c->breaker = base->breaker ? json_deep_copy(base->breaker) : NULL;
    json_t *list = json_pack("[{s:s,s:s}]", "name", name, "transport", transport);
    int rc = check_providers(c, list, err);
    json_decref(list);
    if (rc) {
        config_free(c);
        return NULL;
    }
    snprintf(c->providers[0].path, sizeof c->providers[0].path, "plugin %.40s", transport);
    return c;
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

/* Whether tables a and b are the same but for key, which changes live. */
static bool json_same_but(const json_t *a, const json_t *b, const char *key)
{
    if (json_same(a, b))
        return true;
    if (!json_is_object(a) || !json_is_object(b))
        return false;
    json_t *x = json_copy((json_t *)a), *y = json_copy((json_t *)b);
    json_object_del(x, key);
    json_object_del(y, key);
    bool same = json_equal(x, y);
    json_decref(x);
    json_decref(y);
    return same;
}

bool mf_provider_conf_same(const mf_provider_conf *a, const mf_provider_conf *b)
{
    /* the breaker settings also come from the top level: compare what they add up to; a
     * rate limit is the kernel's, taken up by the provider kept */
    return json_same_but(a->table, b->table, "rate") && json_same(a->breaker, b->breaker);
}

bool mf_config_key_same(const mf_config *a, const mf_config *b, const char *key)
{
    return json_same(json_object_get(a->root, key), json_object_get(b->root, key));
}

const char *const mf_config_fixed_keys[] = {
    "listen", "http", "admin", "plugin_dirs", "plugins", "max_processes", "max_message_bytes",
    "shutdown_ms", "watch_plugins", "identity", "metrics", NULL,
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
    SWAP(next->metrics, prev->metrics);
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
