/* A WebSocket connection to an upstream (the client side): DNS, TCP, TLS for wss:// (with
 * certificate and host name verification unless turned off), the opening handshake with
 * the subprotocol "mcp", then text messages both ways through wslay's client context. */
#ifndef HTTP_WS_UPSTREAM_H
#define HTTP_WS_UPSTREAM_H

#include <mcpfed/mcpfed.h>

typedef struct wsu wsu;

typedef struct wsu_ops {
    /* the handshake is done: messages may be sent */
    void (*on_open)(void *ud);
    /* one text message, valid UTF-8 */
    void (*on_message)(void *ud, const char *text, size_t len);
    /* the connection failed or ended (why says how); sent: whether anything the user gave
     * wsu_send may have reached the upstream. Called once; the user then calls wsu_close. */
    void (*on_closed)(void *ud, const char *why);
} wsu_ops;

typedef struct wsu_options {
    const char *url;              /* ws://host[:port]/path or wss://... */
    const json_t *headers;        /* {name: value} sent with the handshake, or NULL */
    bool insecure;                /* no TLS verification (never the default) */
    const char *ca_file;          /* NULL: the system's */
    const char *cert_file, *key_file;   /* a client certificate and its key (PEM), or NULL */
    uint64_t connect_timeout_ms;  /* DNS, TCP, TLS and the handshake together */
    size_t max_message;
} wsu_options;

/* Whether url is a ws:// or wss:// URL this can reach. */
bool wsu_url_ok(const char *url);
wsu *wsu_connect(const wsu_options *o, const wsu_ops *ops, void *ud, mf_error *err);
/* -1 when not open (nothing was sent). */
int wsu_send(wsu *w, const char *text, size_t len);
/* No more callbacks; the connection goes (a close frame first when open). */
void wsu_close(wsu *w);

#endif
