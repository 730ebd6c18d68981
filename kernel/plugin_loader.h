/* Loading plugins: find the file, check its ABI stamp, map a private copy. */
#ifndef MF_PLUGIN_LOADER_H
#define MF_PLUGIN_LOADER_H

#include "kernel.h"

typedef struct mf_module {
    char *name;
    char *file;            /* the file it was loaded from */
    unsigned generation;   /* counts loads of this name */
    void *handle;          /* lt_dlhandle */
    const mf_plugin *desc;
    unsigned refs;         /* instances running on it */
    struct mf_module *next;
} mf_module;

/* dirs: NULL-terminated search list (config plugin_dirs); MCPFED_PLUGIN_PATH and the
 * installed plugin directory are searched after it. */
int mf_plugins_init(char *const *dirs, mf_error *err);
void mf_plugins_shutdown(void);
/* name is a plugin name ("stdio") or a path to a .so file. Loads it once; later calls
 * return the loaded module. */
mf_module *mf_plugin_load(const char *name, mf_error *err);
mf_module *mf_plugin_find(const char *name);
mf_module *mf_plugins_list(void);
/* Find the file for a plugin name; returns a malloc'd path or NULL with err listing
 * the places searched. */
char *mf_plugin_locate(const char *name, mf_error *err);
int mf_elf_read_stamp(const char *file, mf_stamp *out, mf_error *err);

#endif
