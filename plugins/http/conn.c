/* HTTP/1.1 connections on the server side: parsing with http-parser, limits, keep-alive,
 * pipelining, whole and streamed (chunked) responses.
 *
 * One request is handled at a time per connection. When a request is complete the parser
 * is paused and whatever the client sent after it (pipelined requests) waits in the
 * connection's buffer until the response is done; responses therefore leave in request
 * order. Reading stops while that buffer is over its bound. */
#include "conn_int.h"
#include "tls.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct wreq {
    uv_write_t req;
    http_conn *c;
    size_t len;
    char data[];
} wreq;

static http_parser_settings settings;
static void alloc_cb(uv_handle_t *h, size_t suggested, uv_buf_t *buf);
static void on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf);

const char *http_status_text(int status)
{
    switch (status) {
    case 100: return "Continue";
    case 101: return "Switching Protocols";
    case 200: return "OK";
    case 202: return "Accepted";
    case 204: return "No Content";
    case 400: return "Bad Request";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 406: return "Not Acceptable";
    case 408: return "Request Timeout";
    case 409: return "Conflict";
    case 411: return "Length Required";
    case 413: return "Content Too Large";
    case 415: return "Unsupported Media Type";
    case 421: return "Misdirected Request";
    case 426: return "Upgrade Required";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    case 501: return "Not Implemented";
    case 503: return "Service Unavailable";
    default: return "Unknown";
    }
}

const char *http_header_get(const http_request *r, const char *lower_name)
{
    for (size_t i = 0; i < r->nheaders; i++)
        if (strcmp(r->headers[i].name, lower_name) == 0)
            return r->headers[i].value;
    return NULL;
}

const char *http_conn_peer(const http_conn *c) { return c->peer; }
void *http_conn_app_data(const http_conn *c) { return c->app_data; }
void http_conn_set_app_data(http_conn *c, void *p) { c->app_data = p; }
size_t http_conns_count(const http_conns *cs) { return cs->count; }

/* --- request assembly ------------------------------------------------------------ */

static void request_reset(http_request *r)
{
    for (size_t i = 0; i < r->nheaders; i++) {
        free(r->headers[i].name);
        free(r->headers[i].value);
    }
    free(r->headers);
    free(r->target);
    free(r->path);
    free(r->body);
    memset(r, 0, sizeof *r);
}

static void append_str(char **s, const char *at, size_t n)
{
    size_t len = *s ? strlen(*s) : 0, cap = *s ? len + 1 : 0;
    mf_buf_append(s, &len, &cap, at, n);
}

static int count_header(http_conn *c, size_t n)
{
    c->header_bytes += n;
    if (c->header_bytes > c->cs->limits.max_header_bytes) {
        c->error_status = 431;
        return -1;
    }
    return 0;
}

static int cb_message_begin(http_parser *p)
{
    http_conn *c = p->data;
    c->state = C_READING;
    c->header_bytes = 0;
    c->in_value = false;
    /* a request parsed again by a successor keeps the deadline it had */
    uint64_t now = mf_now();
    if (!c->req_deadline)
        c->req_deadline = now + c->cs->limits.request_ms;
    uv_timer_start(&c->timer, conn_on_request_timeout, c->req_deadline > now ? c->req_deadline - now : 1, 0);
    return 0;
}

static int cb_url(http_parser *p, const char *at, size_t n)
{
    http_conn *c = p->data;
    if (count_header(c, n))
        return -1;
    append_str(&c->req.target, at, n);
    return 0;
}

static int cb_header_field(http_parser *p, const char *at, size_t n)
{
    http_conn *c = p->data;
    http_request *r = &c->req;
    if (count_header(c, n))
        return -1;
    if (c->in_value || r->nheaders == 0) {
        if (r->nheaders == r->capheaders) {
            size_t ncap = r->capheaders ? r->capheaders * 2 : 16;
            http_header *h = realloc(r->headers, ncap * sizeof *h);
            if (!h)
                return -1;
            r->headers = h;
            r->capheaders = ncap;
        }
        r->headers[r->nheaders++] = (http_header){NULL, NULL};
        c->in_value = false;
    }
    http_header *h = &r->headers[r->nheaders - 1];
    size_t old = h->name ? strlen(h->name) : 0;
    append_str(&h->name, at, n);
    for (size_t i = old; h->name[i]; i++)
        h->name[i] = (char)tolower((unsigned char)h->name[i]);
    return 0;
}

