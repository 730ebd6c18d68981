/* Internals of the http provider, shared by client.c (serving) and client_swap.c (handing
 * the upstream's session to the next generation of the plugin). */
#ifndef HTTP_CLIENT_H
#define HTTP_CLIENT_H

#include "asks.h"
#include "hclient.h"
#include "http.h"
#include "sse.h"

#include <uthash.h>
#include <utlist.h>

#define LEGACY_PROTOCOL "2025-11-25"
#define FAIL_AFTER 3
/* a bit of mf_msg.flags this plugin keeps for itself on requests it holds: the call
 * already went out once and is waiting to be sent again after a new initialize */
#define RETRIED_FLAG 0x40000000u

typedef enum era { ERA_UNKNOWN, ERA_MODERN, ERA_LEGACY } era;
typedef enum pstate { P_CONNECTING, P_READY, P_DOWN, P_FAILED, P_STOPPING } pstate;

typedef struct hprov hprov;
typedef struct hrep hrep;
typedef struct csess csess;   /* callers.c */
typedef struct texch texch;   /* credentials.c */

/* What a provider sends upstream as credentials (`credentials`). */
typedef enum cred_mode { CRED_STATIC, CRED_PASSTHROUGH, CRED_EXCHANGE } cred_mode;

/* One HTTP exchange with the upstream: a call, the handshake, a notification, the GET
 * stream or the subscriptions/listen. */
typedef enum xkind { X_CALL, X_DISCOVER, X_INITIALIZE, X_NOTIFY, X_GET, X_DELETE, X_LISTEN } xkind;

typedef struct xchg {
    hprov *p;
    hrep *r;                /* the replica (URL) it goes to */
    xkind kind;
    hc_req *req;
    long status;
    bool sse;
    sse_parser parser;
    char *body;
    size_t len, cap;
    bool too_big;
    bool answered;
    /* calls */
    int64_t upid;
    mf_msg *msg;            /* the kernel's request, kept for a retry after re-initializing */
    bool retried;
    csess *cs;              /* the caller's own upstream session it goes on, or NULL */
    UT_hash_handle hh;      /* by msg->corr */
    struct xchg *prev, *next;
} xchg;

/* One upstream URL: a target of the provider, with its own upstream session. */
struct hrep {
    hprov *p;
    int index;                    /* 0-based; the kernel's target index + 1 */
    char *url;
    pstate state;
    era era;
    char protocol[16];
    char *session;                /* Mcp-Session-Id, legacy */
    json_t *init;
    unsigned failures;
    char *last_error;
    unsigned inflight;            /* calls sent to it and not yet done */
    xchg *get;                    /* the session's GET stream */
    char *last_event_id;
    long get_retry_ms;
    uv_timer_t timer;             /* reconnecting, or reopening the GET stream */
    bool timer_for_get;
    /* hot swap (client_swap.c) */
    int64_t timer_left;           /* what the timer had to go when stopped for the handover */
    bool timer_was_get;
};

struct hprov {
    mf_instance *inst;
    /* configuration */
    struct curl_slist *headers;   /* configured ones: credentials and the like */
    char *want;                   /* "auto" or a protocol version */
    bool insecure;
    char *ca_file;
    char *cert_file, *key_file;   /* shown to an upstream that asks (mTLS), or NULL */
    long connect_timeout_ms;
    long init_timeout_ms;
    size_t max_message;
    size_t max_queue;
    uint64_t backoff_min_ms, backoff_max_ms;
    /* credentials of the callers (credentials.c, callers.c) */
    cred_mode cred;
    bool cred_optional;           /* a caller without a token is served with `headers` alone */
    texch *tx;                    /* the token exchange, with `credentials = "exchange"` */
    csess *callers;               /* session era: an upstream session per replica and caller */
    unsigned callers_serial;      /* the last one given */
    size_t callers_max;
    uint64_t callers_idle_ms;
    /* the upstreams: one per URL, each a target */
    hrep *reps;
    int nreps;
    /* state */
    bool failed;                  /* every replica failed: calls are refused at once */
    bool stopping;
    int timers_open;              /* the replicas' timers not closed yet */
    int64_t next_id;
    xchg *calls;                  /* by corr */
    xchg *all;                    /* every exchange in flight */
    mf_msgq queue;                /* calls waiting for a replica to connect */
    /* 2026-07-28: the provider's one subscriptions/listen (ulisten.c), on a replica of that
     * era (listen->r), whatever the number of such replicas */
    xchg *listen;
    json_t *listen_uris;          /* the upstream URIs it asks updates of (a set) */
    bool listen_stale;            /* the one open asks for another set: open it again */
    bool listen_refused;          /* the upstream answered it with an error: not again as is */
    asks asks;                    /* the upstream's requests the kernel is answering */
    /* hot swap (client_swap.c) */
    bool saving;                  /* asked to hand over: waits for the handshakes under way */
    bool saved;                   /* handed over: the GET streams and the timers are stopped */
    bool draining;                /* replaced: finishing the exchanges it has in flight */
};

