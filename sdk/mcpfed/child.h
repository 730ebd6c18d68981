/* Child processes run and supervised by the kernel.
 *
 * The kernel spawns the child in a process group of its own with pipes on stdin,
 * stdout and stderr, logs its stderr line by line, reaps it, and restarts it as its
 * restart type says, with a backoff that grows per consecutive failure. When a child
 * restarts more than `intensity` times within `period_ms`, the supervisor gives up on
 * it (the `failed` callback) and tries again after `cooldown_ms`. */
#ifndef MCPFED_CHILD_H
#define MCPFED_CHILD_H

#include <mcpfed/base.h>

typedef struct mf_child mf_child;

typedef enum mf_restart {
    MF_RESTART_PERMANENT = 0, /* always restarted */
    MF_RESTART_TRANSIENT,     /* restarted only after an abnormal exit */
    MF_RESTART_TEMPORARY,     /* never restarted */
} mf_restart;

typedef struct mf_child_spec {
    const char *name;            /* for logs, e.g. the provider name */
    const char *const *argv;     /* argv[0] is looked up in PATH */
    const char *const *env;      /* "K=V" added to (or replacing in) the gateway's environment */
    const char *cwd;             /* NULL: the gateway's */
    mf_restart restart;
    uint32_t shutdown_ms;        /* SIGTERM to SIGKILL; 0 means the default 5000 */
    uint32_t backoff_min_ms;     /* first restart delay; 0 means the default 100 */
    uint32_t backoff_max_ms;     /* cap; 0 means the default 30000 */
    uint32_t intensity;          /* restarts allowed in period; 0 means the default 10 */
    uint32_t period_ms;          /* 0 means the default 60000 */
    uint32_t cooldown_ms;        /* after giving up; 0 means the default 60000 */
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

/* Start supervising; the first spawn happens on the next loop turn, so no callback runs
 * before this returns. The spec is copied. */
MF_API mf_child *mf_child_start(const mf_child_spec *spec, const mf_child_ops *ops, void *ud,
                                mf_error *err);
/* Write to the child's stdin (the bytes are copied). -1 if no process is running. */
MF_API int mf_child_write(mf_child *c, const char *buf, size_t len);
/* Bytes written but not yet taken by the child. */
MF_API size_t mf_child_write_queue(const mf_child *c);
/* Stop for good: close stdin, give it a moment to exit, SIGTERM the group, wait
 * shutdown_ms, SIGKILL the group; calls ops->stopped when everything is reaped. */
MF_API void mf_child_stop(mf_child *c);
/* Kill the current process (SIGKILL to its group) so the supervisor restarts it, e.g.
 * when it stopped answering. */
MF_API void mf_child_kill(mf_child *c, const char *reason);
MF_API int mf_child_pid(const mf_child *c);   /* 0 when not running */
MF_API unsigned mf_child_restarts(const mf_child *c);

#endif
