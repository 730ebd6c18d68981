/* Internals of the http transport: listener, sessions of the session era, requests in
 * flight. */
#ifndef HTTP_LISTENER_H
#define HTTP_LISTENER_H

#include "server.h"
#include "sse.h"
#include <uthash.h>
#include <utlist.h>

typedef struct listener listener;
typedef struct hsession hsession;
typedef struct hreq hreq;

/* An event kept for resumption (session era): its stream, its order, its text. */
typedef struct replay_ev {
    uint32_t stream;
    uint64_t seq;
    char *text;
    size_t len;
} replay_ev;

struct hsession {
    char id[33];              /* Mcp-Session-Id */
    uint64_t sid;             /* the kernel's session */
    listener *l;
    char protocol[16];        /* negotiated at initialize */
    bool ready;               /* initialize answered */
    uint64_t last_active;
    unsigned inflight;        /* requests waiting for answers */
    hreq *get;                /* the standalone GET stream, when open */
    uint32_t next_stream;     /* stream numbers; 0 is the GET stream */
    uint64_t next_seq;
    uint64_t delivered0;      /* last GET-stream event that reached a client */
    replay_ev *ring;          /* circular buffer of recent events */
    size_t ring_cap, ring_head, ring_len, ring_bytes;
    UT_hash_handle hh_id, hh_sid;
};

/* HR_WS: a WebSocket connection, one kernel session for as long as it is open; its
 * requests' correlations lead to it. */
typedef enum hreq_kind { HR_POST, HR_GET, HR_WS } hreq_kind;

/* A request in flight. Ownership: the endpoint owns it and hreq_free is its one release,
 * called when its exchange is complete (answered, stream ended, cancelled, its session or
 * the listener ending) or from ep_on_close when its connection is gone and it cannot go
 * on (a GET stream, a 2026-07-28 request); a session-era POST outlives its connection
 * (c = NULL). hreq_free unhooks it from c, so a close reported later finds nothing. The
 * connection layer reports a close only from the loop, never from inside an http_* call
 * (http.h): code that answers h on h->c and then frees h frees it once, even when the
 * answer closed the connection. */
struct hreq {
    listener *l;
    http_conn *c;             /* NULL once the client went away */
    hsession *hs;             /* session era; NULL for revision 2026-07-28 requests */
    uint64_t ksid;            /* the kernel session it runs in */
    hreq_kind kind;
    bool modern;              /* revision 2026-07-28: one kernel session per request */
    bool streaming;           /* answering with SSE */
    bool initialize;
    bool batch;
    uint32_t stream;          /* SSE stream number (session era) */
    size_t waiting;           /* answers still due */
    json_t *answers;          /* a batch's answers */
    char *extra;              /* headers every answer carries (session, CORS) */
    int save_conn, save_index;   /* while written down for a successor */
    hreq *prev, *next;
};

typedef struct corr_entry {
    uint64_t corr;
    hreq *h;
    UT_hash_handle hh;
} corr_entry;

struct listener {
    mf_instance *inst;
    http_server_conf conf;
    uv_tcp_t tcp;
    http_conns *conns;
    uv_timer_t sweep;         /* session expiry and SSE keep-alive */
    hsession *by_id, *by_sid;
    corr_entry *corrs;
    hreq *reqs;               /* every hreq, for shutdown */
    uint64_t next_corr;
    uint64_t last_keepalive;
    uint64_t sweep_every;
    bool stopping;
    int open_handles;
    const struct auth_who *who;   /* the caller of the request being handled (ep_on_request) */
    /* hot swap (server_swap.c) */
    uv_timer_t swap_timer;    /* hands over once every write queue is empty */
    bool saving;              /* reading nothing; the kernel holds our messages */
    bool handed_over;         /* the kernel's sessions are a successor's: never close them */
    int *dups;                /* sockets duplicated for a successor */
    size_t ndups;
};

/* listener.c */
listener *listener_new(mf_instance *inst, const json_t *conf, mf_error *err);
/* Close a listener that never ran (or failed to take over); nothing is reported. */
void listener_discard(listener *l);
/* It listens: say where, and start its timers. */
void listener_running(listener *l, const char *how);
int listener_listen(listener *l, mf_error *err);
void listener_sweep_start(listener *l);
void listener_conns_closed(void *ud);
void listener_handle_closed(uv_handle_t *h);
/* Its TLS figures ({sha256, handshakes, handshake_failures}), NULL on a plain listener. */
json_t *listener_tls_status(listener *l);

/* server_swap.c: the role's hot swap operations */
void srv_save(void *self);
void srv_resume(void *self);
int srv_adopt(mf_instance *inst, const json_t *conf, const char *state, size_t len, void **self,
              mf_error *err);
void srv_drain(void *self);

/* endpoint.c: HTTP requests on the MCP endpoint */
void ep_on_request(void *ud, http_conn *c, http_request *r);
void ep_on_close(void *ud, http_conn *c);
/* An answer or message from the kernel for a request or a session. */
void ep_from_kernel(listener *l, mf_msg *m);
void ep_shutdown(listener *l);

/* hsession.c */
hsession *hs_new(listener *l);
hsession *hs_find(listener *l, const char *id);
hsession *hs_find_sid(listener *l, uint64_t sid);
void hs_free(hsession *hs);
/* Keep an event of stream for resumption and give it its id ("<stream>-<seq>"). */
char *hs_record(hsession *hs, uint32_t stream, const json_t *msg, size_t *len);
/* Write to c the kept events of stream after seq; returns the last seq written. */
uint64_t hs_replay(hsession *hs, http_conn *c, uint32_t stream, uint64_t after);
bool hs_priming_wanted(const hsession *hs);
void hs_sweep(listener *l);

/* ws_endpoint.c: MCP over WebSocket connections */
void ep_ws_upgrade(listener *l, http_conn *c, http_request *r);
/* Open WebSocket sessions: they count against max_sessions with the HTTP ones. */
size_t ep_ws_sessions(listener *l);
void ep_ws_message(void *ud, http_conn *c, const char *text, size_t len);
/* m for a WebSocket connection: true when it was one's (m is then still the caller's). */
bool ep_ws_from_kernel(listener *l, hreq *h, corr_entry *e, const mf_msg *m);

/* helpers shared by the files */
hreq *hreq_new(listener *l, http_conn *c, hsession *hs, hreq_kind kind);
void hreq_free(hreq *h);
/* Hand a message to the kernel in h's session; a request gets a correlation leading to h. */
void ep_forward(listener *l, hreq *h, json_t *msg, mf_rpc_kind kind);
void send_json(http_conn *c, int status, const char *extra, const json_t *body);
void send_error(http_conn *c, int status, const char *extra, json_t *id, int code, const char *msg);

#endif
