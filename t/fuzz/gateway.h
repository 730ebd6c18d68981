/* A whole gateway in the fuzz target's process, as kernel/main.c starts one: the kernel,
 * its admin socket, an http listener on a port of the system's choice and the in-process
 * provider t/plugins/loopback (tools lb__echo, lb__slow, lb__never, lb__fail, ...), so that
 * inputs reach the real code with no child process. */
#ifndef MF_FUZZ_GATEWAY_H
#define MF_FUZZ_GATEWAY_H

#include <stdbool.h>

/* Start it once (exits on failure); stopped in order at exit. */
void fuzz_gateway_start(void);
/* The http listener's port, and the admin socket's path. */
int fuzz_gateway_port(void);
const char *fuzz_gateway_admin(void);

#endif
