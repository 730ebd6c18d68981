/* The python plugin's provider role (py.h), and the reload of its module: a new pool
 * beside the old one, which takes new calls once every worker of it has listed the tools;
 * the old one finishes its calls and stops. */
#include "py.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TICK_MS 100

static void on_handle_closed(uv_handle_t *h) { prov_handle_closed(h->data); }

void prov_handle_closed(prov *p)
{
    if (--p->open_handles > 0)
        return;
    mf_instance *inst = p->inst;
    py_conf_free(&p->cfg);
    free(p->failed_reason);
    free(p);
    if (inst)
        mf_instance_stopped(inst);
}

prov *prov_new(mf_instance *inst, const json_t *conf)
{
    prov *p = mf_xcalloc(1, sizeof *p);
    p->inst = inst;
    p->next_id = 1;
    py_conf_load(&p->cfg, conf, mf_instance_name(inst));
    uv_timer_init(mf_loop(), &p->tick);
    uv_timer_init(mf_loop(), &p->batch_timer);
    p->tick.data = p->batch_timer.data = p;
    p->open_handles = 2;
    uv_timer_start(&p->tick, calls_tick, TICK_MS, TICK_MS);
    return p;
}

/* Close the timers (and, with the pools already stopping, free p once all are gone). */
void prov_close(prov *p)
{
    uv_close((uv_handle_t *)&p->tick, on_handle_closed);
    uv_close((uv_handle_t *)&p->batch_timer, on_handle_closed);
}

void prov_report(prov *p)
{
    if (p->stopping || p->handed_over)
        return;
    pool *pl = p->cur;
    if (pool_any_ready(pl)) {
        if (!p->up) {
            p->up = true;
            json_t *init = json_pack("{s:s,s:{s:{s:b}},s:{s:s,s:s}}", "protocolVersion", "2025-11-25",
                                     "capabilities", "tools", "listChanged", 1, "serverInfo", "name", "python",
                                     "version", mf_version());
            mf_provider_status(p->inst, MF_PROVIDER_UP, init, NULL);
            json_decref(init);
        }
        return;
    }
    if (pl && pl->failed) {
        p->up = false;
        char why[900];
        snprintf(why, sizeof why, "provider %s is unavailable: %s", py_name(p), pl->failed_reason);
        calls_fail_queue(p, MF_RPC_UNAVAILABLE, why);
        mf_provider_status(p->inst, MF_PROVIDER_FAILED, NULL, pl->failed_reason);
    } else if (p->up) {
        p->up = false;
        mf_provider_status(p->inst, MF_PROVIDER_DOWN, NULL, "no worker is ready");
    }
}

void prov_retire_idle(prov *p)
{
    for (pool **pp = &p->old; *pp;) {
        pool *o = *pp;
        if (!pool_jobs(o)) {
            *pp = o->next;
            mf_info("python", "old pool drained; stopping it", "provider=%s generation=%u", py_name(p), o->gen);
            pool_stop(o);
        } else {
            pp = &o->next;
        }
    }
}

static json_t *tool_names(const pool *pl)
{
    json_t *names = json_array();
    size_t i;
    json_t *t;
    json_array_foreach(json_object_get(pl->tools, "tools"), i, t)
        json_array_append(names, json_object_get(t, "name"));
    return names;
}

