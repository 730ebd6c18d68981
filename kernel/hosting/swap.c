/* Hot swap of a plugin.
 *
 * `reload NAME` loads the plugin's file again as a new generation (a private copy, its
 * ABI stamp checked first) and, for each instance running on the old one:
 *
 *   1. holds the instance's messages and asks it to save: it stops taking new work and
 *      hands over a msgpack state (sessions, connections, processes, calls in flight);
 *   2. starts the successor on the new generation from that state (adopt);
 *   3. switches: the keeper's pointer (registry, main) moves to the successor, so new
 *      work goes there; the held messages are released to the old instance, which drains:
 *      it finishes what it kept and forwards the rest to its successor;
 *   4. once it stops (or its drain deadline passes and it is stopped), its endpoint
 *      redirects to the successor for a while, and the old generation is unloaded when
 *      nothing runs on it any more.
 *
 * Anything that fails before the switch (save refused or too slow, the successor's
 * start) leaves the old instance serving: it is told to resume, and the report says why. */
#include "build-config.h"
#include "hosting.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>

typedef struct swap {
    mf_module *prev, *next;
    int pending, swapped, refused;
    json_t *items;
    mf_swap_done done;
    void *ud;
    uint64_t started;
} swap;

typedef struct mf_swap_item {
    swap *sw;
    mf_instance *inst;
    uv_timer_t timer;
    uint64_t started;
} item;

/* the hosting layer's state; swap.c's part is set by mf_swap_init */
mf_hosting mf_host = {.handover_ms = 5000, .drain_ms = 30000, .redirect_ms = 120000};

void mf_swap_init(const mf_config *cfg)
{
    mf_host.handover_ms = (uint64_t)cfg->handover_timeout_ms;
    mf_host.drain_ms = (uint64_t)cfg->drain_timeout_ms;
    /* a replaced endpoint may still be named by anything started before the switch: calls
     * and their cancels, the upstream's questions; the longest of them bounds its redirect */
    int64_t longest = cfg->request_timeout_ms;
    for (size_t i = 0; i < cfg->nproviders; i++)
        if (cfg->providers[i].timeout_ms > longest)
            longest = cfg->providers[i].timeout_ms;
    mf_host.redirect_ms = mf_host.drain_ms + (uint64_t)longest + 10000;
}

uint64_t mf_swap_redirect_ms(void) { return mf_host.redirect_ms; }

bool mf_swap_busy(void) { return mf_host.swap != NULL; }


void mf_swap_observe(const mf_swap_observer *o)
{
    for (size_t i = 0; i < mf_host.nobservers; i++) {
        if (mf_host.observers[i] == o)
            return;
    }
    assert(mf_host.nobservers < sizeof mf_host.observers / sizeof *mf_host.observers);
    mf_host.observers[mf_host.nobservers++] = o;
}

static const char *observers_busy(void)
{
    for (size_t i = 0; i < mf_host.nobservers; i++) {
        const char *why = mf_host.observers[i]->busy ? mf_host.observers[i]->busy() : NULL;
        if (why)
            return why;
    }
    return NULL;
}

const char *mf_swap_blocked(void)
{
    return mf_host.swap ? "a reload of a plugin is under way" : observers_busy();
}

static int observers_prepare(mf_module *prev, mf_module *next, mf_error *err)
{
    for (size_t i = 0; i < mf_host.nobservers; i++)
        if (mf_host.observers[i]->prepare && mf_host.observers[i]->prepare(prev, next, err) != 0)
            return -1;
    return 0;
}

static void observers_transport_moved(mf_ep from, mf_ep to)
{
    for (size_t i = 0; i < mf_host.nobservers; i++)
        if (mf_host.observers[i]->transport_moved)
            mf_host.observers[i]->transport_moved(from, to);
}

static const char *inst_label(const mf_instance *inst, char *buf, size_t cap)
{
    snprintf(buf, cap, "%s %s", mf_role_name(inst->role), inst->name);
    return buf;
}

/* swaps by outcome: swapped, partly refused, refused */
static uint64_t swaps[3];

