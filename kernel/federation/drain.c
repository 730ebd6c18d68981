/* Providers leaving (removed or replaced by a reload).
 *
 * A provider leaving is out of routing and the catalog already, so no new call reaches
 * it; the calls under way on it finish, and then it stops. Its drain is bounded: when
 * drain_ms pass first, it is stopped anyway, which answers what is left with an error.
 * Requests still name its targets in their routes after that, so it is freed only once
 * the last of them lets go (refs). */
#include "build-config.h"
#include "router.h"
#include "call.h"

#include <stdlib.h>

static void on_drained(uv_timer_t *t)
{
    mf_provider *p = t->data;
    if (!p->inst || p->inst->stopping)
        return;
    if (p->calls)
        mf_warn("registry", "drain deadline passed; stopping the provider", "provider=%s calls=%u",
                p->conf->name, p->calls);
    else
        mf_info("registry", "provider drained", "provider=%s", p->conf->name);
    mf_registry_stop_provider(p);
}

void mf_registry_retire(mf_provider *p, uint64_t drain_ms)
{
    p->standing = MF_STANDING_RETIRING;
    p->on_ready = NULL;
    mf_health_stop(p);
    for (int k = 0; k < MF_KINDS; k++)
        if (p->lists[k].call) {
            mf_call_cancel(p->lists[k].call, "provider leaving");
            p->lists[k].call = NULL;
        }
    mf_info("registry", "provider leaving", "provider=%s calls=%u drain_ms=%llu", p->conf->name, p->calls,
            (unsigned long long)drain_ms);
    p->drain_timer = mf_xmalloc(sizeof *p->drain_timer);
    uv_timer_init(mf_loop(), p->drain_timer);
    p->drain_timer->data = p;
    /* stopped from the loop even when idle: whoever retires it still uses it now */
    uv_timer_start(p->drain_timer, on_drained, p->calls ? drain_ms : 0, 0);
}

void mf_provider_hold(mf_provider *p) { p->refs++; }

void mf_provider_release(mf_provider *p)
{
    if (--p->refs == 0 && p->standing == MF_STANDING_RETIRING && !p->inst)
        mf_registry_free_provider(p);
}

void mf_provider_call_begins(mf_provider *p) { p->calls++; }

void mf_provider_call_ends(mf_provider *p)
{
    if (--p->calls == 0 && p->standing == MF_STANDING_RETIRING && p->inst && p->drain_timer)
        uv_timer_start(p->drain_timer, on_drained, 0, 0);
}
