/* Instances: one transport per listener, one provider per provider entry. */
#ifndef MF_INSTANCE_H
#define MF_INSTANCE_H

#include "plugin_loader.h"

typedef enum mf_role { MF_ROLE_TRANSPORT, MF_ROLE_PROVIDER } mf_role;

struct mf_instance {
    mf_module *mod;
    const mf_role_ops *ops;
    mf_role role;
    char *name;
    mf_ep ep;
    void *self;
    bool stopping;
    void (*on_stopped)(mf_instance *inst, void *ud);
    void *stopped_ud;
    void *owner;          /* the kernel part that keeps this instance (registry provider) */
    struct mf_instance *next;
};

const mf_role_ops *mf_module_role(const mf_module *m, mf_role role);
/* Check conf against the plugin's rules for role. */
int mf_instance_check(const mf_module *m, mf_role role, const json_t *conf, const char *path,
                      mf_error *err);
mf_instance *mf_instance_start(mf_module *m, mf_role role, const char *name, const json_t *conf,
                               void *owner, mf_error *err);
/* Ask it to stop; done runs once it has (the instance is freed right after). */
void mf_instance_stop(mf_instance *inst, void (*done)(mf_instance *, void *), void *ud);
mf_instance *mf_instances(void);

#endif
