/* Supervisors.
 *
 * A supervisor holds children in start order and carries out, one batch at a time, what
 * sup_core decides when one exits, and each child's first start (so a child starts once
 * the one before it has started: spawned, or with start_ack acknowledged or exited): stops
 * (one after the other, last started first),
 * restarts (in start order, the first after the failing child's backoff), removals, and
 * giving up. Exits that come while a batch runs wait their turn. Giving up is the
 * kernel's root supervisor's business: the children are stopped, told they failed, and
 * started again after the cool-down; the gateway itself never dies of a child.
 *
 * Every supervisor hangs under the root, which the admin socket shows as a tree. */
#include "build-config.h"
#include "supervision.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef enum sup_state { S_RUNNING, S_BUSY, S_FAILED, S_STOPPING } sup_state;

typedef struct exit_ev {
    int child;
    unsigned start;           /* which start of the child exited */
    bool abnormal;
    char reason[200];
} exit_ev;

struct mf_sup {
    char *name;
    sup_core core;
    mf_sup_spec spec;
    mf_child **kids;           /* by core index; NULL once released */
    bool private_;             /* made for one child, goes with it */
    sup_state state;
    sup_act *batch;
    size_t nbatch, pos, capbatch;
    int failing;
    bool failing_abnormal;
    exit_ev *events;
    size_t nevents, capevents;
    uv_timer_t timer;          /* the cool-down */
    char last_reason[256];
    unsigned gave_up;          /* times it gave up, for status */
    void (*stopped_cb)(void *);
    void *stopped_ud;
    int stop_next;             /* the child being stopped while stopping */
    uint64_t id;               /* its handle in a hot swap's state */
    mf_sup *next;              /* under the root */
};

/* the supervision layer's state */
mf_supervision mf_supv = {.next_sup_id = 1, .max_processes = 1024, .next_child_id = 1};

static void run(mf_sup *s);
static void stop_next(mf_sup *s);

void mf_supervision_init(uint32_t max) { mf_supv.max_processes = max ? max : 1024; }
unsigned mf_supervision_processes(void) { return mf_supv.processes; }
void mf_supervision_note_spawn(int delta) { mf_supv.processes = (unsigned)((int)mf_supv.processes + delta); }

/* Its children that run or may run again (a child has one process at a time; one
 * waiting for its first start counts). */
static unsigned running_children(const mf_sup *s)
{
    unsigned n = 0;
    for (int i = 0; i < s->core.nchildren; i++)
        if (s->kids[i] && s->core.children[i].present)
            n++;
    return n;
}

bool mf_supervision_room(const mf_sup *s)
{
    if (mf_supv.processes >= mf_supv.max_processes)
        return false;
    return !s || !s->spec.max_children || running_children(s) < s->spec.max_children;
}

static void batch_push(mf_sup *s, sup_act a)
{
    if (s->nbatch == s->capbatch) {
        s->capbatch = s->capbatch ? s->capbatch * 2 : 8;
        s->batch = mf_xrealloc(s->batch, s->capbatch * sizeof *s->batch);
    }
    s->batch[s->nbatch++] = a;
}

static mf_sup *sup_new(const mf_sup_spec *spec, bool private_)
{
    mf_sup *s = mf_xcalloc(1, sizeof *s);
    s->spec = *spec;
    if (s->spec.intensity == MF_SUP_NO_RESTARTS)
        s->spec.intensity = 0;
    else if (!s->spec.intensity && !private_)
        s->spec.intensity = 10;
    if (!s->spec.period_ms)
        s->spec.period_ms = 60000;
    if (!s->spec.cooldown_ms)
        s->spec.cooldown_ms = 60000;
    s->name = mf_xstrdup(spec->name ? spec->name : "supervisor");
    s->spec.name = s->name;
    s->private_ = private_;
    s->failing = -1;
    mf_sup_core_init(&s->core, s->spec.strategy, s->spec.intensity, s->spec.period_ms);
    uv_timer_init(mf_loop(), &s->timer);
    s->timer.data = s;
    s->id = mf_supv.next_sup_id++;
    s->next = mf_supv.sups;
    mf_supv.sups = s;
    return s;
}

uint64_t mf_sup_id(const mf_sup *s) { return s->id; }