void mf_swap_counts(uint64_t out[3])
{
    memcpy(out, swaps, sizeof swaps);
}

static void finish(swap *sw)
{
    mf_host.swap = NULL;
    int code = 200;
    const char *outcome = "swapped";
    if (sw->swapped == 0 && sw->refused > 0) {
        mf_plugin_back(sw->next, sw->prev);
        code = 409;
        outcome = "refused: the old generation keeps serving";
    } else if (sw->refused > 0) {
        code = 409;
        outcome = "partly refused: the instances refused stay on the old generation";
    }
    json_t *report = json_pack("{s:s,s:s,s:i,s:i,s:s,s:o,s:I}", "plugin", sw->prev->name, "file", sw->next->file,
                               "generation", (int)(code == 200 || sw->swapped ? sw->next->generation
                                                                               : sw->prev->generation),
                               "previous_generation", (int)sw->prev->generation, "outcome", outcome,
                               "instances", sw->items, "ms", (json_int_t)(mf_now() - sw->started));
    swaps[code == 200 ? 0 : sw->swapped ? 1 : 2]++;
    if (code == 200 || sw->swapped)
        mf_info("swap", "reloaded", "plugin=%s generation=%u swapped=%d refused=%d ms=%llu", sw->prev->name,
                sw->next->generation, sw->swapped, sw->refused, (unsigned long long)(mf_now() - sw->started));
    else
        mf_warn("swap", "reload refused", "plugin=%s refused=%d", sw->prev->name, sw->refused);
    mf_plugin_release(sw->prev);
    mf_swap_done done = sw->done;
    void *ud = sw->ud;
    free(sw);
    done(ud, code, report);
}

static void item_closed(uv_handle_t *h) { free(h->data); }

/* The item is decided: its timer goes, and the swap is over when it was the last. */
static void item_done(item *it)
{
    swap *sw = it->sw;
    uv_close((uv_handle_t *)&it->timer, item_closed);
    if (--sw->pending == 0)
        finish(sw);
}

static void refuse(item *it, const char *why)
{
    mf_instance *inst = it->inst;
    char label[200];
    mf_warn("swap", "handover refused", "instance=\"%s\" reason=\"%s\"", inst_label(inst, label, sizeof label),
            mf_log_esc(why, (size_t)-1));
    json_array_append_new(it->sw->items, json_pack("{s:s,s:s,s:s,s:s}", "role", mf_role_name(inst->role), "name",
                                                   inst->name, "result", "refused", "reason", why));
    it->sw->refused++;
    inst->phase = MF_SWAP_NONE;
    inst->swap = NULL;
    inst->ops->resume(inst->self);
    mf_endpoint_hold(inst->ep, false);
    item_done(it);
}

static void on_drain_deadline(uv_timer_t *t)
{
    mf_instance *inst = t->data;
    char label[200];
    mf_warn("swap", "drain deadline passed; stopping the old generation", "instance=\"%s\" generation=%u",
            inst_label(inst, label, sizeof label), inst->mod->generation);
    if (!inst->stopping) {
        inst->stopping = true;
        inst->ops->stop(inst->self);
    }
}

static void on_drained(mf_instance *inst, void *ud)
{
    MF_UNUSED(ud);
    char label[200];
    mf_info("swap", "old generation drained", "instance=\"%s\" generation=%u", inst_label(inst, label, sizeof label),
            inst->mod->generation);
}

