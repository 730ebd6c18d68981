/* The admin socket: a Unix socket with a line protocol for people (socat) and mcpfedctl. */
#ifndef MF_ADMIN_H
#define MF_ADMIN_H

#include "config.h"

int mf_admin_start(const mf_config *cfg, mf_error *err);
void mf_admin_stop(void);

/* A command's answer: code (200, 400, 404, 409, 500...) and a JSON body (taken over). */
typedef struct mf_admin_reply {
    int code;
    json_t *body;
} mf_admin_reply;

typedef void (*mf_admin_fn)(int argc, char **argv, mf_admin_reply *out);
/* Commands are registered by the kernel part they concern. */
void mf_admin_command(const char *name, const char *usage, const char *help, mf_admin_fn fn);
/* admin_commands.c: the kernel's own */
void mf_admin_kernel_commands(void);

#endif
