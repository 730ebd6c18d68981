/* File descriptors handed from one generation of the plugin to the next. */
#ifndef HTTP_SWAP_UTIL_H
#define HTTP_SWAP_UTIL_H

#include <mcpfed/mcpfed.h>

/* A duplicate of fd, close-on-exec and never 0, 1 or 2; -1 on failure. */
int swap_dup(int fd);
/* A duplicate of the socket under h; -1 on failure. */
int swap_dup_handle(const uv_handle_t *h);
void swap_close_fd(int fd);

#endif
