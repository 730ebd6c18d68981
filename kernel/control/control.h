/* What the control layer keeps, in one place: the admin socket with its commands and
 * clients, the descriptors client connections may take, the configuration reload under
 * way, the plugins dropped in. Its files reach it through mf_ctrl; only they include this. */
#ifndef MF_CONTROL_H
#define MF_CONTROL_H

#include "admin.h"

/* admin.c: a command the socket answers */
typedef struct mf_admin_entry {
    const char *name, *usage, *help;
    mf_admin_fn fn;
} mf_admin_entry;

typedef struct mf_control {
    /* admin.c */
    struct {
        mf_admin_entry commands[64];
        size_t ncommands;
        uv_pipe_t server;
        bool listening;
        char *path;
        struct client *clients;
        size_t nclients;
        struct slot *running;     /* the reply slot of the command running now */
        char slab[8192];          /* what clients send is read into it */
    } admin;
    /* admin_commands.c */
    uint64_t started_at;
    /* fdlimit.c: client connections' descriptors */
    struct {
        size_t slots;
        size_t taken;
    } fds;
    /* reconfig.c */
    struct {
        mf_config **current;      /* the configuration in force, its owner's */
        bool serve_stdio;
        struct plan *busy;        /* the reload under way */
        uint64_t ok, refused;     /* reloads by outcome, for the metrics */
    } reconfig;
    /* dropin.c: providers of plugins dropped in */
    struct {
        struct dropin *running;   /* in routing */
        struct mf_provider *starting;   /* started, not yet in routing (one at a time) */
        struct mf_module *starting_mod;
        uv_timer_t *wait_timer;
    } dropin;
} mf_control;

extern mf_control mf_ctrl;

#endif
