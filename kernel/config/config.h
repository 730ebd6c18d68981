/* The configuration: a Lua file that returns a table, checked key by key. */
#ifndef MF_CONFIG_H
#define MF_CONFIG_H

#include "kernel.h"

#include <stdio.h>

/* Curation (curation.c): which items a provider serves of its upstream's, and which a
 * listener's endpoint serves of the federation's; globs with fnmatch's rules. */
typedef enum mf_filter_kind {
    MF_FILTER_TOOLS,
    MF_FILTER_PROMPTS,
    MF_FILTER_RESOURCES,      /* resources by URI, resource templates by uriTemplate */
    MF_FILTERS,
} mf_filter_kind;

typedef struct mf_filter {
    json_t *include;          /* array of globs, or NULL: every name */
    json_t *exclude;          /* array of globs, or NULL: none */
} mf_filter;

extern const char *const mf_filter_keys[MF_FILTERS];   /* "tools", "prompts", "resources" */

/* Does the filter let name through (matches an include, if any, and no exclude)? */
bool mf_filter_admits(const mf_filter *f, const char *name);
/* Does glob match name? */
bool mf_glob_match(const char *glob, const char *name);
/* A rate limit (rate_conf.c): a token bucket's refill and size. */
typedef struct mf_rate_limit {
    double calls_per_s;    /* 0: no limit */
    int64_t burst;         /* calls at once after a quiet time */
} mf_rate_limit;

/* The top-level rate table (rate_conf.c). */
typedef struct mf_rate_conf {
    mf_rate_limit per_identity;   /* each identity's own bucket, or none */
    json_t *subjects;      /* subject -> limit table (checked), or NULL */
    json_t *tools;         /* public tool name -> limit table (checked), or NULL */
    int64_t max_buckets;
} mf_rate_conf;

typedef struct mf_provider_conf {
    char *name;
    char *transport;       /* the plugin that reaches the upstream */
    char *prefix;          /* NULL: upstream names are kept */
    int64_t timeout_ms;
    int64_t attempt_timeout_ms;   /* one try's share of timeout_ms when another may follow; 0: all */
    size_t index;          /* 1-based position in the providers list */
    char path[48];         /* "providers[3]", for messages */
    json_t *plugin_conf;   /* the table without the kernel's keys, for the plugin */
    json_t *table;         /* the table as written, to tell a changed provider */
    char **fallback;       /* NULL-terminated provider names, tried after this one */
    double weight;
    json_t *tags;          /* array of strings */
    json_t *breaker;       /* breaker settings (the top-level ones, then its own), or NULL: none */
    json_t *cache;         /* its result cache settings (the cache plugin's), or NULL: none */
    json_t *tasks;         /* its tasks table (tools, ttl_ms), or NULL: none */
    int64_t health_interval_ms;   /* 0: no active health checks */
    int64_t health_timeout_ms;
    int64_t health_failures;      /* in a row, to be unhealthy */
    int64_t health_successes;     /* in a row, to be healthy again */
    mf_filter filter[MF_FILTERS];  /* over the upstream's names */
    json_t *rename;        /* upstream tool or prompt name -> the name it is served under */
    json_t *describe;      /* upstream tool or prompt name -> its description */
    json_t *annotations;   /* upstream tool name -> annotations merged over the upstream's */
    int audit_arguments, audit_results;   /* its audit table's: 1, 0, or -1 for the top level's */
    bool optional;         /* /readyz does not wait for it */
    mf_rate_limit rate;    /* all calls to it together, or none */
} mf_provider_conf;

/* tracing = {...}: OpenTelemetry export (endpoint NULL: off) */
enum { MF_OTLP_PROTOBUF, MF_OTLP_JSON };   /* tracing.protocol */

typedef struct mf_tracing_conf {
    const char *endpoint;
    int protocol;
    double sample_ratio;
    const char *service_name;
    int64_t max_queue_spans, batch_spans, flush_ms;
    const json_t *headers;
    const char *ca_file;      /* allocated, resolved; NULL: the system's authorities */
    const char *cert_file, *key_file;   /* allocated, resolved: a client certificate and its key, or NULL */
} mf_tracing_conf;

/* audit = {...}: the audit log (file NULL: none; "-": stderr) */
typedef struct mf_audit_conf {
    const char *file;
    bool arguments, results;
    int64_t max_field_bytes, max_buffer_bytes;
} mf_audit_conf;

typedef struct mf_listener_conf {
    char *url;
    char *transport;       /* the plugin that serves it, from the URL's scheme */
    char path[32];         /* "listen[2]", for messages */
    json_t *plugin_conf;   /* the transport's table: url and its settings */
    /* the endpoint's view of the federation (curation.c) */
    bool curated;          /* providers or a filter is set */
    char **providers;      /* NULL-terminated provider names, or NULL: every provider */
    mf_filter filter[MF_FILTERS];  /* over the public names */
} mf_listener_conf;

