/* The admin commands about what the kernel knows: status, providers, sessions and the
 * supervision tree. */
#include "build-config.h"
#include "admin.h"
#include "call.h"
#include "router.h"
#include "cache_hook.h"
#include "session.h"
#include "supervisor.h"
#include "policy.h"
#include "observe.h"
#include "ratelimit.h"
#include "plugin_loader.h"
#include "control.h"
#include "instance.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void cmd_status(int argc, char **argv, mf_admin_reply *out)
{
    (void)argc;
    (void)argv;
    size_t n;
    mf_provider **ps = mf_registry_providers(&n);
    size_t up = 0;
    for (size_t i = 0; i < n; i++)
        if (ps[i]->state == MF_PROVIDER_UP)
            up++;
    out->body = json_pack("{s:s,s:i,s:I,s:i,s:i,s:i,s:i,s:i,s:i,s:b}", "version", PACKAGE_VERSION, "pid",
                          (int)getpid(), "uptime_ms", (json_int_t)(mf_now() - mf_ctrl.started_at), "sessions",
                          (int)mf_session_count(), "providers", (int)n, "providers_up", (int)up,
                          "calls_in_flight", (int)mf_calls_in_flight(), "calls_waiting", (int)mf_calls_waiting(), "processes",
                          (int)mf_supervision_processes(), "catalog_settled", mf_registry_settled());
    json_object_set_new(out->body, "allocator", json_string(mf_allocator()));
    json_object_set_new(out->body, "tracing", mf_trace_status());
    json_object_set_new(out->body, "audit", mf_audit_status());
}

static void cmd_providers(int argc, char **argv, mf_admin_reply *out)
{
    (void)argc;
    (void)argv;
    static const char *const states[] = {"starting", "up", "down", "failed"};
    size_t n;
    mf_provider **ps = mf_registry_providers(&n);
    json_t *list = json_array();
    for (size_t i = 0; i < n; i++) {
        mf_provider *p = ps[i];
        json_t *counts = json_object();
        for (int k = 0; k < MF_KINDS; k++)
            json_object_set_new(counts, mf_kinds[k].result_key, json_integer((json_int_t)json_array_size(p->lists[k].items)));
        json_t *server = json_object_get(p->init, "serverInfo");
        json_t *figures = p->inst && !p->inst->stopping && p->inst->ops->status ? p->inst->ops->status(p->inst->self)
                                                                                  : NULL;
        json_array_append_new(list, json_pack("{s:s,s:s,s:s?,s:s,s:s?,s:O?,s:o,s:o?}", "name", p->conf->name,
                                              "transport", p->conf->transport, "prefix", p->conf->prefix,
                                              "state", states[p->state], "reason", p->reason, "server",
                                              server, "listed", counts, "figures", figures));
    }
    /* those a reload took out of routing, finishing their calls */
    json_t *leaving = json_array();
    for (mf_provider *p = mf_registry_all(); p; p = p->next_all)
        if (p->standing == MF_STANDING_RETIRING)
            json_array_append_new(leaving, json_pack("{s:s,s:i,s:b}", "name", p->conf->name, "calls", (int)p->calls,
                                                     "stopping", p->inst == NULL || p->inst->stopping));
    out->body = json_pack("{s:o,s:o}", "providers", list, "leaving", leaving);
}

static void cmd_sessions(int argc, char **argv, mf_admin_reply *out)
{
    (void)argc;
    (void)argv;
    json_t *list = mf_sessions_status();
    out->body = json_pack("{s:o}", "sessions", list);
}

/* Every listener (transport instance) that serves, with its transport's figures. */
static void cmd_listeners(int argc, char **argv, mf_admin_reply *out)
{
    (void)argc;
    (void)argv;
    json_t *list = json_array();
    for (mf_instance *i = mf_instances(); i; i = i->next) {
        if (i->role != MF_ROLE_TRANSPORT || i->stopping || i->phase == MF_SWAP_DRAINING)
            continue;
        json_t *figures = i->ops->status && i->self ? i->ops->status(i->self) : NULL;
        json_array_append_new(list, json_pack("{s:s,s:s,s:o*}", "name", i->name, "plugin", i->mod->name,
                                              "figures", figures));
    }
    out->body = json_pack("{s:o}", "listeners", list);
}

static void cmd_tasks(int argc, char **argv, mf_admin_reply *out)
{
    (void)argc;
    (void)argv;
    out->body = json_pack("{s:o}", "tasks", mf_tasks_status());
}

static void cmd_supervision(int argc, char **argv, mf_admin_reply *out)
{
    (void)argc;
    (void)argv;
    out->body = mf_supervision_tree();
}