mf_sup *mf_sup_find(uint64_t id)
{
    for (mf_sup *s = mf_supv.sups; s; s = s->next)
        if (s->id == id && s->state != S_STOPPING)
            return s;
    return NULL;
}

mf_child *mf_child_rebind(uint64_t id, const mf_child_ops *ops, void *ud)
{
    for (mf_sup *s = mf_supv.sups; s; s = s->next)
        for (int i = 0; i < s->core.nchildren; i++)
            if (s->kids[i] && mf_child_id(s->kids[i]) == id)
                return mf_sup_child_rebind(s->kids[i], ops, ud) == 0 ? s->kids[i] : NULL;
    return NULL;
}

mf_sup *mf_sup_start(const mf_sup_spec *spec, mf_error *err)
{
    MF_UNUSED(err);   /* nothing fails: memory is mf_xmalloc's */
    return sup_new(spec, false);
}

mf_sup *mf_sup_private(const mf_child_spec *spec, mf_error *err)
{
    mf_sup_spec ss = {.name = spec->name, .strategy = MF_ONE_FOR_ONE,
                      .intensity = spec->intensity ? spec->intensity : 10,
                      .period_ms = spec->period_ms, .cooldown_ms = spec->cooldown_ms};
    MF_UNUSED(err);
    return sup_new(&ss, true);
}

static int index_of(const mf_sup *s, const mf_child *c)
{
    for (int i = 0; i < s->core.nchildren; i++)
        if (s->kids[i] == c)
            return i;
    return -1;
}

int mf_sup_adopt(mf_sup *s, mf_child *c, mf_error *err)
{
    if (s->state == S_STOPPING) {
        mf_error_set(err, -1, "supervisor %s is stopping", s->name);
        return -1;
    }
    /* its own limit is a configuration matter; the global one is checked at each spawn,
     * where failing is the supervisor's business and not the whole gateway's */
    if (s->spec.max_children && running_children(s) >= s->spec.max_children) {
        mf_error_set(err, MF_RPC_OVERLOADED, "supervisor %s runs %u processes, its max_processes",
                     s->name, s->spec.max_children);
        return -1;
    }
    int i = mf_sup_core_add(&s->core, mf_sup_child_restart_type(c));
    s->kids = mf_xrealloc(s->kids, (size_t)s->core.cap * sizeof *s->kids);
    s->kids[i] = c;
    /* ordered start: its first start is an action after whatever the supervisor is doing,
     * so it begins once the siblings before it have started (each on a later loop turn) */
    if (s->state == S_FAILED)
        return 0;   /* the cool-down starts it with the others */
    batch_push(s, (sup_act){SUP_RESTART, i});
    if (s->state == S_RUNNING) {
        s->state = S_BUSY;
        run(s);
    }
    return 0;
}

/* --- batches --------------------------------------------------------------------------- */

static void push_event(mf_sup *s, int child, unsigned start, bool abnormal, const char *reason)
{
    if (s->nevents == s->capevents) {
        size_t cap = s->capevents ? s->capevents * 2 : 4;
        s->events = mf_xrealloc(s->events, cap * sizeof *s->events);
        s->capevents = cap;
    }
    exit_ev *e = &s->events[s->nevents++];
    e->child = child;
    e->start = start;
    e->abnormal = abnormal;
    snprintf(e->reason, sizeof e->reason, "%s", reason);
}

static void on_cooldown(uv_timer_t *t)
{
    mf_sup *s = t->data;
    if (s->state != S_FAILED)
        return;
    mf_info("supervisor", "cool-down over; starting again", "supervisor=%s", s->name);
    mf_sup_core_reset(&s->core);
    s->nbatch = s->pos = 0;
    for (int i = 0; i < s->core.nchildren; i++)
        if (s->core.children[i].present && s->kids[i])
            batch_push(s, (sup_act){SUP_RESTART, i});
    s->failing = -1;
    s->state = S_BUSY;
    run(s);
}

static void give_up(mf_sup *s, const char *reason)
{
    s->state = S_FAILED;
    s->gave_up++;
    mf_warn("supervisor", "restart intensity exceeded; giving up for now",
            "supervisor=%s reason=\"%s\" cooldown_ms=%u", s->name, mf_log_esc(reason, (size_t)-1),
            s->spec.cooldown_ms);
    /* the root's way: the children are told, and start again after the cool-down */
    for (int i = 0; i < s->core.nchildren; i++)
        if (s->core.children[i].present && s->kids[i])
            mf_sup_child_failed(s->kids[i], reason);
    uv_timer_start(&s->timer, on_cooldown, s->spec.cooldown_ms, 0);
}

