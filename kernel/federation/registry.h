/* The federation registry: providers, what each has listed, where each stands; and
 * their retirement (drain.c). The catalog built from them is catalog.h's; their targets
 * are router.h's. */
#ifndef MF_REGISTRY_H
#define MF_REGISTRY_H

#include "catalog.h"
#include "config.h"
#include "instance.h"

struct mf_target;

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
    struct mf_target *targets;
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

mf_ep mf_registry_ep(void);
/* Start every provider of cfg; errors (a plugin that refuses its config) are returned. */
int mf_registry_start(mf_config *cfg, mf_error *err);
/* Stop every provider, those leaving too; done runs once all have stopped. */
void mf_registry_stop(void (*done)(void));
void mf_registry_close(void);
/* True once every provider has listed everything once or failed, or the wait ran out. */
bool mf_registry_settled(void);
/* fn runs when the catalog settles (not if it has already). */
void mf_registry_on_settled(void (*fn)(void));
/* The providers in routing and the catalog, in configuration order (pointers stay valid
 * while a provider lives; the array changes on a reload). */
mf_provider **mf_registry_providers(size_t *n);
/* The provider in routing by that name (a reload may have replaced one held), or NULL. */
mf_provider *mf_registry_named(const char *name);
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

#endif
