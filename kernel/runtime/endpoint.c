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
#include "kernel.h"

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

static endpoint **slots;  /* each endpoint stays at its address for the table's sake */
static uint32_t nslots, capslots;
static uint32_t *free_slots;
static uint32_t nfree;
static endpoint *by_name;

static uint32_t nredirects;    /* slots kept for a redirect */

static mf_msg *queue_head, *queue_tail;
static size_t queued;
static uv_idle_t idle;
static uv_check_t check;
static bool idle_on;

#define EP_INDEX(ep) ((uint32_t)((ep) & 0xffffffffu))
#define EP_GEN(ep) ((uint32_t)((ep) >> 32))

static endpoint *ep_get(mf_ep ep)
{
    if (ep == 0)
        return NULL;
    uint32_t i = EP_INDEX(ep);
    if (i >= nslots || !slots[i]->alive || slots[i]->gen != EP_GEN(ep))
        return NULL;
    return slots[i];
}

static mf_ep ep_handle(uint32_t i) { return ((uint64_t)slots[i]->gen << 32) | i; }

/* Where a message for ep goes: ep itself, or the end of its chain of redirects. */
static endpoint *ep_route(mf_ep ep, mf_ep *to)
{
    for (int hops = 0; ep && hops < 64; hops++) {
        uint32_t i = EP_INDEX(ep);
        if (i >= nslots || slots[i]->gen != EP_GEN(ep))
            return NULL;
        endpoint *e = slots[i];
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
    free_slots[nfree++] = e->index;
}

/* Give back the slots whose redirect has expired. */
static void sweep_redirects(void)
{
    uint64_t now = mf_now();
    for (uint32_t i = 0; i < nslots && nredirects; i++) {
        endpoint *e = slots[i];
        if (!e->alive && e->redirect && e->expires <= now) {
            free_slot(e);
            nredirects--;
        }
    }
}

mf_ep mf_endpoint_open(const char *name, mf_handler fn, void *ud)
{
    if (name) {
        endpoint *found;
        HASH_FIND_STR(by_name, name, found);
        if (found)
            return 0;
    }
    uint32_t i;
    if (nredirects)
        sweep_redirects();
    if (nfree) {
        i = free_slots[--nfree];
    } else {
        if (nslots == capslots) {
            uint32_t ncap = capslots ? capslots * 2 : 64;
            endpoint **ns = mf_xrealloc(slots, ncap * sizeof *ns);
            if (ns)
                slots = ns;
            uint32_t *nf = mf_xrealloc(free_slots, ncap * sizeof *nf);
            if (nf)
                free_slots = nf;
            if (!ns || !nf)
                return 0;
            capslots = ncap;
        }
        endpoint *fresh = mf_xcalloc(1, sizeof *fresh);
        if (!fresh)
            return 0;
        fresh->index = nslots;
        slots[nslots] = fresh;
        i = nslots++;
    }
    endpoint *e = slots[i];
    e->gen++;
    if (e->gen == 0)
        e->gen = 1;   /* handle 0 must stay "none" */
    e->alive = true;
    e->fn = fn;
    e->ud = ud;
    e->name = name ? mf_xstrdup(name) : NULL;
    if (e->name)
        HASH_ADD_KEYPTR(hh, by_name, e->name, strlen(e->name), e);
    return ep_handle(i);
}

static void on_idle(uv_idle_t *h);

/* Close e; with redirect, its messages go there for ttl_ms. */
static void close_ep(endpoint *e, mf_ep redirect, uint64_t ttl_ms)
{
    if (e->name) {
        HASH_DEL(by_name, e);
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
        nredirects++;
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
    MF_MSG_NEXT(q->tail) = queue_head;
    if (!queue_head)
        queue_tail = q->tail;
    queue_head = q->head;
    queued += q->len;
    q->head = q->tail = NULL;
    q->len = 0;
    if (!idle_on) {
        uv_idle_start(&idle, on_idle);
        idle_on = true;
    }
}

mf_ep mf_endpoint_find(const char *name)
{
    endpoint *found;
    HASH_FIND_STR(by_name, name, found);
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
        if (r) {
            r->src = 0;
            mf_send(r);
        }
    }
    mf_msg_free(m);
}

static void deliver_all(void)
{
    /* take the current batch; what handlers send now waits for the next round */
    mf_msg *m = queue_head;
    queue_head = queue_tail = NULL;
    while (m) {
        mf_msg *next = MF_MSG_NEXT(m);
        MF_MSG_NEXT(m) = NULL;
        queued--;
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
    if (!queue_head && idle_on) {
        uv_idle_stop(&idle);
        idle_on = false;
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
    if (queue_head)
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
    if (queue_tail)
        MF_MSG_NEXT(queue_tail) = m;
    else
        queue_head = m;
    queue_tail = m;
    queued++;
    if (!idle_on) {
        /* an active idle handle makes the loop poll without blocking */
        uv_idle_start(&idle, on_idle);
        idle_on = true;
    }
    return 0;
}

size_t mf_endpoints_queued(void) { return queued; }

int mf_endpoints_init(void)
{
    int rc = uv_idle_init(mf_loop(), &idle);
    if (rc == 0)
        rc = uv_check_init(mf_loop(), &check);
    if (rc == 0)
        rc = uv_check_start(&check, on_check);
    if (rc == 0)
        uv_unref((uv_handle_t *)&check);
    return rc;
}

void mf_endpoints_close(void)
{
    while (queue_head) {
        mf_msg *m = queue_head;
        queue_head = MF_MSG_NEXT(m);
        mf_msg_free(m);
    }
    queue_tail = NULL;
    queued = 0;
    uv_close((uv_handle_t *)&idle, NULL);
    uv_close((uv_handle_t *)&check, NULL);
    idle_on = false;
    HASH_CLEAR(hh, by_name);
    for (uint32_t i = 0; i < nslots; i++) {
        for (mf_msg *m; (m = mf_msgq_pop(&slots[i]->held_msgs));)
            mf_msg_free(m);
        free(slots[i]->name);
        free(slots[i]);
    }
    free(slots);
    free(free_slots);
    slots = NULL;
    free_slots = NULL;
    nslots = capslots = nfree = nredirects = 0;
}
