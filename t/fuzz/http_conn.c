/* Fuzz target: the http transport's request parser and connection state machine
 * (plugins/http/conn.c), through a real TCP connection on the loop, with an application
 * that answers in every way the MCP endpoint does: at once, later, streamed, streamed
 * later, or by dropping the connection.
 *
 * Input: one byte steering the client, then the bytes it sends (requests, pipelined or
 * not, HTTP/1.0 or 1.1, with or without Connection: close; any bytes at all). The target
 * path of each request chooses how it is answered:
 *   /later  answered on the next turn of the loop      /stream  streamed at once
 *   /slow   streamed, its chunks and end later         /abort   the connection dropped
 *   anything else: 200 with the request body echoed.
 * Steering bits: 0 the client shuts its side after sending, 1 it sends in pieces of
 * 2^(bits 2-4) bytes letting the server run between them, 5 it leaves without reading.
 * Properties: every connection ends (by the client, the server, or a timeout), and the
 * application is told of each end once; nothing is left behind. */
#include "build-config.h"
#include "kernel.h"
#include "conns.h"
#include "fuzz.h"

#include <string.h>

typedef struct pending {
    http_conn *c;
    int kind;   /* 0 respond, 1 stream more and end */
    struct pending *next;
} pending;

static http_conns *conns;
static uv_timer_t later;
static int port;
static pending *queue;
static size_t closes;

static void on_later(uv_timer_t *t);

static void enqueue(http_conn *c, int kind)
{
    pending *p = calloc(1, sizeof *p);
    p->c = c;
    p->kind = kind;
    p->next = queue;
    queue = p;
    uv_timer_start(&later, on_later, 0, 0);
}

static void on_later(uv_timer_t *t)
{
    (void)t;
    pending *q = queue;
    queue = NULL;
    while (q) {
        pending *p = q;
        q = q->next;
        if (p->kind == 0) {
            http_respond(p->c, 200, "text/plain", "X-Later: 1\r\n", "later\n", 6);
        } else {
            http_stream_write(p->c, "data: b\n\n", 9);
            http_stream_end(p->c);
        }
        free(p);
    }
}

static void app_request(void *app, http_conn *c, http_request *r)
{
    (void)app;
    FUZZ_ASSERT(r->path && r->target && r->body);
    const char *ctype = http_header_get(r, "content-type");
    if (strcmp(r->path, "/later") == 0) {
        enqueue(c, 0);
    } else if (strcmp(r->path, "/stream") == 0) {
        http_stream_start(c, 200, "text/event-stream", NULL);
        http_stream_write(c, "data: a\n\n", 9);
        http_stream_end(c);
    } else if (strcmp(r->path, "/slow") == 0) {
        http_stream_start(c, 200, "text/event-stream", "Cache-Control: no-store\r\n");
        enqueue(c, 1);
    } else if (strcmp(r->path, "/abort") == 0) {
        http_conn_abort(c);
    } else {
        http_respond(c, r->method == HTTP_POST ? 200 : 404, ctype ? ctype : "text/plain", NULL,
                     r->body, r->body_len);
    }
}

static void app_close(void *app, http_conn *c)
{
    (void)app;
    closes++;
    /* what was to be answered later goes with its connection */
    for (pending **pp = &queue; *pp;) {
        if ((*pp)->c == c) {
            pending *p = *pp;
            *pp = p->next;
            free(p);
        } else {
            pp = &(*pp)->next;
        }
    }
}

static void teardown(void) { uv_close((uv_handle_t *)&later, NULL); }

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    http_limits limits = {.max_header_bytes = 2048, .max_body_bytes = 8192, .idle_ms = 200,
                          .request_ms = 200, .max_write_queue = 1 << 20, .max_connections = 4};
    http_app app = {app_request, app_close, NULL};   /* never upgrades */
    conns = fuzz_conns_start(&limits, &app, &port);
    uv_timer_init(mf_loop(), &later);
    atexit(teardown);   /* before the set's: exit handlers run last first */
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    size_t closed = closes;
    FUZZ_ASSERT(fuzz_conns_client(conns, port, "", data, size));
    FUZZ_ASSERT(queue == NULL);
    FUZZ_ASSERT(closes == closed + 1);   /* the application heard of the end once */
    return 0;
}
