/* Downstream stdio: the instance (server.c) and its hot swap (server_swap.c). */
#ifndef STDIO_SERVER_H
#define STDIO_SERVER_H

#include "stdio.h"

#define HIGH_WATER (16u * 1024 * 1024)   /* stop reading while this much waits to be written */
#define LOW_WATER (1u * 1024 * 1024)

typedef struct outstanding {
    uint64_t corr;
    json_t *id;
    bool listen;                    /* subscriptions/listen: open until cancelled, not waited for */
    struct outstanding *next;
} outstanding;

typedef struct server {
    mf_instance *inst;
    uint64_t sid;
    mf_lines lines;
    union { uv_pipe_t pipe; uv_tty_t tty; } in, out;
    int in_fd, out_fd;              /* 0 and 1, or duplicates a predecessor handed over */
    bool in_stream, out_stream;     /* false: a regular file, read/written with uv_fs */
    uv_fs_t fsreq;
    char fsbuf[65536];
    int64_t in_off;
    bool reading, eof, stopping, shutdown_asked;
    int open_handles;               /* handles and the fs read in flight; the last frees s */
    uint64_t next_corr;
    outstanding *pending;           /* requests sent to the kernel and not yet answered */
    size_t npending;                /* of them, those an end of input waits for (not listens) */
    unsigned writes;                /* uv_write requests not called back yet */
    /* hot swap (server_swap.c) */
    uv_timer_t turn;                /* a save hands over one loop turn later at the earliest */
    bool saving, turned, handed_over;
    int dup_in, dup_out;            /* duplicates in a state handed over; -1: none */
} server;

/* A server not yet open (no session, no streams): its timer is its only handle. */
server *server_new(const json_t *conf);
/* Serve on in_fd and out_fd; on failure every stream opened is closed again (closing its
 * fd when above 2) and in_stream/out_stream say which fds were wrapped. */
int server_open(server *s, int in_fd, int out_fd, mf_error *err);
/* Give up a server that never served: free it once its handles are closed. */
void server_discard(server *s);
void server_start_reading(server *s);
void server_track(server *s, uint64_t corr, json_t *id, bool listen);
void server_maybe_finish(server *s);
void server_release(server *s);
void server_handle_closed(uv_handle_t *h);

/* server_swap.c */
void server_save(void *self);
void server_resume(void *self);
int server_adopt(mf_instance *inst, const json_t *conf, const char *state, size_t len, void **self,
                 mf_error *err);
void server_drain(void *self);
/* Something a save waits for happened (a turn, a write, an fs read): hand over when all have. */
void server_swap_progress(server *s);

#endif