static void switch_to(item *it, mf_instance *succ, size_t state_len)
{
    mf_instance *inst = it->inst;
    swap *sw = it->sw;
    if (inst->role == MF_ROLE_TRANSPORT)
        observers_transport_moved(inst->ep, succ->ep);
    succ->slot = inst->slot;
    if (inst->slot)
        *inst->slot = succ;
    inst->slot = NULL;
    inst->successor = succ->ep;
    inst->phase = MF_SWAP_DRAINING;
    inst->swap = NULL;
    inst->on_stopped = on_drained;
    uint64_t took = mf_now() - it->started;
    char label[200];
    mf_info("swap", "handed over", "instance=\"%s\" generation=%u state_bytes=%zu ms=%llu",
            inst_label(inst, label, sizeof label), sw->next->generation, state_len, (unsigned long long)took);
    json_array_append_new(sw->items, json_pack("{s:s,s:s,s:s,s:I,s:I}", "role", mf_role_name(inst->role), "name",
                                               inst->name, "result", "swapped", "state_bytes", (json_int_t)state_len,
                                               "handover_ms", (json_int_t)took));
    sw->swapped++;
    inst->drain_timer = mf_xmalloc(sizeof *inst->drain_timer);
    uv_timer_init(mf_loop(), inst->drain_timer);
    inst->drain_timer->data = inst;
    uv_timer_start(inst->drain_timer, on_drain_deadline, mf_host.drain_ms, 0);
    /* what was held goes to the old instance, which forwards what it no longer owns */
    mf_endpoint_hold(inst->ep, false);
    item_done(it);
    inst->ops->drain(inst->self);   /* may stop (and free) inst at once */
}

void mf_swap_on_saved(mf_instance *inst, const char *state, size_t len, const char *error)
{
    item *it = inst->swap;
    if (!it || inst->phase != MF_SWAP_SAVING) {
        mf_debug("swap", "a state nobody waits for", "instance=%s", inst->name);
        return;
    }
    uv_timer_stop(&it->timer);
    if (error || !state) {
        char why[600];
        snprintf(why, sizeof why, "it could not hand over: %s", error ? error : "no state");
        refuse(it, why);
        return;
    }
    mf_error err = {0};
    mf_instance *succ = mf_instance_adopt(inst, it->sw->next, state, len, &err);
    if (!succ) {
        char why[600];
        snprintf(why, sizeof why, "generation %u failed to start: %s", it->sw->next->generation, err.msg);
        refuse(it, why);
        return;
    }
    switch_to(it, succ, len);
}

static void on_handover_deadline(uv_timer_t *t)
{
    item *it = t->data;
    char why[200];
    snprintf(why, sizeof why, "it did not hand over within handover_timeout_ms (%llu ms)",
             (unsigned long long)mf_host.handover_ms);
    refuse(it, why);
}

void mf_swap_abandon(mf_instance *inst, const char *why)
{
    if (inst->swap && inst->phase == MF_SWAP_SAVING) {
        uv_timer_stop(&inst->swap->timer);
        refuse(inst->swap, why);
    }
}

static void drain_timer_closed(uv_handle_t *h) { free(h); }

void mf_swap_forget(mf_instance *inst)
{
    if (inst->drain_timer) {
        uv_close((uv_handle_t *)inst->drain_timer, drain_timer_closed);
        inst->drain_timer = NULL;
    }
}

static void reply_now(mf_swap_done done, void *ud, int code, const char *msg)
{
    done(ud, code, json_pack("{s:s}", "error", msg));
}

