/* Calls: from the kernel to a worker (one call, or gathered into a batch), and their
 * answers, progress, cancellation and deadlines back. Every request gets exactly one
 * answer unless the kernel cancelled it. */
#include "py.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_TRIES 2   /* an idempotent call lost with its worker goes once more */

static mf_ep self_ep(const prov *p) { return mf_instance_ep(p->inst); }

static void reply_result(prov *p, pcall *k, json_t *result)
{
    mf_send(mf_msg_reply(k->req, self_ep(p), json_pack("{s:o}", "result", result)));
    k->answered = true;
}

static void reply_tool_error(prov *p, pcall *k, const char *text)
{
    reply_result(p, k, json_pack("{s:[{s:s,s:s}],s:b}", "content", "type", "text", "text", text, "isError", 1));
}

static void reply_error(prov *p, pcall *k, int code, const char *text)
{
    mf_send(mf_msg_reply_error(k->req, self_ep(p), code, "%s", text));
    k->answered = true;
}

pcall *pcall_new(prov *p, mf_msg *m)
{
    pcall *k = mf_xcalloc(1, sizeof *k);
    k->corr = m->corr;
    k->req = m;
    HASH_ADD(hh, p->calls, corr, sizeof k->corr, k);
    return k;
}

void pcall_free(prov *p, pcall *k)
{
    HASH_DEL(p->calls, k);
    mf_msg_free(k->req);
    free(k);
}

static const char *tool_of(const pcall *k)
{
    return json_string_value(json_object_get(json_object_get(k->req->json, "params"), "name"));
}

static json_t *args_of(const pcall *k)
{
    json_t *a = json_object_get(json_object_get(k->req->json, "params"), "arguments");
    return a ? a : json_object();
}

/* --- jobs --- */

job *job_add(prov *p, int64_t id, worker *w, bool batch, bool idempotent)
{
    job *j = mf_xcalloc(1, sizeof *j);
    j->id = id;
    j->w = w;
    j->batch = batch;
    j->idempotent = idempotent;
    HASH_ADD(hh, p->jobs, id, sizeof j->id, j);
    w->inflight++;
    return j;
}

void job_attach(job *j, pcall *k)
{
    j->calls = mf_xrealloc(j->calls, (size_t)(j->ncalls + 1) * sizeof *j->calls);
    j->calls[j->ncalls++] = k;
    k->job = j;
    uint64_t dl = k->req->deadline;
    if (dl && (!j->kill_at || dl + (uint64_t)j->w->pool->p->cfg.cancel_grace_ms < j->kill_at))
        j->kill_at = dl + (uint64_t)j->w->pool->p->cfg.cancel_grace_ms;
}

/* The job is over: its calls (answered by now) and itself go. */
static void job_end(prov *p, job *j)
{
    HASH_DEL(p->jobs, j);
    if (j->w->inflight)
        j->w->inflight--;
    for (int i = 0; i < j->ncalls; i++)
        pcall_free(p, j->calls[i]);
    free(j->calls);
    free(j);
}

static bool job_open(const job *j)
{
    for (int i = 0; i < j->ncalls; i++)
        if (!j->calls[i]->answered)
            return true;
    return false;
}

/* --- sending --- */

static json_t *flags_of(const prov *p, const char *tool)
{
    return p->cur ? json_object_get(p->cur->flags, tool) : NULL;
}

static void send_job(prov *p, worker *w, pcall **ks, int n, const char *tool, bool batch)
{
    json_t *fl = flags_of(p, tool);
    job *j = job_add(p, p->next_id++, w, batch, json_is_true(json_object_get(fl, "idempotent")));
    json_t *frame;
    if (batch) {
        json_t *items = json_array();
        for (int i = 0; i < n; i++)
            json_array_append(items, args_of(ks[i]));
        frame = json_pack("{s:s,s:I,s:s,s:o}", "t", "batch", "id", (json_int_t)j->id, "tool", tool, "items", items);
    } else {
        frame = json_pack("{s:s,s:I,s:s,s:O}", "t", "call", "id", (json_int_t)j->id, "tool", tool, "args",
                          args_of(ks[0]));
    }
    for (int i = 0; i < n; i++) {
        ks[i]->tries++;
        job_attach(j, ks[i]);
    }
    if (worker_send(w, frame) != 0) {
        for (int i = 0; i < n; i++)
            reply_error(p, ks[i], MF_RPC_UPSTREAM_LOST, "cannot write to the worker");
        job_end(p, j);
    }
    json_decref(frame);
}

