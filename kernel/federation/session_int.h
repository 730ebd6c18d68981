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

/* The key of _meta that tags what belongs to a subscriptions/listen stream. */
#define MF_META_SUBSCRIPTION_ID "io.modelcontextprotocol/subscriptionId"

/* A client's request under way. */
typedef struct downreq {
    session *s;
    json_t *id;               /* the client's id, echoed as it came */
    json_t *msg;              /* the whole request, while it waits for the catalog */
    uint64_t tcorr;           /* the transport's correlation for the answer */
    bool modern;              /* answered in the terms of revision 2026-07-28 */
    int log_level;            /* the level of log messages about it; -1: the session's */
    json_t *progress_token;   /* the client's, restored on progress notifications */
    mf_provider *provider;    /* of the target the call went to */
    mf_provider *using;       /* the provider it counts as under way on (drain.c) */
    mf_call *call;
    uint64_t corr;            /* the call's, while it is under way */
    /* routing (forward.c): the targets in the policy's order, and the one tried now */
    struct mf_target **route;
    int nroute, attempt;
    struct mf_target *target;
    bool idempotent;
    uint64_t sent_at, deadline;
    unsigned refused;         /* targets whose breaker refused the call */
    json_t *upparams;         /* what went upstream, to send again with input (mrtr.c) */
    json_t *caps;             /* the client's capabilities for this request */
    json_t *param_headers;    /* the arguments its tool mirrors in headers (param_headers.h) */
    /* input-required exchanges (mrtr.c) */
    json_t *asks;             /* key -> [provider ep, corr] of upstream requests waiting */
    json_t *inputs;           /* key -> the client's answers, collected for the upstream */
    json_t *upstate;          /* the upstream's requestState, echoed */
    unsigned rounds;
    json_t *stashed;          /* the answer that came while nobody waited for it */
    struct suspended *susp;   /* while waiting for the client to come back */
    struct downreq *prev, *next;
    UT_hash_handle hh;        /* by corr */
} downreq;

/* A request from an upstream, relayed to a client. */
typedef struct relay {
    session *s;
    uint64_t id;              /* the id the client sees */
    mf_ep provider_ep;        /* who asked */
    uint64_t pcorr;           /* the provider's correlation for the answer */
    downreq *collector;       /* or: the call whose input this is (mrtr.c) */
    char *key;                /* its key in the input-required result */
    uv_timer_t timer;
    struct relay *prev, *next;
} relay;

/* An open subscriptions/listen request (listen.c). */
typedef struct lstream {
    session *s;
    json_t *id;               /* the client's request id: the subscription's id */
    uint64_t tcorr;           /* the transport's correlation: the request's stream */
    bool lists[3];            /* tools, prompts, resources list_changed */
    struct lstream *prev, *next;
} lstream;

/* A resource a session subscribed to. */
typedef struct sub {
    char *uri;                /* as the client named it */
    mf_provider *provider;
    char *upstream;
    lstream *ls;              /* the listen it belongs to; NULL: resources/subscribe */
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
    lstream *listens;
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
/* Whether v, the name or URI at field of method's params, is a string holding a NUL byte;
 * if so r is answered -32602 (no name has one; compared as a C string, it would be taken
 * for its part before the NUL). */
bool refuse_nul(const rctx *r, const char *method, const json_t *v, const char *field);

/* forward.c */
/* Forward method with params (taken over) to p for request r; the answer goes back to the
 * client with its own id, URIs in it made public. */
void forward(const rctx *r, mf_provider *p, const char *method, json_t *params);
downreq *downreq_of_call(uint64_t corr);
void downreq_free(downreq *d);
/* Abandon d: its call is cancelled upstream, its client gets no answer. */
void downreq_cancel(downreq *d, const char *reason);
void session_cancel_all(session *s);

/* relay.c */
void relay_response(session *s, json_t *msg);
void relay_session_closed(session *s);
int log_level_parse(const char *name);
void subscribe(const rctx *r, json_t *params, bool on);
void set_log_level(const rctx *r, json_t *params);
/* A request of the kernel's own to a provider, whose answer nobody waits for. */
void tell(mf_provider *p, const char *method, json_t *params);
/* Does any session but through except want upstream of p? */
bool anyone_subscribed(const mf_provider *p, const char *upstream, const sub *except);
void sub_free(sub *x);

/* listen.c: subscriptions/listen */
void listen_open(const rctx *r, json_t *params);
/* The client cancelled request_id: true if it was a listen of s (now ended). */
bool listen_cancel(session *s, json_t *request_id);
void listen_session_closed(session *s);
/* A list of the catalog changed: the listens of s that opted in get note, tagged. */
void listen_list_changed(session *s, int kind, json_t *note);
/* notifications/resources/updated on l's stream (params with the public URI). */
void listen_updated(lstream *l, json_t *params);

/* mrtr.c: input-required exchanges, the requests a server makes in 2026-07-28 */
/* An upstream asks a 2026-07-28 client something while serving d: answer d with an
 * input-required result and keep the call going until the client comes back. */
void mrtr_ask_modern(downreq *d, mf_ep from, uint64_t pcorr, json_t *request);
/* A 2026-07-28 request that comes back with input for a call of ours: true if handled. */
bool mrtr_resume(const rctx *r, json_t *params);
/* An upstream's input-required result for d, a client of the session era: ask the client
 * and send the call again with its answers. True if handled. */
bool mrtr_on_result(downreq *d, json_t *result);
/* d's call answered while d waits for its client to come back: keep it. True if so. */
bool mrtr_hold(downreq *d, json_t *resp);
/* The client answered a relay that collects input for a call. */
void mrtr_collected(relay *x, json_t *msg);
/* The suspended call made with this provider, if exactly one (for attribution). */
downreq *mrtr_only_suspended(const mf_provider *p);
/* Forget what d collects from its client (d is going away). */
void mrtr_forget(downreq *d);
void mrtr_shutdown(void);
relay *relay_new(session *s, mf_ep provider_ep, uint64_t pcorr);
void relay_drop(relay *x);
void answer_provider(mf_ep provider, uint64_t pcorr, json_t *json);
const char *capability_for(const char *method);
void resend(downreq *d, json_t *params);
void downreq_answer(downreq *d, json_t *resp);

/* cursor.c */
/* requestState tokens for input-required exchanges the gateway holds */
char *state_mint(uint64_t id);
bool state_check(const char *state);
char *cursor_mint(mf_kind k, uint64_t generation, size_t offset);
/* 0 and *offset, or -1 with why set */
int cursor_check(const char *cursor, mf_kind k, uint64_t generation, size_t *offset, const char **why);

#endif
