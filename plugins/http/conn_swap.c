/* Connections handed to the next generation of the plugin (hot swap).
 *
 * While a swap is prepared the set is paused: nothing is read or parsed, and the
 * predecessor waits until every write queue is empty, so that the successor, writing on
 * a duplicate of the same socket, cannot interleave its bytes with older ones. A
 * connection is then written down as its socket (duplicated), the bytes received and not
 * yet parsed, and where its exchange stands. A request still arriving is kept as the
 * bytes it came as, and parsed again from its start by the successor. */
#include "conn_int.h"

#include <stdlib.h>
#include <string.h>

http_conn *http_conns_first(http_conns *cs) { return cs->list; }
http_conn *http_conn_next(const http_conn *c) { return c->next; }
size_t http_conns_queued(const http_conns *cs) { return cs->queued; }

void http_conns_pause(http_conns *cs)
{
    cs->paused = true;
    for (http_conn *c = cs->list; c; c = c->next) {
        if (c->reading) {
            uv_read_stop((uv_stream_t *)&c->tcp);
            c->reading = false;
        }
    }
}

void http_conns_unpause(http_conns *cs)
{
    cs->paused = false;
    cs->flushed_cb = NULL;
    for (http_conn *c = cs->list, *next; c; c = next) {
        next = c->next;   /* parsing may answer and close it */
        conn_tls_rebind(c);
        conn_pump(c);
    }
}

void http_conns_when_flushed(http_conns *cs, void (*cb)(void *ud), void *ud)
{
    cs->flushed_cb = cb;
    cs->flushed_ud = ud;
}

static const char *state_name(const http_conn *c)
{
    /* a request arriving starts again from its first byte: the connection is idle */
    return c->state == C_HANDLING ? "handling" : c->state == C_STREAMING ? "streaming"
           : c->state == C_WEBSOCKET ? "websocket" : "idle";
}

json_t *http_conn_save(const http_conn *c, int *fd)
{
    *fd = mf_fd_dup_handle((const uv_handle_t *)&c->tcp);
    if (*fd < 0)
        return NULL;
    /* unparsed input: the request arriving as it was sent, then what followed it */
    size_t pre = c->state == C_READING ? c->rawlen : 0;
    const char *prebytes = c->raw;
    if (c->state == C_WEBSOCKET)   /* the message arriving, fed again from its first frame */
        prebytes = ws_unparsed(c, &pre);
    char *in = malloc(pre + c->inlen + 1);
    if (!in) {
        mf_fd_close(*fd);
        *fd = -1;
        return NULL;
    }
    if (pre)
        memcpy(in, prebytes, pre);
    if (c->inlen)
        memcpy(in + pre, c->inbuf, c->inlen);
    int64_t idle_left = -1;
    if (c->state == C_IDLE && uv_is_active((const uv_handle_t *)&c->timer))
        idle_left = (int64_t)uv_timer_get_due_in(&c->timer);
    json_t *st = json_pack("{s:i,s:s,s:s,s:o,s:b,s:b,s:b,s:b,s:b,s:i,s:i,s:I,s:I}", "fd", *fd, "peer", c->peer,
                           "state", state_name(c), "in", json_stringn_nocheck(in, pre + c->inlen), "keep_alive",
                           c->req.keep_alive, "close_after", c->close_after, "chunked", c->chunked, "eof", c->eof,
                           "continued", c->continued, "major", (int)c->parser.http_major, "minor",
                           (int)c->parser.http_minor, "deadline",
                           (json_int_t)(c->state == C_READING ? c->req_deadline : 0), "idle_left",
                           (json_int_t)idle_left);
    free(in);
    if (st && c->tls)
        json_object_set_new(st, "tls", conn_tls_save(c));
    if (!st) {
        mf_fd_close(*fd);
        *fd = -1;
    }
    return st;
}

http_conn *http_conn_adopt(http_conns *cs, const json_t *st, int fd, mf_error *err)
{
    const char *state = json_string_value(json_object_get(st, "state"));
    json_t *in = json_object_get(st, "in");
    if (!state || !json_is_string(in)) {
        mf_error_set(err, -1, "a connection's state is incomplete");
        return NULL;
    }
    http_conn *c = calloc(1, sizeof *c);
    if (!c) {
        mf_error_set(err, -1, "out of memory");
        return NULL;
    }
    uv_tcp_init(mf_loop(), &c->tcp);
    int rc = uv_tcp_open(&c->tcp, fd);
    if (rc != 0) {
        /* the handle never owned fd: closing it leaves fd to the caller */
        mf_error_set(err, -1, "cannot take over a connection: %s", uv_strerror(rc));
        c->tcp.data = c;
        c->open_handles = 1;
        c->cs = cs;
        uv_close((uv_handle_t *)&c->tcp, conn_handle_closed);
        return NULL;
    }
    conn_attach(cs, c);
    c->slot = mf_conn_slot_take();   /* the predecessor gives its own back as it closes */
    const char *peer = json_string_value(json_object_get(st, "peer"));
    if (peer)
        snprintf(c->peer, sizeof c->peer, "%s", peer);
    c->state = strcmp(state, "handling") == 0 ? C_HANDLING : strcmp(state, "streaming") == 0 ? C_STREAMING : C_IDLE;
    if (strcmp(state, "websocket") == 0 && ws_adopt(c) != 0) {
        mf_error_set(err, -1, "out of memory");
        conn_close(c);
        return NULL;
    }
    c->req.keep_alive = json_is_true(json_object_get(st, "keep_alive"));
    c->close_after = json_is_true(json_object_get(st, "close_after"));
    c->chunked = json_is_true(json_object_get(st, "chunked"));
    c->eof = json_is_true(json_object_get(st, "eof"));
    c->continued = json_is_true(json_object_get(st, "continued"));
    c->req_deadline = (uint64_t)json_integer_value(json_object_get(st, "deadline"));
    /* the version of the request being answered decides the framing of its response */
    c->parser.http_major = (unsigned short)json_integer_value(json_object_get(st, "major"));
    c->parser.http_minor = (unsigned short)json_integer_value(json_object_get(st, "minor"));
    if (json_string_length(in))
        mf_buf_append(&c->inbuf, &c->inlen, &c->incap, json_string_value(in), json_string_length(in));
    json_int_t idle_left = json_integer_value(json_object_get(st, "idle_left"));
    if (c->state == C_IDLE && c->inlen == 0 && idle_left >= 0)
        uv_timer_start(&c->timer, conn_on_idle_timeout, idle_left > 0 ? (uint64_t)idle_left : 1, 0);
    json_t *tls = json_object_get(st, "tls");
    if (tls && conn_tls_adopt(c, tls)) {
        mf_error_set(err, -1, "a TLS connection's state is invalid");
        conn_close(c);
        return NULL;
    }
    return c;
}

void http_conns_detach_all(http_conns *cs, void (*done)(void *ud), void *ud)
{
    conns_end_all(cs, true, done, ud);
}
