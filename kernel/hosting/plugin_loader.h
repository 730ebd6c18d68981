/* Loading plugins: find the file, check its ABI stamp, map a private copy. */
#ifndef MF_PLUGIN_LOADER_H
#define MF_PLUGIN_LOADER_H

#include "kernel.h"

typedef struct mf_module {
    char *name;
    char *spec;            /* what it was asked by: a name, or a path */
    char *file;            /* the file it was loaded from */
    unsigned generation;   /* counts loads of this name: 1, then one more per reload */
    void *handle;          /* lt_dlhandle */
    const mf_plugin *desc;
    unsigned refs;         /* instances running on it, and the router when it is the breaker */
    bool superseded;       /* a newer generation took over; unloaded once refs is 0 */
    unsigned sweep_turns;  /* unused: idle phases of the loop to let pass before unloading */
    uint64_t loaded_at;
    uint64_t ino;          /* the file as it was when loaded, to tell a new one */
    int64_t size, mtime_ns;
    struct mf_module *next;
} mf_module;

/* dirs: NULL-terminated search list (config plugin_dirs); MCPFED_PLUGIN_PATH and the
 * installed plugin directory are searched after it. */
int mf_plugins_init(char *const *dirs, mf_error *err);
/* The loop is about to end: unloads wait for mf_plugins_shutdown. */
void mf_plugins_stop(void);
void mf_plugins_shutdown(void);
/* name is a plugin name ("stdio") or a path to a .so file. Loads it once; later calls
 * return the loaded module. */
mf_module *mf_plugin_load(const char *name, mf_error *err);
/* The current generation of a plugin, by name. */
mf_module *mf_plugin_find(const char *name);
/* Load the next generation of cur (its file found again as it was first asked for). cur is
 * superseded from then on: unloaded once nothing runs on it (mf_plugin_release). */
mf_module *mf_plugin_load_next(mf_module *cur, mf_error *err);
/* The swap to next did not happen: prev is current again; next goes once unused. */
void mf_plugin_back(mf_module *next, mf_module *prev);
/* Something stopped using m: unload it later if it is superseded and unused. */
void mf_plugin_release(mf_module *m);
/* m is not to be used any more (its file is gone): no longer found by name, unloaded
 * once nothing runs on it. */
void mf_plugin_retire(mf_module *m);
/* Unload m now; -1 if anything uses it. */
int mf_plugin_unload(mf_module *m, mf_error *err);
mf_module *mf_plugins_list(void);
/* The directories searched, in order (NULL-terminated). */
char *const *mf_plugin_dirs(void);
/* Find the file for a plugin name; returns a malloc'd path or NULL with err listing
 * the places searched. */
char *mf_plugin_locate(const char *name, mf_error *err);
/* Every plugin in the search directories, by name (once each, the file a load would take),
 * in name order: fn gets its descriptor, read without running its load, or why it cannot
 * be loaded (desc NULL). */
typedef void (*mf_describe_fn)(const char *name, const mf_plugin *desc, const char *error, void *ud);
void mf_plugins_describe(mf_describe_fn fn, void *ud);
int mf_elf_read_stamp(const char *file, mf_stamp *out, mf_error *err);
/* 0 when a plugin built against SDK major.minor loads into this kernel; else -1 with err
 * naming both versions (where: "stamp" or "descriptor"). */
int mf_sdk_refuses(const char *file, const char *where, unsigned major, unsigned minor, mf_error *err);

#endif
