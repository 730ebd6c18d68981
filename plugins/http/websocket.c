/* WebSocket connections (RFC 6455) on the server side: the opening handshake on an HTTP
 * connection, then frames through wslay's event API over the connection's libuv stream.
 *
 * wslay frames, reassembles fragments, answers pings and echoes a client's close; this
 * file adds what it leaves to its user: UTF-8 validation of text messages and close
 * reasons, binary frames refused (1003), frame and message size limits (1009), pings on
 * a timer and an idle limit, and the close code 1002 for the frames its frame layer
 * refuses (a fragmented or oversized control frame, a 64-bit length with its top bit set),
 * for which it would queue a close without a code. Every close is followed by the TCP
 * close once the close frame is written.
 *
 * For a hot swap the bytes of the message arriving are kept as they came, from the end of
 * the last whole message (control frames that came inside it, already answered, cut out):
 * the successor feeds them to a fresh wslay context, so a frame half received at the switch
 * is neither lost nor seen twice. Nothing waits in wslay's send queue: its send callback
 * takes everything, and the connection's write queue is empty before a handover. */
#include "conn_int.h"
#include "ws_feed.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <wslay/wslay.h>
#include <openssl/evp.h>

#define WS_GUID "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

struct ws_link {
    wslay_event_context_ptr ctx;
    const uint8_t *feed;     /* input being handed to wslay */
    size_t feedlen;
    bool failed;             /* a close for an error is queued: deliver nothing more */
    uint64_t last_recv;      /* mf_now() of the last bytes received */
    /* the frame arriving */
    uint8_t opcode;
    bool fin;
    uint64_t frame_len;
    bool in_message;         /* a fragmented text message is open */
    mf_utf8_state utf8;         /* of the text message arriving */
    uint8_t ctl[125];        /* a close frame's payload */
    size_t ctllen;
    /* hot swap: the bytes from the end of the last whole message on (see above) */
    char *raw;
    size_t rawlen, rawcap;
    uint64_t base;           /* stream offset of raw[0] */
    uint64_t cut;            /* bytes cut out of raw since base */
    uint64_t parsed;         /* stream offset of the end of the last whole frame */
};

bool http_conn_is_ws(const http_conn *c) { return c->ws != NULL; }

/* --- the opening handshake ----------------------------------------------------------- */

/* Does the comma-separated list v hold token (case-insensitive)? */
static bool has_token(const char *v, const char *token)
{
    size_t tl = strlen(token);
    while (v && *v) {
        while (*v == ' ' || *v == '\t' || *v == ',')
            v++;
        size_t n = strcspn(v, ",");
        size_t m = n;
        while (m && (v[m - 1] == ' ' || v[m - 1] == '\t'))
            m--;
        if (m == tl && strncasecmp(v, token, tl) == 0)
            return true;
        v += n;
    }
    return false;
}

bool http_ws_wanted(const http_request *r)
{
    return has_token(http_header_get(r, "upgrade"), "websocket");
}

