/* Child processes run and supervised by the kernel, with Erlang/OTP's semantics.
 *
 * The kernel spawns a child in a process group of its own with pipes on stdin, stdout and
 * stderr, logs its stderr line by line, and reaps it and every descendant it leaves. Each
 * child belongs to a supervisor, which restarts it as its restart type and the
 * supervisor's strategy say, after a delay that grows per consecutive failure. When more
 * than `intensity` restarts happen within `period_ms`, the supervisor gives up: it stops
 * its children (last started first), every child's `failed` callback runs, and after
 * `cooldown_ms` it starts them all again. */
#ifndef MCPFED_CHILD_H
#define MCPFED_CHILD_H

#include <mcpfed/base.h>

typedef struct mf_child mf_child;
typedef struct mf_sup mf_sup;

typedef enum mf_strategy {
    MF_ONE_FOR_ONE = 0,     /* a child that exits is restarted alone */
    MF_ONE_FOR_ALL,         /* ... and every sibling with it */
    MF_REST_FOR_ONE,        /* ... and the siblings started after it */
    MF_SIMPLE_ONE_FOR_ONE,  /* one_for_one over a pool of like children, added at any time */
} mf_strategy;

/* intensity: no restart is allowed; the first failure gives up (0 means the default 10). */
#define MF_SUP_NO_RESTARTS UINT32_MAX

typedef struct mf_sup_spec {
    const char *name;            /* for logs and the admin socket */
    mf_strategy strategy;
    uint32_t intensity;          /* restarts allowed in period; 0 here means the default 10,
                                  * MF_SUP_NO_RESTARTS none */
    uint32_t period_ms;          /* 0 means the default 60000 */
    uint32_t cooldown_ms;        /* after giving up; 0 means the default 60000 */
    uint32_t max_children;       /* processes it may run at once; 0: no limit of its own */
} mf_sup_spec;

/* A supervisor for a plugin's children (under the kernel's root). */
MF_API mf_sup *mf_sup_start(const mf_sup_spec *spec, mf_error *err);
/* Stop its children, last started first, each in the orderly way of mf_child_stop; then
 * free it and call done. */
MF_API void mf_sup_stop(mf_sup *s, void (*done)(void *ud), void *ud);

typedef enum mf_restart {
    MF_RESTART_PERMANENT = 0, /* always restarted */
    MF_RESTART_TRANSIENT,     /* restarted only after an abnormal exit */
    MF_RESTART_TEMPORARY,     /* never restarted */
} mf_restart;

typedef struct mf_child_spec {
    mf_sup *sup;                 /* its supervisor; NULL: one of its own, one_for_one, made from
                                  * intensity, period_ms and cooldown_ms below */
    const char *name;            /* for logs, e.g. the provider name */
    const char *const *argv;     /* argv[0] is looked up in PATH */
    const char *const *env;      /* "K=V" added to (or replacing in) the gateway's environment */
    const char *cwd;             /* NULL: the gateway's */
    mf_restart restart;
    uint32_t shutdown_ms;        /* SIGTERM to SIGKILL; 0 means the default 5000 */
    uint32_t backoff_min_ms;     /* first restart delay; 0 means the default 100 */
    uint32_t backoff_max_ms;     /* cap; 0 means the default 30000 */
    uint32_t intensity;          /* restarts allowed in period; 0 means the default 10,
                                  * MF_SUP_NO_RESTARTS none */
    uint32_t period_ms;          /* 0 means the default 60000 */
    uint32_t cooldown_ms;        /* after giving up; 0 means the default 60000 */
    uint32_t backoff_reset_ms;   /* a run this long resets the backoff to backoff_min_ms;
                                  * 0 means the default 10000 */
    bool start_ack;              /* a start completes only at mf_child_ready (e.g. an MCP server
                                  * answered initialize) or at the process's exit; false: once
                                  * it is spawned. Siblings started after it wait till then */
} mf_child_spec;

typedef struct mf_child_ops {
    /* a new process is running; its pipes are open */
    void (*started)(mf_child *c, void *ud);
    /* bytes the process wrote to stdout */
    void (*output)(mf_child *c, const char *buf, size_t len, void *ud);
    /* the process has exited and is reaped (exit_status, or term_signal if killed);
     * the supervisor decides next whether and when to restart it */
    void (*exited)(mf_child *c, int64_t exit_status, int term_signal, void *ud);
    /* the supervisor gave up for now (intensity exceeded, or spawn failed); reason says why */
    void (*failed)(mf_child *c, const char *reason, void *ud);
    /* mf_child_stop finished: the process and its group are gone; c is freed after this */
    void (*stopped)(mf_child *c, void *ud);
} mf_child_ops;

/* Start supervising; the first spawn happens on a later loop turn, so no callback runs
 * before this returns, and once the siblings added before it have started (see
 * start_ack). The spec is copied.
 * Fails when the process limits (the supervisor's, or max_processes) leave no room. */
MF_API mf_child *mf_child_start(const mf_child_spec *spec, const mf_child_ops *ops, void *ud,
                                mf_error *err);
/* Write to the child's stdin (the bytes are copied). -1 if no process is running. */
MF_API int mf_child_write(mf_child *c, const char *buf, size_t len);
/* Bytes written but not yet taken by the child. */
MF_API size_t mf_child_write_queue(const mf_child *c);
/* Stop for good: close stdin, give it a moment to exit, SIGTERM the group, wait
 * shutdown_ms, SIGKILL the group; calls ops->stopped when everything is reaped. */
MF_API void mf_child_stop(mf_child *c);
/* Kill the current process (SIGKILL to its group) so the supervisor decides again, as
 * for any abnormal exit, e.g. when it stopped answering. */
MF_API void mf_child_kill(mf_child *c, const char *reason);
MF_API int mf_child_pid(const mf_child *c);   /* 0 when not running */
/* With spec.start_ack: the start of its current process is complete (it is ready), so its
 * supervisor goes on with what follows (the next sibling's start). No effect otherwise. */
MF_API void mf_child_ready(mf_child *c);

/* Hot swap: handles for a plugin's state, and the successor taking a child over (its
 * callbacks go to ops and ud from then on; NULL when no live child has that id) or finding
 * its supervisor (NULL when none has that id). The process, its pipes and what waits to
 * be written to it are untouched. */
MF_API uint64_t mf_child_id(const mf_child *c);
MF_API mf_child *mf_child_rebind(uint64_t id, const mf_child_ops *ops, void *ud);
MF_API uint64_t mf_sup_id(const mf_sup *s);
MF_API mf_sup *mf_sup_find(uint64_t id);
MF_API unsigned mf_child_restarts(const mf_child *c);

#endif
