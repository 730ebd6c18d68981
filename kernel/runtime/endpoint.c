/* Endpoints (named mailboxes) and delivery of messages between them.
 *
 * A handle is slot index and slot generation, so a handle outlives its endpoint
 * harmlessly: a send to it fails instead of reaching whoever took the slot next.
 * Messages wait in one FIFO that is drained after I/O callbacks (check phase) and on
 * idle turns, so delivery is asynchronous (no handler ever runs inside mf_send) but
 * adds no wake-up latency.
 *
 * For a hot swap, an endpoint can be held (its messages wait, in order, until it is
 * released) and, once closed, redirected to its successor for a while, so that whatever
 * was addressed to the old generation still reaches the one that took its work over. */
#include "build-config.h"
#include "runtime.h"

#include <stdlib.h>
#include <string.h>
#include <uthash.h>

typedef struct endpoint {
    uint32_t index;
    uint32_t gen;
    bool alive;
    char *name;
    mf_handler fn;
    void *ud;
    bool held;
    mf_msgq held_msgs;   /* what arrived while held */
    mf_ep redirect;      /* closed but redirected: where its messages go, until expires */
    uint64_t expires;
    UT_hash_handle hh;   /* in the by-name table when named */
} endpoint;

/* the table, in the runtime's state */
#define T (mf_rt.endpoints)

#define EP_INDEX(ep) ((uint32_t)((ep) & 0xffffffffu))
#define EP_GEN(ep) ((uint32_t)((ep) >> 32))

static endpoint *ep_get(mf_ep ep)
{
    if (ep == 0)
        return NULL;
    uint32_t i = EP_INDEX(ep);
    if (i >= T.nslots || !T.slots[i]->alive || T.slots[i]->gen != EP_GEN(ep))
        return NULL;
    return T.slots[i];
}

static mf_ep ep_handle(uint32_t i) { return ((uint64_t)T.slots[i]->gen << 32) | i; }

/* Where a message for ep goes: ep itself, or the end of its chain of redirects. */
static endpoint *ep_route(mf_ep ep, mf_ep *to)
{
    for (int hops = 0; ep && hops < 64; hops++) {
        uint32_t i = EP_INDEX(ep);
        if (i >= T.nslots || T.slots[i]->gen != EP_GEN(ep))
            return NULL;
        endpoint *e = T.slots[i];
        if (e->alive) {
            *to = ep;
            return e;
        }
        if (!e->redirect || e->expires <= mf_now())
            return NULL;
        ep = e->redirect;
    }
    return NULL;
}

static void free_slot(endpoint *e)
{
    e->redirect = 0;
    T.free_slots[T.nfree++] = e->index;
}

/* Give back the slots whose redirect has expired. */
static void sweep_redirects(void)
{
    uint64_t now = mf_now();
    for (uint32_t i = 0; i < T.nslots && T.nredirects; i++) {
        endpoint *e = T.slots[i];
        if (!e->alive && e->redirect && e->expires <= now) {
            free_slot(e);
            T.nredirects--;
        }
    }
}

mf_ep mf_endpoint_open(const char *name, mf_handler fn, void *ud)
{
    if (name) {
        endpoint *found;
        HASH_FIND_STR(T.by_name, name, found);
        if (found)
            return 0;
    }
    uint32_t i;
    if (T.nredirects)
        sweep_redirects();
    if (T.nfree) {
        i = T.free_slots[--T.nfree];
    } else {
        if (T.nslots == T.capslots) {
            uint32_t ncap = T.capslots ? T.capslots * 2 : 64;
            T.slots = mf_xrealloc(T.slots, ncap * sizeof *T.slots);
            T.free_slots = mf_xrealloc(T.free_slots, ncap * sizeof *T.free_slots);
            T.capslots = ncap;
        }
        endpoint *fresh = mf_xcalloc(1, sizeof *fresh);
        fresh->index = T.nslots;
        T.slots[T.nslots] = fresh;
        i = T.nslots++;
    }
    endpoint *e = T.slots[i];
    e->gen++;
    if (e->gen == 0)
        e->gen = 1;   /* handle 0 must stay "none" */
    e->alive = true;
    e->fn = fn;
    e->ud = ud;
    e->name = name ? mf_xstrdup(name) : NULL;
    if (e->name)
        HASH_ADD_KEYPTR(hh, T.by_name, e->name, strlen(e->name), e);
    return ep_handle(i);
}

static void on_idle(uv_idle_t *h);

/* Close e; with redirect, its messages go there for ttl_ms. */
static void close_ep(endpoint *e, mf_ep redirect, uint64_t ttl_ms)
{
    if (e->name) {
        HASH_DEL(T.by_name, e);
        free(e->name);
        e->name = NULL;
    }
    e->alive = false;
    e->fn = NULL;
    e->ud = NULL;
    e->held = false;
    if (redirect) {
        /* the slot stays taken (its generation too) while the redirect lives */
        e->redirect = redirect;
        e->expires = mf_now() + ttl_ms;
        T.nredirects++;
    } else {
        free_slot(e);
    }
    /* what waited for it goes where a message sent now would: redirected, or bounced */
    for (mf_msg *m; (m = mf_msgq_pop(&e->held_msgs));)
        mf_send(m);
}