/* A Sec-WebSocket-Key: 16 bytes in base64, 24 characters. */
static bool key_ok(const char *k)
{
    if (!k || strlen(k) != 24 || strcmp(k + 22, "==") != 0)
        return false;
    for (int i = 0; i < 22; i++) {
        char ch = k[i];
        if (!((ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') ||
              ch == '+' || ch == '/'))
            return false;
    }
    return true;
}

const char *http_ws_refusal(const http_request *r, int *status)
{
    *status = 400;
    if (r->method != HTTP_GET)
        return "a WebSocket upgrade is a GET request";
    if (!has_token(http_header_get(r, "connection"), "upgrade"))
        return "a WebSocket upgrade needs Connection: Upgrade";
    const char *v = http_header_get(r, "sec-websocket-version");
    if (!v || strcmp(v, "13") != 0) {
        *status = 426;
        return "only WebSocket version 13 is spoken (Sec-WebSocket-Version: 13)";
    }
    if (!key_ok(http_header_get(r, "sec-websocket-key")))
        return "Sec-WebSocket-Key must be 16 bytes in base64";
    return NULL;
}

void http_ws_accept_value(const char *key, char out[32])
{
    char in[64];
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    int n = snprintf(in, sizeof in, "%s%s", key, WS_GUID);
    EVP_Digest(in, (size_t)n, md, &mdlen, EVP_sha1(), NULL);
    EVP_EncodeBlock((unsigned char *)out, md, (int)mdlen);   /* 20 bytes: 28 characters */
}

/* --- wslay's callbacks --------------------------------------------------------------- */

static ssize_t recv_cb(wslay_event_context_ptr ctx, uint8_t *buf, size_t len, int flags, void *ud)
{
    (void)flags;
    http_conn *c = ud;
    ws_link *w = c->ws;
    ssize_t n = ws_feed_take(ctx, &w->feed, &w->feedlen, buf, len);
    if (n > 0)   /* kept until a message ends, for a successor (see above) */
        mf_buf_append(&w->raw, &w->rawlen, &w->rawcap, buf, (size_t)n);
    return n;
}

ssize_t ws_feed_take(wslay_event_context_ptr ctx, const uint8_t **feed, size_t *left, uint8_t *buf, size_t len)
{
    if (*left == 0) {
        wslay_event_set_error(ctx, WSLAY_ERR_WOULDBLOCK);
        return -1;
    }
    size_t n = len < *left ? len : *left;
    memcpy(buf, *feed, n);
    *feed += n;
    *left -= n;
    return (ssize_t)n;
}

static ssize_t send_cb(wslay_event_context_ptr ctx, const uint8_t *data, size_t len, int flags, void *ud)
{
    (void)ctx;
    (void)flags;
    conn_write_raw(ud, (const char *)data, len);   /* queued when the socket is full */
    return (ssize_t)len;
}

/* Fail the connection: the close frame with code goes out, then the TCP close. */
static void ws_fail(http_conn *c, uint16_t code, const char *why)
{
    ws_link *w = c->ws;
    if (w->failed)
        return;
    w->failed = true;
    mf_info("http", "websocket closed", "peer=%s code=%u reason=\"%s\"", c->peer, code, why);
    wslay_event_queue_close(w->ctx, code, (const uint8_t *)why, strlen(why));
    wslay_event_shutdown_read(w->ctx);
}

static void on_frame_start(wslay_event_context_ptr ctx, const struct wslay_event_on_frame_recv_start_arg *a,
                           void *ud)
{
    (void)ctx;
    http_conn *c = ud;
    ws_link *w = c->ws;
    w->opcode = a->opcode;
    w->fin = a->fin;
    w->frame_len = a->payload_length;
    w->ctllen = 0;
    if (a->opcode == WSLAY_BINARY_FRAME)
        ws_fail(c, 1003, "binary frames are not accepted: MCP messages are text");
    else if (a->payload_length > c->cs->limits.ws_max_frame)
        ws_fail(c, 1009, "frame too large");
    else if (a->opcode == WSLAY_TEXT_FRAME)
        w->utf8 = (mf_utf8_state){0};
}

static void on_frame_chunk(wslay_event_context_ptr ctx, const struct wslay_event_on_frame_recv_chunk_arg *a,
                           void *ud)
{
    (void)ctx;
    http_conn *c = ud;
    ws_link *w = c->ws;
    if (w->failed)
        return;
    if (w->opcode == WSLAY_TEXT_FRAME || w->opcode == WSLAY_CONTINUATION_FRAME) {
        if (!mf_utf8_feed(&w->utf8, a->data, a->data_length))
            ws_fail(c, 1007, "a text message is not valid UTF-8");
    } else if (w->opcode == WSLAY_CONNECTION_CLOSE && w->ctllen + a->data_length <= sizeof w->ctl) {
        memcpy(w->ctl + w->ctllen, a->data, a->data_length);
        w->ctllen += a->data_length;
    }
}

static uint64_t frame_size(uint64_t len)
{
    /* wslay refuses lengths not in their shortest form, and a client's frames are masked */
    return 2 + (len < 126 ? 0 : len < 65536 ? 2 : 8) + 4 + len;
}

/* Keep raw from the stream offset `to` on. */
static void raw_drop_to(ws_link *w, uint64_t to)
{
    size_t n = (size_t)(to - w->base - w->cut);
    memmove(w->raw, w->raw + n, w->rawlen - n);
    w->rawlen -= n;
    w->base = to;
    w->cut = 0;
}

static void on_frame_end(wslay_event_context_ptr ctx, void *ud)
{
    (void)ctx;
    http_conn *c = ud;
    ws_link *w = c->ws;
    uint64_t start = w->parsed, size = frame_size(w->frame_len);
    w->parsed += size;
    if (w->opcode == WSLAY_CONNECTION_CLOSE && !w->failed) {
        /* checked before wslay echoes the close: a bad one is answered with its own code */
        if (w->ctllen == 1)
            ws_fail(c, 1002, "a close frame's payload cannot be one byte");
        else if (w->ctllen > 2 && !mf_utf8_valid(w->ctl + 2, w->ctllen - 2))
            ws_fail(c, 1007, "a close reason is not valid UTF-8");
    }
    if (w->opcode == WSLAY_TEXT_FRAME || w->opcode == WSLAY_CONTINUATION_FRAME) {
        if (w->fin && !w->failed && !mf_utf8_complete(&w->utf8))
            ws_fail(c, 1007, "a text message is not valid UTF-8");
        w->in_message = !w->fin;
        if (w->fin)
            raw_drop_to(w, w->parsed);
    } else if (w->in_message) {
        /* a control frame inside a fragmented message: handled, so not to be fed again */
        size_t at = (size_t)(start - w->base - w->cut);
        memmove(w->raw + at, w->raw + at + size, w->rawlen - at - size);
        w->rawlen -= size;
        w->cut += size;
    } else {
        raw_drop_to(w, w->parsed);
    }
}

static void on_msg(wslay_event_context_ptr ctx, const struct wslay_event_on_msg_recv_arg *a, void *ud)
{
    (void)ctx;
    http_conn *c = ud;
    if (c->ws->failed || a->opcode != WSLAY_TEXT_FRAME || c->closing)
        return;
    c->cs->app.on_ws_message(c->cs->app_ud, c, (const char *)a->msg, a->msg_length);
}

static const struct wslay_event_callbacks callbacks = {
    .recv_callback = recv_cb,
    .send_callback = send_cb,
    .on_frame_recv_start_callback = on_frame_start,
    .on_frame_recv_chunk_callback = on_frame_chunk,
    .on_frame_recv_end_callback = on_frame_end,
    .on_msg_recv_callback = on_msg,
};

/* --- sending, closing ------------------------------------------------------------------ */

/* A close frame with code written with wslay's frame layer, for when its event layer has
 * already queued one without a code. */
static ssize_t frame_send_cb(const uint8_t *data, size_t len, int flags, void *ud)
{
    (void)flags;
    conn_write_raw(ud, (const char *)data, len);
    return (ssize_t)len;
}

static void write_close_frame(http_conn *c, uint16_t code)
{
    struct wslay_frame_callbacks fcb = {.send_callback = frame_send_cb};
    wslay_frame_context_ptr f;
    if (wslay_frame_context_init(&f, &fcb, c) != 0)
        return;
    uint8_t payload[2] = {(uint8_t)(code >> 8), (uint8_t)(code & 0xff)};
    struct wslay_frame_iocb io = {.fin = 1, .opcode = WSLAY_CONNECTION_CLOSE, .payload_length = 2,
                                  .data = payload, .data_length = 2};
    wslay_frame_send(f, &io);
    wslay_frame_context_free(f);
}

static void after_close_sent(http_conn *c)
{
    c->close_after = true;
    uv_timer_stop(&c->timer);
    if (c->queued == 0)
        conn_close(c);
}

/* Send what wslay queued; once its close is out, the TCP connection goes. */
static void flush(http_conn *c)
{
    ws_link *w = c->ws;
    if (c->closing)
        return;
    wslay_event_send(w->ctx);
    if (wslay_event_get_close_sent(w->ctx))
        after_close_sent(c);
}

int http_ws_send(http_conn *c, const char *text, size_t len)
{
    if (!c->ws || c->closing || c->ws->failed)
        return -1;
    struct wslay_event_msg m = {WSLAY_TEXT_FRAME, (const uint8_t *)text, len};
    if (wslay_event_queue_msg(c->ws->ctx, &m) != 0)
        return -1;
    flush(c);
    return c->closing ? -1 : 0;
}

void http_ws_close(http_conn *c, uint16_t code, const char *reason)
{
    if (!c->ws || c->closing)
        return;
    ws_fail(c, code, reason);
    flush(c);
}

/* --- reading --------------------------------------------------------------------------- */

void ws_pump(http_conn *c)
{
    ws_link *w = c->ws;
    if (c->cs->paused || c->closing)
        return;
    if (c->inlen) {
        w->last_recv = mf_now();
        w->feed = (const uint8_t *)c->inbuf;
        w->feedlen = c->inlen;
        int rc = wslay_event_recv(w->ctx);
        size_t used = c->inlen - w->feedlen;
        memmove(c->inbuf, c->inbuf + used, w->feedlen);
        c->inlen = w->feedlen;
        w->feedlen = 0;
        if (c->closing)
            return;
        if (rc == WSLAY_ERR_CALLBACK_FAILURE && !w->failed) {
            /* refused by wslay's frame layer, which queued a close without a code */
            w->failed = true;
            mf_info("http", "websocket closed", "peer=%s code=1002 reason=\"malformed frame\"", c->peer);
            write_close_frame(c, 1002);
            after_close_sent(c);
            return;
        } else if (rc != 0 && !w->failed) {
            ws_fail(c, 1011, "out of memory");
        }
    }
    flush(c);
    if (!c->closing && !w->failed && wslay_event_get_read_enabled(w->ctx))
        conn_read_more(c);
}

static void on_tick(uv_timer_t *t)
{
    http_conn *c = t->data;
    ws_link *w = c->ws;
    if (!w || c->closing || c->cs->paused || w->failed)
        return;
    if (c->cs->limits.ws_idle_ms && mf_now() - w->last_recv >= c->cs->limits.ws_idle_ms) {
        ws_fail(c, 1008, "no answer to pings: idle too long");
    } else if (c->cs->limits.ws_ping_ms) {
        struct wslay_event_msg m = {WSLAY_PING, (const uint8_t *)"", 0};
        wslay_event_queue_msg(w->ctx, &m);
    }
    flush(c);
}

/* --- set-up ------------------------------------------------------------------------------ */

static int link_new(http_conn *c)
{
    ws_link *w = calloc(1, sizeof *w);
    if (!w || wslay_event_context_server_init(&w->ctx, &callbacks, c) != 0) {
        free(w);
        return -1;
    }
    wslay_event_config_set_max_recv_msg_length(w->ctx, c->cs->limits.ws_max_message);
    w->last_recv = mf_now();
    c->ws = w;
    c->state = C_WEBSOCKET;
    uv_timer_stop(&c->timer);
    uint64_t every = c->cs->limits.ws_ping_ms ? c->cs->limits.ws_ping_ms : c->cs->limits.ws_idle_ms;
    if (every)
        uv_timer_start(&c->timer, on_tick, every, every);
    return 0;
}

void http_ws_accept(http_conn *c, const http_request *r, const char *protocol)
{
    if (c->state != C_HANDLING)
        return;
    char acc[32], head[512];
    http_ws_accept_value(http_header_get(r, "sec-websocket-key"), acc);
    int n = snprintf(head, sizeof head,
                     "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                     "Sec-WebSocket-Accept: %s\r\n%s%s%s\r\n", acc, protocol ? "Sec-WebSocket-Protocol: " : "",
                     protocol ? protocol : "", protocol ? "\r\n" : "");
    conn_write_raw(c, head, (size_t)n);
    conn_request_done(c);
    if (link_new(c) != 0) {
        conn_close(c);
        return;
    }
    /* what the client sent after its handshake is frames: the pump feeds them */
}

void ws_free(http_conn *c)
{
    ws_link *w = c->ws;
    if (!w)
        return;
    wslay_event_context_free(w->ctx);
    free(w->raw);
    free(w);
    c->ws = NULL;
}

const char *ws_unparsed(const http_conn *c, size_t *len)
{
    *len = c->ws->rawlen;
    return c->ws->raw;
}

int ws_adopt(http_conn *c) { return link_new(c); }
