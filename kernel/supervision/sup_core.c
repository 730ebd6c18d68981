/* The decisions of a supervisor (see sup_core.h). */
#include "build-config.h"
#include "sup_core.h"

#include <signal.h>
#include <stdlib.h>
#include <string.h>

static const char *const strategy_names[] = {"one_for_one", "one_for_all", "rest_for_one",
                                             "simple_one_for_one"};

const char *mf_strategy_name(mf_strategy s) { return strategy_names[s]; }

bool mf_sup_exit_abnormal(int64_t status, int sig)
{
    return sig ? sig != SIGTERM : status != 0;
}

int mf_strategy_parse(const char *name, mf_strategy *out)
{
    for (int i = 0; i < 4; i++)
        if (strcmp(name, strategy_names[i]) == 0) {
            *out = (mf_strategy)i;
            return 0;
        }
    return -1;
}

void mf_sup_core_init(sup_core *s, mf_strategy strategy, unsigned intensity, uint64_t period_ms)
{
    memset(s, 0, sizeof *s);
    s->strategy = strategy;
    s->intensity = intensity;
    s->period_ms = period_ms;
    s->history = mf_xcalloc(intensity + 1, sizeof *s->history);
}

void mf_sup_core_free(sup_core *s)
{
    free(s->history);
    free(s->children);
    memset(s, 0, sizeof *s);
}

int mf_sup_core_add(sup_core *s, mf_restart restart)
{
    if (s->nchildren == s->cap) {
        int ncap = s->cap ? s->cap * 2 : 4;
        s->children = mf_xrealloc(s->children, (size_t)ncap * sizeof *s->children);
        s->cap = ncap;
    }
    s->children[s->nchildren] = (sup_core_child){restart, true, true};
    return s->nchildren++;
}

void mf_sup_core_reset(sup_core *s) { s->nhistory = 0; }

/* Count one restart; false when that makes more than intensity within the period. */
static bool count_restart(sup_core *s, uint64_t now)
{
    unsigned kept = 0;
    for (unsigned i = 0; i < s->nhistory; i++)
        if (now - s->history[i] < s->period_ms)
            s->history[kept++] = s->history[i];
    s->nhistory = kept;
    if (s->nhistory >= s->intensity)
        return false;
    s->history[s->nhistory++] = now;
    return true;
}

static bool wants_restart(mf_restart r, bool abnormal)
{
    return r == MF_RESTART_PERMANENT || (r == MF_RESTART_TRANSIENT && abnormal);
}

size_t mf_sup_core_exited(sup_core *s, int c, bool abnormal, uint64_t now, sup_act *out)
{
    size_t n = 0;
    sup_core_child *ch = &s->children[c];
    ch->running = false;
    if (!wants_restart(ch->restart, abnormal)) {
        out[n++] = (sup_act){SUP_REMOVE, c};
        return n;
    }
    if (!count_restart(s, now)) {
        /* give up: everything still running stops, last started first */
        for (int i = s->nchildren - 1; i >= 0; i--)
            if (s->children[i].present && s->children[i].running)
                out[n++] = (sup_act){SUP_STOP, i};
        out[n++] = (sup_act){SUP_ESCALATE, c};
        return n;
    }
    int first = c, last = c;   /* the children the restart concerns */
    if (s->strategy == MF_ONE_FOR_ALL) {
        first = 0;
        last = s->nchildren - 1;
    } else if (s->strategy == MF_REST_FOR_ONE) {
        last = s->nchildren - 1;
    }
    for (int i = last; i >= first; i--)
        if (i != c && s->children[i].present && s->children[i].running)
            out[n++] = (sup_act){SUP_STOP, i};
    for (int i = first; i <= last; i++) {
        if (!s->children[i].present)
            continue;
        /* a temporary sibling stopped by the group restart goes, never to return */
        if (i != c && s->children[i].restart == MF_RESTART_TEMPORARY)
            out[n++] = (sup_act){SUP_REMOVE, i};
        else
            out[n++] = (sup_act){SUP_RESTART, i};
    }
    return n;
}

void mf_sup_core_applied(sup_core *s, const sup_act *a)
{
    sup_core_child *ch = &s->children[a->child];
    switch (a->kind) {
    case SUP_STOP:
        ch->running = false;
        break;
    case SUP_RESTART:
        ch->running = true;
        break;
    case SUP_REMOVE:
        ch->present = false;
        ch->running = false;
        break;
    default:
        break;
    }
}
