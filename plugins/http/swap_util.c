/* File descriptors handed from one generation of the plugin to the next. */
#include "swap_util.h"

#include <fcntl.h>
#include <unistd.h>

int swap_dup(int fd)
{
    /* above 2: the gateway may have closed its standard streams, and a duplicate must not
     * take their place; close-on-exec: upstream processes must not inherit clients */
    return fd < 0 ? -1 : fcntl(fd, F_DUPFD_CLOEXEC, 3);
}

int swap_dup_handle(const uv_handle_t *h)
{
    uv_os_fd_t fd;
    if (uv_fileno(h, &fd) != 0)
        return -1;
    return swap_dup(fd);
}

void swap_close_fd(int fd)
{
    if (fd >= 0)
        close(fd);
}
