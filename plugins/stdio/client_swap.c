/* Hot swap of upstream stdio: the next generation of the plugin takes the upstream
 * processes over as they run, so none restarts and no call is lost.
 *
 * The processes, their pipes and what waits to be written to them belong to the kernel's
 * supervision: the successor rebinds every replica's child to itself and finds its
 * supervisor. The rest is the state: each replica's readiness, initialize request and
 * answer, and unfinished output line; the calls in flight and the upstream's requests the
 * kernel is answering, under the ids and keys both sides know them by; the requests
 * waiting for a ready replica; the next upstream id; and the time left on each
 * initialize deadline. The save is synchronous, so no output of a child can fall between
 * the save and the successor's start. */
#include "client.h"
#include "swapstate.h"

#include <stdlib.h>
#include <string.h>

static const char *const state_names[] = {"starting", "ready", "down", "failed", "stopping"};

static int state_index(const char *name)
{
    for (int i = 0; name && i < (int)(sizeof state_names / sizeof *state_names); i++)
        if (strcmp(state_names[i], name) == 0)
            return i;
    return -1;
}

static json_t *replica_state(const replica *r)
{
    /* the time left to answer initialize, or -1 when it is not being waited for */
    json_int_t due = uv_is_active((const uv_handle_t *)&r->init_timer)
                         ? (json_int_t)uv_timer_get_due_in(&r->init_timer) : -1;
    return json_pack("{s:o,s:s,s:I,s:I,s:I,s:O?,s:o}", "child", swap_u64_new(r->child ? mf_child_id(r->child) : 0),
                     "state", state_names[r->state], "init_id", (json_int_t)r->init_id, "inflight",
                     (json_int_t)r->inflight, "init_due_ms", due, "init_result", r->init_result, "lines",
                     swap_lines_save(&r->lines));
}

static json_t *calls_state(const client *c)
{
    json_t *calls = json_array();
    for (const call *k = c->calls_by_up; k; k = k->by_up.next)
        json_array_append_new(calls, json_pack("{s:I,s:o,s:o,s:o,s:i}", "up", (json_int_t)k->upid, "corr",
                                               swap_u64_new(k->corr), "reply_to", swap_u64_new(k->reply_to),
                                               "session", swap_u64_new(k->session), "replica", k->r->index));
    return calls;
}

/* the waiting requests, in order; the queue is left as it was */
static json_t *queue_state(client *c)
{
    json_t *queue = json_array();
    mf_msgq again = {0};
    for (mf_msg *m; (m = mf_msgq_pop(&c->queue));) {
        json_array_append_new(queue, swap_msg_save(m));
        mf_msgq_push(&again, m);
    }
    c->queue = again;
    return queue;
}

static json_t *state_of(client *c)
{
    json_t *replicas = json_array();
    for (int i = 0; i < c->nreplicas; i++)
        json_array_append_new(replicas, replica_state(&c->replicas[i]));
    return json_pack("{s:i,s:o,s:I,s:b,s:b,s:s?,s:o,s:o,s:o,s:o}", "v", STDIO_STATE_VERSION, "sup",
                     swap_u64_new(mf_sup_id(c->sup)), "next_id", (json_int_t)c->next_id, "up", c->up, "failed",
                     c->failed, "failed_reason", c->failed_reason, "replicas", replicas, "calls", calls_state(c),
                     "asks", mf_idmap_save(&c->asks), "queue", queue_state(c));
}

void client_save(void *self)
{
    client *c = self;
    json_t *st = state_of(c);
    size_t len = 0;
    char *buf = st ? mf_state_pack(st, &len) : NULL;
    json_decref(st);
    if (!buf) {
        mf_instance_saved(c->inst, NULL, 0, "its state could not be written down");
        return;
    }
    /* the successor starts and this one drains (or resumes) before this returns */
    mf_instance_saved(c->inst, buf, len, NULL);
    free(buf);
}

void client_resume(void *self)
{
    client *c = self;
    /* a successor that failed may have taken some children already */
    for (int i = 0; i < c->nreplicas; i++)
        if (c->replicas[i].child)
            mf_child_rebind(mf_child_id(c->replicas[i].child), &stdio_child_ops, &c->replicas[i]);
}

void client_drain(void *self)
{
    client *c = self;
    c->handed_over = true;
    /* calls, asks and waiting requests are the successor's: dropped here, not answered */
    client_forget_all(c);
    for (mf_msg *m; (m = mf_msgq_pop(&c->queue));)
        mf_msg_free(m);
    for (int i = 0; i < c->nreplicas; i++) {
        uv_timer_stop(&c->replicas[i].init_timer);
        c->replicas[i].child = NULL;
    }
    client_close_timers(c);   /* the last one stops the instance */
}

/* --- the successor --------------------------------------------------------------- */

/* The parts of the state that must be right before anything is taken over. */
static const char *check_state(const client *c, const json_t *st)
{
    json_t *replicas = json_object_get(st, "replicas");
    if (json_integer_value(json_object_get(st, "v")) != STDIO_STATE_VERSION || !json_is_array(replicas) ||
        !json_is_array(json_object_get(st, "calls")) || !json_is_array(json_object_get(st, "asks")) ||
        !json_is_array(json_object_get(st, "queue")))
        return "the state handed over is not one this version reads";
    if ((int)json_array_size(replicas) != c->nreplicas)
        return "the state has another number of replicas";
    size_t i;
    json_t *r;
    json_array_foreach(replicas, i, r)
        if (state_index(json_string_value(json_object_get(r, "state"))) < 0)
            return "a replica's state is unknown";
    json_t *k;
    json_array_foreach(json_object_get(st, "calls"), i, k) {
        json_int_t ri = json_integer_value(json_object_get(k, "replica"));
        if (ri < 0 || ri >= c->nreplicas)
            return "a call names no replica";
    }
    mf_idmap probe = {0};
    int asks_bad = mf_idmap_adopt(&probe, json_object_get(st, "asks"));
    mf_idmap_clear(&probe);
    if (asks_bad)
        return "the upstream's requests are not a list of [key, id]";
    return NULL;
}