static int cb_header_value(http_parser *p, const char *at, size_t n)
{
    http_conn *c = p->data;
    if (count_header(c, n) || c->req.nheaders == 0)
        return -1;
    c->in_value = true;
    append_str(&c->req.headers[c->req.nheaders - 1].value, at, n);
    return 0;
}

static int cb_headers_complete(http_parser *p)
{
    http_conn *c = p->data;
    http_request *r = &c->req;
    for (size_t i = 0; i < r->nheaders; i++) {
        if (!r->headers[i].value && !(r->headers[i].value = strdup("")))
            return -1;
        /* a field's value has no whitespace around it (RFC 9110 5.5); the parser drops
         * what leads it, not what trails */
        char *v = r->headers[i].value;
        size_t n = strlen(v);
        while (n && (v[n - 1] == ' ' || v[n - 1] == '\t'))
            v[--n] = '\0';
    }
    if (!r->target)
        r->target = strdup("/");
    const char *q = strchr(r->target, '?');
    r->path = strndup(r->target, q ? (size_t)(q - r->target) : strlen(r->target));
    r->method = (enum http_method)p->method;
    if (p->content_length != ULLONG_MAX && p->content_length > c->cs->limits.max_body_bytes) {
        c->error_status = 413;
        return -1;
    }
    const char *expect = http_header_get(r, "expect");
    if (expect && strcasecmp(expect, "100-continue") == 0 && p->http_minor >= 1 && !c->continued) {
        c->continued = true;
        conn_write_raw(c, "HTTP/1.1 100 Continue\r\n\r\n", 25);
    }
    return 0;
}

static int cb_body(http_parser *p, const char *at, size_t n)
{
    http_conn *c = p->data;
    http_request *r = &c->req;
    if (r->body_len + n > c->cs->limits.max_body_bytes) {
        c->error_status = 413;
        return -1;
    }
    mf_buf_append(&r->body, &r->body_len, &r->body_cap, at, n);
    return 0;
}

static int cb_message_complete(http_parser *p)
{
    http_conn *c = p->data;
    c->req.keep_alive = http_should_keep_alive(p);
    if (!c->req.body)
        mf_buf_append(&c->req.body, &c->req.body_len, &c->req.body_cap, "", 0);
    c->state = C_HANDLING;
    uv_timer_stop(&c->timer);
    http_parser_pause(p, 1);   /* one request at a time; the rest waits in inbuf */
    return 0;
}

/* --- writing --------------------------------------------------------------------- */

static void after_write(uv_write_t *req, int status)
{
    wreq *w = (wreq *)req;
    http_conn *c = w->c;
    http_conns *cs = c->cs;
    c->queued -= w->len;
    cs->queued -= w->len;
    free(w);
    if (cs->queued == 0 && cs->flushed_cb)
        cs->flushed_cb(cs->flushed_ud);
    if (status < 0) {
        conn_close(c);
        return;
    }
    if (c->queued == 0 && c->close_after)
        conn_close(c);
}

void conn_write_raw(http_conn *c, const char *data, size_t len)
{
    if (c->tls) {
        if (!c->closing && len)
            conn_tls_write(c, data, len);
        return;
    }
    conn_sock_write(c, data, len);
}

