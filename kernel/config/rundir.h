/* Where the admin socket is when the configuration does not say: shared by mcpfed (the
 * embedded default's mcpfed.admin_socket) and mcpfedctl, which looks there first. Libc only. */
#ifndef MF_RUNDIR_H
#define MF_RUNDIR_H

#include <stdbool.h>
#include <stddef.h>

/* The i-th place (from 0) the admin socket may be by default, written into buf (n bytes):
 * $RUNTIME_DIRECTORY/admin.sock (systemd's RuntimeDirectory=), $XDG_RUNTIME_DIR/mcpfed/admin.sock,
 * /run/mcpfed/admin.sock (root's, or anyone's when any_user). Those whose variable is unset
 * are skipped; NULL once there is no i-th. */
const char *mf_admin_socket_default(int i, bool any_user, char *buf, size_t n);

#endif
