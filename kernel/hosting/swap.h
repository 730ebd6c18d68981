/* Hot swap of a plugin: its next generation takes over every instance of it while they
 * serve (swap.c). */
#ifndef MF_SWAP_H
#define MF_SWAP_H

#include "config.h"
#include "instance.h"

/* The outcome of a reload: an admin status code (200, 404, 409) and a report (taken). */
typedef void (*mf_swap_done)(void *ud, int code, json_t *report);

void mf_swap_init(const mf_config *cfg);
/* Reload plugin `name`; done runs once every instance of it is handed over or refused,
 * possibly before this returns. */
void mf_swap_reload(const char *name, mf_swap_done done, void *ud);
/* Is a reload under way? */
bool mf_swap_busy(void);
/* Plugin reloads finished so far: swapped, partly refused, refused (for the metrics). */
void mf_swap_counts(uint64_t out[3]);
/* Shutdown: handovers under way are called off, old generations stop draining. */
void mf_swap_shutdown(void);
/* How long a replaced endpoint forwards to its successor. */
uint64_t mf_swap_redirect_ms(void);

/* What a layer above hosting does or says around a hot swap. Each registers one
 * (fields may be NULL; the struct must outlive the process), so that hosting learns of
 * them through this and never calls up into them. */
typedef struct mf_swap_observer {
    /* Another change under way that a reload must wait for: why, or NULL. */
    const char *(*busy)(void);
    /* prev's next generation is about to take over: move what this layer keeps in prev's
     * objects to next's. 0, or -1 with err and nothing changed (the reload is refused).
     * Runs after every other check, so it is the last thing that can refuse. */
    int (*prepare)(mf_module *prev, mf_module *next, mf_error *err);
    /* A transport's successor took over: what went to endpoint from goes to `to`. */
    void (*transport_moved)(mf_ep from, mf_ep to);
} mf_swap_observer;

/* Register o (again: no effect). Several may prepare, each for a plugin of its own (the
 * router's breakers, the result cache), found by name: a reload swaps one plugin, so at
 * most one of them acts, and none has another's move to undo. */
void mf_swap_observe(const mf_swap_observer *o);
/* Why a reload must wait (a reload of a plugin or of what an observer guards), or NULL. */
const char *mf_swap_blocked(void);

/* watch.c: watch_plugins */
void mf_watch_start(const mf_config *cfg);
void mf_watch_stop(void);
/* What a layer above hosting does when a watched plugin directory changes. */
typedef struct mf_watch_observer {
    /* a new plugin file was loaded (m, no instance of it running yet); true when the
     * observer runs it (or will), false when it leaves it to the configuration */
    bool (*loaded)(mf_module *m);
    /* the file m was loaded from is gone */
    void (*removed)(mf_module *m);
} mf_watch_observer;
/* One observer (the last registered); o must outlive the process. */
void mf_watch_observe(const mf_watch_observer *o);

/* instance.c's */
void mf_swap_on_saved(mf_instance *inst, const char *state, size_t len, const char *error);
void mf_swap_abandon(mf_instance *inst, const char *why);
void mf_swap_forget(mf_instance *inst);

#endif
