/* The admin socket's default places (rundir.h). */
#include "rundir.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

const char *mf_admin_socket_default(int i, bool any_user, char *buf, size_t n)
{
    const char *rd = getenv("RUNTIME_DIRECTORY"), *xdg = getenv("XDG_RUNTIME_DIR");
    /* systemd lists one directory per RuntimeDirectory= entry, separated by ':': the first */
    int rdlen = rd && rd[0] == '/' ? (int)strcspn(rd, ":") : 0;
    struct { const char *dir; int len; const char *tail; } places[] = {
        {rd, rdlen, "/admin.sock"},
        {xdg, xdg && xdg[0] == '/' ? (int)strlen(xdg) : 0, "/mcpfed/admin.sock"},
        {"/run", any_user || geteuid() == 0 ? 4 : 0, "/mcpfed/admin.sock"},
    };
    for (size_t j = 0; j < sizeof places / sizeof places[0]; j++) {
        if (places[j].len == 0 || i-- > 0)
            continue;
        int w = snprintf(buf, n, "%.*s%s", places[j].len, places[j].dir, places[j].tail);
        return w > 0 && (size_t)w < n ? buf : NULL;
    }
    return NULL;
}
