/* Hot swap of the python plugin (`reload python`): the next generation takes the worker
 * processes over as they run, with their calls in flight, so no worker restarts and no call
 * is lost. The processes belong to the kernel's supervision; the successor rebinds them.
 * The state: the pool's supervisor, tools and workers (child ids, readiness, unfinished
 * frame bytes), the jobs in flight with their calls, the calls waiting. Gathering batches
 * are sent before the save. A reload of the module under way, or an old pool still
 * finishing, is not handed over: the swap is refused until it is done. */
#include "py.h"
#include "../stdio/swapstate.h"

#include <stdlib.h>
#include <string.h>

static json_t *pool_state(const pool *pl)
{
    json_t *ws = json_array();
    for (int i = 0; i < pl->n; i++) {
        const worker *w = &pl->workers[i];
        json_array_append_new(ws, json_pack("{s:o,s:i,s:o}", "child", swap_u64_new(w->child ? mf_child_id(w->child) : 0),
                                            "state", (int)w->state, "pending",
                                            json_stringn_nocheck(w->rd.buf ? w->rd.buf : "", w->rd.len)));
    }
    return json_pack("{s:o,s:i,s:O?,s:O?,s:b,s:s?,s:o}", "sup", swap_u64_new(mf_sup_id(pl->sup)), "gen", (int)pl->gen,
                     "tools", pl->tools, "flags", pl->flags, "failed", pl->failed, "failed_reason", pl->failed_reason,
                     "workers", ws);
}

static json_t *jobs_state(const prov *p)
{
    json_t *jobs = json_array();
    uint64_t now = mf_now();
    for (const job *j = p->jobs; j; j = j->hh.next) {
        json_t *calls = json_array();
        for (int i = 0; i < j->ncalls; i++)
            json_array_append_new(calls, json_pack("{s:o,s:b,s:i}", "msg", swap_msg_save(j->calls[i]->req), "answered",
                                                   j->calls[i]->answered, "tries", j->calls[i]->tries));
        json_array_append_new(jobs, json_pack("{s:I,s:i,s:b,s:b,s:I,s:o}", "id", (json_int_t)j->id, "worker",
                                              j->w->index, "batch", j->batch, "idempotent", j->idempotent, "kill_in",
                                              (json_int_t)(j->kill_at ? (j->kill_at > now ? j->kill_at - now : 1) : 0),
                                              "calls", calls));
    }
    return jobs;
}

void py_save(void *self)
{
    prov *p = self;
    if (p->next || p->old) {
        mf_instance_saved(p->inst, NULL, 0, p->next ? "a reload of its module is under way"
                                                    : "an old pool of its module is still finishing its calls");
        return;
    }
    for (gather *g = p->gathers; g; g = g->hh.next)
        g->due = 0;
    calls_batch_due(&p->batch_timer);   /* every gathering batch goes now */
    json_t *queue = json_array();
    for (pcall *k = p->qhead; k; k = k->qnext)
        json_array_append_new(queue, json_pack("{s:o,s:i}", "msg", swap_msg_save(k->req), "tries", k->tries));
    json_t *st = json_pack("{s:i,s:i,s:I,s:b,s:o,s:o,s:o}", "v", PY_STATE_VERSION, "gens", (int)p->gens, "next_id",
                           (json_int_t)p->next_id, "up", p->up, "pool", pool_state(p->cur), "jobs", jobs_state(p),
                           "queue", queue);
    size_t len = 0;
    char *buf = mf_state_pack(st, &len);
    json_decref(st);
    mf_instance_saved(p->inst, buf, len, buf ? NULL : "its state could not be written down");
    free(buf);
}

void py_resume(void *self)
{
    prov *p = self;
    for (int i = 0; p->cur && i < p->cur->n; i++)
        if (p->cur->workers[i].child)
            mf_child_rebind(mf_child_id(p->cur->workers[i].child), &py_child_ops, &p->cur->workers[i]);
}

/* Free a pool whose supervisor and processes are another generation's. */
static void pool_let_go(pool *pl)
{
    for (int i = 0; i < pl->n; i++)
        pl->workers[i].child = NULL;
    pool_free(pl);
}

void py_drain(void *self)
{
    prov *p = self;
    p->handed_over = true;
    calls_forget_all(p);   /* the successor answers them */
    if (p->cur)
        pool_let_go(p->cur);
    p->cur = NULL;
    prov_close(p);
}

/* --- the successor --- */