/* client.c */
hprov *hp_new(mf_instance *inst, const json_t *conf, mf_error *err);
void hp_open_get(hrep *r);
void hp_on_timer(uv_timer_t *t);
void hp_xchg_free(xchg *x);
/* Drop a call (the kernel cancelled it), telling the upstream when its era wants that. */
void hp_cancel_call(hprov *p, xchg *x);
/* The kernel's answer to a request the upstream made (key m->corr), posted upstream. */
void hp_answer_ask(hprov *p, mf_msg *m);
void hp_stopped_if_idle(hprov *p);
const char *hp_name(const hprov *p);

/* The headers of a request to replica r: the configured ones, Accept, and the session's
 * (cs's when not NULL, else r's) id and protocol; with auth, "Authorization: <auth>" in
 * place of a configured Authorization. */
struct curl_slist *hp_headers(hrep *r, const csess *cs, const char *auth, const char *accept);
/* POST msg on replica r's session (cs's when not NULL) as an exchange of this kind; NULL
 * if it cannot start. */
xchg *hp_post(hrep *r, csess *cs, xkind kind, const json_t *msg, long timeout_ms);
/* Send request m (its credentials resolved) on replica r, on cs's session or r's. */
void hp_send_on(hrep *r, csess *cs, mf_msg *m, bool retried);
/* A request of the kernel's whose credentials are resolved: sent, held or answered. */
void hp_take_resolved(hprov *p, mf_msg *m);
void hp_reply_error(hprov *p, mf_msg *req, int code, const char *text);
/* Did a request fail before its upstream could have received it (then another target may
 * take it)? */
bool hp_never_received(CURLcode rc);
/* An initialize request of ours asking for version, with the provider's next id. */
json_t *hp_initialize_request(hprov *p, const char *version);
/* DELETE a session, with headers h (taken); nothing waits for it. */
void hp_end_session(hrep *r, struct curl_slist *h);

/* POST req (a request of ours) to a 2026-07-28 upstream with the envelope and headers, as
 * an exchange of this kind; NULL if it cannot start. */
xchg *hp_post_modern(hrep *r, xkind kind, json_t *req, long timeout_ms);

/* ulisten.c: resource subscriptions and list_changed from 2026-07-28 upstreams, through
 * one subscriptions/listen of the provider's, on one of its ready replicas of that era,
 * opened again whenever what it asks changes */
/* Replica r (2026-07-28) is ready: open the listen on it unless one is open as it should be. */
void hp_listen_ensure(hrep *r);
void hp_listen_close(hprov *p);
/* Replica r is no longer ready: the listen it carried (or was to open) moves to another. */
void hp_listen_lost(hrep *r);
/* resources/subscribe and unsubscribe routed to replica r (2026-07-28): answered here from
 * the provider's set (m is taken); false for any other request. */
bool hp_listen_request(hrep *r, mf_msg *m);
/* The listen x on replica r ended: true when it was the provider's current one. */
bool hp_listen_done(hrep *r, xchg *x, CURLcode rc);
void hp_listen_save(const hprov *p, json_t *state);
void hp_listen_adopt(hprov *p, const json_t *state);

/* credentials.c: what a caller's request carries upstream */
/* Free a string that may have held a secret, wiped first (NULL: nothing). */
void hp_wipe_free(char *s);
typedef struct cred_settings {
    const char *mode;
    bool optional;
    int64_t callers_max, callers_idle_ms;
    const json_t *exchange;
    const char *token_endpoint, *client_id, *client_secret, *client_secret_file, *audience, *resource, *scope;
    int64_t timeout_ms, cache_max, margin_ms;
} cred_settings;
/* the keys of `exchange`: offsets into a cred_settings, which must begin the provider's
 * settings struct (the table's nested offsets are into the same struct) */
