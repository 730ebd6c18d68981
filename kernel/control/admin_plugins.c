/* The admin commands about code the gateway runs: plugins (load, unload, reload), the
 * routing policy and the configuration (reload). */
#include "build-config.h"
#include "admin.h"
#include "policy.h"
#include "router.h"
#include "cache_hook.h"
#include "reconfig.h"
#include "swap.h"

#include <string.h>

static json_t *module_json(const mf_module *m)
{
    json_t *roles = json_array();
    if (m->desc->transport)
        json_array_append_new(roles, json_string("transport"));
    if (m->desc->provider)
        json_array_append_new(roles, json_string("provider"));
    if (m->desc->breaker)
        json_array_append_new(roles, json_string("breaker"));
    if (m->desc->cache)
        json_array_append_new(roles, json_string("cache"));
    json_t *insts = json_array();
    for (mf_instance *i = mf_instances(); i; i = i->next)
        if (i->mod == m)
            json_array_append_new(insts, json_pack("{s:s,s:s,s:s}", "role", mf_role_name(i->role), "name", i->name,
                                                   "state", i->phase == MF_SWAP_DRAINING ? "draining"
                                                            : i->phase == MF_SWAP_SAVING ? "handing over"
                                                                                         : "running"));
    if (mf_router_breaker_module() == m)
        json_array_append_new(insts, json_pack("{s:s,s:s,s:s}", "role", "breaker", "name", "routing", "state",
                                               "running"));
    if (mf_cache_module() == m)
        json_array_append_new(insts, json_pack("{s:s,s:s,s:s}", "role", "cache", "name", "tools/call", "state",
                                               "running"));
    return json_pack("{s:s,s:s,s:s?,s:s?,s:i,s:s,s:i,s:o,s:o}", "name", m->name, "file", m->file, "version",
                     m->desc->version, "description", m->desc->description, "generation", (int)m->generation,
                     "state", m->superseded ? "superseded" : "current", "users", (int)m->refs, "roles", roles,
                     "instances", insts);
}

static void cmd_plugins(int argc, char **argv, mf_admin_reply *out)
{
    MF_UNUSED(argc);
    MF_UNUSED(argv);
    json_t *list = json_array();
    for (mf_module *m = mf_plugins_list(); m; m = m->next)
        json_array_append_new(list, module_json(m));
    out->body = json_pack("{s:o}", "plugins", list);
}

static void cmd_load(int argc, char **argv, mf_admin_reply *out)
{
    if (argc != 2) {
        out->code = 400;
        out->body = json_pack("{s:s}", "error", "usage: load PATH (a plugin file, or a name in the plugin directories)");
        return;
    }
    const char *slash = strrchr(argv[1], '/');
    char name[256];
    snprintf(name, sizeof name, "%s", slash ? slash + 1 : argv[1]);
    size_t n = strlen(name);
    if (n > 3 && strcmp(name + n - 3, ".so") == 0)
        name[n - 3] = '\0';
    mf_module *m = mf_plugin_find(name);
    if (m) {
        out->code = 409;
        out->body = json_pack("{s:s,s:s}", "error", "a plugin of that name is loaded: reload it instead",
                              "file", m->file);
        return;
    }
    mf_error err = {0};
    m = mf_plugin_load(argv[1], &err);
    if (!m) {
        out->code = 409;
        out->body = json_pack("{s:s}", "error", err.msg);
        return;
    }
    out->body = module_json(m);
}

static void cmd_unload(int argc, char **argv, mf_admin_reply *out)
{
    if (argc != 2) {
        out->code = 400;
        out->body = json_pack("{s:s}", "error", "usage: unload NAME");
        return;
    }
    mf_module *m = mf_plugin_find(argv[1]);
    if (!m) {
        out->code = 404;
        out->body = json_pack("{s:s}", "error", "no plugin of that name is loaded");
        return;
    }
    if (m->refs > 0) {
        /* say who needs it */
        char who[1500] = "";
        size_t w = 0;
        for (mf_instance *i = mf_instances(); i && w < sizeof who - 200; i = i->next)
            if (i->mod == m)
                w += (size_t)snprintf(who + w, sizeof who - w, "%s%s %s", w ? ", " : "", mf_role_name(i->role),
                                      i->name);
        if (mf_router_breaker_module() == m && w < sizeof who - 200)
            w += (size_t)snprintf(who + w, sizeof who - w, "%sthe circuit breakers of the routing", w ? ", " : "");
        if (mf_cache_module() == m && w < sizeof who - 200)
            w += (size_t)snprintf(who + w, sizeof who - w, "%sthe result cache", w ? ", " : "");
        char msg[1700];
        snprintf(msg, sizeof msg, "plugin %s is in use by %s; it stays loaded", m->name, who);
        out->code = 409;
        out->body = json_pack("{s:s,s:s}", "error", msg, "plugin", m->name);
        return;
    }
    json_t *gone = module_json(m);
    mf_error err = {0};
    if (mf_plugin_unload(m, &err)) {
        json_decref(gone);
        out->code = 409;
        out->body = json_pack("{s:s}", "error", err.msg);
        return;
    }
    out->body = json_pack("{s:o,s:b}", "plugin", gone, "unloaded", 1);
}

static void reload_done(void *ud, int code, json_t *report)
{
    mf_admin_answer(ud, code, report);
}

/* The running provider instance called name whose plugin can reload what it runs. */
static mf_instance *reloadable_provider(const char *name)
{
    for (mf_instance *i = mf_instances(); i; i = i->next)
        if (i->role == MF_ROLE_PROVIDER && i->phase == MF_SWAP_NONE && !i->stopping && i->ops->reload &&
            strcmp(i->name, name) == 0)
            return i;
    return NULL;
}

static void cmd_reload(int argc, char **argv, mf_admin_reply *out)
{
    if (argc != 2) {
        out->code = 400;
        out->body = json_pack("{s:s}", "error", "usage: reload NAME | reload policy | reload config");
        return;
    }
    if (strcmp(argv[1], "config") == 0) {
        mf_reconfig_reload(reload_done, mf_admin_defer(out));
        return;
    }
    if (strcmp(argv[1], "policy") == 0) {
        mf_error err = {0};
        if (mf_policy_reload(&err) != 0) {
            out->code = 409;
            out->body = json_pack("{s:s,s:s}", "error", "the new policy was refused; the old one stays",
                                  "reason", err.msg);
            return;
        }
        out->body = mf_policy_status();
        return;
    }
    /* a plugin's name first (its code), then a provider's (what the provider runs) */
    mf_instance *inst = mf_plugin_find(argv[1]) ? NULL : reloadable_provider(argv[1]);
    if (inst) {
        inst->ops->reload(inst->self, reload_done, mf_admin_defer(out));
        return;
    }
    mf_swap_reload(argv[1], reload_done, mf_admin_defer(out));
}

void mf_admin_plugin_commands(void)
{
    mf_admin_command("plugins", "plugins", "the plugins loaded: file, generation, roles, instances", cmd_plugins);
    mf_admin_command("load", "load PATH", "load a plugin file (its ABI stamp checked first)", cmd_load);
    mf_admin_command("unload", "unload NAME", "unload a plugin nothing uses", cmd_unload);
    mf_admin_command("reload", "reload NAME | reload policy | reload config",
                     "swap a plugin for a fresh load of its file while it serves (NAME a plugin), load again what "
                     "a provider runs where its plugin can (NAME a provider: a python provider's module), load the "
                     "routing policy again "
                     "(the old stays if the new fails), or read the configuration file again and apply what "
                     "changed (refused whole if any of it is wrong)",
                     cmd_reload);
}
