/* The client side of WebSocket, for the ws provider (see ws_upstream.h).
 *
 * Bytes go TCP -> (TLS, OpenSSL over memory BIOs) -> the handshake's answer, then wslay's
 * client context, and back the same way; everything runs on the kernel's loop. A
 * connection object outlives wsu_close until its handles are closed. */
#include "ws_upstream.h"
#include "http.h"
#include "ws_feed.h"
#include "tls.h"

#include <arpa/inet.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <wslay/wslay.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

typedef enum phase { W_RESOLVING, W_CONNECTING, W_TLS, W_HANDSHAKE, W_OPEN, W_DONE } phase;

struct wsu {
    wsu_ops ops;
    void *ud;
    phase phase;
    bool closed;            /* wsu_close was called: no callbacks */
    char host[256], port[8], *path, *hostport;
    bool tls, insecure;
    char *ca_file, *cert_file, *key_file;
    json_t *headers;
    size_t max_message;
    int pending;            /* handles and requests whose callbacks are due */
    uv_getaddrinfo_t gai;
    struct addrinfo *addrs;
    uv_tcp_t tcp;
    bool tcp_open;
    uv_connect_t creq;
    uv_timer_t timer;
    SSL_CTX *ctx;
    SSL *ssl;
    BIO *rbio, *wbio;
    char key[32];
    char *head;             /* the handshake's answer arriving */
    size_t headlen, headcap;
    wslay_event_context_ptr ws;
    const uint8_t *feed;
    size_t feedlen;
};

/* --- URLs ------------------------------------------------------------------------------ */

static int parse_url(wsu *w, const char *url)
{
    bool tls = strncasecmp(url, "wss://", 6) == 0;
    if (!tls && strncasecmp(url, "ws://", 5) != 0)
        return -1;
    const char *p = url + (tls ? 6 : 5), *hend, *after;
    if (*p == '[') {
        hend = strchr(p, ']');
        if (!hend || (size_t)(hend - p - 1) >= sizeof w->host)
            return -1;
        memcpy(w->host, p + 1, (size_t)(hend - p - 1));
        w->host[hend - p - 1] = '\0';
        after = hend + 1;
    } else {
        size_t n = strcspn(p, ":/?#");
        if (n == 0 || n >= sizeof w->host)
            return -1;
        memcpy(w->host, p, n);
        w->host[n] = '\0';
        after = p + n;
    }
    snprintf(w->port, sizeof w->port, "%s", tls ? "443" : "80");
    if (*after == ':') {
        char *end;
        long port = strtol(after + 1, &end, 10);
        if (end == after + 1 || port < 1 || port > 65535 || (*end && *end != '/' && *end != '?'))
            return -1;
        snprintf(w->port, sizeof w->port, "%ld", port);
        after = end;
    } else if (*after && *after != '/' && *after != '?') {
        return -1;
    }
    w->tls = tls;
    w->path = mf_xstrdup(*after == '/' ? after : *after == '?' ? after : "/");
    if (*after == '?') {   /* "?q" alone: the path is "/" */
        char *q = mf_xmalloc(strlen(after) + 2);
        snprintf(q, strlen(after) + 2, "/%s", after);
        free(w->path);
        w->path = q;
    }
    size_t hl = p == url ? 0 : (size_t)(after - p);
    w->hostport = mf_xstrndup(p, hl);
    return 0;
}

bool wsu_url_ok(const char *url)
{
    wsu w = {0};
    int rc = parse_url(&w, url);
    free(w.path);
    free(w.hostport);
    return rc == 0;
}

/* --- ending ------------------------------------------------------------------------------ */

static void release(wsu *w)
{
    if (w->pending > 0 || !w->closed)
        return;
    if (w->ws)
        wslay_event_context_free(w->ws);
    if (w->ssl)
        SSL_free(w->ssl);   /* frees its BIOs */
    if (w->ctx)
        SSL_CTX_free(w->ctx);
    if (w->addrs)
        uv_freeaddrinfo(w->addrs);
    json_decref(w->headers);
    free(w->head);
    free(w->path);
    free(w->hostport);
    free(w->ca_file);
    free(w->cert_file);
    free(w->key_file);
    free(w);
}

