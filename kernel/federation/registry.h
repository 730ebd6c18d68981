/* The federation registry: providers, their state, and the merged catalog of what they
 * offer (tools, prompts, resources, resource templates). */
#ifndef MF_REGISTRY_H
#define MF_REGISTRY_H

#include "config.h"
#include "instance.h"

typedef enum mf_kind {
    MF_KIND_TOOLS,
    MF_KIND_PROMPTS,
    MF_KIND_RESOURCES,
    MF_KIND_TEMPLATES,
    MF_KINDS,
} mf_kind;

/* What differs between the kinds of listed items. */
typedef struct mf_kind_info {
    const char *list_method;     /* "tools/list" */
    const char *result_key;      /* "tools" */
    const char *name_key;        /* "name", "uri", "uriTemplate" */
    const char *capability;      /* the server capability that says it lists them */
    const char *changed;         /* the notification that says the list changed */
} mf_kind_info;

extern const mf_kind_info mf_kinds[MF_KINDS];

/* One provider's listing of one kind. */
typedef struct mf_listing {
    struct mf_provider *owner;
    mf_kind kind;
    json_t *items;            /* the last complete listing, upstream names */
    json_t *pending;          /* pages of a listing in progress */
    void *call;               /* mf_call of the page in flight */
    unsigned pages;
    bool relist;              /* a change was announced while listing */
    bool loaded;              /* a listing completed, or the provider offers none */
} mf_listing;

/* A place a provider's calls can go: one of its replicas. */
typedef struct mf_target {
    struct mf_provider *provider;
    int index;                /* 0-based; the provider names it index + 1 */
    char name[80];            /* "<provider>#<n>" */
    bool up;                  /* ready, as its provider says */
    bool healthy;             /* as the health checks say */
    bool draining;            /* an operator takes it out of routing */
    unsigned inflight;
    double ewma_ms;           /* latency, exponentially weighted */
    double error_ewma;        /* share of failed calls, exponentially weighted */
    uint32_t lat[128];        /* recent latencies, for the p99 */
    unsigned nlat, latpos;
    double p99;               /* of lat, recomputed when 8 new latencies came in */
    unsigned since_p99;
    uint64_t calls, failures;
    void *breaker;            /* the breaker plugin's, or NULL */
    unsigned health_fail, health_ok;
    void *health_call;
} mf_target;

/* Where a provider stands: in routing and the catalog, starting beside the one it is to
 * replace (a reload), or on its way out. */
typedef enum mf_standing {
    MF_STANDING_ACTIVE,
    MF_STANDING_PENDING,
    MF_STANDING_RETIRING,
} mf_standing;

typedef struct mf_provider {
    const mf_provider_conf *conf;
    mf_config *cfg;           /* the configuration conf is in (a reference) */
    mf_standing standing;
    mf_instance *inst;
    mf_provider_state state;
    char *reason;             /* why it is down or failed */
    json_t *init;             /* the upstream's initialize result */
    mf_listing lists[MF_KINDS];
    int log_level;            /* the level last asked of the upstream (-1: none) */
    mf_target *targets;
    int ntargets;
    bool reports_targets;     /* its plugin says which targets are ready */
    uv_timer_t *health_timer;  /* its own allocation: closed after the provider is gone */
    unsigned refs;            /* requests whose route names its targets (forward.c) */
    unsigned calls;           /* requests under way on it */
    uv_timer_t *drain_timer;  /* while retiring */
    void (*on_ready)(struct mf_provider *p, void *ud);   /* once a pending one has listed */
    void *ready_ud;
    bool shutdown_sent;       /* the gateway's shutdown has asked it to stop */
    struct mf_provider *next_all;   /* newest first: the reverse of start order */
} mf_provider;

/* An item of the public catalog. */
typedef struct mf_entry {
    const char *name;         /* public name or URI */
    const char *upstream;     /* the upstream's */
    mf_provider *provider;
    const json_t *item;       /* the upstream's definition (borrowed from its list) */
} mf_entry;

mf_ep mf_registry_ep(void);
/* Start every provider of cfg; errors (a plugin that refuses its config) are returned. */
int mf_registry_start(mf_config *cfg, mf_error *err);
/* Stop every provider, those leaving too; done runs once all have stopped. */
void mf_registry_stop(void (*done)(void));
void mf_registry_close(void);
/* True once every provider has listed everything once or failed, or the wait ran out. */
bool mf_registry_settled(void);
/* The providers in routing and the catalog, in configuration order (pointers stay valid
 * while a provider lives; the array changes on a reload). */