extern const mf_setting hp_exchange_rows[];
extern const char *const hp_cred_modes[];
#define HTTP_CREDENTIAL_SETTINGS(S) \
    {"credentials", MF_SET_STRING, .def = "static", .choices = hp_cred_modes, .at = S(cred.mode), \
     .doc = "static (headers only), passthrough (the caller's bearer token) or exchange (RFC 8693)"}, \
    {"credentials_optional", MF_SET_BOOL, .def = "false", .at = S(cred.optional), \
     .doc = "a caller without a bearer token is served with headers alone instead of refused"}, \
    {"caller_sessions_max", MF_SET_INT, .def = "256", .min = 1, .max = 100000, .at = S(cred.callers_max), \
     .doc = "session era, passthrough or exchange: upstream sessions (one per caller and URL) at most"}, \
    {"caller_session_idle_ms", MF_SET_DURATION, .def = "300000", .min = 1000, .max = 86400000, \
     .at = S(cred.callers_idle_ms), .doc = "a caller's upstream session unused this long is ended"}, \
    {"exchange", MF_SET_TABLE, .sub = hp_exchange_rows, .at = S(cred.exchange), \
     .doc = "with credentials = exchange: the token endpoint and this client's credentials there"}
int cred_check(const json_t *conf, const char *path, mf_error *err);
/* From the checked configuration: the mode, and the token exchange's client. */
int cred_init(hprov *p, const json_t *conf, mf_error *err);
/* Resolve the credentials of request m from a caller (m->session): 1 when m can go on
 * (*m, perhaps a new message, carries them), 0 when it waits for a token exchange (taken:
 * hp_take_resolved gets it later), -1 when it was answered (freed). */
int cred_resolve(hprov *p, mf_msg **m);
/* The "Authorization" value request m carries for its upstream, or NULL. */
const char *cred_auth(const mf_msg *m);
/* A cancelled request waiting for an exchange: dropped; false if none was. */
bool cred_drop(hprov *p, uint64_t corr);
/* Stopping (answer the waiting calls, code) or draining (forward them): exchanges end. */
void cred_stop(hprov *p, bool forward, int code, const char *why);
void cred_free(hprov *p);
json_t *cred_status(const hprov *p);

/* callers.c: session era, `credentials` other than static: one upstream session per
 * replica and caller credential, made on first use, ended when idle or beyond the bound */
/* m (with credentials auth) for replica r, of the session era. */
void callers_call(hrep *r, mf_msg *m, const char *auth, bool retried);
void callers_init_head(xchg *x, const char *session_id);
void callers_init_message(xchg *x, json_t *msg);
void callers_init_done(xchg *x, CURLcode rc, const char *error);
/* The upstream forgot cs's session with call m on it: initialize again, then resend once. */
void callers_session_lost(csess *cs, mf_msg *m);
bool callers_drop(hprov *p, uint64_t corr);
void callers_stop(hprov *p, bool end_sessions, bool forward, int code, const char *why);
void callers_free(hprov *p);
void callers_ref(csess *cs, int delta);
const char *callers_session_id(const csess *cs);
const char *callers_protocol(const csess *cs);
const char *callers_auth(const csess *cs);
/* A caller session's serial (1 up to 2^22 - 1, then again from 1), for the asks; and the
 * session of a serial, NULL when it is gone or not ready. */
unsigned callers_serial(const csess *cs);
csess *callers_by_serial(hprov *p, unsigned serial);
size_t callers_count(const hprov *p);

/* client_swap.c: the role's hot swap operations */
void hp_save(void *self);
/* A handshake that was under way while saving is over: hand over once none is. */
void hp_hand_over_if_settled(hprov *p);
void hp_resume(void *self);
int hp_adopt(mf_instance *inst, const json_t *conf, const char *state, size_t len, void **self,
             mf_error *err);
void hp_drain(void *self);
/* A message for an instance that is draining. */
void hp_drain_receive(hprov *p, mf_msg *m);

#endif
