/* Instances of plugin roles, each behind an endpoint of its own. */
#include "build-config.h"
#include "instance.h"
#include "hosting.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>


void mf_instance_provider_sink(mf_ep ep) { mf_host.provider_sink = ep; }

mf_instance *mf_instances(void) { return mf_host.instances; }

const mf_role_ops *mf_module_role(const mf_module *m, mf_role role)
{
    return role == MF_ROLE_TRANSPORT ? m->desc->transport : m->desc->provider;
}

const mf_setting *mf_module_settings(const mf_module *m, mf_role role)
{
    /* a plugin built before SDK 4.1 has NULL there (the slots were reserved) */
    return role == MF_ROLE_TRANSPORT ? m->desc->transport_settings : m->desc->provider_settings;
}

const char *mf_role_name(mf_role role)
{
    return role == MF_ROLE_TRANSPORT ? "transport" : "provider";
}

bool mf_role_swappable(const mf_role_ops *ops)
{
    return ops && ops->save && ops->resume && ops->adopt && ops->drain;
}

int mf_instance_check(const mf_module *m, mf_role role, const json_t *conf, const char *path,
                      mf_error *err)
{
    const mf_role_ops *ops = mf_module_role(m, role);
    if (!ops) {
        mf_error_set(err, -1, "%s: plugin \"%s\" is no %s", path, m->name, mf_role_name(role));
        return -1;
    }
    /* the table first, then what only the plugin's code can say */
    const mf_setting *settings = mf_module_settings(m, role);
    if (settings && mf_settings_check(conf, path, settings, NULL, err))
        return -1;
    return ops->check ? ops->check(conf, path, err) : 0;
}

int mf_breaker_check(const mf_plugin *d, const json_t *conf, const char *path, mf_error *err)
{
    if (d->breaker_settings && mf_settings_check(conf, path, d->breaker_settings, NULL, err))
        return -1;
    return d->breaker->check ? d->breaker->check(conf, path, err) : 0;
}

int mf_cache_check(const mf_plugin *d, bool provider, const json_t *conf, const char *path, mf_error *err)
{
    const mf_setting *table = provider ? d->cache_provider_settings : d->cache_settings;
    int (*check)(const json_t *, const char *, mf_error *) = provider ? d->cache->check_provider : d->cache->check;
    if (table && mf_settings_check(conf, path, table, NULL, err))
        return -1;
    return check ? check(conf, path, err) : 0;
}

static void deliver(void *ud, mf_msg *m)
{
    mf_instance *inst = ud;
    inst->ops->receive(inst->self, m);
}

/* A new instance with its endpoint, not yet started. */
static mf_instance *instance_new(mf_module *m, mf_role role, const char *name, const json_t *conf,
                                 void *owner, mf_error *err)
{
    const mf_role_ops *ops = mf_module_role(m, role);
    if (!ops) {
        mf_error_set(err, -1, "plugin \"%s\" is no %s", m->name, mf_role_name(role));
        return NULL;
    }
    mf_instance *inst = mf_xcalloc(1, sizeof *inst);
    /* a successor's endpoint is named after its generation: both live during the swap */
    char epname[200];
    if (m->generation > 1)
        snprintf(epname, sizeof epname, "%s:%s@%u", mf_role_name(role), name, m->generation);
    else
        snprintf(epname, sizeof epname, "%s:%s", mf_role_name(role), name);
    inst->mod = m;
    inst->ops = ops;
    inst->role = role;
    inst->owner = owner;
    inst->name = mf_xstrdup(name);
    inst->conf = json_incref((json_t *)conf);
    inst->ep = mf_endpoint_open(epname, deliver, inst);
    /* a provider a reload restarts with new settings runs beside its predecessor for a while */
    for (unsigned n = 2; !inst->ep && role == MF_ROLE_PROVIDER && n < 1000; n++) {
        char alt[220];
        snprintf(alt, sizeof alt, "%s~%u", epname, n);
        inst->ep = mf_endpoint_open(alt, deliver, inst);
    }
    if (!inst->ep) {
        mf_error_set(err, -1, "%s \"%s\" already exists", mf_role_name(role), name);
        json_decref(inst->conf);
        free(inst->name);
        free(inst);
        return NULL;
    }
    return inst;
}

static void instance_free(mf_instance *inst)
{
    json_decref(inst->conf);
    free(inst->name);
    free(inst);
}

static void instance_add(mf_instance *inst)
{
    inst->mod->refs++;
    inst->next = mf_host.instances;
    mf_host.instances = inst;
}

