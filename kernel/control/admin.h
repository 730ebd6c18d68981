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
/* A command that answers later (a reload) takes a handle from mf_admin_defer and answers
 * through it exactly once, even if the client has gone meanwhile. A client's replies
 * always come in the order of its commands. */
typedef struct mf_admin_later mf_admin_later;
mf_admin_later *mf_admin_defer(mf_admin_reply *out);
void mf_admin_answer(mf_admin_later *later, int code, json_t *body);
/* Commands are registered by the kernel part they concern. */
void mf_admin_command(const char *name, const char *usage, const char *help, mf_admin_fn fn);
/* The body of a command that takes no words and answers at once (status, targets...), as the
 * socket would send it; NULL when there is no such command or it did not answer 200. */
json_t *mf_admin_query(const char *name);
/* admin_commands.c: the kernel's own */
void mf_admin_kernel_commands(void);
/* admin_observe.c: tracing, audit */
void mf_admin_observe_commands(void);
/* admin_plugins.c: plugins, load, unload, reload */
void mf_admin_plugin_commands(void);

#endif
