/* The routing policy: a Lua file users edit while the gateway runs. */
#ifndef MF_POLICY_H
#define MF_POLICY_H

#include "config.h"

#define MF_POLICY_MAX 64   /* candidates a decision can rank */

/* What the policy is told of a call. */
typedef struct mf_policy_request {
    const char *method;
    const char *name;          /* public tool or prompt name, or resource URI */
    const char *upstream;      /* the upstream's name for it */
    const char *provider;
    uint64_t session;
    const char *client;        /* clientInfo.name, or NULL */
    const char *client_version;
    const char *protocol;
    const json_t *identity;    /* the session's (mf_session_set_identity), or NULL: anonymous */
    uint64_t identity_gen;     /* changes whenever the session's identity does */
    size_t args_size;          /* bytes of the arguments, as JSON */
} mf_policy_request;

/* What it is told of each candidate target. */
typedef struct mf_policy_candidate {
    int id;                    /* 1-based */
    const char *provider;
    const char *target;        /* "<provider>#<n>" */
    bool healthy, draining, fallback;
    const char *breaker;       /* closed, open, half_open, forced_open, disabled, none */
    unsigned inflight;
    double latency_ms, p99_ms, error_rate, weight;
    json_t *tags;              /* array of strings, or NULL */
} mf_policy_candidate;

typedef struct mf_policy_decision {
    int order[MF_POLICY_MAX];  /* candidate ids, best first */
    int n;
    bool idempotent;           /* the policy says a failed call may be sent again elsewhere */
    bool refused;
    char reason[256];
} mf_policy_decision;

/* Load the configured policy (file, limits); errors name the file and line. */
int mf_policy_start(const mf_config *cfg, mf_error *err);
/* Load and self-check the configured policy, and let it go (mcpfed --check). */
int mf_policy_check(const mf_config *cfg, mf_error *err);
void mf_policy_stop(void);
/* A configuration's policy (file, limits), loaded and self-checked but not in use yet:
 * installed in one step when the configuration is applied, or discarded. */
typedef struct mf_policy_next mf_policy_next;
mf_policy_next *mf_policy_prepare(const mf_config *cfg, mf_error *err);
void mf_policy_install(mf_policy_next *n);
void mf_policy_discard(mf_policy_next *n);
/* Load the file again; the old policy stays when the new one fails to load or to pass
 * its self-check. */
int mf_policy_reload(mf_error *err);
/* Decide. When the policy fails (error, budget, bad answer) the candidates keep their
 * order and the failure is counted. */
void mf_policy_route(const mf_policy_request *req, const mf_policy_candidate *cands, int n,
                     mf_policy_decision *out);
json_t *mf_policy_status(void);

/* What visible(request, item) is told of an item. */
typedef struct mf_policy_item {
    const char *kind;          /* tool, prompt, resource, resource_template */
    const char *name;          /* public */
    const char *provider;
    const char *upstream;
    const json_t *annotations; /* object or NULL */
    const json_t *tags;        /* the provider's, array or NULL */
} mf_policy_item;

/* Does the policy in force define visible()? */
bool mf_policy_has_visible(void);
/* Counts policy loads: visibility decided under one generation holds until the next. */
uint64_t mf_policy_generation(void);
/* Decide items for one request: begin fills the request table once, then each
 * mf_policy_visible asks about one item (true without a visible function). An error or
 * an overrun counts as a routing error and hides the item. */
void mf_policy_visible_begin(const mf_policy_request *req);
bool mf_policy_visible(const mf_policy_item *it);
/* What the policy's optional rate(request) says of a call's caller: nothing (the
 * configured limits apply), exempt from them, or a named bucket of its own. */
typedef enum mf_policy_rate_choice {
    MF_POLICY_RATE_CONFIG = 0,
    MF_POLICY_RATE_EXEMPT,
    MF_POLICY_RATE_BUCKET,
} mf_policy_rate_choice;

typedef struct mf_policy_rate {
    mf_policy_rate_choice choice;
    char bucket[129];          /* its name, for MF_POLICY_RATE_BUCKET */
    double calls_per_s;
    int64_t burst;
} mf_policy_rate;

/* Whether the policy in force defines rate. */
bool mf_policy_has_rate(void);
/* Ask it, within the budgets of a decision; -1 when it fails (counted, the reason in the
 * policy's status) and out says MF_POLICY_RATE_CONFIG. */
int mf_policy_rate_of(const mf_policy_request *req, mf_policy_rate *out);

#endif
