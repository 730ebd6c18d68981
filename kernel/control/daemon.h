/* mcpfed as a service: SIGHUP reloads the configuration, and systemd hears how the
 * gateway stands (sd_notify), when NOTIFY_SOCKET says where. */
#ifndef MF_DAEMON_H
#define MF_DAEMON_H

/* SIGHUP handled from now on; the watchdog fed if WATCHDOG_USEC asks for it. */
void mf_daemon_start(void);
/* The listeners are open and the providers started: READY=1 once the catalog settles. */
void mf_daemon_serving(void);
/* Shutdown begins: STOPPING=1, and SIGHUP no longer reloads. */
void mf_daemon_stopping(void);
/* The loop's handles closed (after stopping). */
void mf_daemon_close(void);

#endif