static const char *load_queue(client *c, const json_t *queue)
{
    size_t i;
    json_t *q;
    json_array_foreach(queue, i, q) {
        mf_msg *m = swap_msg_load(q, mf_instance_ep(c->inst));
        if (!m)
            return "a waiting request could not be read";
        mf_msgq_push(&c->queue, m);
    }
    return NULL;
}

static void load_calls(client *c, const json_t *calls)
{
    size_t i;
    json_t *j;
    json_array_foreach(calls, i, j) {
        call *k = calloc(1, sizeof *k);
        if (!k)
            continue;
        k->upid = json_integer_value(json_object_get(j, "up"));
        k->corr = swap_u64(j, "corr");
        k->reply_to = swap_u64(j, "reply_to");
        k->session = swap_u64(j, "session");
        k->r = &c->replicas[json_integer_value(json_object_get(j, "replica"))];
        HASH_ADD(by_up, c->calls_by_up, upid, sizeof k->upid, k);
        HASH_ADD(by_corr, c->calls_by_corr, corr, sizeof k->corr, k);
    }
}


static void load_replica(replica *r, const json_t *j)
{
    r->state = (ustate)state_index(json_string_value(json_object_get(j, "state")));
    r->init_id = json_integer_value(json_object_get(j, "init_id"));
    r->inflight = (unsigned)json_integer_value(json_object_get(j, "inflight"));
    json_t *init = json_object_get(j, "init_result");
    r->init_result = json_is_object(init) ? json_incref(init) : NULL;
    swap_lines_load(&r->lines, json_object_get(j, "lines"));
    json_int_t due = json_integer_value(json_object_get(j, "init_due_ms"));
    if (json_is_integer(json_object_get(j, "init_due_ms")) && due >= 0)
        uv_timer_start(&r->init_timer, client_on_init_timeout, (uint64_t)due, 0);
}

/* Give up a successor that took nothing over for good: its children are rebound back by
 * the predecessor's resume, its requests are still the predecessor's. */
static int adopt_fail(client *c, json_t *st, mf_error *err, const char *why)
{
    mf_error_set(err, -1, "stdio provider: %s", why);
    json_decref(st);
    if (c) {
        client_forget_all(c);
        for (mf_msg *m; (m = mf_msgq_pop(&c->queue));)
            mf_msg_free(m);
        c->inst = NULL;
        c->stopping = true;
        client_close_timers(c);
    }
    return -1;
}

int client_adopt(mf_instance *inst, const json_t *conf, const char *state, size_t len, void **self,
                 mf_error *err)
{
    json_t *st = mf_state_unpack(state, len, err);
    if (!st)
        return -1;
    client *c = client_new(inst, conf);
    if (!c)
        return adopt_fail(NULL, st, err, "out of memory");
    size_t saved = json_array_size(json_object_get(st, "replicas"));
    if (c->pool && saved >= 1 && saved <= (size_t)c->cap)
        c->nreplicas = c->want = (int)saved;   /* a pool keeps the size it was scaled to */
    const char *why = check_state(c, st);
    if (why)
        return adopt_fail(c, st, err, why);
    c->sup = mf_sup_find(swap_u64(st, "sup"));
    if (!c->sup)
        return adopt_fail(c, st, err, "its supervisor is gone");
    c->spec.sup = c->sup;
    if ((why = load_queue(c, json_object_get(st, "queue"))))
        return adopt_fail(c, st, err, why);
    json_t *replicas = json_object_get(st, "replicas");
    for (int i = 0; i < c->nreplicas; i++) {
        replica *r = &c->replicas[i];
        uint64_t id = swap_u64(json_array_get(replicas, (size_t)i), "child");
        if (!id || !(r->child = mf_child_rebind(id, &stdio_child_ops, r)))
            return adopt_fail(c, st, err, "a replica's process is no longer supervised");
    }
    /* nothing can fail from here on */
    for (int i = 0; i < c->nreplicas; i++)
        load_replica(&c->replicas[i], json_array_get(replicas, (size_t)i));
    load_calls(c, json_object_get(st, "calls"));
    mf_idmap_adopt(&c->asks, json_object_get(st, "asks"));   /* checked above */
    c->next_id = json_integer_value(json_object_get(st, "next_id"));
    c->up = json_is_true(json_object_get(st, "up"));
    c->failed = json_is_true(json_object_get(st, "failed"));
    const char *reason = json_string_value(json_object_get(st, "failed_reason"));
    c->failed_reason = reason ? strdup(reason) : NULL;
    json_decref(st);
    *self = c;
    /* the kernel's targets survive the swap; say again what they are, from this endpoint */
    mf_provider_targets(inst, c->cap);
    for (int i = 0; i < c->cap; i++)
        mf_provider_target_status(inst, i, i < c->nreplicas && c->replicas[i].state == U_READY);
    return 0;
}