/* Carry on with the batch; returns when it waits for a child, or is done. */
static void run(mf_sup *s)
{
    while (s->state == S_BUSY && s->pos < s->nbatch) {
        sup_act *a = &s->batch[s->pos];
        mf_child *c = s->kids[a->child];
        switch (a->kind) {
        case SUP_STOP:
            if (c && mf_sup_child_state_of(c) != CH_IDLE) {
                mf_sup_child_terminate(c);   /* sup_on_stopped carries on */
                return;
            }
            break;
        case SUP_RESTART:
            if (c && mf_sup_child_state_of(c) == CH_IDLE) {
                uint64_t delay = a->child == s->failing ? mf_sup_child_backoff(c) : 0;
                mf_sup_child_start_after(c, delay);   /* sup_on_started carries on */
                return;
            }
            break;
        case SUP_REMOVE:
            if (c)
                mf_sup_child_failed(c, a->child != s->failing ? "stopped with its siblings; temporary: not restarted"
                                : s->failing_abnormal ? s->last_reason
                                : strstr(s->last_reason, "signal") ? "stopped by SIGTERM (shutdown); not restarted"
                                                                   : "exited normally; not restarted");
            break;
        case SUP_ESCALATE: {
            char why[600];
            snprintf(why, sizeof why, "more than %u restarts in %u ms; last: %s", s->spec.intensity,
                     s->spec.period_ms, s->last_reason);
            mf_sup_core_applied(&s->core, a);
            s->pos++;
            give_up(s, why);
            return;
        }
        }
        mf_sup_core_applied(&s->core, a);
        s->pos++;
    }
    if (s->state != S_BUSY)
        return;
    s->state = S_RUNNING;
    s->nbatch = s->pos = 0;
    /* exits that came meanwhile, in turn */
    while (s->nevents && s->state == S_RUNNING) {
        exit_ev e = s->events[0];
        memmove(s->events, s->events + 1, (s->nevents - 1) * sizeof *s->events);
        s->nevents--;
        mf_child *c = s->kids[e.child];
        /* an exit of a process the batch has since replaced is old news (OTP ignores an
         * EXIT from a pid that is no longer the child's) */
        if (c && mf_sup_child_starts(c) == e.start && mf_sup_child_state_of(c) == CH_IDLE)
            mf_sup_on_exit(s, c, e.abnormal, e.reason);
    }
}

void mf_sup_on_started(mf_sup *s, mf_child *c)
{
    if (s->state == S_BUSY && s->pos < s->nbatch && s->batch[s->pos].kind == SUP_RESTART &&
        s->kids[s->batch[s->pos].child] == c) {
        mf_sup_core_applied(&s->core, &s->batch[s->pos]);
        s->pos++;
        run(s);
    }
}

void mf_sup_on_exit(mf_sup *s, mf_child *c, bool abnormal, const char *reason)
{
    int i = index_of(s, c);
    if (i < 0 || s->state == S_STOPPING || s->state == S_FAILED)
        return;
    if (s->state == S_BUSY) {
        push_event(s, i, mf_sup_child_starts(c), abnormal, reason);
        return;
    }
    snprintf(s->last_reason, sizeof s->last_reason, "%s", reason);
    size_t cap = (size_t)s->core.nchildren * 2 + 2;
    if (cap > s->capbatch) {
        s->batch = mf_xrealloc(s->batch, cap * sizeof *s->batch);
        s->capbatch = cap;
    }
    s->nbatch = mf_sup_core_exited(&s->core, i, abnormal, mf_now(), s->batch);
    s->pos = 0;
    s->failing = i;
    s->failing_abnormal = abnormal;
    s->state = S_BUSY;
    run(s);
}

/* --- stopping ------------------------------------------------------------------------ */

static void sup_closed(uv_handle_t *h) { free(h->data); }

