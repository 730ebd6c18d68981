/* The federation registry: providers, their state, and the merged catalog. */
#ifndef MF_REGISTRY_H
#define MF_REGISTRY_H

#include "config.h"
#include "instance.h"

typedef struct mf_provider {
    const mf_provider_conf *conf;
    mf_instance *inst;
    mf_provider_state state;
    char *reason;             /* why it is down or failed */
    json_t *init;             /* the upstream's initialize result */
    json_t *tools;            /* its last complete tools listing, upstream names */
    json_t *listing;          /* pages of a listing in progress */
    void *list_call;          /* mf_call of the page in flight */
    unsigned pages;
    bool relist;              /* list_changed came while listing */
    bool catalog_loaded;      /* a listing completed (or the provider failed) */
} mf_provider;

typedef struct mf_tool {
    const char *name;         /* public */
    const char *upstream;     /* the upstream's name for it */
    mf_provider *provider;
} mf_tool;

mf_ep mf_registry_ep(void);
/* Start every provider of cfg; errors (a plugin that refuses its config) are returned. */
int mf_registry_start(const mf_config *cfg, mf_error *err);
/* Stop every provider; done runs once all have stopped. */
void mf_registry_stop(void (*done)(void));
void mf_registry_close(void);

const mf_tool *mf_registry_tool(const char *public_name);
/* The public tools array (borrowed; replaced, never changed, when the catalog changes). */
json_t *mf_registry_tools(void);
/* True once every provider has listed its tools once or failed, or the wait ran out. */
bool mf_registry_settled(void);
mf_provider *mf_registry_providers(size_t *n);

#endif
