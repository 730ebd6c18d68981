/* Requests forwarded to providers, through the policy and the breakers (forward.c). */
#ifndef MF_FORWARD_H
#define MF_FORWARD_H

#include "call.h"
#include "downstream.h"

/* A client's request under way. */
typedef struct downreq {
    session *s;
    json_t *id;               /* the client's id, echoed as it came */
    json_t *msg;              /* the whole request, while it waits for the catalog; a
                               * forwarded one's method and name (or URI) */
    const char *method, *name;   /* a forwarded one's, in msg: looked up once */
    uint64_t tcorr;           /* the transport's correlation for the answer */
    bool modern;              /* answered in the terms of revision 2026-07-28 */
    size_t args_size;         /* the arguments' JSON size, for the policy: measured once */
    bool args_sized;
    int log_level;            /* the level of log messages about it; -1: the session's */
    json_t *progress_token;   /* the client's, restored on progress notifications */
    mf_provider *provider;    /* of the target the call went to */
    mf_provider *using;       /* the provider it counts as under way on (drain.c) */
    mf_call *call;
    uint64_t corr;            /* the call's, while it is under way */
    /* routing (forward.c): the targets in the policy's order, and the one tried now */
    struct mf_target **route;
    int nroute, attempt;
    struct mf_target *target;
    bool idempotent;
    uint64_t sent_at, deadline, timeout_ms;
    unsigned refused;         /* targets whose breaker refused the call */
    char *owner;              /* the provider that owns what it names, ranked again by name */
    /* waiting for a target (park.c) */
    uint64_t seq;             /* the order calls came in */
    bool parked, wake;        /* waiting; a target it may go to became ready */
    unsigned wakes;           /* times it was routed again */
    uint64_t not_before;      /* its next wake-up */
    struct downreq *wprev, *wnext;
    json_t *upparams;         /* what went upstream, to send again with input (mrtr.c) */
    json_t *upname;           /* what it names upstream (a reference), looked up once */
    json_t *caps;             /* the client's capabilities for this request */
    json_t *param_headers;    /* the arguments its tool mirrors in headers (param_headers.h) */
    /* input-required exchanges (mrtr.c) */
    json_t *asks;             /* key -> [provider ep, corr] of upstream requests waiting */
    json_t *inputs;           /* key -> the client's answers, collected for the upstream */
    json_t *upstate;          /* the upstream's requestState, echoed */
    unsigned rounds;
    json_t *stashed;          /* the answer that came while nobody waited for it */
    struct suspended *susp;   /* while waiting for the client to come back */
    struct mf_cached *cache;  /* its part in the result cache (cache_hook.c), or NULL */
    struct mf_task *task;     /* the task it runs for, detached from any client (tasks.c), or NULL */
    char *remote_task;        /* about an upstream's own task: the gateway's id for it (tasks.c) */
    struct mf_obs *obs;       /* its spans and audit record (observe.c), or NULL */
    struct downreq *prev, *next;
    UT_hash_handle hh;        /* by corr */
} downreq;

/* Forward method with params (taken over) to p for request r; the answer goes back to the
 * client with its own id, URIs in it made public. */
void mf_forward(const rctx *r, mf_provider *p, const char *method, json_t *params);
/* The same for a task's call: it runs detached from r's client, and its answer goes to
 * task (tasks.c); never from the result cache. */
void mf_forward_task(const rctx *r, mf_provider *p, const char *method, json_t *params, struct mf_task *task);
/* The same for a request about an upstream's own task, which the gateway calls remote_task:
 * the answer names that id instead of the upstream's. */
void mf_forward_remote(const rctx *r, mf_provider *p, const char *method, json_t *params, const char *remote_task);
downreq *mf_downreq_of_call(uint64_t corr);
void mf_downreq_free(downreq *d);
/* Abandon d: its call is cancelled upstream, its client gets no answer. */
void mf_downreq_cancel(downreq *d, const char *reason);
void mf_session_cancel_all(session *s);

void mf_resend(downreq *d, json_t *params);
/* Rank d's targets again (its provider by name: a reload may have replaced it) and send
 * the call to the first that takes it; answered when none does. */
void mf_forward_again(downreq *d);
void mf_downreq_answer(downreq *d, json_t *resp);

#endif
