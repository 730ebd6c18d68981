/* `reload config`: the configuration file read again and applied while serving. */
#ifndef MF_RECONFIG_H
#define MF_RECONFIG_H

#include "config.h"

/* The outcome: an admin status code (200, 409) and a report (taken). */
typedef void (*mf_reconfig_done)(void *ud, int code, json_t *report);

/* *current is the configuration in force (its owner's reference); a reload puts the new
 * one there and drops the old one's reference. stdio: whether mcpfed serves stdio. The
 * plugins dropped in are watched for from then on (dropin.h). */
void mf_reconfig_init(mf_config **current, bool stdio);
/* Read the file *current came from and apply what differs; done runs once the providers
 * it starts have taken over (or catalog_wait_ms passed), or at once when it is refused. */
void mf_reconfig_reload(mf_reconfig_done done, void *ud);
bool mf_reconfig_busy(void);
/* Shutdown: a reload under way is called off and answered; nothing of it applies. */
void mf_reconfig_shutdown(void);

#endif
