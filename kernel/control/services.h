/* The kernel's services closed in order, once nothing runs on them (services.c); the
 * daemon's shutdown and an in-process gateway's end alike. */
#ifndef MF_SERVICES_H
#define MF_SERVICES_H

/* Close every kernel service: admin socket, policy, sessions, registry, router, plugins,
 * calls, child reaper, endpoints. */
void mf_services_close(void);

#endif