static void handle_closed(uv_handle_t *h)
{
    wsu *w = h->data;
    w->pending--;
    release(w);
}

static void close_handles(wsu *w)
{
    if (!uv_is_closing((uv_handle_t *)&w->timer))
        uv_close((uv_handle_t *)&w->timer, handle_closed);
    if (w->tcp_open && !uv_is_closing((uv_handle_t *)&w->tcp))
        uv_close((uv_handle_t *)&w->tcp, handle_closed);
}

/* The connection is over: tell the user once, and let the handles go. */
static void fail(wsu *w, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void fail(wsu *w, const char *fmt, ...)
{
    if (w->phase == W_DONE)
        return;
    w->phase = W_DONE;
    char why[300];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, sizeof why, fmt, ap);
    va_end(ap);
    close_handles(w);
    if (!w->closed)
        w->ops.on_closed(w->ud, why);
}

/* --- writing ------------------------------------------------------------------------------ */

typedef struct wwrite {
    uv_write_t req;
    wsu *w;
    char data[];
} wwrite;

static void after_write(uv_write_t *req, int status)
{
    wwrite *ww = (wwrite *)req;
    wsu *w = ww->w;
    free(ww);
    w->pending--;
    if (status < 0)
        fail(w, "writing to the upstream failed: %s", uv_strerror(status));
    release(w);
}

static void tcp_write(wsu *w, const char *data, size_t len)
{
    if (w->phase == W_DONE || len == 0)
        return;
    uv_buf_t b = uv_buf_init((char *)data, (unsigned)len);
    int n = uv_try_write((uv_stream_t *)&w->tcp, &b, 1);
    if (n == (int)len)
        return;
    if (n < 0 && n != UV_EAGAIN) {
        fail(w, "writing to the upstream failed: %s", uv_strerror(n));
        return;
    }
    size_t done = n > 0 ? (size_t)n : 0;
    wwrite *ww = mf_xmalloc(sizeof *ww + len - done);
    ww->w = w;
    memcpy(ww->data, data + done, len - done);
    b = uv_buf_init(ww->data, (unsigned)(len - done));
    if (uv_write(&ww->req, (uv_stream_t *)&w->tcp, &b, 1, after_write) != 0) {
        free(ww);
        fail(w, "writing to the upstream failed");
        return;
    }
    w->pending++;
}

/* What TLS has to send (records, handshake messages) goes out. */
static void tls_flush(wsu *w)
{
    char buf[16384];
    int n;
    while ((n = BIO_read(w->wbio, buf, sizeof buf)) > 0)
        tcp_write(w, buf, (size_t)n);
}

/* Plain bytes to the upstream, through TLS for wss://. */
static void net_write(wsu *w, const char *data, size_t len)
{
    if (!w->tls) {
        tcp_write(w, data, len);
        return;
    }
    while (len > 0 && w->phase != W_DONE) {
        int n = SSL_write(w->ssl, data, len > INT32_MAX ? INT32_MAX : (int)len);
        if (n <= 0) {
            fail(w, "TLS write failed");
            return;
        }
        data += n;
        len -= (size_t)n;
        tls_flush(w);
    }
}

/* --- wslay -------------------------------------------------------------------------------- */

static ssize_t recv_cb(wslay_event_context_ptr ctx, uint8_t *buf, size_t len, int flags, void *ud)
{
    (void)flags;
    wsu *w = ud;
    return ws_feed_take(ctx, &w->feed, &w->feedlen, buf, len);
}

static ssize_t send_cb(wslay_event_context_ptr ctx, const uint8_t *data, size_t len, int flags, void *ud)
{
    (void)ctx;
    (void)flags;
    net_write(ud, (const char *)data, len);
    return (ssize_t)len;
}