static const char *load_pool(prov *p, const json_t *st)
{
    json_t *ws = json_object_get(st, "workers");
    if ((int)json_array_size(ws) != p->cfg.workers)
        return "the state has another number of workers";
    pool *pl = pool_new(p, (unsigned)json_integer_value(json_object_get(st, "gen")));
    p->cur = pl;
    json_t *tools = json_object_get(st, "tools"), *flags = json_object_get(st, "flags");
    pl->tools = json_is_object(tools) ? json_incref(tools) : NULL;
    pl->flags = json_is_object(flags) ? json_incref(flags) : NULL;
    pl->failed = json_is_true(json_object_get(st, "failed"));
    const char *why = json_string_value(json_object_get(st, "failed_reason"));
    pl->failed_reason = why ? mf_xstrdup(why) : NULL;
    pl->sup = mf_sup_find(swap_u64(st, "sup"));
    if (!pl->sup)
        return "its supervisor is gone";
    for (int i = 0; i < pl->n; i++) {
        json_t *w = json_array_get(ws, (size_t)i);
        json_int_t state = json_integer_value(json_object_get(w, "state"));
        json_t *pending = json_object_get(w, "pending");
        if (state < W_STARTING || state > W_FAILED || !json_is_string(pending))
            return "a worker's state is not one this version reads";
        pl->workers[i].state = (wstate)state;
        pl->workers[i].started_at = mf_now();
        if (json_string_length(pending))
            mf_buf_append(&pl->workers[i].rd.buf, &pl->workers[i].rd.len, &pl->workers[i].rd.cap,
                          json_string_value(pending), json_string_length(pending));
    }
    for (int i = 0; i < pl->n; i++) {
        uint64_t id = swap_u64(json_array_get(ws, (size_t)i), "child");
        if (id && !(pl->workers[i].child = mf_child_rebind(id, &py_child_ops, &pl->workers[i])))
            return "a worker's process is no longer supervised";
    }
    return NULL;
}

static const char *load_jobs(prov *p, const json_t *jobs, const json_t *queue)
{
    size_t i, k;
    json_t *j, *c;
    json_array_foreach(jobs, i, j) {
        json_int_t w = json_integer_value(json_object_get(j, "worker"));
        if (w < 0 || w >= p->cur->n || !json_is_array(json_object_get(j, "calls")))
            return "a job names no worker";
        job *jb = job_add(p, json_integer_value(json_object_get(j, "id")), &p->cur->workers[w],
                          json_is_true(json_object_get(j, "batch")), json_is_true(json_object_get(j, "idempotent")));
        json_int_t kill_in = json_integer_value(json_object_get(j, "kill_in"));
        json_array_foreach(json_object_get(j, "calls"), k, c) {
            mf_msg *m = swap_msg_load(json_object_get(c, "msg"), mf_instance_ep(p->inst));
            if (!m)
                return "a call could not be read";
            pcall *pc = pcall_new(p, m);
            pc->answered = json_is_true(json_object_get(c, "answered"));
            pc->tries = (int)json_integer_value(json_object_get(c, "tries"));
            job_attach(jb, pc);
        }
        jb->kill_at = kill_in > 0 ? mf_now() + (uint64_t)kill_in : 0;
    }
    json_array_foreach(queue, i, c) {
        mf_msg *m = swap_msg_load(json_object_get(c, "msg"), mf_instance_ep(p->inst));
        if (!m)
            return "a waiting call could not be read";
        pcall *pc = pcall_new(p, m);
        pc->tries = (int)json_integer_value(json_object_get(c, "tries"));
        calls_queue(p, pc, false);
    }
    return NULL;
}

int py_adopt(mf_instance *inst, const json_t *conf, const char *state, size_t len, void **self, mf_error *err)
{
    json_t *st = mf_state_unpack(state, len, err);
    if (!st)
        return -1;
    prov *p = prov_new(inst, conf);
    const char *why = NULL;
    if (json_integer_value(json_object_get(st, "v")) != PY_STATE_VERSION ||
        !json_is_object(json_object_get(st, "pool")) || !json_is_array(json_object_get(st, "jobs")) ||
        !json_is_array(json_object_get(st, "queue")))
        why = "the state handed over is not one this version reads";
    if (!why)
        why = load_pool(p, json_object_get(st, "pool"));
    if (!why)
        why = load_jobs(p, json_object_get(st, "jobs"), json_object_get(st, "queue"));
    if (why) {
        /* nothing is answered: the calls and the processes are still the predecessor's */
        mf_error_set(err, -1, "python provider: %s", why);
        calls_forget_all(p);
        if (p->cur)
            pool_let_go(p->cur);
        p->cur = NULL;
        p->inst = NULL;
        p->handed_over = true;
        prov_close(p);
        json_decref(st);
        return -1;
    }
    p->gens = (unsigned)json_integer_value(json_object_get(st, "gens"));
    p->next_id = json_integer_value(json_object_get(st, "next_id"));
    p->up = json_is_true(json_object_get(st, "up"));
    json_decref(st);
    *self = p;
    return 0;
}
