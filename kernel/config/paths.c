/* Where plugins and Lua files are found when neither the configuration nor the
 * environment says. An installed mcpfed uses the directories under its prefix; one run
 * from the build tree it was made in (not installed yet) uses that tree's plugins and its
 * source tree's lua/, so that ./mcpfed works right after make. */
#include "build-config.h"
#include "config.h"

#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static bool uninstalled(void)
{
    static int known = -1;
    if (known < 0) {
        char exe[PATH_MAX];
        ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
        known = 0;
        if (n > 0) {
            exe[n] = '\0';
            char *slash = strrchr(exe, '/');
            if (slash) {
                *slash = '\0';
                known = strcmp(exe, MF_BUILD_DIR) == 0;
            }
        }
    }
    return known;
}

const char *mf_default_plugin_dir(void)
{
    return uninstalled() ? MF_BUILD_DIR "/plugins" : MF_PLUGIN_DIR;
}

const char *mf_default_lua_dir(void)
{
    return uninstalled() ? MF_SOURCE_DIR "/lua" : MF_LUA_DIR;
}

const char *mf_examples_dir(void)
{
    return uninstalled() ? MF_SOURCE_DIR "/etc/examples" : MF_EXAMPLES_DIR;
}