void calls_queue(prov *p, pcall *k, bool front)
{
    k->job = NULL;
    k->qnext = NULL;
    if (front) {
        k->qnext = p->qhead;
        p->qhead = k;
        if (!p->qtail)
            p->qtail = k;
    } else {
        if (p->qtail)
            p->qtail->qnext = k;
        else
            p->qhead = k;
        p->qtail = k;
    }
    p->qlen++;
}

static pcall *queue_pop(prov *p)
{
    pcall *k = p->qhead;
    if (k) {
        p->qhead = k->qnext;
        if (!p->qhead)
            p->qtail = NULL;
        k->qnext = NULL;
        p->qlen--;
    }
    return k;
}

/* Take k out of a list; true if it was there. */
static bool list_drop(pcall **head, pcall **tail, pcall *k)
{
    pcall *prev = NULL;
    for (pcall *x = *head; x; prev = x, x = x->qnext)
        if (x == k) {
            if (prev)
                prev->qnext = x->qnext;
            else
                *head = x->qnext;
            if (*tail == x)
                *tail = prev;
            return true;
        }
    return false;
}

static void gather_flush(prov *p, gather *g)
{
    HASH_DEL(p->gathers, g);
    worker *w = pool_pick(p->cur);
    pcall **ks = mf_xcalloc((size_t)g->n, sizeof *ks);
    int n = 0;
    for (pcall *k = g->head, *next; k; k = next) {
        next = k->qnext;
        k->qnext = NULL;
        if (w)
            ks[n++] = k;
        else
            calls_queue(p, k, false);   /* no worker: they wait for one */
    }
    if (n)
        send_job(p, w, ks, n, g->tool, true);
    free(ks);
    free(g->tool);
    free(g);
}

static void arm_batch_timer(prov *p)
{
    uint64_t due = 0, now = mf_now();
    for (gather *g = p->gathers; g; g = g->hh.next)
        if (!due || g->due < due)
            due = g->due;
    if (due)
        uv_timer_start(&p->batch_timer, calls_batch_due, due > now ? due - now : 0, 0);
}

void calls_batch_due(uv_timer_t *t)
{
    prov *p = t->data;
    uint64_t now = mf_now();
    gather *g, *tmp;
    HASH_ITER(hh, p->gathers, g, tmp)
        if (g->due <= now)
            gather_flush(p, g);
    arm_batch_timer(p);
}

static void gather_add(prov *p, pcall *k, const char *tool)
{
    gather *g;
    HASH_FIND_STR(p->gathers, tool, g);
    if (!g) {
        g = mf_xcalloc(1, sizeof *g);
        g->tool = mf_xstrdup(tool);
        g->due = mf_now() + (uint64_t)p->cfg.batch_window_ms;
        HASH_ADD_KEYPTR(hh, p->gathers, g->tool, strlen(g->tool), g);
        if (!uv_is_active((uv_handle_t *)&p->batch_timer))
            uv_timer_start(&p->batch_timer, calls_batch_due, (uint64_t)p->cfg.batch_window_ms, 0);
    }
    if (g->tail)
        g->tail->qnext = k;
    else
        g->head = k;
    g->tail = k;
    if (++g->n >= p->cfg.batch_max)
        gather_flush(p, g);
}

/* Send k on its way: gathered into a batch, to the least busy worker, or to wait. */
static void route(prov *p, pcall *k)
{
    const char *tool = tool_of(k);
    json_t *fl = flags_of(p, tool);
    if (json_is_true(json_object_get(fl, "batch"))) {
        gather_add(p, k, tool);
        return;
    }
    worker *w = pool_pick(p->cur);
    if (w)
        send_job(p, w, &k, 1, tool, false);
    else
        calls_queue(p, k, false);
}

void calls_flush_queue(prov *p)
{
    size_t n = p->qlen;   /* those that go back (gathered, no worker) are not taken again */
    while (n-- && pool_any_ready(p->cur)) {
        pcall *k = queue_pop(p);
        route(p, k);
    }
}

void calls_fail_queue(prov *p, int code, const char *why)
{
    for (pcall *k; (k = queue_pop(p));) {
        reply_error(p, k, code, why);
        pcall_free(p, k);
    }
}

/* --- requests from the kernel --- */

static void reply_msg_error(prov *p, mf_msg *m, int code, const char *text)
{
    mf_send(mf_msg_reply_error(m, self_ep(p), code, "%s", text));
    mf_msg_free(m);
}

