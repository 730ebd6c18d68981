/* What plugin hosting keeps, in one place: the modules loaded and where they are looked
 * for, the instances running on them, the hot swap under way and those waiting to
 * follow it, the plugin directories watched. Its files reach it through mf_host; only
 * they include this. */
#ifndef MF_HOSTING_H
#define MF_HOSTING_H

#include "swap.h"

typedef struct mf_hosting {
    /* plugin_loader.c */
    mf_module *modules;
    char **search;                /* plugin directories, NULL-terminated */
    unsigned loads;
    bool ltdl_up;
    uv_idle_t sweeper;            /* unloads the generations nothing runs on any more */
    bool sweeper_on;
    /* instance.c */
    mf_instance *instances;
    mf_ep provider_sink;          /* whoever keeps providers, as it said */
    /* swap.c */
    struct swap *swap;            /* the reload under way, or NULL */
    uint64_t handover_ms, drain_ms, redirect_ms;
    const mf_swap_observer *observers[8];
    size_t nobservers;
    /* watch.c */
    struct dir_watch *dirs;
    struct pending *waiting;      /* changed files, until their directory is quiet */
    const struct mf_watch_observer *watcher;
} mf_hosting;

extern mf_hosting mf_host;

#endif
