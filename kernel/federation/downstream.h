/* Downstream sessions: a client's session with what it has under way, and the
 * request being answered (session.c). The other parts of the session layer each have a
 * header of their own: forward.h, relay.h, listen.h, mrtr.h, cursor.h. */
#ifndef MF_DOWNSTREAM_H
#define MF_DOWNSTREAM_H

#include "registry.h"
#include "session.h"

#include <uthash.h>
#include <utlist.h>

typedef struct session session;
struct downreq;
struct relay;
struct sub;
struct lstream;

/* The key of _meta that tags what belongs to a subscriptions/listen stream. */
#define MF_META_SUBSCRIPTION_ID "io.modelcontextprotocol/subscriptionId"

struct session {
    uint64_t id;
    mf_ep transport;
    char *peer;
    char *mcp_id;             /* the client's name for it (Mcp-Session-Id), or NULL */
    bool initialized;
    char protocol[16];
    json_t *client_info;
    json_t *client_caps;
    json_t *identity;         /* mf_session_set_identity's, or NULL: anonymous */
    uint64_t identity_gen;    /* changes whenever identity does (the policy caches by it) */
    char *bearer;             /* the client's latest bearer token, or NULL */
    int log_level;            /* -1: never set */
    /* its requests counted in and not yet out (stats.c): one in the session itself (a
     * stateless request's session has no other), any more in a table */
    bool stats_one;
    uint8_t stats_one_method;
    uint64_t stats_one_tcorr;
    unsigned stats_pending;   /* those in the table */
    struct downreq *reqs;
    struct relay *relays;
    uint64_t next_relay;
    struct sub *subs;
    struct lstream *listens;
    const mf_listener_conf *endpoint;   /* the listen entry it came through, or NULL */
    struct mf_view *view;     /* what it may see (view.c) */
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
    const json_t *tool;       /* the tool a tools/call names (borrowed), else NULL */
    const json_t *name;       /* params.name, looked up once (on_request) */
} rctx;

session *mf_session_find(uint64_t id);
session *mf_session_table(void);
void mf_send_to(session *s, mf_msg_kind kind, uint64_t tcorr, json_t *json);
void mf_reply_result(const rctx *r, json_t *result);
void mf_reply_error(const rctx *r, int code, json_t *data, bool malformed, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
/* The same with the message's flags (MF_MSGF_*) given. */
void mf_reply_error_flags(const rctx *r, int code, json_t *data, uint32_t flags, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
json_t *mf_modern_result(json_t *result);
void mf_park(session *s, json_t *msg, uint64_t tcorr);
/* Whether v, the name or URI at field of method's params, is a string holding a NUL byte;
 * if so r is answered -32602 (no name has one; compared as a C string, it would be taken
 * for its part before the NUL). */
bool mf_refuse_nul(const rctx *r, const char *method, const json_t *v, const char *field);

#endif
