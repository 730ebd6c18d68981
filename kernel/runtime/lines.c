/* Newline framing with a length bound: a too-long line is dropped as it streams by, so
 * memory stays within max whatever the peer sends. */
#include "build-config.h"
#include "kernel.h"

#include <stdlib.h>
#include <string.h>

void mf_lines_init(mf_lines *l, size_t max)
{
    memset(l, 0, sizeof *l);
    l->max = max;
}

void mf_lines_free(mf_lines *l)
{
    free(l->buf);
    l->buf = NULL;
    l->len = l->cap = 0;
}

size_t mf_lines_pending(const mf_lines *l) { return l->len; }

static void emit(const char *line, size_t n, mf_line_fn on_line, void *ud)
{
    if (n && line[n - 1] == '\r')
        n--;
    if (n)
        on_line(ud, line, n);
}

void mf_lines_feed(mf_lines *l, const char *data, size_t n, mf_line_fn on_line,
                   mf_overflow_fn on_overflow, void *ud)
{
    while (n) {
        const char *nl = memchr(data, '\n', n);
        size_t chunk = nl ? (size_t)(nl - data) : n;
        if (nl && !l->discarding && l->len == 0 && chunk <= l->max) {
            /* the common case: a whole line inside this read, no copy */
            emit(data, chunk, on_line, ud);
            data = nl + 1;
            n -= chunk + 1;
            continue;
        }
        if (l->discarding) {
            l->dropped += chunk;
        } else if (l->len + chunk > l->max) {
            /* over the bound: drop the whole line */
            l->discarding = true;
            l->dropped = l->len + chunk;
            l->len = 0;
        } else {
            mf_buf_append(&l->buf, &l->len, &l->cap, data, chunk);
        }
        if (!nl)
            break;
        if (l->discarding) {
            size_t dropped = l->dropped;
            l->discarding = false;
            l->dropped = 0;
            if (on_overflow)
                on_overflow(ud, dropped);
        } else {
            size_t len = l->len;
            l->len = 0;   /* reset first: on_line may feed again */
            emit(l->buf, len, on_line, ud);
        }
        data = nl + 1;
        n -= chunk + 1;
    }
    /* give memory back after a big line */
    if (l->len == 0 && l->cap > 65536) {
        free(l->buf);
        l->buf = NULL;
        l->cap = 0;
    }
}
