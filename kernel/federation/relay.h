/* What upstreams send that is not an answer, relayed to clients, the answers clients
 * give to it, and resource subscriptions (relay.c). */
#ifndef MF_RELAY_H
#define MF_RELAY_H

#include "forward.h"

/* A request from an upstream, relayed to a client. */
typedef struct relay {
    session *s;
    uint64_t id;              /* the id the client sees */
    mf_ep provider_ep;        /* who asked */
    uint64_t pcorr;           /* the provider's correlation for the answer */
    downreq *collector;       /* or: the call whose input this is (mrtr.c) */
    char *task;               /* or: the task whose input this is, by id (tasks.c) */
    char *key;                /* its key in the input-required result (the task's questions) */
    uv_timer_t timer;
    struct relay *prev, *next;
} relay;

/* A resource a session subscribed to. */
typedef struct sub {
    char *uri;                /* as the client named it */
    mf_provider *provider;
    char *upstream;
    struct lstream *ls;              /* the listen it belongs to; NULL: resources/subscribe */
    struct sub *prev, *next;
} sub;

void mf_relay_response(session *s, json_t *msg);
void mf_relay_session_closed(session *s);
int mf_mcp_log_level_parse(const char *name);
void mf_subscribe(const rctx *r, json_t *params, bool on);
void mf_set_log_level(const rctx *r, json_t *params);
/* A request of the kernel's own to a provider, whose answer nobody waits for. */
void mf_tell(mf_provider *p, const char *method, json_t *params);
/* Does any session but through except want upstream of p? */
bool mf_anyone_subscribed(const mf_provider *p, const char *upstream, const sub *except);
void mf_sub_free(sub *x);

relay *mf_relay_new(session *s, mf_ep provider_ep, uint64_t pcorr);
void mf_relay_drop(relay *x);
void mf_answer_provider(mf_ep provider, uint64_t pcorr, json_t *json);
const char *mf_capability_for(const char *method);

#endif