static int genmask_cb(wslay_event_context_ptr ctx, uint8_t *buf, size_t len, void *ud)
{
    (void)ctx;
    (void)ud;
    return getrandom(buf, len, 0) == (ssize_t)len ? 0 : -1;
}

static void on_msg(wslay_event_context_ptr ctx, const struct wslay_event_on_msg_recv_arg *a, void *ud)
{
    wsu *w = ud;
    if (w->phase != W_OPEN || w->closed)
        return;
    if (a->opcode == WSLAY_TEXT_FRAME) {
        if (!mf_utf8_valid(a->msg, a->msg_length)) {
            wslay_event_queue_close(ctx, 1007, (const uint8_t *)"not UTF-8", 9);
            fail(w, "the upstream sent text that is not UTF-8");
            return;
        }
        w->ops.on_message(w->ud, (const char *)a->msg, a->msg_length);
    } else if (a->opcode == WSLAY_BINARY_FRAME) {
        wslay_event_queue_close(ctx, 1003, (const uint8_t *)"text only", 9);
    } else if (a->opcode == WSLAY_CONNECTION_CLOSE) {
        fail(w, "the upstream closed the WebSocket (code %u)", a->status_code);
    }
}

static const struct wslay_event_callbacks callbacks = {
    .recv_callback = recv_cb,
    .send_callback = send_cb,
    .genmask_callback = genmask_cb,
    .on_msg_recv_callback = on_msg,
};

static void ws_input(wsu *w, const char *data, size_t len)
{
    w->feed = (const uint8_t *)data;
    w->feedlen = len;
    int rc = wslay_event_recv(w->ws);
    w->feedlen = 0;
    if (w->phase == W_DONE)
        return;
    wslay_event_send(w->ws);
    if (rc != 0)
        fail(w, "the upstream broke the WebSocket protocol");
    else if (!wslay_event_want_read(w->ws))
        fail(w, "the WebSocket was closed");
}

/* --- the opening handshake ------------------------------------------------------------------- */

static void send_handshake(wsu *w)
{
    uint8_t nonce[16];
    if (getrandom(nonce, sizeof nonce, 0) != (ssize_t)sizeof nonce) {
        fail(w, "no random bytes for the handshake");
        return;
    }
    EVP_EncodeBlock((unsigned char *)w->key, nonce, sizeof nonce);
    char *req = NULL;
    size_t len = 0, cap = 0;
    char line[1200];
    int n = snprintf(line, sizeof line,
                     "GET %s HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                     "Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: mcp\r\n"
                     "User-Agent: mcpfed/%s\r\n", w->path, w->hostport, w->key, mf_version());
    mf_buf_append(&req, &len, &cap, line, (size_t)n);
    const char *name;
    json_t *v;
    json_object_foreach(w->headers, name, v) {
        n = snprintf(line, sizeof line, "%s: %s\r\n", name, json_string_value(v));
        if (n > 0 && (size_t)n < sizeof line)
            mf_buf_append(&req, &len, &cap, line, (size_t)n);
    }
    mf_buf_append(&req, &len, &cap, "\r\n", 2);
    w->phase = W_HANDSHAKE;
    net_write(w, req, len);
    free(req);
}

/* The value of header name in head (lower-case name), or NULL; *n its length. */
static const char *head_value(const char *head, const char *name, size_t *n)
{
    size_t nl = strlen(name);
    for (const char *l = strstr(head, "\r\n"); l; l = strstr(l, "\r\n")) {
        l += 2;
        if (strncasecmp(l, name, nl) == 0 && l[nl] == ':') {
            const char *v = l + nl + 1;
            while (*v == ' ' || *v == '\t')
                v++;
            *n = strcspn(v, "\r");
            while (*n && (v[*n - 1] == ' ' || v[*n - 1] == '\t'))
                (*n)--;
            return v;
        }
    }
    return NULL;
}

