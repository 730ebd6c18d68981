/* The http plugin: MCP's Streamable HTTP transport, serving clients (server side) and
 * reaching upstream servers (client side). */
#ifndef HTTP_PLUGIN_H
#define HTTP_PLUGIN_H

#include <mcpfed/mcpfed.h>
#include <http_parser.h>

extern const mf_role_ops http_transport_ops;   /* listener.c */
extern const mf_role_ops http_provider_ops;    /* client.c */
extern const mf_setting http_transport_settings[];   /* server_conf.c */
extern const mf_setting http_provider_settings[];    /* client.c */
extern const mf_role_ops ws_provider_ops;      /* ws_client.c */
extern const mf_setting ws_provider_settings[];      /* ws_client.c */

/* --- what the http and ws providers' settings share -------------------------------- */
#define HTTP_MAX_URLS 256

/* The keys both providers have, filled by their tables (HTTP_UPSTREAM_SETTINGS). */
typedef struct http_upstream_settings {
    const char *url, *ca_file, *cert_file, *key_file;
    const json_t *urls, *headers;
    bool tls_verify;
    int64_t connect_timeout_ms, init_timeout_ms, max_message_bytes, max_queue, backoff_min_ms, backoff_max_ms;
} http_upstream_settings;

/* The rows of those keys in a provider's table; S(field) is MF_AT of the provider's
 * settings struct, which holds an http_upstream_settings named `up`; what says what a URL
 * is ("http:// or https://") and connecting what connecting means. */
#define HTTP_UPSTREAM_SETTINGS(S, what, connecting) \
    {"url", MF_SET_STRING, .def_doc = "required (or urls)", .at = S(up.url), \
     .doc = "the upstream's MCP endpoint, " what}, \
    {"urls", MF_SET_STRINGS, MF_SET_NONEMPTY, .max = HTTP_MAX_URLS, .at = S(up.urls), \
     .doc = "instead of url: endpoints of identical upstreams, a replica each"}, \
    {"headers", MF_SET_MAP, .def = "{}", .at = S(up.headers), .doc = "sent with every request"}, \
    {"tls_verify", MF_SET_BOOL, .def = "true", .at = S(up.tls_verify), .doc = "verify TLS certificates"}, \
    {"ca_file", MF_SET_STRING, .def_doc = "system", .at = S(up.ca_file), .doc = "a CA bundle"}, \
    {"cert_file", MF_SET_STRING, .def_doc = "none", .at = S(up.cert_file), \
     .doc = "a client certificate (PEM) shown to an upstream that asks for one (mTLS)"}, \
    {"key_file", MF_SET_STRING, .def_doc = "none", .at = S(up.key_file), .doc = "cert_file's private key (PEM)"}, \
    {"connect_timeout_ms", MF_SET_DURATION, .def = "10000", .min = 1, .max = 600000, \
     .at = S(up.connect_timeout_ms), .doc = connecting}, \
    {"init_timeout_ms", MF_SET_DURATION, .def = "30000", .min = 1, .max = 600000, .at = S(up.init_timeout_ms), \
     .doc = "the discover/initialize exchange"}, \
    {"max_message_bytes", MF_SET_BYTES, .def = "4194304", .min = 1024, .max = INT64_C(1) << 32, \
     .at = S(up.max_message_bytes), .doc = "the largest answer accepted"}, \
    {"max_queue", MF_SET_INT, .def = "4096", .min = 0, .max = 1000000, .at = S(up.max_queue), \
     .doc = "the gateway's own requests (listings, subscriptions) that may wait while the provider connects"}, \
    {"backoff_min_ms", MF_SET_DURATION, .def = "100", .min = 1, .max = 3600000, .at = S(up.backoff_min_ms), \
     .doc = "the first reconnection delay"}, \
    {"backoff_max_ms", MF_SET_DURATION, .def = "30000", .min = 1, .max = 3600000, .at = S(up.backoff_max_ms), \
     .doc = "the reconnection delay's cap"}

/* urls.c: a provider's `url`, or `urls` (the table checked their types; one of the two
 * must be given), each accepted by ok; what names the URLs in messages ("an http:// or
 * https:// URL"). And its cert_file and key_file: both or neither, files that can be
 * read. */
int http_check_urls(const http_upstream_settings *st, const char *path, bool (*ok)(const char *url),
                    const char *what, mf_error *err);

/* urls.c: a predecessor's state (hot swap), NULL with err set unless of this version. */
json_t *http_state_unpack(const char *state, size_t len, json_int_t version, mf_error *err);

/* --- limits of the server side (config keys of the same names) -------------------- */
typedef struct http_limits {
    size_t max_header_bytes;     /* request line and headers: 431 beyond */
    size_t max_body_bytes;       /* 413 beyond */
    uint64_t idle_ms;            /* a kept-alive connection with no request: closed */
    uint64_t request_ms;         /* a request must arrive whole within this: 408 */
    size_t max_write_queue;      /* a client this far behind in reading is dropped */
    size_t max_connections;      /* beyond: 503 and close */
    /* WebSocket connections (websocket.c) */
    size_t ws_max_frame;         /* a frame's payload: closed with 1009 beyond */
    size_t ws_max_message;       /* a message, its fragments together: 1009 beyond */
    uint64_t ws_ping_ms;         /* a ping this often (0: none) */
    uint64_t ws_idle_ms;         /* nothing received (a pong included) this long: closed */
} http_limits;

/* --- one parsed request ------------------------------------------------------------ */
typedef struct http_header {
    char *name;    /* lower case */
    char *value;
} http_header;

