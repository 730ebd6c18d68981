/* Internals of the server side's connections, shared by conn.c (serving) and conn_swap.c
 * (handing connections to the next generation of the plugin). */
#ifndef HTTP_CONN_INT_H
#define HTTP_CONN_INT_H

#include "http.h"

typedef enum conn_state {
    C_IDLE,       /* between requests */
    C_READING,    /* a request is arriving */
    C_HANDLING,   /* the app has it */
    C_STREAMING,  /* the app is streaming the response */
    C_WEBSOCKET,  /* upgraded: frames both ways (websocket.c) */
} conn_state;

typedef struct ws_link ws_link;
typedef struct conn_tls conn_tls;
typedef struct ssl_ctx_st SSL_CTX;

struct http_conn {
    uv_tcp_t tcp;
    uv_timer_t timer;      /* idle between requests, or the deadline of one arriving */
    http_conns *cs;
    http_parser parser;
    http_request req;
    conn_state state;
    size_t header_bytes;
    bool in_value;         /* the last header callback was a value */
    int error_status;      /* set by a callback that hit a limit */
    char *inbuf;           /* bytes received but not parsed yet */
    size_t inlen, incap;
    char *raw;             /* the bytes parsed so far of the request arriving, so that the
                            * next generation can parse it again from its start */
    size_t rawlen, rawcap;
    size_t queued;         /* bytes handed to uv_write and not written yet */
    bool reading, closing, close_after, pumping, chunked, notified, eof;
    bool continued;        /* "100 Continue" was sent for the request arriving */
    uint64_t req_deadline; /* mf_now() by which the request arriving must be whole */
    bool counted;          /* in cs->count until its handles are closed */
    bool slot;             /* holds one of the kernel's client connection slots (mf_conn_slot_take) */
    int open_handles;
    char peer[64];
    void *app_data;
    ws_link *ws;           /* upgraded to WebSocket */
    conn_tls *tls;         /* an https:// or wss:// listener's (tls.c); NULL: plain */
    http_conn *prev, *next;
};

struct http_conns {
    http_limits limits;
    http_app app;
    void *app_ud;
    http_conn *list;
    size_t count;
    size_t queued;         /* bytes not yet written, over every connection */
    bool closing;
    bool paused;           /* handing over: read and parse nothing */
    void (*closed_cb)(void *);
    void *closed_ud;
    void (*flushed_cb)(void *);   /* while paused: every write queue is empty */
    void *flushed_ud;
    SSL_CTX *tls_ctx;      /* what new connections handshake with (tls.c); NULL: plain */
    uint64_t tls_handshakes, tls_failures;
};

/* conn.c */
void conn_pump(http_conn *c);
void conn_close(http_conn *c);
/* Close every connection of cs and call done once all are closed: detach drops them at once
 * (their clients are served on by a successor), otherwise each goes once its response is
 * written. */
void conns_end_all(http_conns *cs, bool detach, void (*done)(void *ud), void *ud);
void conn_handle_closed(uv_handle_t *h);
void conn_on_idle_timeout(uv_timer_t *t);
void conn_on_request_timeout(uv_timer_t *t);
/* c's tcp handle is open on a connected socket: set up the rest and list it. */
void conn_attach(http_conns *cs, http_conn *c);
/* The request is answered by an upgrade: forget it. */
void conn_request_done(http_conn *c);
void conn_write_raw(http_conn *c, const char *data, size_t len);
/* Bytes for the socket as they are (conn_write_raw encrypts first on a TLS connection). */
void conn_sock_write(http_conn *c, const char *data, size_t len);
/* Bytes received (plaintext): buffered for conn_pump, which the caller runs. */
void conn_received(http_conn *c, const char *data, size_t len);
/* Reading ended: n is UV_EOF or an error. */
void conn_read_end(http_conn *c, ssize_t n);
/* Start reading again if the buffered input allows it. */
void conn_read_more(http_conn *c);

/* websocket.c */
/* Feed the buffered input to the WebSocket layer. */
void ws_pump(http_conn *c);
/* The connection is going: free the WebSocket state. */
void ws_free(http_conn *c);
/* Hot swap: the bytes received and not yet a whole message, for the successor to feed
 * again (written down with the connection); and a connection of the predecessor's made a
 * WebSocket again. */
const char *ws_unparsed(const http_conn *c, size_t *len);
int ws_adopt(http_conn *c);

/* tls.c: a TLS connection's engine. start: c was accepted on a TLS listener (its
 * handshake must finish within read_timeout_ms); received: ciphertext uv read; left: its
 * input ended (true: during the handshake, and c is closed);
 * write: plaintext to encrypt and send; goodbye: close_notify, as c closes; free: as its
 * handles are closed. Hot swap: save writes down the SSL itself (the successor shares
 * this process and its libssl), disown lets it go to the successor, adopt takes it,
 * rebind moves a connection still before its handshake to the running generation's
 * context. */
int conn_tls_start(http_conn *c);
void conn_tls_received(http_conn *c, const char *data, size_t len);
bool conn_tls_left(http_conn *c);
void conn_tls_write(http_conn *c, const char *data, size_t len);
void conn_tls_on_handshake_timeout(uv_timer_t *t);
void conn_tls_goodbye(http_conn *c);
void conn_tls_free(http_conn *c);
json_t *conn_tls_save(const http_conn *c);
void conn_tls_disown(http_conn *c);
int conn_tls_adopt(http_conn *c, const json_t *st);
void conn_tls_rebind(http_conn *c);

#endif
