/* What a supervisor decides when a child exits, apart from processes and clocks, so that
 * the rules can be checked against Erlang/OTP's with a fake clock.
 *
 * Children are numbered in start order. Restart types follow OTP: permanent is always
 * restarted, transient only after an abnormal exit, temporary never (not even when a
 * sibling's restart stopped it; it is then removed). Strategies: one_for_one restarts the
 * child alone; one_for_all stops the others (last started first) and restarts all in start
 * order; rest_for_one does that for the children started after it; simple_one_for_one is
 * one_for_one over a pool of like children. A restart of a group counts once. More than
 * intensity restarts within period_ms, and the supervisor gives up: it stops every child,
 * last started first, and escalates. */
#ifndef MF_SUP_CORE_H
#define MF_SUP_CORE_H

#include "kernel.h"

typedef enum sup_act_kind {
    SUP_STOP,       /* stop this running child (the supervisor's doing: not a failure) */
    SUP_RESTART,    /* start this child again */
    SUP_REMOVE,     /* forget this child (temporary, or done) */
    SUP_ESCALATE,   /* give up: tell the parent */
} sup_act_kind;

typedef struct sup_act {
    sup_act_kind kind;
    int child;
} sup_act;

typedef struct sup_core_child {
    mf_restart restart;
    bool running;
    bool present;             /* not removed */
} sup_core_child;

typedef struct sup_core {
    mf_strategy strategy;
    unsigned intensity;
    uint64_t period_ms;
    uint64_t *history;        /* times of the restarts inside the period */
    unsigned nhistory;
    sup_core_child *children;
    int nchildren, cap;
} sup_core;

void mf_sup_core_init(sup_core *s, mf_strategy strategy, unsigned intensity, uint64_t period_ms);
void mf_sup_core_free(sup_core *s);
/* Add a child (running); returns its number. */
int mf_sup_core_add(sup_core *s, mf_restart restart);
/* Child c exited by itself (not stopped by the supervisor): the actions to take, in
 * order, written to out (room for 2 * nchildren + 1). Returns how many. */
size_t mf_sup_core_exited(sup_core *s, int c, bool abnormal, uint64_t now, sup_act *out);
/* Mark the effect of an action done (a stop finished, a restart happened). */
void mf_sup_core_applied(sup_core *s, const sup_act *a);
/* Forget the restarts counted so far (after a cool-down, say). */
void mf_sup_core_reset(sup_core *s);
/* Whether an exit the supervisor did not ask for is abnormal, as OTP's exit reasons go:
 * status 0 is `normal`; death by SIGTERM sent from outside is `shutdown` (someone asked
 * it to stop), normal too; any other status or signal is abnormal. (A SIGTERM that is
 * the supervisor's own is part of a stop and never comes here.) */
bool mf_sup_exit_abnormal(int64_t status, int sig);
const char *mf_strategy_name(mf_strategy s);
int mf_strategy_parse(const char *name, mf_strategy *out);

#endif