mf_provider **mf_registry_providers(size_t *n);
/* Every provider alive: in routing, starting beside another, or leaving. */
mf_provider *mf_registry_all(void);
mf_provider *mf_registry_provider_of(mf_ep ep);
/* A reload: start a provider for conf (an entry of cfg) beside those in routing; it
 * lists what it offers, then on_ready runs (set it at once; it runs from the loop). */
mf_provider *mf_registry_launch(mf_config *cfg, const mf_provider_conf *conf, mf_error *err);
/* Has it listed everything once, or failed? */
bool mf_provider_ready(const mf_provider *p);
/* A provider that keeps running takes its entry in the next configuration. */
void mf_provider_move(mf_provider *p, mf_config *cfg, const mf_provider_conf *conf);
/* These (taken over) are now the providers in routing: the catalog is rebuilt from them
 * and sessions told of what changed. Those that were and are not must be retired. */
void mf_registry_replace(mf_provider **list, size_t n);
/* drain.c: out of routing, the provider finishes its calls (for at most drain_ms), then
 * stops and is freed once nothing refers to it. */
void mf_registry_retire(mf_provider *p, uint64_t drain_ms);
void mf_provider_hold(mf_provider *p);
void mf_provider_release(mf_provider *p);
/* A request starts or ends being under way on p. */
void mf_provider_call_begins(mf_provider *p);
void mf_provider_call_ends(mf_provider *p);
/* registry.c, for drain.c: stop p's instance (counted for shutdown), and free p. */
void mf_registry_stop_provider(mf_provider *p);
void mf_registry_free_provider(mf_provider *p);
/* Does the provider's upstream declare this server capability? */
bool mf_provider_offers(const mf_provider *p, const char *capability);

/* router.c: targets, breakers and routing decisions */
int mf_router_start(const mf_config *cfg, mf_error *err);
void mf_router_stop(void);
void mf_targets_resize(mf_provider *p, int n);
void mf_targets_free(mf_provider *p);
mf_target *mf_target_find(const char *name);
/* A call on t ended after duration_ms; error_code 0 for a result; lost: it went out and
 * no answer came (connection lost, timeout). */
void mf_target_outcome(mf_target *t, int error_code, bool lost, uint64_t duration_ms);
/* The same without the breaker: for a call its breaker gave no permission to. */
void mf_target_outcome_stats(mf_target *t, int error_code, bool lost, uint64_t duration_ms);
double mf_target_p99(const mf_target *t);
const char *mf_target_breaker(const mf_target *t);
bool mf_target_acquire(mf_target *t);
void mf_target_release(mf_target *t);
void mf_target_force(mf_target *t, mf_breaker_force f);
json_t *mf_target_status(const mf_target *t);
void mf_health_start(mf_provider *p);
void mf_health_stop(mf_provider *p);
void mf_health_close(mf_provider *p);
/* The routing's circuit breakers move to the breaker plugin's next generation (a hot
 * swap's prepare step, registered by mf_router_start); 0 when done (or prev is not the
 * breaker in use), -1 with err and nothing changed. */
int mf_router_swap_breakers(mf_module *prev, mf_module *next, mf_error *err);
/* The breaker plugin the router uses, or NULL. */
mf_module *mf_router_breaker_module(void);

/* catalog.c: the public catalog, rebuilt from the listings in configuration order. */
void mf_catalog_rebuild(mf_kind k, mf_provider **providers, size_t n, bool announce);
void mf_catalog_free(void);
const mf_entry *mf_catalog_find(mf_kind k, const char *public_name);
/* The public items (borrowed; replaced, never changed, when the catalog changes). */
json_t *mf_catalog_items(mf_kind k);
uint64_t mf_catalog_generation(mf_kind k);
/* A resource URI as a client names it: which provider, and its URI there (malloc'd). */
mf_provider *mf_catalog_resolve_uri(const char *uri, char **upstream);
/* The URI a client sees for a provider's URI (malloc'd). */
char *mf_catalog_public_uri(const mf_provider *p, const char *upstream_uri);
/* Rewrite the resource URIs inside a result (contents, resource links, embedded
 * resources) to their public form; returns a new reference. */
json_t *mf_catalog_publish_uris(const mf_provider *p, json_t *result);

#endif
