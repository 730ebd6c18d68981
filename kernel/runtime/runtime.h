/* What the runtime keeps, in one place: everything one loop owns (the loop, its
 * endpoints and queue of messages, the kernel's calls and their timer, the log level).
 * Its files reach it through mf_rt; a design with a loop per core would have one of these
 * for each loop. Only the runtime's own files include this. */
#ifndef MF_RUNTIME_H
#define MF_RUNTIME_H

#include "kernel.h"

/* endpoint.c */
typedef struct mf_endpoint_table {
    struct endpoint **slots;      /* each endpoint stays at its address for the table's sake */
    uint32_t nslots, capslots;
    uint32_t *free_slots;
    uint32_t nfree;
    struct endpoint *by_name;
    uint32_t nredirects;          /* slots kept for a redirect */
    mf_msg *queue_head, *queue_tail;   /* messages waiting for delivery, in send order */
    size_t queued;
    uv_idle_t idle;
    uv_check_t check;
    bool idle_on;
} mf_endpoint_table;

/* call.c */
typedef struct mf_call_table {
    mf_ep self;
    struct mf_call *by_corr;
    struct tclass *classes;       /* one FIFO of deadlines per distinct timeout */
    size_t nclasses;
    uv_timer_t timer;
    uint64_t armed_for;           /* deadline the timer is set for; 0 = idle */
    uint64_t next_corr;
    size_t in_flight;
} mf_call_table;

typedef struct mf_runtime {
    uv_loop_t loop;
    mf_log_level log_level;
    mf_endpoint_table endpoints;
    mf_call_table calls;
} mf_runtime;

extern mf_runtime mf_rt;

#endif
