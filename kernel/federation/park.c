/* Calls that no target could take: they wait here, in the kernel that chose their
 * targets, rather than in a provider for one replica that may come back after another.
 *
 * A call waits when every target its ranking named answered that it cannot take a call
 * now (-32010: starting, restarting) and its deadline has not passed. When a target of
 * its provider or of a fallback becomes ready, it is ranked again (the policy may choose
 * differently now) and sent; at its deadline it is answered as a timeout. The calls are
 * woken in the order they came. A call that comes back again waits longer before its next
 * wake-up (doubling, at most MAX_PAUSE_MS), so that a replica that flaps cannot make the
 * loop spin: a wake-up that comes meanwhile is kept until then. */
#include "build-config.h"
#include "park.h"
#include "router.h"
#include "session.h"
#include "federation.h"

#include <stdlib.h>
#include <string.h>

#define PK (mf_fed.park)

#define MIN_PAUSE_MS 10
#define MAX_PAUSE_MS 1000

static void on_timer(uv_timer_t *h);

/* The timer fires at the earliest deadline or due wake-up; stopped when none waits. */
static void arm(void)
{
    if (!PK.timer_on) {
        uv_timer_init(mf_loop(), &PK.timer);
        uv_unref((uv_handle_t *)&PK.timer);   /* the calls' sessions keep the loop alive */
        PK.timer_on = true;
    }
    if (!PK.head) {
        uv_timer_stop(&PK.timer);
        return;
    }
    uint64_t now = mf_now(), due = UINT64_MAX;
    downreq *d;
    DL_FOREACH2(PK.head, d, wnext) {
        if (d->deadline < due)
            due = d->deadline;
        if (d->wake && d->not_before < due)
            due = d->not_before;
    }
    uv_timer_start(&PK.timer, on_timer, due > now ? due - now : 0, 0);
}

/* Could a target of d's route still become ready? Not when its provider has failed or
 * is leaving: then waiting would only delay the answer. */
static bool hopeful(const downreq *d)
{
    for (int i = 0; i < d->nroute; i++) {
        const mf_target *t = d->route[i];
        const mf_provider *p = t->provider;
        if (!t->draining && p->inst && p->standing != MF_STANDING_RETIRING && p->state != MF_PROVIDER_FAILED)
            return true;
    }
    return false;
}

static bool any_available(const downreq *d)
{
    for (int i = 0; i < d->nroute; i++)
        if (mf_target_available(d->route[i]))
            return true;
    return false;
}

bool mf_park_call(downreq *d)
{
    uint64_t now = mf_now();
    if ((!d->s && !d->task) || now >= d->deadline || !hopeful(d))
        return false;
    uint64_t pause = 0;
    if (d->wakes)
        pause = d->wakes > 7 ? MAX_PAUSE_MS : (uint64_t)MIN_PAUSE_MS << (d->wakes - 1);
    d->not_before = now + (pause < MAX_PAUSE_MS ? pause : MAX_PAUSE_MS);
    /* a target may have become ready while the answers came: then it is not waited for */
    d->wake = any_available(d);
    d->parked = true;
    if (d->using) {   /* under way on no provider while it waits: a retiring one need not wait */
        mf_provider_call_ends(d->using);
        d->using = NULL;
    }
    /* in the order the calls came, those woken before too */
    downreq *at = PK.head ? PK.head->wprev : NULL;   /* the tail */
    while (at && at->seq > d->seq)
        at = at == PK.head ? NULL : at->wprev;
    if (!at) {
        DL_PREPEND2(PK.head, d, wprev, wnext);
    } else if (at == PK.head->wprev) {
        DL_APPEND2(PK.head, d, wprev, wnext);
    } else {
        d->wnext = at->wnext;
        d->wprev = at;
        at->wnext->wprev = d;
        at->wnext = d;
    }
    arm();
    return true;
}

void mf_park_forget(downreq *d)
{
    if (!d->parked)
        return;
    DL_DELETE2(PK.head, d, wprev, wnext);
    d->parked = false;
    if (!PK.in_timer)
        arm();
}

/* Is p the provider of d, or one of its fallbacks? */
static bool serves(const downreq *d, const mf_provider *p)
{
    if (!p || strcmp(p->conf->name, d->owner) == 0)
        return true;
    for (int i = 0; i < d->nroute; i++)
        if (d->route[i]->provider == p || strcmp(d->route[i]->provider->conf->name, p->conf->name) == 0)
            return true;
    size_t n;
    mf_provider **ps = mf_registry_providers(&n);
    for (size_t i = 0; i < n; i++)
        if (strcmp(ps[i]->conf->name, d->owner) == 0)
            for (char **f = ps[i]->conf->fallback; f && *f; f++)
                if (strcmp(*f, p->conf->name) == 0)
                    return true;
    return false;
}

void mf_park_wake(const mf_provider *p)
{
    bool any = false;
    downreq *d;
    DL_FOREACH2(PK.head, d, wnext) {
        if (serves(d, p)) {
            d->wake = true;
            any = true;
        }
    }
    if (any)
        arm();
}

void mf_park_fail(const mf_provider *p, const char *why)
{
    for (downreq *d = PK.head, *next; d; d = next) {
        next = d->wnext;
        if (strcmp(d->owner, p->conf->name) != 0)
            continue;
        mf_park_forget(d);
        /* the reason as its plugin gave it, naming the provider if it does not */
        bool named = strncmp(why, "provider ", 9) == 0;
        json_t *err = json_pack("{s:o}", "error", mf_rpc_error_body(MF_RPC_UNAVAILABLE, "%s%s%s%s",
                                named ? "" : "provider ", named ? "" : p->conf->name, named ? "" : ": ", why));
        mf_downreq_answer(d, err);
        json_decref(err);
    }
}

/* The first call due (its deadline passed, or woken and its pause over), taken out. */
static downreq *take_due(uint64_t now)
{
    downreq *d;
    DL_FOREACH2(PK.head, d, wnext) {
        if (now >= d->deadline || (d->wake && now >= d->not_before)) {
            DL_DELETE2(PK.head, d, wprev, wnext);
            d->parked = false;
            return d;
        }
    }
    return NULL;
}

static void on_timer(uv_timer_t *h)
{
    MF_UNUSED(h);
    uint64_t now = mf_now();
    PK.in_timer = true;
    /* this ends: a call routed again that comes back waits at least MIN_PAUSE_MS, or is
     * answered when its deadline has passed */
    for (downreq *d; (d = take_due(now));) {
        if (now >= d->deadline) {
            json_t *err = json_pack("{s:o}", "error", mf_rpc_error_body(MF_RPC_TIMEOUT,
                                    "Request timed out after %llu ms (no target of provider %s became ready)",
                                    (unsigned long long)d->timeout_ms, d->owner));
            mf_downreq_answer(d, err);
            json_decref(err);
        } else {
            d->wakes++;
            d->wake = false;
            mf_forward_again(d);
        }
    }
    PK.in_timer = false;
    arm();
}

void mf_park_shutdown(void)
{
    while (PK.head) {
        downreq *d = PK.head;
        mf_park_forget(d);
    }
    if (PK.timer_on) {
        uv_close((uv_handle_t *)&PK.timer, NULL);
        PK.timer_on = false;
    }
}

size_t mf_calls_waiting(void)
{
    size_t n = 0;
    downreq *d;
    DL_COUNT2(PK.head, d, n, wnext);
    return n;
}