static void handshake_input(wsu *w, const char *data, size_t len)
{
    mf_buf_append(&w->head, &w->headlen, &w->headcap, data, len);
    char *end = strstr(w->head, "\r\n\r\n");
    if (!end) {
        if (w->headlen > 16384)
            fail(w, "the upstream's answer to the WebSocket handshake is too long");
        return;
    }
    size_t headsz = (size_t)(end - w->head) + 4;
    end[2] = '\0';
    int status = 0;
    if (sscanf(w->head, "HTTP/1.%*d %d", &status) != 1 || status != 101) {
        fail(w, "the upstream refused the WebSocket handshake (status %d)", status);
        return;
    }
    char want[32];
    http_ws_accept_value(w->key, want);
    size_t n;
    const char *up = head_value(w->head, "upgrade", &n);
    bool upgrade_ok = up && n == 9 && strncasecmp(up, "websocket", 9) == 0;
    const char *acc = head_value(w->head, "sec-websocket-accept", &n);
    bool accept_ok = acc && n == strlen(want) && strncmp(acc, want, n) == 0;
    const char *proto = head_value(w->head, "sec-websocket-protocol", &n);
    bool proto_ok = !proto || (n == 3 && strncmp(proto, "mcp", 3) == 0);
    if (!upgrade_ok || !accept_ok || !proto_ok) {
        fail(w, "the upstream's WebSocket handshake is invalid (%s)",
             !upgrade_ok ? "Upgrade" : !accept_ok ? "Sec-WebSocket-Accept" : "a subprotocol other than mcp");
        return;
    }
    if (wslay_event_context_client_init(&w->ws, &callbacks, w) != 0) {
        fail(w, "out of memory");
        return;
    }
    wslay_event_config_set_max_recv_msg_length(w->ws, w->max_message);
    uv_timer_stop(&w->timer);
    w->phase = W_OPEN;
    size_t rest = w->headlen - headsz;
    char *tail = rest ? mf_xstrndup(w->head + headsz, rest) : NULL;
    w->ops.on_open(w->ud);
    if (tail && w->phase == W_OPEN && !w->closed)
        ws_input(w, tail, rest);
    free(tail);
}

static void plain_input(wsu *w, const char *data, size_t len)
{
    if (w->phase == W_HANDSHAKE)
        handshake_input(w, data, len);
    else if (w->phase == W_OPEN)
        ws_input(w, data, len);
}

/* --- TLS ------------------------------------------------------------------------------------ */

static int tls_begin(wsu *w)
{
    w->ctx = SSL_CTX_new(TLS_client_method());
    if (!w->ctx)
        return -1;
    SSL_CTX_set_min_proto_version(w->ctx, TLS1_2_VERSION);
    http_tls_no_passphrase(w->ctx);
    if (!w->insecure) {
        SSL_CTX_set_verify(w->ctx, SSL_VERIFY_PEER, NULL);
        if (w->ca_file ? SSL_CTX_load_verify_locations(w->ctx, w->ca_file, NULL) != 1
                       : SSL_CTX_set_default_verify_paths(w->ctx) != 1)
            return -1;
    }
    if (w->cert_file && (SSL_CTX_use_certificate_chain_file(w->ctx, w->cert_file) != 1 ||
                         SSL_CTX_use_PrivateKey_file(w->ctx, w->key_file, SSL_FILETYPE_PEM) != 1 ||
                         SSL_CTX_check_private_key(w->ctx) != 1))
        return -1;
    w->ssl = SSL_new(w->ctx);
    w->rbio = BIO_new(BIO_s_mem());
    w->wbio = BIO_new(BIO_s_mem());
    if (!w->ssl || !w->rbio || !w->wbio)
        return -1;
    SSL_set_bio(w->ssl, w->rbio, w->wbio);
    SSL_set_connect_state(w->ssl);
    struct in6_addr a6;
    struct in_addr a4;
    bool literal = inet_pton(AF_INET, w->host, &a4) == 1 || inet_pton(AF_INET6, w->host, &a6) == 1;
    if (!literal)
        SSL_set_tlsext_host_name(w->ssl, w->host);
    if (!w->insecure) {
        X509_VERIFY_PARAM *param = SSL_get0_param(w->ssl);
        if (literal ? X509_VERIFY_PARAM_set1_ip_asc(param, w->host) != 1 : SSL_set1_host(w->ssl, w->host) != 1)
            return -1;
    }
    w->phase = W_TLS;
    return 0;
}