void calls_request(prov *p, mf_msg *m)
{
    const char *method = mf_rpc_method(m->json);
    if (method && strcmp(method, "tools/list") == 0) {
        json_t *tools = p->cur && p->cur->tools ? json_incref(p->cur->tools) : json_pack("{s:[]}", "tools");
        mf_send(mf_msg_reply(m, self_ep(p), json_pack("{s:o}", "result", tools)));
        mf_msg_free(m);
        return;
    }
    if (method && strcmp(method, "ping") == 0) {
        mf_send(mf_msg_reply(m, self_ep(p), json_pack("{s:{}}", "result")));
        mf_msg_free(m);
        return;
    }
    if (!method || strcmp(method, "tools/call") != 0) {
        char why[300];
        snprintf(why, sizeof why, "python tools serve no %s", method ? method : "such method");
        reply_msg_error(p, m, MF_RPC_METHOD_NOT_FOUND, why);
        return;
    }
    json_t *params = json_object_get(m->json, "params");
    const char *name = json_string_value(json_object_get(params, "name"));
    json_t *args = json_object_get(params, "arguments");
    char why[800];
    if (!json_is_object(params) || !name) {
        reply_msg_error(p, m, MF_RPC_INVALID_PARAMS, "tools/call needs params.name, a string");
    } else if (args && !json_is_object(args)) {
        reply_msg_error(p, m, MF_RPC_INVALID_PARAMS, "params.arguments must be an object");
    } else if (p->cur && p->cur->tools && !flags_of(p, name)) {
        snprintf(why, sizeof why, "no tool named \"%s\"", name);
        reply_msg_error(p, m, MF_RPC_INVALID_PARAMS, why);
    } else if (!pool_any_ready(p->cur) && (p->stopping || (p->cur && p->cur->failed))) {
        snprintf(why, sizeof why, "provider %s is unavailable: %s", py_name(p),
                 p->stopping ? "stopping" : p->cur->failed_reason);
        reply_msg_error(p, m, p->stopping ? MF_RPC_SHUTTING_DOWN : MF_RPC_UNAVAILABLE, why);
    } else if (!pool_any_ready(p->cur) && p->qlen >= (size_t)p->cfg.max_queue) {
        reply_msg_error(p, m, MF_RPC_OVERLOADED, "no worker is ready and max_queue calls wait already");
    } else {
        route(p, pcall_new(p, m));
    }
}

void calls_cancel(prov *p, uint64_t corr, const char *reason)
{
    pcall *k;
    HASH_FIND(hh, p->calls, &corr, sizeof corr, k);
    if (!k || k->answered)
        return;
    if (!k->job) {
        /* waiting, or gathering for a batch: it goes without a word */
        bool found = list_drop(&p->qhead, &p->qtail, k);
        if (found)
            p->qlen--;
        for (gather *g = p->gathers; !found && g; g = g->hh.next)
            if ((found = list_drop(&g->head, &g->tail, k)))
                g->n--;
        pcall_free(p, k);
        return;
    }
    k->answered = true;   /* a cancelled call gets no answer */
    job *j = k->job;
    if (job_open(j))
        return;   /* the rest of its batch still wants the results */
    json_t *f = json_pack("{s:s,s:I,s:s}", "t", "cancel", "id", (json_int_t)j->id, "reason",
                          reason ? reason : "cancelled");
    worker_send(j->w, f);
    json_decref(f);
    /* a function that does not stop costs its worker */
    uint64_t kill_at = mf_now() + (uint64_t)p->cfg.cancel_grace_ms;
    if (!j->kill_at || kill_at < j->kill_at)
        j->kill_at = kill_at;
}

/* --- frames from a worker --- */

/* A result as a tool returned it: an object, with text a client can read (JSON that
 * cannot be written out, such as text that is not UTF-8, is refused). */
static bool result_ok(const json_t *r)
{
    if (!json_is_object(r) || !json_is_array(json_object_get(r, "content")))
        return false;
    char *text = json_dumps(r, JSON_COMPACT);
    free(text);
    return text != NULL;
}

static void on_progress(prov *p, job *j, json_t *f)
{
    json_t *done = json_object_get(f, "progress");
    if (!json_is_number(done))
        return;
    for (int i = 0; i < j->ncalls; i++) {
        pcall *k = j->calls[i];
        json_t *token = json_object_get(json_object_get(json_object_get(k->req->json, "params"), "_meta"),
                                        "progressToken");
        if (k->answered || !token)
            continue;
        json_t *params = json_pack("{s:O,s:O}", "progressToken", token, "progress", done);
        json_t *total = json_object_get(f, "total"), *msg = json_object_get(f, "message");
        if (json_is_number(total))
            json_object_set(params, "total", total);
        if (json_is_string(msg))
            json_object_set(params, "message", msg);
        mf_provider_notify(p->inst, json_pack("{s:s,s:s,s:o}", "jsonrpc", "2.0", "method",
                                              "notifications/progress", "params", params), k->corr);
    }
}

