/* Instances: one transport per listener, one provider per provider entry.
 *
 * A hot swap replaces an instance by a successor on the plugin's next generation: each
 * generation is an mf_instance of its own, with its own endpoint. The kernel part that
 * keeps an instance (the registry for a provider, main for a transport) names the
 * variable that points to it (its slot), and the switch moves that pointer. */
#ifndef MF_INSTANCE_H
#define MF_INSTANCE_H

#include "plugin_loader.h"

typedef enum mf_role { MF_ROLE_TRANSPORT, MF_ROLE_PROVIDER } mf_role;

typedef enum mf_swap_phase {
    MF_SWAP_NONE = 0,
    MF_SWAP_SAVING,     /* asked to hand over; its messages are held */
    MF_SWAP_DRAINING,   /* replaced: finishing what it kept */
} mf_swap_phase;

struct mf_instance {
    mf_module *mod;
    const mf_role_ops *ops;
    mf_role role;
    char *name;
    mf_ep ep;
    void *self;
    json_t *conf;         /* what it was started with, for a successor */
    bool stopping;
    void (*on_stopped)(mf_instance *inst, void *ud);
    void *stopped_ud;
    void *owner;          /* the kernel part that keeps this instance (registry provider) */
    mf_instance **slot;   /* the keeper's pointer to it; NULL once replaced */
    /* hot swap (swap.c) */
    mf_swap_phase phase;
    struct mf_swap_item *swap;      /* while saving */
    mf_ep successor;                /* once replaced: its successor's endpoint */
    uv_timer_t *drain_timer;
    struct mf_instance *next;
};

const mf_role_ops *mf_module_role(const mf_module *m, mf_role role);
/* The role's settings table, or NULL when the plugin has none. */
const mf_setting *mf_module_settings(const mf_module *m, mf_role role);
const char *mf_role_name(mf_role role);
/* Check conf against the role's settings table, then the plugin's own check. */
int mf_instance_check(const mf_module *m, mf_role role, const json_t *conf, const char *path,
                      mf_error *err);
/* Check a breaker's settings: the breaker plugin d's table, then its check. */
int mf_breaker_check(const mf_plugin *d, const json_t *conf, const char *path, mf_error *err);
/* Check the result cache's settings, the top level's or (provider) a provider's: the cache
 * plugin d's table, then its check, if any. */
int mf_cache_check(const mf_plugin *d, bool provider, const json_t *conf, const char *path, mf_error *err);
/* Start an instance; *slot points to it from now on (and to its successors). */
mf_instance *mf_instance_start(mf_module *m, mf_role role, const char *name, const json_t *conf,
                               void *owner, mf_instance **slot, mf_error *err);
/* Start inst's successor on module m from state (swap.c); not yet in inst's slot. */
mf_instance *mf_instance_adopt(mf_instance *inst, mf_module *m, const char *state, size_t len,
                               mf_error *err);
/* Ask it to stop; done runs once it has (the instance is freed right after). */
void mf_instance_stop(mf_instance *inst, void (*done)(mf_instance *, void *), void *ud);
mf_instance *mf_instances(void);
/* The instance (of any generation still alive) behind an endpoint. */
mf_instance *mf_instance_by_ep(mf_ep ep);
bool mf_role_swappable(const mf_role_ops *ops);
/* The control messages hosting sends to the provider sink for a provider's plugin
 * (mf_provider_status, mf_provider_targets, mf_provider_target_status), and their fields. */
enum {
    MF_CTL_PROVIDER_STATUS = 1,   /* state:i reason:s, and the json of an UP */
    MF_CTL_PROVIDER_TARGETS,      /* count:i */
    MF_CTL_TARGET_STATUS,         /* index:i up:b */
};

/* Where providers' status, targets, notifications and requests go: the endpoint of the
 * layer that keeps providers, which says so when it opens it (hosting calls up into none). */
void mf_instance_provider_sink(mf_ep ep);

#endif
