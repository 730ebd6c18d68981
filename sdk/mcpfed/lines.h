/* Newline-delimited framing with a bound on line length, for stdio-like streams. */
#ifndef MCPFED_LINES_H
#define MCPFED_LINES_H

#include <mcpfed/base.h>

typedef struct mf_lines {
    char *buf;
    size_t len, cap;
    size_t max;         /* longest line kept, in bytes, without its newline */
    size_t dropped;     /* bytes dropped of the line being discarded */
    bool discarding;
} mf_lines;

/* A complete line without its newline (and without a trailing '\r'); empty lines are skipped. */
typedef void (*mf_line_fn)(void *ud, const char *line, size_t len);
/* A line longer than max was dropped whole; bytes is its length. */
typedef void (*mf_overflow_fn)(void *ud, size_t bytes);

MF_API void mf_lines_init(mf_lines *l, size_t max);
/* Feed bytes; calls on_line for each complete line, on_overflow for each dropped one.
 * The callbacks must not free l. */
MF_API void mf_lines_feed(mf_lines *l, const char *data, size_t n,
                          mf_line_fn on_line, mf_overflow_fn on_overflow, void *ud);
/* Bytes held for an unfinished line. */
MF_API size_t mf_lines_pending(const mf_lines *l);
MF_API void mf_lines_free(mf_lines *l);

#endif
