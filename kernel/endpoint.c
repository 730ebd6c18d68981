/* Endpoints (named mailboxes) and delivery of messages between them.
 *
 * A handle is slot index and slot generation, so a handle outlives its endpoint
 * harmlessly: a send to it fails instead of reaching whoever took the slot next.
 * Messages wait in one FIFO that is drained after I/O callbacks (check phase) and on
 * idle turns, so delivery is asynchronous (no handler ever runs inside mf_send) but
 * adds no wake-up latency. */
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
    UT_hash_handle hh;   /* in the by-name table when named */
} endpoint;

static endpoint **slots;  /* each endpoint stays at its address for the table's sake */
static uint32_t nslots, capslots;
static uint32_t *free_slots;
static uint32_t nfree;
static endpoint *by_name;

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

mf_ep mf_endpoint_open(const char *name, mf_handler fn, void *ud)
{
    if (name) {
        endpoint *found;
        HASH_FIND_STR(by_name, name, found);
        if (found)
            return 0;
    }
    uint32_t i;
    if (nfree) {
        i = free_slots[--nfree];
    } else {
        if (nslots == capslots) {
            uint32_t ncap = capslots ? capslots * 2 : 64;
            endpoint **ns = realloc(slots, ncap * sizeof *ns);
            if (ns)
                slots = ns;
            uint32_t *nf = realloc(free_slots, ncap * sizeof *nf);
            if (nf)
                free_slots = nf;
            if (!ns || !nf)
                return 0;
            capslots = ncap;
        }
        endpoint *fresh = calloc(1, sizeof *fresh);
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
    e->name = name ? strdup(name) : NULL;
    if (e->name)
        HASH_ADD_KEYPTR(hh, by_name, e->name, strlen(e->name), e);
    return ep_handle(i);
}

void mf_endpoint_close(mf_ep ep)
{
    endpoint *e = ep_get(ep);
    if (!e)
        return;
    if (e->name) {
        HASH_DEL(by_name, e);
        free(e->name);
        e->name = NULL;
    }
    e->alive = false;
    e->fn = NULL;
    e->ud = NULL;
    free_slots[nfree++] = EP_INDEX(ep);
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
    if (m->kind == MF_MSG_REQUEST && ep_get(m->src)) {
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
        mf_msg *next = m->next_;
        m->next_ = NULL;
        queued--;
        endpoint *e = ep_get(m->dst);
        if (e)
            e->fn(e->ud, m);
        else
            bounce(m);
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
    if (!ep_get(m->dst)) {
        bounce(m);
        return -1;
    }
    m->next_ = NULL;
    if (queue_tail)
        queue_tail->next_ = m;
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
        queue_head = m->next_;
        mf_msg_free(m);
    }
    queue_tail = NULL;
    queued = 0;
    uv_close((uv_handle_t *)&idle, NULL);
    uv_close((uv_handle_t *)&check, NULL);
    idle_on = false;
    HASH_CLEAR(hh, by_name);
    for (uint32_t i = 0; i < nslots; i++) {
        free(slots[i]->name);
        free(slots[i]);
    }
    free(slots);
    free(free_slots);
    slots = NULL;
    free_slots = NULL;
    nslots = capslots = nfree = 0;
}
