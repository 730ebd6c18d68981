/* Instances of plugin roles, each behind an endpoint of its own. */
#include "build-config.h"
#include "instance.h"
#include "registry.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static mf_instance *all;

mf_instance *mf_instances(void) { return all; }

const mf_role_ops *mf_module_role(const mf_module *m, mf_role role)
{
    return role == MF_ROLE_TRANSPORT ? m->desc->transport : m->desc->provider;
}

static const char *role_name(mf_role role)
{
    return role == MF_ROLE_TRANSPORT ? "transport" : "provider";
}

int mf_instance_check(const mf_module *m, mf_role role, const json_t *conf, const char *path,
                      mf_error *err)
{
    const mf_role_ops *ops = mf_module_role(m, role);
    if (!ops) {
        mf_error_set(err, -1, "%s: plugin \"%s\" is no %s", path, m->name, role_name(role));
        return -1;
    }
    return ops->check ? ops->check(conf, path, err) : 0;
}

static void deliver(void *ud, mf_msg *m)
{
    mf_instance *inst = ud;
    inst->ops->receive(inst->self, m);
}

mf_instance *mf_instance_start(mf_module *m, mf_role role, const char *name, const json_t *conf,
                               void *owner, mf_error *err)
{
    const mf_role_ops *ops = mf_module_role(m, role);
    if (!ops) {
        mf_error_set(err, -1, "plugin \"%s\" is no %s", m->name, role_name(role));
        return NULL;
    }
    mf_instance *inst = calloc(1, sizeof *inst);
    if (!inst) {
        mf_error_set(err, -1, "out of memory");
        return NULL;
    }
    char epname[160];
    snprintf(epname, sizeof epname, "%s:%s", role_name(role), name);
    inst->mod = m;
    inst->ops = ops;
    inst->role = role;
    inst->owner = owner;
    inst->name = strdup(name);
    inst->ep = mf_endpoint_open(epname, deliver, inst);
    if (!inst->ep) {
        mf_error_set(err, -1, "%s \"%s\" already exists", role_name(role), name);
        free(inst->name);
        free(inst);
        return NULL;
    }
    if (ops->start(inst, conf, &inst->self, err) != 0) {
        mf_endpoint_close(inst->ep);
        free(inst->name);
        free(inst);
        return NULL;
    }
    m->refs++;
    inst->next = all;
    all = inst;
    return inst;
}

void mf_instance_stop(mf_instance *inst, void (*done)(mf_instance *, void *), void *ud)
{
    if (inst->stopping)
        return;
    inst->stopping = true;
    inst->on_stopped = done;
    inst->stopped_ud = ud;
    inst->ops->stop(inst->self);
}

void mf_instance_stopped(mf_instance *inst)
{
    mf_instance **pp = &all;
    while (*pp && *pp != inst)
        pp = &(*pp)->next;
    if (*pp)
        *pp = inst->next;
    mf_endpoint_close(inst->ep);
    inst->mod->refs--;
    if (inst->on_stopped)
        inst->on_stopped(inst, inst->stopped_ud);
    free(inst->name);
    free(inst);
}

const char *mf_instance_name(const mf_instance *inst) { return inst->name; }

mf_ep mf_instance_ep(const mf_instance *inst) { return inst->ep; }

void mf_provider_status(mf_instance *inst, mf_provider_state state, const json_t *info,
                        const char *reason)
{
    mf_msg *m = mf_ctl_new(inst->ep, mf_registry_ep(), "provider.status", "state:i reason:s",
                           (int64_t)state, reason);
    if (!m)
        return;
    m->json = info ? json_incref((json_t *)info) : NULL;
    mf_send(m);
}

void mf_provider_notify(mf_instance *inst, json_t *notification, uint64_t corr)
{
    mf_msg *m = mf_msg_new(MF_MSG_NOTIFY, inst->ep, mf_registry_ep(), notification);
    if (!m)
        return;
    m->corr = corr;
    mf_send(m);
}

void mf_provider_ask(mf_instance *inst, json_t *request, uint64_t corr, uint64_t related)
{
    mf_msg *m = mf_msg_new(MF_MSG_REQUEST, inst->ep, mf_registry_ep(), request);
    if (!m)
        return;
    m->corr = corr;
    m->related = related;
    mf_send(m);
}

void mf_provider_targets(mf_instance *inst, int count)
{
    mf_send(mf_ctl_new(inst->ep, mf_registry_ep(), "provider.targets", "count:i", (int64_t)count));
}

void mf_provider_target_status(mf_instance *inst, int index, bool up)
{
    mf_send(mf_ctl_new(inst->ep, mf_registry_ep(), "target.status", "index:i up:b", (int64_t)index, up));
}
