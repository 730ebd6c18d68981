/* The configuration: a Lua file that returns a table, checked key by key. */
#ifndef MF_CONFIG_H
#define MF_CONFIG_H

#include "kernel.h"

#include <stdio.h>

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
    int64_t health_interval_ms;   /* 0: no active health checks */
    int64_t health_timeout_ms;
    int64_t health_failures;      /* in a row, to be unhealthy */
    int64_t health_successes;     /* in a row, to be healthy again */
    mf_rate_limit rate;    /* all calls to it together, or none */
} mf_provider_conf;

typedef struct mf_listener_conf {
    char *url;
    char *transport;       /* the plugin that serves it, from the URL's scheme */
    char path[32];         /* "listen[2]", for messages */
    json_t *plugin_conf;   /* the transport's table: url and its settings */
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
    int64_t handover_timeout_ms;  /* a hot swap's bound on an instance's handing over */
    int64_t drain_timeout_ms;     /* ... and on the old generation's draining */
    bool watch_plugins;    /* reload a plugin whose file changes in a plugin directory */
    char *policy;          /* the routing policy's file */
    int64_t policy_instructions;  /* per decision */
    int64_t policy_time_ms;       /* per decision */
    int64_t policy_memory_bytes;
    json_t *breaker;       /* breaker defaults, or NULL when breakers are off */
    json_t *cache;         /* the result cache's settings, or NULL when it is off */
    mf_provider_conf *providers;
    size_t nproviders;
    mf_listener_conf *listeners;
    size_t nlisteners;
    json_t *http;          /* defaults for every http listener */
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
