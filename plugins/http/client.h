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
    long connect_timeout_ms;
    long init_timeout_ms;
    size_t max_message;
    size_t max_queue;
    uint64_t backoff_min_ms, backoff_max_ms;
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
