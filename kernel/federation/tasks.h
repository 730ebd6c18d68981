/* Tasks: long-running calls answered at once with a handle, run by the gateway
 * (task_store.c keeps them; tasks.c speaks both revisions' methods). */
#ifndef MF_TASKS_H
#define MF_TASKS_H

#include "forward.h"

#define MF_TASKS_EXTENSION "io.modelcontextprotocol/tasks"
#define MF_META_RELATED_TASK "io.modelcontextprotocol/related-task"

typedef enum {
    MF_TASK_WORKING,
    MF_TASK_INPUT_REQUIRED,
    MF_TASK_COMPLETED,
    MF_TASK_FAILED,
    MF_TASK_CANCELLED,
} mf_task_status;

/* A 2025-11-25 tasks/result request waiting for its task to end. */
typedef struct mf_task_waiter {
    uint64_t session;
    json_t *id;
    uint64_t tcorr;
    struct mf_task_waiter *next;
} mf_task_waiter;

typedef struct mf_task {
    char id[33];              /* 128 random bits, hex */
    char *owner;              /* who may reach it (mf_task_owner) */
    uint64_t session;         /* the session that created it */
    uint64_t seq;             /* creation order, for tasks/list cursors */
    char *provider, *tool;    /* the provider's name, the tool's public name */
    bool modern;              /* created in the terms of revision 2026-07-28 */
    mf_task_status status;
    char *message;            /* statusMessage */
    uint64_t created_ms, updated_ms;   /* wall clock */
    uint64_t expires;         /* mf_now() past which it is forgotten */
    int64_t ttl_ms;
    json_t *result;           /* completed: the call's result */
    json_t *error;            /* failed: the JSON-RPC error */
    size_t bytes;             /* what result or error takes, counted against the bound */
    downreq *d;               /* the call, while it runs */
    char *upstream_id;        /* an upstream's own task (its id there), or NULL: the gateway's */
    bool remote;              /* the upstream runs it: requests about it go there */
    bool upstream_modern;     /* ... in the terms of the 2026-07-28 tasks extension */
    int64_t poll_ms;          /* how often the gateway asks such an upstream (its hint) */
    void *poll;               /* the timer of the next such question, while one is due */
    json_t *asks;             /* key -> {ep, corr, request}: what the upstream asks, unanswered */
    json_t *caps;             /* the creating client's capabilities (what it may be asked) */
    mf_task_waiter *waiters;
    struct mf_task *prev, *next;   /* in creation order */
    UT_hash_handle hh;        /* by id */
} mf_task;

/* --- task_store.c ---------------------------------------------------------------- */
/* Who a request acts for, as the key a task is bound to: an authenticated identity's
 * method and subject (any of its sessions reaches it), else the session (anonymous), or,
 * for an anonymous 2026-07-28 request (no session outlives it), the task id alone. */
char *mf_task_owner(const session *s, bool modern);
/* A new task, or NULL with why when the bound on tasks is reached. */
mf_task *mf_task_new(const char *owner, uint64_t sid, int64_t ttl_ms, char *why, size_t len);
/* The task id names, if owner may reach it. */
mf_task *mf_task_find(const char *id, const char *owner);
mf_task *mf_task_first(void);
/* The task id names, whoever owns it (the kernel's own lookups). */
mf_task *mf_task_lookup(const char *id);
/* The task is over with result or error (taken over): kept within max_result_bytes. */
void mf_task_settle(mf_task *t, mf_task_status st, json_t *result, json_t *error);
void mf_task_free(mf_task *t);
void mf_task_touch(mf_task *t);
/* Forget tasks past their time (a running one's call is cancelled); rearm the timer. */
void mf_task_sweep(void);
size_t mf_task_count(void);
const char *mf_task_status_name(mf_task_status st);
bool mf_task_terminal(const mf_task *t);
void mf_task_store_shutdown(void);

/* --- tasks.c ---------------------------------------------------------------------- */
/* A tools/call for tool e of provider p (up: what goes upstream, taken over only when
 * true is returned): run as a task when the client can take one and the call should be
 * one; false: the caller forwards it as usual. */
bool mf_tasks_call(const rctx *r, mf_provider *p, const char *tool_public, const char *upstream_name,
                   json_t *params, json_t *up);
/* A 2026-07-28 call parked on what its upstream asked (mrtr.c), whose client came back
 * with the answers in r: when its tool becomes a task once its input is answered (the
 * provider's tasks.after_input) and nothing is left to ask, it goes on as a new task
 * whose handle answers r (true); false: r takes the call over as usual. */
bool mf_tasks_adopt(const rctx *r, downreq *d);
/* The execution.taskSupport tools/list shows for tool (the upstream's name) of p, as the
 * provider's tasks table makes it ("optional", "required"), or NULL. */
const char *mf_tasks_support(const mf_provider *p, const char *upstream);
/* tasks/get, tasks/result, tasks/list, tasks/cancel, tasks/update: true if method is one
 * (answered). */
bool mf_tasks_request(const rctx *r, const char *method, json_t *params);
/* The answer resp of a request about an upstream's own task (d->remote_task): the same with
 * the gateway's task id in place of the upstream's (a new reference). */
json_t *mf_tasks_remote_answer(downreq *d, json_t *resp);
/* A request about an upstream's task went without an answer. */
void mf_tasks_remote_dropped(const char *task_id);
/* notifications/tasks/status from provider p. */
void mf_tasks_upstream_status(const mf_provider *p, json_t *note);
/* A task's call ended with resp. */
void mf_tasks_call_done(downreq *d, json_t *resp);
/* The upstream asks something while running a task's call. */
void mf_tasks_ask(downreq *d, mf_ep from, uint64_t pcorr, json_t *request);
/* A 2026-07-28 upstream answered d, a task's call, input-required with requests: the task
 * asks them (input_required) and sends the call again with the answers. */
void mf_tasks_ask_round(downreq *d, json_t *requests);
/* The client answered (msg: {result} or {error}) the question key of an input-required
 * round of task task_id, asked on its session (relay.c). */
void mf_tasks_collected(const char *task_id, const char *key, const json_t *msg);
/* Stop t's call, if it runs: cancelled upstream, its questions refused. */
void mf_tasks_stop(mf_task *t, const char *why);
/* Progress of a task's call. */
void mf_tasks_progress(downreq *d, json_t *note);
/* The running call of the task of p that request (an upstream's) names in its related-task
 * _meta by the upstream's id (the tasks/result the gateway keeps open for a 2026-07-28
 * client's handle on it), or NULL. */
downreq *mf_tasks_call_named(const mf_provider *p, const json_t *request);
/* How many tasks run on p, and one of them (for attributing what an upstream asks). */
int mf_tasks_running_on(const mf_provider *p, downreq **one);
/* The capabilities the gateway declares for tasks, in each revision's terms. */
void mf_tasks_capabilities(json_t *caps, bool modern);
/* The client capabilities a call's upstream is told (a new reference): without the tasks
 * extension, lest the upstream make a task no handle follows; with it for a request
 * about t (NULL: none), a task of a 2026-07-28 upstream the gateway follows. */
json_t *mf_tasks_upstream_caps(json_t *caps, const mf_task *t);
/* For the admin socket. */
json_t *mf_tasks_status(void);
/* The client cancelled its request rid: true, with the transport's correlation of it, if
 * that was a tasks/result waiting (it gets no answer now). */
bool mf_tasks_waiter_cancelled(uint64_t sid, const json_t *rid, uint64_t *tcorr);
/* A session closed: its tasks/result waiters go. */
void mf_tasks_session_closed(uint64_t sid);

#endif