void conn_sock_write(http_conn *c, const char *data, size_t len)
{
    if (c->closing || len == 0)
        return;
    if (c->queued == 0) {
        /* the common case: the socket takes it all at once, no request allocated */
        uv_buf_t b = uv_buf_init((char *)data, (unsigned)len);
        int n = uv_try_write((uv_stream_t *)&c->tcp, &b, 1);
        if (n == (int)len)
            return;
        if (n > 0) {
            data += n;
            len -= (size_t)n;
        } else if (n != UV_EAGAIN) {
            conn_close(c);
            return;
        }
    }
    if (c->queued + len > c->cs->limits.max_write_queue) {
        mf_warn("http", "client not reading; connection dropped", "peer=%s queued=%zu", c->peer,
                c->queued);
        conn_close(c);
        return;
    }
    wreq *w = malloc(sizeof *w + len);
    if (!w) {
        conn_close(c);
        return;
    }
    w->c = c;
    w->len = len;
    memcpy(w->data, data, len);
    uv_buf_t b = uv_buf_init(w->data, (unsigned)len);
    if (uv_write(&w->req, (uv_stream_t *)&c->tcp, &b, 1, after_write) != 0) {
        free(w);
        conn_close(c);
        return;
    }
    c->queued += len;
    c->cs->queued += len;
}


void conn_request_done(http_conn *c)
{
    request_reset(&c->req);
    c->continued = false;
    c->req_deadline = 0;
    c->rawlen = 0;
}

/* The response is complete: on to the next request, or close. */
static void finish(http_conn *c)
{
    request_reset(&c->req);
    c->state = C_IDLE;
    c->chunked = false;
    c->continued = false;
    c->req_deadline = 0;
    c->rawlen = 0;
    if (c->closing)
        return;
    if (c->close_after) {
        if (c->queued == 0)
            conn_close(c);
        return;
    }
    http_parser_pause(&c->parser, 0);
    uv_timer_start(&c->timer, conn_on_idle_timeout, c->cs->limits.idle_ms, 0);
    conn_pump(c);
}

static size_t head(char *buf, size_t cap, http_conn *c, int status, const char *ctype,
                   const char *extra, const char *framing)
{
    int n = snprintf(buf, cap, "HTTP/1.1 %d %s\r\n%s%s%s%s%sConnection: %s\r\n\r\n", status,
                     http_status_text(status), ctype ? "Content-Type: " : "", ctype ? ctype : "",
                     ctype ? "\r\n" : "", extra ? extra : "", framing,
                     c->close_after ? "close" : "keep-alive");
    return n < 0 ? 0 : (size_t)n < cap ? (size_t)n : cap - 1;
}

void http_respond(http_conn *c, int status, const char *ctype, const char *extra,
                  const char *body, size_t len)
{
    if (c->state != C_HANDLING && c->state != C_READING)
        return;
    if (!c->req.keep_alive || c->cs->closing)
        c->close_after = true;
    char framing[64];
    snprintf(framing, sizeof framing, "Content-Length: %zu\r\n", len);
    char small[1024];
    size_t hl = head(small, sizeof small, c, status, ctype, extra, framing);
    if (hl + len <= sizeof small) {
        memcpy(small + hl, body, len);
        conn_write_raw(c, small, hl + len);
    } else {
        char *buf = malloc(hl + len + 512);
        size_t h2 = head(buf, hl + 512, c, status, ctype, extra, framing);
        memcpy(buf + h2, body, len);
        conn_write_raw(c, buf, h2 + len);
        free(buf);
    }
    finish(c);
}

void http_stream_start(http_conn *c, int status, const char *ctype, const char *extra)
{
    if (c->state != C_HANDLING)
        return;
    if (c->cs->closing)
        c->close_after = true;
    /* HTTP/1.0 has no chunks: the stream ends with the connection */
    c->chunked = c->parser.http_major == 1 && c->parser.http_minor >= 1;
    if (!c->chunked || !c->req.keep_alive)
        c->close_after = true;
    char buf[1024];
    size_t hl = head(buf, sizeof buf, c, status, ctype, extra,
                     c->chunked ? "Cache-Control: no-cache\r\nTransfer-Encoding: chunked\r\n"
                                : "Cache-Control: no-cache\r\n");
    conn_write_raw(c, buf, hl);
    c->state = C_STREAMING;
}