void mf_endpoint_close(mf_ep ep)
{
    endpoint *e = ep_get(ep);
    if (e)
        close_ep(e, 0, 0);
}

void mf_endpoint_redirect(mf_ep ep, mf_ep to, uint64_t ttl_ms)
{
    endpoint *e = ep_get(ep);
    if (e)
        close_ep(e, to, ttl_ms);
}

void mf_endpoint_hold(mf_ep ep, bool hold)
{
    endpoint *e = ep_get(ep);
    if (!e || e->held == hold)
        return;
    e->held = hold;
    if (hold || !e->held_msgs.head)
        return;
    /* released: what waited goes first, ahead of anything sent since */
    mf_msgq *q = &e->held_msgs;
    MF_MSG_NEXT(q->tail) = T.queue_head;
    if (!T.queue_head)
        T.queue_tail = q->tail;
    T.queue_head = q->head;
    T.queued += q->len;
    q->head = q->tail = NULL;
    q->len = 0;
    if (!T.idle_on) {
        uv_idle_start(&T.idle, on_idle);
        T.idle_on = true;
    }
}

mf_ep mf_endpoint_find(const char *name)
{
    endpoint *found;
    HASH_FIND_STR(T.by_name, name, found);
    return found ? ((uint64_t)found->gen << 32) | found->index : 0;
}

const char *mf_endpoint_name(mf_ep ep)
{
    endpoint *e = ep_get(ep);
    return e && e->name ? e->name : "(anonymous)";
}

bool mf_endpoint_alive(mf_ep ep) { return ep_get(ep) != NULL; }

/* A request that cannot be delivered still gets its one answer. */
static void bounce(mf_msg *m)
{
    mf_ep to;
    if (m->kind == MF_MSG_REQUEST && ep_route(m->src, &to)) {
        mf_msg *r = mf_msg_reply_error(m, m->dst, MF_RPC_UNAVAILABLE,
                                       "the component that should answer is gone");
        r->src = 0;
        mf_send(r);
    }
    mf_msg_free(m);
}

static void deliver_all(void)
{
    /* take the current batch; what handlers send now waits for the next round */
    mf_msg *m = T.queue_head;
    T.queue_head = T.queue_tail = NULL;
    while (m) {
        mf_msg *next = MF_MSG_NEXT(m);
        MF_MSG_NEXT(m) = NULL;
        T.queued--;
        mf_ep to = 0;
        endpoint *e = ep_route(m->dst, &to);
        if (!e) {
            bounce(m);
        } else if (e->held) {
            m->dst = to;
            mf_msgq_push(&e->held_msgs, m);
        } else {
            m->dst = to;
            e->fn(e->ud, m);
        }
        m = next;
    }
    if (!T.queue_head && T.idle_on) {
        uv_idle_stop(&T.idle);
        T.idle_on = false;
    }
}

static void on_idle(uv_idle_t *h)
{
    MF_UNUSED(h);
    deliver_all();
}

static void on_check(uv_check_t *h)
{
    MF_UNUSED(h);
    if (T.queue_head)
        deliver_all();
}

int mf_send(mf_msg *m)
{
    if (!m)
        return -1;
    mf_ep to;
    if (!ep_route(m->dst, &to)) {
        bounce(m);
        return -1;
    }
    MF_MSG_NEXT(m) = NULL;
    if (T.queue_tail)
        MF_MSG_NEXT(T.queue_tail) = m;
    else
        T.queue_head = m;
    T.queue_tail = m;
    T.queued++;
    if (!T.idle_on) {
        /* an active idle handle makes the loop poll without blocking */
        uv_idle_start(&T.idle, on_idle);
        T.idle_on = true;
    }
    return 0;
}

size_t mf_endpoints_queued(void) { return T.queued; }

int mf_endpoints_init(void)
{
    int rc = uv_idle_init(mf_loop(), &T.idle);
    if (rc == 0)
        rc = uv_check_init(mf_loop(), &T.check);
    if (rc == 0)
        rc = uv_check_start(&T.check, on_check);
    if (rc == 0)
        uv_unref((uv_handle_t *)&T.check);
    return rc;
}

void mf_endpoints_close(void)
{
    while (T.queue_head) {
        mf_msg *m = T.queue_head;
        T.queue_head = MF_MSG_NEXT(m);
        mf_msg_free(m);
    }
    T.queue_tail = NULL;
    T.queued = 0;
    uv_close((uv_handle_t *)&T.idle, NULL);
    uv_close((uv_handle_t *)&T.check, NULL);
    T.idle_on = false;
    HASH_CLEAR(hh, T.by_name);
    for (uint32_t i = 0; i < T.nslots; i++) {
        for (mf_msg *m; (m = mf_msgq_pop(&T.slots[i]->held_msgs));)
            mf_msg_free(m);
        free(T.slots[i]->name);
        free(T.slots[i]);
    }
    free(T.slots);
    free(T.free_slots);
    T.slots = NULL;
    T.free_slots = NULL;
    T.nslots = T.capslots = T.nfree = T.nredirects = 0;
}