static void cmd_targets(int argc, char **argv, mf_admin_reply *out)
{
    (void)argc;
    (void)argv;
    size_t n;
    mf_provider **ps = mf_registry_providers(&n);
    json_t *list = json_array();
    for (size_t i = 0; i < n; i++)
        for (int k = 0; k < ps[i]->ntargets; k++)
            json_array_append_new(list, mf_target_status(&ps[i]->targets[k]));
    out->body = json_pack("{s:o}", "targets", list);
}

static void cmd_breakers(int argc, char **argv, mf_admin_reply *out)
{
    (void)argc;
    (void)argv;
    size_t n;
    mf_provider **ps = mf_registry_providers(&n);
    json_t *list = json_array();
    for (size_t i = 0; i < n; i++)
        for (int k = 0; k < ps[i]->ntargets; k++) {
            json_t *st = mf_target_status(&ps[i]->targets[k]);
            json_array_append_new(list, json_pack("{s:O,s:O,s:O?}", "target", json_object_get(st, "name"),
                                                  "state", json_object_get(st, "breaker"), "status",
                                                  json_object_get(st, "breaker_status")));
            json_decref(st);
        }
    out->body = json_pack("{s:o}", "breakers", list);
}

static mf_target *target_arg(int argc, char **argv, mf_admin_reply *out)
{
    mf_target *t = argc >= 2 ? mf_target_find(argv[1]) : NULL;
    if (!t) {
        out->code = argc >= 2 ? 404 : 400;
        out->body = json_pack("{s:s}", "error", argc >= 2 ? "no such target (see targets)" : "which target?");
    }
    return t;
}

static void cmd_drain(int argc, char **argv, mf_admin_reply *out)
{
    mf_target *t = target_arg(argc, argv, out);
    if (!t)
        return;
    t->draining = strcmp(argv[0], "drain") == 0;
    mf_info("admin", t->draining ? "target draining" : "target back in routing", "target=%s", t->name);
    out->body = mf_target_status(t);
}

static void cmd_breaker(int argc, char **argv, mf_admin_reply *out)
{
    mf_target *t = target_arg(argc, argv, out);
    if (!t)
        return;
    static const struct { const char *word; mf_breaker_force f; } modes[] = {
        {"open", MF_BREAKER_FORCE_OPEN}, {"close", MF_BREAKER_FORCE_CLOSED}, {"auto", MF_BREAKER_AUTO},
        {"disable", MF_BREAKER_DISABLE},
    };
    for (size_t i = 0; argc >= 3 && i < sizeof modes / sizeof modes[0]; i++)
        if (strcmp(argv[2], modes[i].word) == 0) {
            mf_target_force(t, modes[i].f);
            mf_info("admin", "breaker set", "target=%s mode=%s", t->name, argv[2]);
            out->body = mf_target_status(t);
            return;
        }
    out->code = 400;
    out->body = json_pack("{s:s}", "error", "usage: breaker TARGET open|close|auto|disable");
}

static void cmd_scale(int argc, char **argv, mf_admin_reply *out)
{
    char *end = NULL;
    long n = argc == 3 ? strtol(argv[2], &end, 10) : 0;
    if (argc != 3 || !end || *end || n < 1 || n > 100000) {
        out->code = 400;
        out->body = json_pack("{s:s}", "error", "usage: scale PROVIDER N (N >= 1)");
        return;
    }
    size_t np;
    mf_provider **ps = mf_registry_providers(&np);
    mf_provider *p = NULL;
    for (size_t i = 0; i < np && !p; i++)
        if (strcmp(ps[i]->conf->name, argv[1]) == 0)
            p = ps[i];
    if (!p || !p->inst) {
        out->code = 404;
        out->body = json_pack("{s:s}", "error", p ? "the provider is not running" : "no such provider (see providers)");
        return;
    }
    if (!p->inst->ops->scale) {
        out->code = 409;
        out->body = json_pack("{s:s,s:s}", "error", "the provider's transport cannot scale", "transport",
                              p->conf->transport);
        return;
    }
    mf_error err = {0};
    if (p->inst->ops->scale(p->inst->self, (int)n, &err) != 0) {
        out->code = 409;
        out->body = json_pack("{s:s}", "error", err.msg);
        return;
    }
    mf_info("admin", "scaling", "provider=%s replicas=%ld", p->conf->name, n);
    out->body = json_pack("{s:s,s:i}", "provider", p->conf->name, "replicas", (int)n);
}

static void cmd_policy(int argc, char **argv, mf_admin_reply *out)
{
    (void)argc;
    (void)argv;
    out->body = mf_policy_status();
}

static void cmd_catalog(int argc, char **argv, mf_admin_reply *out)
{
    if (argc > 2) {
        out->code = 400;
        out->body = json_pack("{s:s}", "error", "usage: catalog [ENDPOINT]");
        return;
    }
    out->body = mf_view_endpoints(argc == 2 ? argv[1] : NULL);
    if (!out->body) {
        out->code = 404;
        out->body = json_pack("{s:s,s:s}", "error", "no such endpoint (a listen URL, or stdio)", "endpoint", argv[1]);
    }
}