static void tls_handshake(wsu *w)
{
    int rc = SSL_do_handshake(w->ssl);
    tls_flush(w);
    if (rc == 1) {
        send_handshake(w);
        return;
    }
    int e = SSL_get_error(w->ssl, rc);
    if (e != SSL_ERROR_WANT_READ && e != SSL_ERROR_WANT_WRITE) {
        long v = SSL_get_verify_result(w->ssl);
        unsigned long err = ERR_get_error();
        char text[200];
        ERR_error_string_n(err, text, sizeof text);
        ERR_clear_error();
        if (v != X509_V_OK)
            fail(w, "TLS: certificate verify failed: %s", X509_verify_cert_error_string(v));
        else
            fail(w, "TLS handshake failed: %s", text);
    }
}

static void tls_input(wsu *w, const char *data, size_t len)
{
    BIO_write(w->rbio, data, (int)len);
    if (w->phase == W_TLS) {
        tls_handshake(w);
        if (w->phase == W_TLS || w->phase == W_DONE)
            return;
    }
    char buf[16384];
    for (;;) {
        int n = SSL_read(w->ssl, buf, sizeof buf);
        if (n > 0) {
            plain_input(w, buf, (size_t)n);
            if (w->phase == W_DONE || w->closed)
                return;
            continue;
        }
        int e = SSL_get_error(w->ssl, n);
        tls_flush(w);
        if (e == SSL_ERROR_ZERO_RETURN)
            fail(w, "the upstream closed the TLS connection");
        else if (e != SSL_ERROR_WANT_READ && e != SSL_ERROR_WANT_WRITE)
            fail(w, "TLS read failed");
        ERR_clear_error();
        return;
    }
}

/* --- reading, connecting ----------------------------------------------------------------------- */

static void alloc_cb(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    (void)h;
    (void)suggested;
    static char slab[65536];
    buf->base = slab;
    buf->len = sizeof slab;
}

static void on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf)
{
    wsu *w = s->data;
    if (n < 0) {
        fail(w, n == UV_EOF ? "the upstream closed the connection" : "reading from the upstream failed: %s",
             uv_strerror((int)n));
        return;
    }
    if (n == 0 || w->phase == W_DONE)
        return;
    if (w->tls)
        tls_input(w, buf->base, (size_t)n);
    else
        plain_input(w, buf->base, (size_t)n);
}

static void on_connect(uv_connect_t *req, int status)
{
    wsu *w = req->data;
    w->pending--;
    if (w->closed || w->phase == W_DONE) {
        release(w);
        return;
    }
    if (status < 0) {
        fail(w, "cannot connect to %s:%s: %s", w->host, w->port, uv_strerror(status));
        return;
    }
    uv_tcp_nodelay(&w->tcp, 1);
    uv_read_start((uv_stream_t *)&w->tcp, alloc_cb, on_read);
    if (w->tls) {
        if (tls_begin(w) != 0) {
            fail(w, "TLS set-up failed (ca_file %s, cert_file %s)", w->ca_file ? w->ca_file : "-",
                 w->cert_file ? w->cert_file : "-");
            return;
        }
        tls_handshake(w);
    } else {
        send_handshake(w);
    }
}

/* One address is tried: an IPv4 one if the name has any (a server on "localhost" mostly
 * listens there), else the first. */