int http_stream_write(http_conn *c, const char *data, size_t len)
{
    if (c->state != C_STREAMING || c->closing)
        return -1;
    if (!c->chunked) {
        conn_write_raw(c, data, len);
        return c->closing ? -1 : 0;
    }
    char size[24];
    int n = snprintf(size, sizeof size, "%zx\r\n", len);
    size_t total = (size_t)n + len + 2;
    char stackbuf[2048];
    char *buf = total <= sizeof stackbuf ? stackbuf : malloc(total);
    if (!buf)
        return -1;
    memcpy(buf, size, (size_t)n);
    memcpy(buf + n, data, len);
    memcpy(buf + n + len, "\r\n", 2);
    conn_write_raw(c, buf, total);
    if (buf != stackbuf)
        free(buf);
    return c->closing ? -1 : 0;
}

void http_stream_end(http_conn *c)
{
    if (c->state != C_STREAMING)
        return;
    if (c->chunked)
        conn_write_raw(c, "0\r\n\r\n", 5);
    finish(c);
}

void http_conn_abort(http_conn *c) { conn_close(c); }

/* --- reading --------------------------------------------------------------------- */

/* A malformed or over-limit request: answer it and close. */
static void refuse(http_conn *c, int status, const char *why)
{
    mf_info("http", "request refused", "peer=%s status=%d reason=\"%s\"", c->peer, status, why);
    c->close_after = true;
    c->state = C_HANDLING;
    char body[256];
    int n = snprintf(body, sizeof body, "%d %s: %s\n", status, http_status_text(status), why);
    http_respond(c, status, "text/plain", NULL, body, (size_t)n);
}

/* Parse what is buffered; hand complete requests to the app, one at a time. */
void conn_pump(http_conn *c)
{
    if (c->pumping || c->cs->paused)
        return;
    c->pumping = true;
    size_t bound = c->cs->limits.max_header_bytes + c->cs->limits.max_body_bytes + 65536;
    while (!c->closing && c->inlen > 0 && (c->state == C_IDLE || c->state == C_READING)) {
        bool fresh = c->state == C_IDLE;
        size_t n = http_parser_execute(&c->parser, &settings, c->inbuf, c->inlen);
        enum http_errno e = HTTP_PARSER_ERRNO(&c->parser);
        bool raw_failed = false;
        if (e == HPE_OK && c->state == C_READING) {
            /* the request still arriving is kept as sent, for a successor to parse again */
            if (fresh)
                c->rawlen = 0;
            raw_failed = c->rawlen + n > bound;
            if (!raw_failed)
                mf_buf_append(&c->raw, &c->rawlen, &c->rawcap, c->inbuf, n);
        } else {
            c->rawlen = 0;
        }
        memmove(c->inbuf, c->inbuf + n, c->inlen - n);
        c->inlen -= n;
        if (e == HPE_PAUSED) {
            c->cs->app.on_request(c->cs->app_ud, c, &c->req);
            continue;   /* the app may have answered already: parse on */
        }
        if (raw_failed) {
            refuse(c, 413, "request too large");
            break;
        }
        if (e != HPE_OK) {
            if (c->error_status == 431 || e == HPE_HEADER_OVERFLOW)
                refuse(c, 431, "request headers too large");
            else if (c->error_status == 413)
                refuse(c, 413, "request body too large");
            else
                refuse(c, 400, http_errno_description(e));
            break;
        }
    }
    c->pumping = false;
    if (c->state == C_WEBSOCKET && !c->closing) {
        ws_pump(c);
        return;
    }
    conn_read_more(c);
}

void conn_read_more(http_conn *c)
{
    /* buffered bytes are bounded: stop reading until they are parsed */
    size_t bound = c->cs->limits.max_header_bytes + c->cs->limits.max_body_bytes + 65536;
    if (c->inlen > bound && c->reading) {
        uv_read_stop((uv_stream_t *)&c->tcp);
        c->reading = false;
    } else if (c->inlen <= bound && !c->reading && !c->eof && !c->closing && !c->cs->paused) {
        c->reading = uv_read_start((uv_stream_t *)&c->tcp, alloc_cb, on_read) == 0;
    }
}

