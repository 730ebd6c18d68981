/* Server-sent events: reading a stream (client side) and writing events (server side). */
#ifndef HTTP_SSE_H
#define HTTP_SSE_H

#include <mcpfed/mcpfed.h>

typedef struct sse_event {
    const char *id;       /* NULL when the event had none */
    const char *event;    /* "message" when the event had none */
    const char *data;     /* lines joined with '\n' */
    size_t data_len;
    long retry_ms;        /* -1 when absent */
} sse_event;

typedef void (*sse_fn)(void *ud, const sse_event *e);

typedef struct sse_parser {
    char *line;
    size_t line_len, line_cap;
    char *data, *id, *event;
    size_t data_len, data_cap;
    long retry_ms;
    bool has_data;
    size_t max;
    bool overflow;
    bool skip_line;
    bool after_cr;      /* the last byte fed was a CR: a LF first in the next read ends nothing */
    bool started;       /* bytes were fed: a byte order mark is no longer first */
    sse_fn fn;
    void *ud;
} sse_parser;

void sse_parser_init(sse_parser *p, size_t max_event, sse_fn fn, void *ud);
void sse_parser_feed(sse_parser *p, const char *buf, size_t len);
void sse_parser_free(sse_parser *p);

/* An event as text: "id: <id>\nevent: message\ndata: <data>\n\n" (data without newlines).
 * Returns a malloc'd string and its length. */
char *sse_format(const char *id, const char *data, size_t len, size_t *out_len);

#endif