typedef struct mf_config {
    unsigned refs;         /* main holds one, and each provider its configuration entry is in */
    char *file;            /* NULL for the embedded default */
    char *dir;             /* where relative paths in the file are resolved */
    json_t *root;
    mf_log_level log_level;
    char **plugin_dirs;    /* NULL-terminated, absolute */
    char **plugins;        /* NULL-terminated: plugins loaded at start besides those in use */
    int64_t request_timeout_ms;
    int64_t max_message_bytes;
    int64_t catalog_wait_ms;
    int64_t shutdown_ms;
    int64_t page_size;     /* items per page of the lists mcpfed serves */
    int64_t max_processes; /* child processes at once, all supervisors together */
    char *admin;           /* the admin socket's path, or NULL for none */
    char *metrics;         /* the metrics endpoint's URL (checked by url.h), or NULL for none */
    int64_t handover_timeout_ms;  /* a hot swap's bound on an instance's handing over */
    int64_t drain_timeout_ms;     /* ... and on the old generation's draining */
    bool watch_plugins;    /* reload a plugin whose file changes in a plugin directory */
    char *policy;          /* the routing policy's file */
    int64_t policy_instructions;  /* per decision */
    int64_t policy_time_ms;       /* per decision */
    int64_t policy_memory_bytes;
    json_t *breaker;       /* breaker defaults, or NULL when breakers are off */
    json_t *cache;         /* the result cache's settings, or NULL when it is off */
    int64_t tasks_max;     /* the tasks table: tasks kept at once */
    int64_t tasks_max_result_bytes;
    int64_t tasks_default_ttl_ms, tasks_max_ttl_ms, tasks_poll_ms;
    mf_provider_conf *providers;
    size_t nproviders;
    mf_listener_conf *listeners;
    size_t nlisteners;
    json_t *http;          /* defaults for every http listener */
    mf_tracing_conf tracing;   /* strings and tables point into root */
    mf_audit_conf audit;       /* file is resolved against dir (owned) */
    mf_rate_conf rate;
} mf_config;

/* The text of etc/mcpfed.lua, built into the binary. */
extern const char mf_default_config[];
extern const unsigned int mf_default_config_len;

/* Load and check a configuration (file NULL: the embedded default). stdio says whether
 * mcpfed serves stdio too (the file sees it as mcpfed.stdio). On error returns NULL with
 * err naming the file and the key. The configuration comes with one reference. */
mf_config *mf_config_load(const char *file, bool stdio, mf_error *err);
mf_config *mf_config_ref(mf_config *c);
/* Drop a reference; the last one frees the configuration. */
void mf_config_unref(mf_config *c);
const mf_provider_conf *mf_config_provider(const mf_config *c, const char *name);
/* A configuration of one provider, `name` on the plugin `transport` with no settings, for
 * a plugin's default instance; the defaults it inherits (timeouts, breakers) are base's. */
mf_config *mf_config_dropin(const mf_config *base, const char *name, const char *transport, mf_error *err);
/* Do two entries configure the same provider the same way (whatever their position)? */
bool mf_provider_conf_same(const mf_provider_conf *a, const mf_provider_conf *b);
/* Is a top-level key's value the same in both (absent counts as a value)? */
bool mf_config_key_same(const mf_config *a, const mf_config *b, const char *key);
/* The settings that only a restart changes (listen, http, admin, plugin_dirs, plugins,
 * max_processes, max_message_bytes, shutdown_ms, watch_plugins): next takes prev's, so
 * that it says what runs, and prev gets next's. */
void mf_config_keep_fixed(mf_config *next, mf_config *prev);
extern const char *const mf_config_fixed_keys[];

/* The kernel's settings tables (config.c): the top level, and a provider's own keys (the
 * rest of a provider's table belongs to its transport plugin). */
extern const mf_setting mf_top_settings[];
extern const mf_setting mf_provider_settings[];
/* curation.c: a filter's keys (include, exclude), and the kernel's keys of a listen entry
 * (providers, tools, prompts, resources), which are taken out of the transport's table. */
extern const mf_setting mf_filter_settings[];
extern const mf_setting mf_endpoint_settings[];
/* Fill a provider's curation from its table t (checked against the settings tables). */
int mf_curation_provider(mf_provider_conf *p, const json_t *t, mf_error *err);
void mf_curation_provider_free(mf_provider_conf *p);
/* A listen entry's view: check own (NULL for a plain URL), fill l, and take the kernel's
 * keys out of l->plugin_conf. The provider names are checked by mf_curation_listeners. */
int mf_curation_listener(mf_listener_conf *l, const json_t *own, mf_error *err);
int mf_curation_listeners(const struct mf_config *c, mf_error *err);
void mf_curation_listener_free(mf_listener_conf *l);

/* rate_conf.c: the keys of the top-level rate table, and of a limit ({ calls_per_s,
 * burst }). */
extern const mf_setting mf_rate_settings[];
extern const mf_setting mf_rate_limit_settings[];
/* Check the top-level rate table v (NULL: none) and fill c->rate. */
int mf_rate_conf_load(mf_config *c, const json_t *v, mf_error *err);
void mf_rate_conf_free(mf_rate_conf *r);
/* A limit's burst when it names none: its calls_per_s rounded up. */
int64_t mf_rate_default_burst(double calls_per_s);
/* Check a limit table at path and fill out; a checked one (err NULL) cannot fail. */
int mf_rate_limit_parse(const json_t *v, const char *path, mf_rate_limit *out, mf_error *err);

/* settings.c: print a table for --help-config, one key a line ("[section]" first):
 * name, type, default, bounds, doc, separated by tabs; nested tables' keys by their path. */
void mf_settings_describe(FILE *out, const char *section, const mf_setting *table);
/* A key's default as the docs write it: "60000", "\"info\"", "{}", words, "required", "none". */
void mf_setting_default_text(const mf_setting *s, char *out, size_t cap);

/* paths.c: the plugin and Lua directories to use when nothing says otherwise. */
const char *mf_default_plugin_dir(void);
const char *mf_default_lua_dir(void);
/* The example files (databases, Python tools) the embedded default serves. */
const char *mf_examples_dir(void);

/* config_plugins.c: load every plugin the configuration names and let each check its
 * part (providers, listeners, breakers, stdio when served), then the policy. */
int mf_config_check_plugins(const mf_config *c, bool stdio, mf_error *err);
/* The stdio transport's settings. */
json_t *mf_config_stdio_conf(const mf_config *c);

#endif