void mf_swap_reload(const char *name, mf_swap_done done, void *ud)
{
    if (mf_host.swap) {
        char msg[400];
        snprintf(msg, sizeof msg, "a reload of %s is under way; try again when it is done", mf_host.swap->prev->name);
        reply_now(done, ud, 409, msg);
        return;
    }
    const char *busy = observers_busy();
    if (busy) {
        char msg[400];
        snprintf(msg, sizeof msg, "%s; try again when it is done", busy);
        reply_now(done, ud, 409, msg);
        return;
    }
    mf_module *prev = mf_plugin_find(name);
    if (!prev) {
        char msg[400];
        snprintf(msg, sizeof msg, "plugin %s is not loaded (load it with: load PATH)", name);
        reply_now(done, ud, 404, msg);
        return;
    }
    /* the instances to hand over, and whether their generation knows how */
    size_t n = 0;
    for (mf_instance *i = mf_instances(); i; i = i->next)
        if (i->mod == prev && i->phase == MF_SWAP_NONE && !i->stopping)
            n++;
    mf_instance **insts = mf_xcalloc(n + 1, sizeof *insts);
    n = 0;
    char label[200];
    for (mf_instance *i = mf_instances(); i; i = i->next) {
        if (i->mod != prev || i->phase != MF_SWAP_NONE || i->stopping)
            continue;
        if (!mf_role_swappable(i->ops)) {
            free(insts);
            char msg[400];
            snprintf(msg, sizeof msg, "%s cannot hand over its work (its plugin has no save, resume, adopt and "
                     "drain); nothing was changed", inst_label(i, label, sizeof label));
            reply_now(done, ud, 409, msg);
            return;
        }
        insts[n++] = i;
    }
    mf_error err = {0};
    mf_module *next = mf_plugin_load_next(prev, &err);
    if (!next) {
        free(insts);
        mf_warn("swap", "reload refused", "plugin=%s reason=\"%s\"", name, mf_log_esc(err.msg, (size_t)-1));
        char msg[1200];
        snprintf(msg, sizeof msg, "%s; the old generation keeps serving", err.msg);
        reply_now(done, ud, 409, msg);
        return;
    }
    /* the new generation must take every role in use, with the same settings */
    for (size_t k = 0; k < n; k++) {
        const mf_role_ops *ops = mf_module_role(next, insts[k]->role);
        char why[800] = "";
        if (!mf_role_swappable(ops))
            snprintf(why, sizeof why, "generation %u cannot take over %s (no %s role with save, resume, adopt "
                     "and drain)", next->generation, inst_label(insts[k], label, sizeof label),
                     mf_role_name(insts[k]->role));
        else if (mf_instance_check(next, insts[k]->role, insts[k]->conf, insts[k]->name, &err))
            snprintf(why, sizeof why, "generation %u refuses the settings of %s: %s", next->generation,
                     inst_label(insts[k], label, sizeof label), err.msg);
        if (why[0]) {
            free(insts);
            mf_plugin_back(next, prev);
            mf_warn("swap", "reload refused", "plugin=%s reason=\"%s\"", name, mf_log_esc(why, (size_t)-1));
            char msg[1200];
            snprintf(msg, sizeof msg, "%s; the old generation keeps serving", why);
            reply_now(done, ud, 409, msg);
            return;
        }
    }
    if (observers_prepare(prev, next, &err) != 0) {
        free(insts);
        mf_plugin_back(next, prev);
        char msg[1200];
        snprintf(msg, sizeof msg, "%s; the old generation keeps serving", err.msg);
        reply_now(done, ud, 409, msg);
        return;
    }
    swap *sw = mf_xcalloc(1, sizeof *sw);
    sw->prev = prev;
    sw->next = next;
    sw->items = json_array();
    sw->done = done;
    sw->ud = ud;
    sw->started = mf_now();
    mf_host.swap = sw;
    if (n == 0) {
        free(insts);
        finish(sw);
        return;
    }
    sw->pending = (int)n + 1;   /* held until every save is asked, in case saves answer at once */
    for (size_t k = 0; k < n; k++) {
        mf_instance *inst = insts[k];
        item *it = mf_xcalloc(1, sizeof *it);
        it->sw = sw;
        it->inst = inst;
        it->started = mf_now();
        uv_timer_init(mf_loop(), &it->timer);
        it->timer.data = it;
        uv_timer_start(&it->timer, on_handover_deadline, mf_host.handover_ms, 0);
        inst->phase = MF_SWAP_SAVING;
        inst->swap = it;
        mf_endpoint_hold(inst->ep, true);
        inst->ops->save(inst->self);
    }
    free(insts);
    if (--sw->pending == 0)
        finish(sw);
}

void mf_swap_shutdown(void)
{
    for (mf_instance *i = mf_instances(), *next; i; i = next) {
        next = i->next;
        if (i->phase == MF_SWAP_SAVING)
            mf_swap_abandon(i, "the gateway is shutting down");
    }
    for (mf_instance *i = mf_instances(), *next; i; i = next) {
        next = i->next;
        if (i->phase == MF_SWAP_DRAINING && !i->stopping) {
            i->stopping = true;
            i->ops->stop(i->self);   /* may free i */
        }
    }
}
