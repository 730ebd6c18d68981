/* Internals of the session layer, shared by session.c (sessions and dispatch), forward.c
 * (requests forwarded to providers), relay.c (what upstreams send that is not an answer,
 * and the answers clients give to it) and cursor.c. */
#ifndef MF_SESSION_INT_H
#define MF_SESSION_INT_H

#include "call.h"
#include "registry.h"
#include "session.h"

#include <uthash.h>
#include <utlist.h>

typedef struct session session;

/* A client's request under way. */
typedef struct downreq {
    session *s;
    json_t *id;               /* the client's id, echoed as it came */
    json_t *msg;              /* the whole request, while it waits for the catalog */
    uint64_t tcorr;           /* the transport's correlation for the answer */
    bool modern;              /* answered in the terms of revision 2026-07-28 */
    int log_level;            /* the level of log messages about it; -1: the session's */
    json_t *progress_token;   /* the client's, restored on progress notifications */
    mf_provider *provider;
    mf_call *call;
    uint64_t corr;            /* the call's, while it is under way */
    struct downreq *prev, *next;
    UT_hash_handle hh;        /* by corr */
} downreq;

/* A request from an upstream, relayed to a client. */
typedef struct relay {
    session *s;
    uint64_t id;              /* the id the client sees */
    mf_ep provider_ep;        /* who asked */
    uint64_t pcorr;           /* the provider's correlation for the answer */
    uv_timer_t timer;
    struct relay *prev, *next;
} relay;

/* A resource a session subscribed to. */
typedef struct sub {
    char *uri;                /* as the client named it */
    mf_provider *provider;
    char *upstream;
    struct sub *prev, *next;
} sub;

struct session {
    uint64_t id;
    mf_ep transport;
    char *peer;
    bool initialized;
    char protocol[16];
    json_t *client_info;
    json_t *client_caps;
    int log_level;            /* -1: never set */
    downreq *reqs;
    relay *relays;
    uint64_t next_relay;
    sub *subs;
    UT_hash_handle hh;
};

/* A request being answered: who asked, with which id, in which era's terms. */
typedef struct rctx {
    session *s;
    json_t *id;
    json_t *msg;
    uint64_t tcorr;
    bool modern;
    json_t *caps;             /* the client's capabilities for this request */
} rctx;

/* session.c */
extern mf_ep mf_session_self;
extern const mf_config *mf_session_conf;
session *session_find(uint64_t id);
session *session_table(void);
void send_to(session *s, mf_msg_kind kind, uint64_t tcorr, json_t *json);
void reply_result(const rctx *r, json_t *result);
void reply_error(const rctx *r, int code, json_t *data, bool malformed, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
json_t *modern_result(json_t *result);
void park(session *s, json_t *msg, uint64_t tcorr);

/* forward.c */
/* Forward method with params (taken over) to p for request r; the answer goes back to the
 * client with its own id, URIs in it made public. */
void forward(const rctx *r, mf_provider *p, const char *method, json_t *params);
downreq *downreq_of_call(uint64_t corr);
void downreq_free(downreq *d);
void session_cancel_all(session *s);

/* relay.c */
void relay_response(session *s, json_t *msg);
void relay_session_closed(session *s);
int log_level_parse(const char *name);
void subscribe(const rctx *r, json_t *params, bool on);
void set_log_level(const rctx *r, json_t *params);

/* cursor.c */
char *cursor_mint(mf_kind k, uint64_t generation, size_t offset);
/* 0 and *offset, or -1 with why set */
int cursor_check(const char *cursor, mf_kind k, uint64_t generation, size_t *offset, const char **why);

#endif
