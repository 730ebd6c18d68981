/* What operators see of a forwarded request: its spans (trace.h) and its audit record
 * (audit.c), through a few hooks on its path in forward.c and cache_hook.c
 * (observe.c). Each hook does nothing when neither tracing nor the audit log is on. */
#ifndef MF_OBSERVE_H
#define MF_OBSERVE_H

#include "forward.h"
#include "policy.h"
#include "trace.h"

/* d starts (mf_forward, once d->msg and d->upparams are set): it takes the request span
 * the session layer began. */
void mf_obs_begin(downreq *d);
/* The policy's decision, timed as a span of its own. */
mf_span *mf_obs_policy_begin(downreq *d);
void mf_obs_policy_end(downreq *d, mf_span *sp, const mf_policy_decision *dec);
/* The result cache: a span from the lookup to its outcome ("hit", "coalesced", "miss");
 * begun only for a call the cache may answer. */
void mf_obs_cache_begin(downreq *d);
void mf_obs_cache_outcome(downreq *d, const char *outcome);
/* An attempt on d->target: its span, and the traceparent the upstream sees put into
 * params._meta (the http provider mirrors it in a header). */
void mf_obs_attempt(downreq *d, json_t *params);
/* Its answer: error (NULL for a result) and error's code (0 when none). */
void mf_obs_attempt_done(downreq *d, const json_t *error, int code);
/* The answer the client gets: resp ({"result"} or {"error"}) and its error, NULL for a
 * result (resp may be NULL when error is given); tool_error: the result is a tool's error
 * (its isError). */
void mf_obs_answer(downreq *d, const json_t *resp, const json_t *error, bool tool_error);
/* Refused by the policy, with its reason. */
void mf_obs_refused(downreq *d, const char *why);
/* d is freed: its audit record is written, its span ended. */
void mf_obs_end(downreq *d);
/* Free the records kept for reuse (at stop). */
void mf_obs_pool_clear(void);

/* audit.c */
typedef struct mf_audit_record {
    uint64_t started_ms;      /* wall clock, ms */
    const json_t *identity;
    const char *client;
    uint64_t session;
    const char *method, *name, *upstream, *provider, *target;
    const char *outcome;      /* ok, error, refused, timeout, cancelled */
    int code;                 /* 0: none */
    uint64_t latency_ms;
    size_t bytes_in, bytes_out;
    const json_t *arguments, *result;   /* NULL: not recorded */
    const char *trace_id;     /* NULL: not traced */
} mf_audit_record;

bool mf_audit_on(void);
/* Are arguments (results) recorded for provider p's calls? */
bool mf_audit_arguments(const mf_provider_conf *p);
bool mf_audit_results(const mf_provider_conf *p);
void mf_audit_write(const mf_audit_record *r);
/* Start, reconfigure (the file reopened when it changed) or stop (no file) from cfg. */
int mf_audit_configure(const mf_config *cfg, mf_error *err);
/* Open the file again by its name (after logrotate moved it); 0, or -1 when no log is on. */
int mf_audit_reopen(void);
void mf_audit_stop(void);
json_t *mf_audit_status(void);

#endif