static void alloc_cb(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    (void)h;
    (void)suggested;
    static char slab[65536];   /* one read at a time on the one loop */
    buf->base = slab;
    buf->len = sizeof slab;
}

void conn_read_end(http_conn *c, ssize_t n)
{
    if (c->tls && conn_tls_left(c))
        return;
    uv_read_stop((uv_stream_t *)&c->tcp);
    c->reading = false;
    c->eof = true;
    if (n == UV_EOF && c->state == C_HANDLING) {
        /* the client sent its request and shut its side: it still gets the answer */
        c->close_after = true;
        return;
    }
    /* a request cut short gets nothing more; an idle connection or a stream whose
     * reader left just goes */
    conn_close(c);
}

void conn_received(http_conn *c, const char *data, size_t len)
{
    if (c->state == C_IDLE && c->inlen == 0)
        uv_timer_stop(&c->timer);
    mf_buf_append(&c->inbuf, &c->inlen, &c->incap, data, len);
}

static void on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf)
{
    http_conn *c = s->data;
    if (n < 0) {
        conn_read_end(c, n);
        return;
    }
    if (n == 0)
        return;
    if (c->tls) {
        conn_tls_received(c, buf->base, (size_t)n);
        return;
    }
    conn_received(c, buf->base, (size_t)n);
    conn_pump(c);
}

void conn_on_request_timeout(uv_timer_t *t)
{
    http_conn *c = t->data;
    if (c->state == C_READING)
        refuse(c, 408, "the request did not arrive in time");
}

void conn_on_idle_timeout(uv_timer_t *t)
{
    http_conn *c = t->data;
    if (c->state == C_IDLE)
        conn_close(c);
}

/* --- lifecycle ------------------------------------------------------------------- */

void conn_handle_closed(uv_handle_t *h)
{
    http_conn *c = h->data;
    if (--c->open_handles > 0)
        return;
    http_conns *cs = c->cs;
    bool counted = c->counted;
    /* the app hears of the close only here, from the loop, never from inside one of its
     * own calls (a response that closes the connection, a failed write): what it frees
     * then cannot be what the call it is in still uses */
    if (counted && !c->notified) {
        c->notified = true;
        cs->app.on_close(cs->app_ud, c);
    }
    if (c->slot)
        mf_conn_slot_give();
    ws_free(c);
    conn_tls_free(c);
    request_reset(&c->req);
    free(c->inbuf);
    free(c->raw);
    free(c);
    /* a connection counts until its last handle is closed: only then may the owner of
     * the set go, since close callbacks run in no promised order */
    if (counted)
        cs->count--;
    if (counted && cs->closing && cs->count == 0 && cs->closed_cb) {
        void (*cb)(void *) = cs->closed_cb;
        cs->closed_cb = NULL;
        cb(cs->closed_ud);
    }
}

void conn_close(http_conn *c)
{
    if (c->closing)
        return;
    c->closing = true;
    http_conns *cs = c->cs;
    if (c->prev)
        c->prev->next = c->next;
    else
        cs->list = c->next;
    if (c->next)
        c->next->prev = c->prev;
    if (c->tls)
        conn_tls_goodbye(c);
    uv_close((uv_handle_t *)&c->tcp, conn_handle_closed);
    uv_close((uv_handle_t *)&c->timer, conn_handle_closed);
}

http_conns *http_conns_new(const http_limits *limits, const http_app *app, void *app_ud)
{
    settings.on_message_begin = cb_message_begin;
    settings.on_url = cb_url;
    settings.on_header_field = cb_header_field;
    settings.on_header_value = cb_header_value;
    settings.on_headers_complete = cb_headers_complete;
    settings.on_body = cb_body;
    settings.on_message_complete = cb_message_complete;
    http_conns *cs = calloc(1, sizeof *cs);
    cs->limits = *limits;
    cs->app = *app;
    cs->app_ud = app_ud;
    return cs;
}

