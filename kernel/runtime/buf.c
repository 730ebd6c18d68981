/* Growable byte buffers for the kernel and plugins (sdk/mcpfed/buf.h). */
#include "build-config.h"
#include "kernel.h"

#include <string.h>

void mf_buf_append(char **data, size_t *len, size_t *cap, const void *bytes, size_t n)
{
    if (*len + n + 1 > *cap) {
        size_t ncap = *cap ? *cap : 64;
        while (ncap < *len + n + 1)
            ncap *= 2;
        *data = mf_xrealloc(*data, ncap);
        *cap = ncap;
    }
    if (n)
        memcpy(*data + *len, bytes, n);
    *len += n;
    (*data)[*len] = '\0';
}
