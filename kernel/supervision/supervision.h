/* What supervision keeps, in one place: the supervisors, the processes they run, the
 * pids not yet reaped. Its files reach it through mf_supv; only they include this. */
#ifndef MF_SUPERVISION_H
#define MF_SUPERVISION_H

#include "supervisor.h"

typedef struct mf_supervision {
    /* supervisor.c */
    mf_sup *sups;                 /* the root's supervisors */
    uint64_t next_sup_id;
    uint32_t max_processes;
    unsigned processes;
    /* child.c */
    uint64_t next_child_id;
    int *live;                    /* pids spawned whose exit libuv has not reported: not ours to reap */
    size_t nlive, caplive;
    uv_signal_t sigchld;
    bool reaper_on;
} mf_supervision;

extern mf_supervision mf_supv;

#endif
