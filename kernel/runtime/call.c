/* Calls in flight and their deadlines.
 *
 * Deadlines are kept in one FIFO per distinct timeout: calls with the same timeout
 * expire in the order they started, so each list stays sorted with O(1) insert and
 * removal, and one loop timer serves them all. */
#include "build-config.h"
#include "call.h"
#include "runtime.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uthash.h>

struct mf_call {
    uint64_t corr;
    mf_ep dst;
    uint64_t deadline;
    uint64_t timeout;
    mf_call_fn fn;
    void *ud;
    struct mf_call *prev, *next;   /* in its timeout class */
    struct tclass *cls;
    UT_hash_handle hh;
};

typedef struct tclass {
    uint64_t timeout;
    mf_call *head, *tail;
} tclass;

/* the table, in the runtime's state */
#define C (mf_rt.calls)

static tclass *class_for(uint64_t timeout)
{
    for (size_t i = 0; i < C.nclasses; i++)
        if (C.classes[i].timeout == timeout)
            return &C.classes[i];
    tclass *n = mf_xrealloc(C.classes, (C.nclasses + 1) * sizeof *n);
    /* the calls point at their class: fix them after the move */
    for (size_t i = 0; i < C.nclasses; i++)
        for (mf_call *c = n[i].head; c; c = c->next)
            c->cls = &n[i];
    C.classes = n;
    C.classes[C.nclasses] = (tclass){.timeout = timeout};
    return &C.classes[C.nclasses++];
}

static void unlink_call(mf_call *c)
{
    tclass *k = c->cls;
    if (c->prev)
        c->prev->next = c->next;
    else
        k->head = c->next;
    if (c->next)
        c->next->prev = c->prev;
    else
        k->tail = c->prev;
    HASH_DEL(C.by_corr, c);
    C.in_flight--;
}

static void on_timer(uv_timer_t *t);

static void arm(void)
{
    uint64_t earliest = 0;
    for (size_t i = 0; i < C.nclasses; i++)
        if (C.classes[i].head && (!earliest || C.classes[i].head->deadline < earliest))
            earliest = C.classes[i].head->deadline;
    if (!earliest) {
        uv_timer_stop(&C.timer);
        C.armed_for = 0;
        return;
    }
    if (earliest == C.armed_for)
        return;
    uint64_t now = mf_now();
    uv_timer_start(&C.timer, on_timer, earliest > now ? earliest - now : 0, 0);
    C.armed_for = earliest;
}

static void expire(mf_call *c)
{
    unlink_call(c);
    mf_msg *cancel = mf_msg_new(MF_MSG_CANCEL, C.self, c->dst,
                                json_pack("{s:s}", "reason", "timed out"));
    cancel->corr = c->corr;
    mf_send(cancel);
    json_t *err = json_pack("{s:o}", "error",
                            mf_rpc_error_body(MF_RPC_TIMEOUT, "Request timed out after %llu ms",
                                              (unsigned long long)c->timeout));
    c->fn(c->ud, err);
    json_decref(err);
    free(c);
}

static void on_timer(uv_timer_t *t)
{
    MF_UNUSED(t);
    C.armed_for = 0;
    uint64_t now = mf_now();
    for (size_t i = 0; i < C.nclasses; i++)
        while (C.classes[i].head && C.classes[i].head->deadline <= now)
            expire(C.classes[i].head);
    arm();
}

static void on_message(void *ud, mf_msg *m)
{
    MF_UNUSED(ud);
    mf_call *c = NULL;
    if (m->kind == MF_MSG_RESPONSE)
        HASH_FIND(hh, C.by_corr, &m->corr, sizeof m->corr, c);
    if (!c) {
        /* late answer to a call that timed out or was cancelled */
        mf_debug("calls", "answer for no call", "corr=%llu", (unsigned long long)m->corr);
        mf_msg_free(m);
        return;
    }
    bool was_head = c->cls->head == c;
    unlink_call(c);
    json_t *r = m->json;
    if (!json_is_object(r) ||
        (!json_object_get(r, "result") && !json_is_object(json_object_get(r, "error")))) {
        json_t *bad = json_pack("{s:o}", "error", mf_rpc_error_body(MF_RPC_INTERNAL_ERROR,
                                "malformed answer from the provider"));
        c->fn(c->ud, bad);
        json_decref(bad);
    } else {
        c->fn(c->ud, r);
    }
    free(c);
    mf_msg_free(m);
    if (was_head)
        arm();
}

int mf_calls_init(void)
{
    C.self = mf_endpoint_open("calls", on_message, NULL);
    if (!C.self)
        return -1;
    return uv_timer_init(mf_loop(), &C.timer);
}

void mf_calls_close(void)
{
    mf_call *c, *tmp;
    HASH_ITER(hh, C.by_corr, c, tmp) {
        HASH_DEL(C.by_corr, c);
        free(c);
    }
    free(C.classes);
    C.classes = NULL;
    C.nclasses = 0;
    C.in_flight = 0;
    uv_close((uv_handle_t *)&C.timer, NULL);
    mf_endpoint_close(C.self);
}

mf_call *mf_call_start(mf_ep dst, uint64_t session, json_t *request, uint64_t timeout_ms,
                       mf_call_fn fn, void *ud)
{
    mf_call *c = mf_xcalloc(1, sizeof *c);
    tclass *k = class_for(timeout_ms);
    c->corr = C.next_corr++;
    c->dst = dst;
    c->timeout = timeout_ms;
    c->deadline = mf_now() + timeout_ms;
    c->fn = fn;
    c->ud = ud;
    c->cls = k;
    c->prev = k->tail;
    if (k->tail)
        k->tail->next = c;
    else
        k->head = c;
    k->tail = c;
    HASH_ADD(hh, C.by_corr, corr, sizeof c->corr, c);
    C.in_flight++;
    if (!C.armed_for || c->deadline < C.armed_for)
        arm();
    mf_msg *m = mf_msg_new(MF_MSG_REQUEST, C.self, dst, request);
    m->corr = c->corr;
    m->session = session;
    m->deadline = c->deadline;
    m->trace = c->corr;
    /* an undeliverable request is answered by the kernel: fn still runs exactly once */
    mf_send(m);
    return c;
}

void mf_call_cancel(mf_call *c, const char *reason)
{
    bool was_head = c->cls->head == c;
    unlink_call(c);
    mf_msg *cancel = mf_msg_new(MF_MSG_CANCEL, C.self, c->dst, json_pack("{s:s}", "reason", reason));
    cancel->corr = c->corr;
    mf_send(cancel);
    free(c);
    if (was_head)
        arm();
}

uint64_t mf_call_corr(const mf_call *c) { return c->corr; }

size_t mf_calls_in_flight(void) { return C.in_flight; }

mf_call *mf_call_find(uint64_t corr)
{
    mf_call *c;
    HASH_FIND(hh, C.by_corr, &corr, sizeof corr, c);
    return c;
}

void *mf_call_ud(const mf_call *c) { return c->ud; }

mf_ep mf_call_dst(const mf_call *c) { return c->dst; }

uint64_t mf_call_next_corr(void) { return C.next_corr; }
