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
/* Shutdown: handovers under way are called off, old generations stop draining. */
void mf_swap_shutdown(void);
/* How long a replaced endpoint forwards to its successor. */
uint64_t mf_swap_redirect_ms(void);

/* watch.c: watch_plugins */
void mf_watch_start(const mf_config *cfg);
void mf_watch_stop(void);

/* instance.c's */
void mf_swap_on_saved(mf_instance *inst, const char *state, size_t len, const char *error);
void mf_swap_abandon(mf_instance *inst, const char *why);
void mf_swap_forget(mf_instance *inst);

/* router.c: the routing's circuit breakers move to the breaker plugin's next generation;
 * 0 when done (or prev is not the breaker in use), -1 with err and nothing changed. */
int mf_router_swap_breakers(mf_module *prev, mf_module *next, mf_error *err);
/* The breaker plugin the router uses, or NULL. */
mf_module *mf_router_breaker_module(void);

#endif