void prov_reload_end(prov *p, pool *pl, const char *error, const char *traceback)
{
    py_reload_done done = p->reload_done;
    void *ud = p->reload_ud;
    p->reload_done = NULL;
    p->next = NULL;
    if (error) {
        mf_warn("python", "module reload refused; the old pool keeps serving", "provider=%s error=\"%s\"",
                py_name(p), mf_log_esc(error, (size_t)-1));
        json_t *report = json_pack("{s:s,s:s,s:s,s:s?}", "error", "the module was refused; the old pool keeps serving",
                                   "provider", py_name(p), "reason", error, "traceback", traceback);
        pool_stop(pl);
        if (done)
            done(ud, 409, report);
        else
            json_decref(report);
        return;
    }
    pool *old = p->cur;
    p->cur = pl;
    if (old) {
        old->next = p->old;
        p->old = old;
    }
    mf_info("python", "module reloaded; new calls go to the new pool", "provider=%s generation=%u", py_name(p),
            pl->gen);
    prov_report(p);
    /* the tools may have changed: the kernel lists them again */
    mf_provider_notify(p->inst, json_pack("{s:s,s:s}", "jsonrpc", "2.0", "method", "notifications/tools/list_changed"),
                       0);
    calls_flush_queue(p);
    prov_retire_idle(p);
    if (done)
        done(ud, 200, json_pack("{s:s,s:s,s:i,s:i,s:o}", "provider", py_name(p), "module", p->cfg.module,
                                "generation", (int)pl->gen, "workers", pl->n, "tools", tool_names(pl)));
}

/* --- role operations --- */

static int start(mf_instance *inst, const json_t *conf, void **self, mf_error *err)
{
    prov *p = prov_new(inst, conf);
    p->cur = pool_start(p, err);
    if (!p->cur) {
        p->inst = NULL;   /* start failed: the instance was never ours to report */
        p->stopping = true;
        prov_close(p);
        return -1;
    }
    *self = p;
    mf_provider_status(inst, MF_PROVIDER_STARTING, NULL, NULL);
    return 0;
}

static void receive(void *self, mf_msg *m)
{
    prov *p = self;
    if (p->handed_over) {
        mf_instance_forward(p->inst, m);   /* the successor has every call */
        return;
    }
    switch (m->kind) {
    case MF_MSG_REQUEST:
        calls_request(p, m);
        return;
    case MF_MSG_CANCEL:
        calls_cancel(p, m->corr, json_string_value(json_object_get(m->json, "reason")));
        break;
    default:
        break;   /* workers take no notification and ask nothing */
    }
    mf_msg_free(m);
}

static void stop(void *self)
{
    prov *p = self;
    if (p->handed_over)
        return;   /* draining: it stops once its timers are closed */
    p->stopping = true;
    char why[200];
    snprintf(why, sizeof why, "provider %s is shutting down", py_name(p));
    calls_fail_all(p, MF_RPC_SHUTTING_DOWN, why);
    if (p->reload_done) {
        py_reload_done done = p->reload_done;
        p->reload_done = NULL;
        done(p->reload_ud, 409, json_pack("{s:s}", "error", why));
    }
    for (pool *o; (o = p->old);) {
        p->old = o->next;
        pool_stop(o);
    }
    if (p->next)
        pool_stop(p->next);
    if (p->cur)
        pool_stop(p->cur);
    p->next = p->cur = NULL;
    prov_close(p);
}

static void reload(void *self, void (*done)(void *ud, int code, json_t *report), void *ud)
{
    prov *p = self;
    if (p->stopping || p->handed_over) {
        done(ud, 409, json_pack("{s:s}", "error", "the provider is stopping"));
        return;
    }
    if (p->next) {
        done(ud, 409, json_pack("{s:s}", "error", "a reload of the module is under way; try again when it is done"));
        return;
    }
    mf_error err = {0};
    pool *pl = pool_start(p, &err);
    if (!pl) {
        done(ud, 409, json_pack("{s:s,s:s}", "error", "the new pool could not start; the old pool keeps serving",
                                "reason", err.msg));
        return;
    }
    mf_info("python", "reloading the module: new pool starting", "provider=%s generation=%u module=%s",
            py_name(p), pl->gen, p->cfg.module);
    p->next = pl;
    p->reload_done = done;
    p->reload_ud = ud;
}

static const mf_role_ops provider_ops = {
    .check = py_check,
    .start = start,
    .receive = receive,
    .stop = stop,
    .save = py_save,
    .resume = py_resume,
    .adopt = py_adopt,
    .drain = py_drain,
    .reload = reload,
};

MF_PLUGIN(.name = "python", .version = "1",
          .description = "tools written in Python, run by a supervised pool of worker processes",
          .provider = &provider_ops, .provider_settings = py_provider_settings);