int calls_frame(worker *w, json_t *f)
{
    prov *p = w->pool->p;
    const char *t = pyf_type(f);
    json_int_t id = json_integer_value(json_object_get(f, "id"));
    job *j;
    HASH_FIND(hh, p->jobs, &id, sizeof id, j);
    if (!j || j->w != w)
        return strcmp(t, "progress") == 0 ? 0 : -1;   /* late progress is harmless */
    if (strcmp(t, "progress") == 0) {
        on_progress(p, j, f);
        return 0;
    }
    if (strcmp(t, "error") == 0) {
        const char *msg = json_string_value(json_object_get(f, "message"));
        for (int i = 0; i < j->ncalls; i++)
            if (!j->calls[i]->answered)
                reply_tool_error(p, j->calls[i], msg ? msg : "the tool failed");
    } else if (strcmp(t, "result") == 0) {
        json_t *results = json_object_get(f, "results"), *one = json_object_get(f, "result");
        if (j->batch ? json_array_size(results) != (size_t)j->ncalls : !result_ok(one))
            return -1;
        for (int i = 0; i < j->ncalls; i++) {
            json_t *r = j->batch ? json_array_get(results, (size_t)i) : one;
            if (j->batch && !result_ok(r))
                return -1;
        }
        for (int i = 0; i < j->ncalls; i++)
            if (!j->calls[i]->answered)
                reply_result(p, j->calls[i], json_incref(j->batch ? json_array_get(results, (size_t)i) : one));
    } else {
        return -1;
    }
    job_end(p, j);
    prov_retire_idle(p);
    return 0;
}

/* --- losses, deadlines, the end --- */

void calls_worker_lost(prov *p, worker *w, const char *why)
{
    char lost[600];
    snprintf(lost, sizeof lost, "%s while handling the call", why);
    bool requeued = false;
    job *j, *tmp;
    HASH_ITER(hh, p->jobs, j, tmp) {
        if (j->w != w)
            continue;
        for (int i = 0; i < j->ncalls; i++) {
            pcall *k = j->calls[i];
            if (k->answered)
                continue;
            if (j->idempotent && k->tries < MAX_TRIES && !p->stopping) {
                j->calls[i] = NULL;   /* it lives on, waiting for another worker */
                calls_queue(p, k, true);
                requeued = true;
            } else {
                reply_error(p, k, MF_RPC_UPSTREAM_LOST, lost);
            }
        }
        int n = 0;
        for (int i = 0; i < j->ncalls; i++)
            if (j->calls[i])
                j->calls[n++] = j->calls[i];
        j->ncalls = n;
        job_end(p, j);
    }
    if (requeued)
        calls_flush_queue(p);
}

void calls_tick(uv_timer_t *t)
{
    prov *p = t->data;
    uint64_t now = mf_now();
    job *j, *tmp;
    HASH_ITER(hh, p->jobs, j, tmp)
        if (j->kill_at && now >= j->kill_at && !j->w->killed)
            worker_kill(j->w, "a call ran past its deadline (or its cancellation) by more than cancel_grace_ms");
    if (p->cur)
        pool_check(p->cur, now);
    if (p->next)
        pool_check(p->next, now);
    for (pool *o = p->old; o; o = o->next)
        pool_check(o, now);
}

void calls_fail_all(prov *p, int code, const char *why)
{
    calls_fail_queue(p, code, why);
    gather *g, *gt;
    HASH_ITER(hh, p->gathers, g, gt) {
        HASH_DEL(p->gathers, g);
        for (pcall *k = g->head, *next; k; k = next) {
            next = k->qnext;
            reply_error(p, k, code, why);
            pcall_free(p, k);
        }
        free(g->tool);
        free(g);
    }
    job *j, *jt;
    HASH_ITER(hh, p->jobs, j, jt) {
        for (int i = 0; i < j->ncalls; i++)
            if (!j->calls[i]->answered)
                reply_error(p, j->calls[i], code, why);
        job_end(p, j);
    }
}

void calls_forget_all(prov *p)
{
    for (pcall *k; (k = queue_pop(p));)
        pcall_free(p, k);
    job *j, *jt;
    HASH_ITER(hh, p->jobs, j, jt)
        job_end(p, j);
}