static void cmd_rates(int argc, char **argv, mf_admin_reply *out)
{
    (void)argc;
    (void)argv;
    out->body = mf_rate_status();
}

static void cmd_cache(int argc, char **argv, mf_admin_reply *out)
{
    if (argc == 1) {
        out->body = mf_cache_status();
        return;
    }
    if (strcmp(argv[1], "clear") != 0 || argc > 3) {
        out->code = 400;
        out->body = json_pack("{s:s}", "error", "usage: cache [clear [TOOL]]");
        return;
    }
    long n = mf_cache_clear(argc == 3 ? argv[2] : NULL);
    if (n < 0) {
        out->code = 409;
        out->body = json_pack("{s:s}", "error", "no result cache is configured");
        return;
    }
    out->body = json_pack("{s:s?,s:I}", "tool", argc == 3 ? argv[2] : NULL, "cleared", (json_int_t)n);
}

static void cmd_metrics(int argc, char **argv, mf_admin_reply *out)
{
    (void)argc;
    (void)argv;
    size_t n;
    mf_provider **ps = mf_registry_providers(&n);
    uint64_t calls = 0, failures = 0;
    unsigned open = 0, healthy = 0, targets = 0;
    for (size_t i = 0; i < n; i++)
        for (int k = 0; k < ps[i]->ntargets; k++) {
            mf_target *t = &ps[i]->targets[k];
            targets++;
            calls += t->calls;
            failures += t->failures;
            healthy += t->up && t->healthy;
            open += strcmp(mf_target_breaker(t), "open") == 0 || strcmp(mf_target_breaker(t), "forced_open") == 0;
        }
    out->body = json_pack("{s:I,s:i,s:i,s:i,s:i,s:i,s:i,s:I,s:I,s:o}", "uptime_ms",
                          (json_int_t)(mf_now() - mf_ctrl.started_at),
                          "sessions", (int)mf_session_count(), "calls_in_flight", (int)mf_calls_in_flight(),
                          "processes", (int)mf_supervision_processes(), "targets", (int)targets,
                          "targets_healthy", (int)healthy, "breakers_open", (int)open, "upstream_calls",
                          (json_int_t)calls, "upstream_failures", (json_int_t)failures, "policy", mf_policy_status());
    json_object_set_new(out->body, "cache", mf_cache_status());
}

void mf_admin_kernel_commands(void)
{
    mf_ctrl.started_at = mf_now();
    mf_admin_command("status", "status", "the gateway at a glance", cmd_status);
    mf_admin_command("providers", "providers", "every provider, its state and what it lists", cmd_providers);
    mf_admin_command("sessions", "sessions", "the client sessions", cmd_sessions);
    mf_admin_command("listeners", "listeners", "every listener and its figures (failed authentications)",
                     cmd_listeners);
    mf_admin_command("tasks", "tasks", "the tasks kept: owner, provider, tool, state, age", cmd_tasks);
    mf_admin_command("targets", "targets", "every target: health, load, latency, errors, breaker", cmd_targets);
    mf_admin_command("breakers", "breakers", "every target's circuit breaker", cmd_breakers);
    mf_admin_command("drain", "drain TARGET", "route no new call to a target", cmd_drain);
    mf_admin_command("undrain", "undrain TARGET", "route calls to a drained target again", cmd_drain);
    mf_admin_command("breaker", "breaker TARGET open|close|auto|disable", "force a target's breaker", cmd_breaker);
    mf_admin_command("scale", "scale PROVIDER N",
                     "grow or shrink a dynamic pool (restart.strategy = \"simple_one_for_one\")", cmd_scale);
    mf_admin_command("policy", "policy", "the routing policy: file, decisions, errors, reloads", cmd_policy);
    mf_admin_command("catalog", "catalog [ENDPOINT]",
                     "which tools, prompts and resources each endpoint (listen URL, or stdio) serves", cmd_catalog);
    mf_admin_command("cache", "cache [clear [TOOL]]",
                     "the result cache: entries, bytes, hits, misses, evictions, coalesced, per tool; or drop entries",
                     cmd_cache);
    mf_admin_command("rates", "rates",
                     "the rate limits: buckets in use and their fill, calls admitted and refused per limit", cmd_rates);
    mf_admin_command("metrics", "metrics", "counters: sessions, calls, processes, targets, breakers, policy, cache",
                     cmd_metrics);
    mf_admin_command("supervision", "supervision",
                     "the supervision tree: supervisors, children, pids, states, restarts, last exits",
                     cmd_supervision);
    mf_admin_observe_commands();
}