static void on_resolved(uv_getaddrinfo_t *req, int status, struct addrinfo *res)
{
    wsu *w = req->data;
    w->pending--;
    w->addrs = res;
    if (w->closed || w->phase == W_DONE) {
        release(w);
        return;
    }
    if (status < 0) {
        fail(w, "cannot resolve %s: %s", w->host, uv_strerror(status));
        return;
    }
    struct addrinfo *a = NULL;
    for (struct addrinfo *i = res; i; i = i->ai_next)
        if (i->ai_family == AF_INET || (!a && i->ai_family == AF_INET6))
            if (!a || i->ai_family == AF_INET) {
                a = i;
                if (i->ai_family == AF_INET)
                    break;
            }
    if (!a) {
        fail(w, "cannot resolve %s: no address", w->host);
        return;
    }
    w->phase = W_CONNECTING;
    uv_tcp_init(mf_loop(), &w->tcp);
    w->tcp.data = w;
    w->tcp_open = true;
    w->pending++;   /* the tcp handle */
    w->creq.data = w;
    int rc = uv_tcp_connect(&w->creq, &w->tcp, a->ai_addr, on_connect);
    if (rc != 0) {
        fail(w, "cannot connect to %s:%s: %s", w->host, w->port, uv_strerror(rc));
        return;
    }
    w->pending++;   /* the connect request */
}

static void on_timeout(uv_timer_t *t)
{
    wsu *w = t->data;
    fail(w, "connecting timed out");
}

wsu *wsu_connect(const wsu_options *o, const wsu_ops *ops, void *ud, mf_error *err)
{
    wsu *w = mf_xcalloc(1, sizeof *w);
    if (parse_url(w, o->url) != 0) {
        mf_error_set(err, -1, "\"%s\" is not a ws:// or wss:// URL", o->url);
        free(w->path);
        free(w->hostport);
        free(w);
        return NULL;
    }
    w->ops = *ops;
    w->ud = ud;
    w->insecure = o->insecure;
    w->ca_file = o->ca_file ? mf_xstrdup(o->ca_file) : NULL;
    w->cert_file = o->cert_file ? mf_xstrdup(o->cert_file) : NULL;
    w->key_file = o->key_file ? mf_xstrdup(o->key_file) : NULL;
    w->headers = o->headers ? json_incref((json_t *)o->headers) : json_object();
    w->max_message = o->max_message;
    uv_timer_init(mf_loop(), &w->timer);
    w->timer.data = w;
    w->pending = 1;   /* the timer */
    uv_timer_start(&w->timer, on_timeout, o->connect_timeout_ms, 0);
    w->gai.data = w;
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM};
    int rc = uv_getaddrinfo(mf_loop(), &w->gai, on_resolved, w->host, w->port, &hints);
    if (rc != 0) {
        w->closed = true;
        close_handles(w);
        mf_error_set(err, -1, "cannot resolve %s: %s", w->host, uv_strerror(rc));
        return NULL;
    }
    w->pending++;
    return w;
}

int wsu_send(wsu *w, const char *text, size_t len)
{
    if (w->phase != W_OPEN || w->closed)
        return -1;
    struct wslay_event_msg m = {WSLAY_TEXT_FRAME, (const uint8_t *)text, len};
    if (wslay_event_queue_msg(w->ws, &m) != 0)
        return -1;
    wslay_event_send(w->ws);
    return w->phase == W_OPEN ? 0 : -1;
}

void wsu_close(wsu *w)
{
    if (w->closed)
        return;
    w->closed = true;
    if (w->phase == W_OPEN) {
        wslay_event_queue_close(w->ws, 1000, NULL, 0);
        wslay_event_send(w->ws);
        if (w->tls) {
            SSL_shutdown(w->ssl);
            tls_flush(w);
        }
    }
    if (w->phase == W_RESOLVING)
        uv_cancel((uv_req_t *)&w->gai);
    w->phase = W_DONE;
    close_handles(w);
    release(w);
}
