/* The file descriptor limit, and the slots of it client connections may take (fdlimit.c). */
#ifndef MF_FDLIMIT_H
#define MF_FDLIMIT_H

#include "config.h"

/* Raise the soft limit to the hard one, keep a reserve for the admin socket, cfg's
 * upstreams and plugin reloads, and log what is left for client connections. */
void mf_fd_limits_init(const mf_config *cfg);

#endif
