/* Supervisors: carry out what sup_core decides, on the children of child.c. */
#ifndef MF_SUPERVISOR_H
#define MF_SUPERVISOR_H

#include "sup_core.h"

/* --- what child.c offers the supervisor ---------------------------------------------- */
typedef enum child_state {
    CH_IDLE,        /* no process, none scheduled */
    CH_PENDING,     /* a start is scheduled (first start, or a restart after its delay) */
    CH_RUNNING,     /* a process is alive */
    CH_EXITING,     /* the process exited; its output is being drained */
    CH_STOPPING,    /* the supervisor is stopping it */
} child_state;

/* Spawn the child after delay_ms; the supervisor hears sup_on_started or sup_on_exit. */
void mf_sup_child_start_after(mf_child *c, uint64_t delay_ms);
/* Stop its process in order (end of input, SIGTERM, SIGKILL); the supervisor hears
 * sup_on_stopped once it is gone (at once when there is none). */
void mf_sup_child_terminate(mf_child *c);
/* The delay before restarting it, counting one more failure in a row. */
uint64_t mf_sup_child_backoff(mf_child *c);
/* Tell the plugin its child will not run for now, and why. */
void mf_sup_child_failed(mf_child *c, const char *reason);
/* Free the child (its process is gone); the plugin hears `stopped`. */
void mf_sup_child_release(mf_child *c);
child_state mf_sup_child_state_of(const mf_child *c);
/* How many times it was started: tells one of its processes from the next. */
unsigned mf_sup_child_starts(const mf_child *c);
const char *mf_sup_child_name(const mf_child *c);
mf_restart mf_sup_child_restart_type(const mf_child *c);
/* A hot swap's successor takes the child over (its callbacks); -1 once it is going. */
int mf_sup_child_rebind(mf_child *c, const mf_child_ops *ops, void *ud);
/* JSON of a child for the admin socket */
json_t *mf_sup_child_status(const mf_child *c);

/* --- what the supervisor offers child.c ----------------------------------------------- */
mf_sup *mf_sup_private(const mf_child_spec *spec, mf_error *err);
int mf_sup_adopt(mf_sup *s, mf_child *c, mf_error *err);
void mf_sup_on_started(mf_sup *s, mf_child *c);
void mf_sup_on_exit(mf_sup *s, mf_child *c, bool abnormal, const char *reason);
void mf_sup_on_stopped(mf_sup *s, mf_child *c);
/* The plugin stops one child for good. */
void mf_sup_remove_child(mf_sup *s, mf_child *c);

/* --- the kernel's view ----------------------------------------------------------------- */
void mf_supervision_init(uint32_t max_processes);
/* At shutdown: end and reap whatever descendants are left. */
void mf_child_reaper_stop(void);
/* The shutdown ran out of time: SIGKILL every child's process group, and the strays. */
void mf_child_kill_all(void);
/* Processes running (or about to) in all supervisors. */
unsigned mf_supervision_processes(void);
bool mf_supervision_room(const mf_sup *s);
void mf_supervision_note_spawn(int delta);
json_t *mf_supervision_tree(void);

#endif
