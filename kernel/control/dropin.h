/* Plugins dropped into a watched plugin directory that declare a default instance: their
 * provider starts with no configuration entry, and leaves with the file (dropin.c). */
#ifndef MF_DROPIN_H
#define MF_DROPIN_H

#include "registry.h"

/* Watch for them (after mf_watch_start). */
void mf_dropin_init(void);
/* Shutdown: the provider starting, if any, is left to the registry's stop. */
void mf_dropin_shutdown(void);
/* Is p the provider of a plugin dropped in? */
bool mf_dropin_is(const mf_provider *p);
/* p is not one any more (a configuration entry took it over). */
void mf_dropin_forget(const mf_provider *p);
/* Is one starting? (a reload of the configuration waits for it) */
bool mf_dropin_busy(void);

#endif