mf_instance *mf_instance_start(mf_module *m, mf_role role, const char *name, const json_t *conf,
                               void *owner, mf_instance **slot, mf_error *err)
{
    mf_instance *inst = instance_new(m, role, name, conf, owner, err);
    if (!inst)
        return NULL;
    if (inst->ops->start(inst, conf, &inst->self, err) != 0) {
        mf_endpoint_close(inst->ep);
        instance_free(inst);
        return NULL;
    }
    instance_add(inst);
    inst->slot = slot;
    if (slot)
        *slot = inst;
    return inst;
}

mf_instance *mf_instance_adopt(mf_instance *old, mf_module *m, const char *state, size_t len,
                               mf_error *err)
{
    mf_instance *inst = instance_new(m, old->role, old->name, old->conf, old->owner, err);
    if (!inst)
        return NULL;
    if (inst->ops->adopt(inst, old->conf, state, len, &inst->self, err) != 0) {
        mf_endpoint_close(inst->ep);
        instance_free(inst);
        return NULL;
    }
    instance_add(inst);
    return inst;
}

void mf_instance_stop(mf_instance *inst, void (*done)(mf_instance *, void *), void *ud)
{
    if (inst->stopping)
        return;
    if (inst->phase == MF_SWAP_SAVING)
        mf_swap_abandon(inst, "the instance is stopping");
    inst->stopping = true;
    inst->on_stopped = done;
    inst->stopped_ud = ud;
    inst->ops->stop(inst->self);
}

mf_instance *mf_instance_by_ep(mf_ep ep)
{
    for (mf_instance *i = mf_host.instances; i; i = i->next)
        if (i->ep == ep)
            return i;
    return NULL;
}

void mf_instance_stopped(mf_instance *inst)
{
    mf_instance **pp = &mf_host.instances;
    while (*pp && *pp != inst)
        pp = &(*pp)->next;
    if (*pp)
        *pp = inst->next;
    if (inst->slot && *inst->slot == inst)
        *inst->slot = NULL;
    if (inst->successor)
        mf_endpoint_redirect(inst->ep, inst->successor, mf_swap_redirect_ms());
    else
        mf_endpoint_close(inst->ep);
    mf_swap_forget(inst);
    inst->mod->refs--;
    mf_plugin_release(inst->mod);
    if (inst->on_stopped)
        inst->on_stopped(inst, inst->stopped_ud);
    instance_free(inst);
}

void mf_instance_saved(mf_instance *inst, const char *state, size_t len, const char *error)
{
    mf_swap_on_saved(inst, state, len, error);
}

int mf_instance_forward(mf_instance *inst, mf_msg *m)
{
    if (!m)
        return -1;
    m->dst = inst->successor;   /* followed through its own successors, if it has any */
    return mf_send(m);
}

const char *mf_instance_name(const mf_instance *inst) { return inst->name; }

mf_ep mf_instance_ep(const mf_instance *inst) { return inst->ep; }

void mf_provider_status(mf_instance *inst, mf_provider_state state, const json_t *info,
                        const char *reason)
{
    mf_msg *m = mf_ctl_new(inst->ep, mf_host.provider_sink, MF_CTL_PROVIDER_STATUS, "state:i reason:s",
                           (int64_t)state, reason);
    m->json = info ? json_incref((json_t *)info) : NULL;
    mf_send(m);
}

void mf_provider_notify(mf_instance *inst, json_t *notification, uint64_t corr)
{
    mf_msg *m = mf_msg_new(MF_MSG_NOTIFY, inst->ep, mf_host.provider_sink, notification);
    m->corr = corr;
    mf_send(m);
}

void mf_provider_ask(mf_instance *inst, json_t *request, uint64_t corr, uint64_t related)
{
    mf_msg *m = mf_msg_new(MF_MSG_REQUEST, inst->ep, mf_host.provider_sink, request);
    m->corr = corr;
    m->related = related;
    mf_send(m);
}

void mf_provider_targets(mf_instance *inst, int count)
{
    mf_send(mf_ctl_new(inst->ep, mf_host.provider_sink, MF_CTL_PROVIDER_TARGETS, "count:i", (int64_t)count));
}

void mf_provider_target_status(mf_instance *inst, int index, bool up)
{
    mf_send(mf_ctl_new(inst->ep, mf_host.provider_sink, MF_CTL_TARGET_STATUS, "index:i up:b", (int64_t)index, up));
}