static void sup_free(mf_sup *s)
{
    for (mf_sup **pp = &mf_supv.sups; *pp; pp = &(*pp)->next)
        if (*pp == s) {
            *pp = s->next;
            break;
        }
    void (*cb)(void *) = s->stopped_cb;
    void *ud = s->stopped_ud;
    mf_sup_core_free(&s->core);
    free(s->kids);
    free(s->batch);
    free(s->events);
    free(s->name);
    uv_close((uv_handle_t *)&s->timer, sup_closed);
    if (cb)
        cb(ud);
}

void mf_sup_on_stopped(mf_sup *s, mf_child *c)
{
    if (s->state == S_STOPPING) {
        int i = index_of(s, c);
        if (i >= 0) {
            s->kids[i] = NULL;
            mf_sup_child_release(c);
        }
        stop_next(s);
        return;
    }
    if (s->state == S_BUSY && s->pos < s->nbatch && s->batch[s->pos].kind == SUP_STOP &&
        s->kids[s->batch[s->pos].child] == c) {
        mf_sup_core_applied(&s->core, &s->batch[s->pos]);
        s->pos++;
        run(s);
        return;
    }
    /* a child the plugin stopped for good */
    int i = index_of(s, c);
    if (i >= 0) {
        sup_act rm = {SUP_REMOVE, i};
        mf_sup_core_applied(&s->core, &rm);
        s->kids[i] = NULL;
        mf_sup_child_release(c);
        if (s->private_) {
            s->state = S_STOPPING;
            sup_free(s);
            return;
        }
        /* the batch may have been waiting for it (its start, say): it waits no more */
        if (s->state == S_BUSY && s->pos < s->nbatch && s->batch[s->pos].child == i) {
            s->pos++;
            run(s);
        }
    }
}

/* Stop the children one at a time, last started first. */
static void stop_next(mf_sup *s)
{
    while (s->stop_next >= 0) {
        mf_child *c = s->kids[s->stop_next--];
        if (!c)
            continue;
        if (mf_sup_child_state_of(c) == CH_IDLE || mf_sup_child_state_of(c) == CH_PENDING) {
            s->kids[s->stop_next + 1] = NULL;
            mf_sup_child_release(c);
            continue;
        }
        mf_sup_child_terminate(c);   /* sup_on_stopped comes back here */
        return;
    }
    sup_free(s);
}

void mf_sup_stop(mf_sup *s, void (*done)(void *ud), void *ud)
{
    if (s->state == S_STOPPING)
        return;
    s->state = S_STOPPING;
    s->stopped_cb = done;
    s->stopped_ud = ud;
    uv_timer_stop(&s->timer);
    s->stop_next = s->core.nchildren - 1;
    stop_next(s);
}

void mf_sup_remove_child(mf_sup *s, mf_child *c)
{
    if (s->private_) {
        mf_sup_stop(s, NULL, NULL);
        return;
    }
    if (mf_sup_child_state_of(c) == CH_IDLE || mf_sup_child_state_of(c) == CH_PENDING) {
        mf_sup_on_stopped(s, c);
        return;
    }
    mf_sup_child_terminate(c);   /* sup_on_stopped forgets it */
}

/* --- the admin socket's view --------------------------------------------------------------- */

json_t *mf_supervision_tree(void)
{
    static const char *const states[] = {"running", "restarting", "failed", "stopping"};
    json_t *sups = json_array();
    for (mf_sup *s = mf_supv.sups; s; s = s->next) {
        json_t *kids = json_array();
        for (int i = 0; i < s->core.nchildren; i++)
            if (s->kids[i])
                json_array_append_new(kids, mf_sup_child_status(s->kids[i]));
        json_array_append_new(sups, json_pack("{s:s,s:s,s:s,s:i,s:i,s:i,s:i,s:o}", "name", s->name,
                                              "strategy", mf_strategy_name(s->spec.strategy), "state",
                                              states[s->state], "intensity", (int)s->spec.intensity,
                                              "period_ms", (int)s->spec.period_ms, "gave_up", (int)s->gave_up,
                                              "restarts_in_period", (int)s->core.nhistory, "children", kids));
    }
    return json_pack("{s:s,s:s,s:i,s:i,s:o}", "name", "root", "strategy", "one_for_one", "processes",
                     (int)mf_supv.processes, "max_processes", (int)mf_supv.max_processes, "supervisors", sups);
}