typedef struct http_request {
    enum http_method method;
    char *target;          /* as sent */
    char *path;            /* target without query */
    http_header *headers;
    size_t nheaders, capheaders;
    char *body;
    size_t body_len, body_cap;
    bool keep_alive;
} http_request;

const char *http_header_get(const http_request *r, const char *lower_name);

/* --- connections (conn.c) ------------------------------------------------------------ */
typedef struct http_conn http_conn;
typedef struct http_server http_server;

/* What the MCP layer provides to the connection layer.
 *
 * Ownership: the connection layer owns every http_conn and frees it only after on_close
 * has returned; the app may keep a pointer to a connection until then (writes to one that
 * is closing do nothing). on_close is called once per connection, and only from the loop
 * (a close callback), never from inside an http_* call the app makes: a response that
 * closes the connection (Connection: close, HTTP/1.0, a failed write) returns to the app
 * with everything it holds still there, and the app releases what belongs to the
 * connection in on_close alone. */
typedef struct http_app {
    /* A complete request; the app answers it exactly once (respond, or stream_start then
     * stream_end), now or later. The request stays valid until then. */
    void (*on_request)(void *app, http_conn *c, http_request *r);
    /* The connection has closed; a stream on it is over. c is freed when this returns. */
    void (*on_close)(void *app, http_conn *c);
    /* A WebSocket text message, whole and valid UTF-8 (after http_ws_accept). */
    void (*on_ws_message)(void *app, http_conn *c, const char *text, size_t len);
} http_app;

typedef struct http_conns http_conns;   /* all connections of a listener */

http_conns *http_conns_new(const http_limits *limits, const http_app *app, void *app_ud);
/* Accept a pending connection on server. */
void http_conns_accept(http_conns *cs, uv_stream_t *server);
size_t http_conns_count(const http_conns *cs);
/* Close every connection; done runs when all are gone. */
void http_conns_close_all(http_conns *cs, void (*done)(void *ud), void *ud);
void http_conns_free(http_conns *cs);

/* Hot swap (conn_swap.c). Paused, a set reads and parses nothing; flushed_cb runs when
 * (while paused) the last queued byte was written. */
void http_conns_pause(http_conns *cs);
void http_conns_unpause(http_conns *cs);
void http_conns_when_flushed(http_conns *cs, void (*cb)(void *ud), void *ud);
size_t http_conns_queued(const http_conns *cs);
http_conn *http_conns_first(http_conns *cs);
http_conn *http_conn_next(const http_conn *c);
/* A connection written down for a successor, with *fd a duplicate of its socket (NULL
 * and *fd -1 on failure). */
json_t *http_conn_save(const http_conn *c, int *fd);
/* A connection of the predecessor's on fd (not closed on failure). The set must be paused;
 * unpausing it parses what arrived and starts reading. */
http_conn *http_conn_adopt(http_conns *cs, const json_t *st, int fd, mf_error *err);
/* Close every connection without a word to the client or the app (its successor serves
 * it on a duplicate of the socket); done runs when all are gone. */
void http_conns_detach_all(http_conns *cs, void (*done)(void *ud), void *ud);

/* Answer with a whole response. extra holds header lines ("Name: value\r\n"...) or NULL. */
void http_respond(http_conn *c, int status, const char *content_type, const char *extra,
                  const char *body, size_t len);
/* Answer with a stream (chunked), e.g. text/event-stream. */
void http_stream_start(http_conn *c, int status, const char *content_type, const char *extra);
int http_stream_write(http_conn *c, const char *data, size_t len);
void http_stream_end(http_conn *c);
/* Drop the connection without more output (the request got what it could). */
void http_conn_abort(http_conn *c);
const char *http_conn_peer(const http_conn *c);
/* Whether c came over TLS (an https:// or wss:// listener). */
bool http_conn_is_tls(const http_conn *c);
/* The connection's mTLS identity: the subject of the client certificate it presented and
 * that verified against the listener's tls.ca_file, as an RFC 2253 string
 * ("CN=alice,O=Example"); NULL on a plain connection, or when no certificate was sent
 * (verify_client = "optional"). It lasts as long as the connection (hot swaps included). */
const char *http_conn_tls_subject(const http_conn *c);
/* Per-connection slot for the app. */
void *http_conn_app_data(const http_conn *c);
void http_conn_set_app_data(http_conn *c, void *p);
const char *http_status_text(int status);

/* --- WebSocket (websocket.c, RFC 6455 with wslay's framing) -------------------------- */
/* Whether r asks to upgrade to WebSocket; then why the handshake cannot be accepted
 * (NULL: it can), and the status to refuse it with. */
bool http_ws_wanted(const http_request *r);
const char *http_ws_refusal(const http_request *r, int *status);
/* Answer r with 101 Switching Protocols (naming protocol, if not NULL): from here c
 * carries frames, its text messages go to the app's on_ws_message, and on_close still
 * ends it. */
void http_ws_accept(http_conn *c, const http_request *r, const char *protocol);
bool http_conn_is_ws(const http_conn *c);
/* Sec-WebSocket-Accept for a Sec-WebSocket-Key (28 characters and a NUL). */
void http_ws_accept_value(const char *key, char out[32]);
/* One text message. -1 when the connection is closing. */
int http_ws_send(http_conn *c, const char *text, size_t len);
/* Begin the close handshake with code and a reason (UTF-8, at most 123 bytes); the TCP
 * connection is closed once the close frame is written. */
void http_ws_close(http_conn *c, uint16_t code, const char *reason);

#endif