void conn_attach(http_conns *cs, http_conn *c)
{
    c->cs = cs;
    c->tcp.data = c;
    c->open_handles = 2;
    uv_timer_init(mf_loop(), &c->timer);
    c->timer.data = c;
    http_parser_init(&c->parser, HTTP_REQUEST);
    c->parser.data = c;
    struct sockaddr_storage sa;
    int salen = sizeof sa;
    char ip[48] = "?";
    int port = 0;
    if (uv_tcp_getpeername(&c->tcp, (struct sockaddr *)&sa, &salen) == 0) {
        if (sa.ss_family == AF_INET6) {
            uv_ip6_name((struct sockaddr_in6 *)&sa, ip, sizeof ip);
            port = ntohs(((struct sockaddr_in6 *)&sa)->sin6_port);
        } else {
            uv_ip4_name((struct sockaddr_in *)&sa, ip, sizeof ip);
            port = ntohs(((struct sockaddr_in *)&sa)->sin_port);
        }
    }
    snprintf(c->peer, sizeof c->peer, "%s:%d", ip, port);
    c->next = cs->list;
    if (cs->list)
        cs->list->prev = c;
    cs->list = c;
    cs->count++;
    c->counted = true;
    uv_tcp_nodelay(&c->tcp, 1);
}

void http_conns_accept(http_conns *cs, uv_stream_t *server)
{
    http_conn *c = calloc(1, sizeof *c);
    if (!c)
        return;
    uv_tcp_init(mf_loop(), &c->tcp);
    if (uv_accept(server, (uv_stream_t *)&c->tcp) != 0) {
        c->tcp.data = c;
        c->open_handles = 1;
        c->cs = cs;
        uv_close((uv_handle_t *)&c->tcp, conn_handle_closed);
        return;
    }
    conn_attach(cs, c);
    /* beyond max_connections, or what the file descriptor limit leaves for clients */
    if (cs->count > cs->limits.max_connections || cs->closing || !(c->slot = mf_conn_slot_take())) {
        if (cs->tls_ctx) {
            /* a 503 would first take the handshake the limit is there to spare */
            mf_info("http", "connection refused", "peer=%s reason=\"too many connections\"", c->peer);
            conn_close(c);
            return;
        }
        c->state = C_HANDLING;
        c->close_after = true;
        http_respond(c, 503, "text/plain", NULL, "too many connections\n", 21);
        return;
    }
    if (!cs->tls_ctx)
        uv_timer_start(&c->timer, conn_on_idle_timeout, cs->limits.idle_ms, 0);
    else if (conn_tls_start(c)) {   /* its handshake, bounded by read_timeout_ms */
        conn_close(c);
        return;
    }
    conn_pump(c);   /* starts reading, unless the set is being handed over */
}

void conns_end_all(http_conns *cs, bool detach, void (*done)(void *ud), void *ud)
{
    cs->closing = true;
    cs->closed_cb = done;
    cs->closed_ud = ud;
    if (cs->count == 0) {
        cs->closed_cb = NULL;
        done(ud);
        return;
    }
    for (http_conn *c = cs->list, *next; c; c = next) {
        next = c->next;
        if (detach) {
            conn_tls_disown(c);   /* its SSL is the successor's */
            c->notified = true;   /* the successor serves its client: nobody is told it closed */
            conn_close(c);
        } else if (c->state == C_WEBSOCKET) {
            http_ws_close(c, 1001, "the gateway is shutting down");   /* closed once written */
        } else if (c->state == C_IDLE || c->state == C_READING) {
            conn_close(c);   /* idle ones go now */
        } else {
            c->close_after = true;   /* one with a response under way, once it is written */
        }
    }
}

void http_conns_close_all(http_conns *cs, void (*done)(void *ud), void *ud)
{
    conns_end_all(cs, false, done, ud);
}

void http_conns_free(http_conns *cs)
{
    http_conns_set_tls(cs, NULL);
    free(cs);
}
