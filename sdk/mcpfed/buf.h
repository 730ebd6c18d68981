/* Growable byte buffers. The caller keeps data, len and cap in its own struct (zeroed to
 * start); the buffer grows by doubling, and stays NUL-terminated after an append, so a
 * text buffer is also a C string. Memory comes through mf_xrealloc (base.h). */
#ifndef MCPFED_BUF_H
#define MCPFED_BUF_H

#include <mcpfed/base.h>

/* Append n bytes (n may be 0: the buffer then exists and is terminated). */
MF_API void mf_buf_append(char **data, size_t *len, size_t *cap, const void *bytes, size_t n);

#endif
