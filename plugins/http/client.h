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
#define DEFAULT_MAX_QUEUE 4096
/* a bit of mf_msg.flags this plugin keeps for itself on requests it holds: the call
 * already went out once and is waiting to be sent again after a new initialize */
#define RETRIED_FLAG 0x40000000u

typedef enum era { ERA_UNKNOWN, ERA_MODERN, ERA_LEGACY } era;
typedef enum pstate { P_CONNECTING, P_READY, P_DOWN, P_FAILED, P_STOPPING } pstate;

typedef struct hprov hprov;

/* One HTTP exchange with the upstream: a call, the handshake, a notification or the
 * GET stream. */
typedef enum xkind { X_CALL, X_DISCOVER, X_INITIALIZE, X_NOTIFY, X_GET, X_DELETE, X_LISTEN } xkind;

typedef struct xchg {
    hprov *p;
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

struct hprov {
    mf_instance *inst;
    /* configuration */
    char *url;
    struct curl_slist *headers;   /* configured ones: credentials and the like */
    char *want;                   /* "auto" or a protocol version */
    bool insecure;
    char *ca_file;
    long connect_timeout_ms;
    long init_timeout_ms;
    size_t max_message;
    size_t max_queue;
    uint64_t backoff_min_ms, backoff_max_ms;
    /* state */
    pstate state;
    era era;
    char protocol[16];
    char *session;                /* Mcp-Session-Id, legacy */
    json_t *init;
    int64_t next_id;
    unsigned failures;
    char *last_error;
    xchg *calls;                  /* by corr */
    xchg *all;                    /* every exchange in flight */
    mf_msgq queue;                /* calls waiting for the provider to connect */
    xchg *get;                    /* the session's GET stream */
    xchg *listen;                 /* 2026-07-28: our subscriptions/listen (ulisten.c) */
    json_t *listen_uris;          /* the upstream URIs it asks updates of (a set) */
    bool listen_refused;          /* the upstream answered it with an error: not again as is */
    asks asks;                    /* the upstream's requests the kernel is answering */
    char *last_event_id;
    long get_retry_ms;
    uv_timer_t timer;             /* reconnecting, or reopening the GET stream */
    bool timer_for_get;
    bool delete_sent;
    /* hot swap (client_swap.c) */
    bool saving;                  /* asked to hand over: waits for the handshake under way */
    bool saved;                   /* handed over: the GET stream and the timer are stopped */
    bool draining;                /* replaced: finishing the exchanges it has in flight */
    int64_t timer_left;           /* what the timer had to go when stopped for the handover */
    bool timer_was_get;
};

/* client.c */
hprov *hp_new(mf_instance *inst, const json_t *conf, mf_error *err);
void hp_open_get(hprov *p);
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
xchg *hp_post_modern(hprov *p, xkind kind, json_t *req, long timeout_ms);

/* ulisten.c: resource subscriptions and list_changed from a 2026-07-28 upstream, through
 * one subscriptions/listen of ours, opened again whenever what it asks changes */
void hp_listen_open(hprov *p);
void hp_listen_close(hprov *p);
/* resources/subscribe and unsubscribe for a 2026-07-28 upstream: answered here (m is
 * taken); false for any other request. */
bool hp_listen_request(hprov *p, mf_msg *m);
void hp_listen_done(hprov *p, xchg *x, CURLcode rc);
void hp_listen_save(const hprov *p, json_t *state);
void hp_listen_adopt(hprov *p, const json_t *state);

/* client_swap.c: the role's hot swap operations */
void hp_save(void *self);
/* The handshake under way while saving is over: hand over now. */
void hp_hand_over(hprov *p);
void hp_resume(void *self);
int hp_adopt(mf_instance *inst, const json_t *conf, const char *state, size_t len, void **self,
             mf_error *err);
void hp_drain(void *self);
/* A message for an instance that is draining. */
void hp_drain_receive(hprov *p, mf_msg *m);

#endif
