/* Requests forwarded to the provider that owns what they name, through the routing
 * policy and the targets' circuit breakers.
 *
 * The policy ranks the candidate targets: the owner's replicas, then those of its
 * fallback providers. The call goes to the first whose breaker admits it, within the
 * provider's deadline, and the provider sends it to exactly that target: the choice is
 * the kernel's alone. When it fails in a way worth another try, the next target gets it,
 * within what is left of the deadline: always when it never reached the upstream (the
 * target was not ready, its queue full, its breaker open), and when the upstream got it
 * but did not answer (lost, timed out) only if the policy says the call is idempotent (or
 * it is a read). An upstream's own error answer is final. A try that another may follow
 * waits at most the provider's attempt_timeout_ms, so that a hung target cannot spend the
 * whole deadline.
 *
 * The upstream gets the client's params with the upstream's own name or URI, without the
 * client's 2026-07-28 envelope (the provider speaks for the gateway, in its upstream's
 * era), and with the client's progress token replaced by the call's correlation, unique
 * across every client, so that progress notifications find their way back and carry the
 * client's own token again. */
#include "build-config.h"
#include "forward.h"
#include "elicit.h"
#include "relay.h"
#include "mrtr.h"
#include "names.h"
#include "router.h"
#include "param_headers.h"
#include "policy.h"
#include "federation.h"
#include "cache_hook.h"
#include "park.h"
#include "tasks.h"
#include "observe.h"
#include "stats.h"
#include "ratelimit.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

downreq *mf_downreq_of_call(uint64_t corr)
{
    downreq *d;
    HASH_FIND(hh, mf_fed.forwarded, &corr, sizeof corr, d);
    return d;
}

void mf_downreq_free(downreq *d)
{
    if (d->task)   /* its task outlives it, with no call */
        d->task->d = NULL;
    if (d->remote_task) {
        mf_tasks_remote_dropped(d->remote_task);
        free(d->remote_task);
    }
    mf_obs_end(d);
    mf_cache_leave(d);
    if (d->corr)
        HASH_DEL(mf_fed.forwarded, d);
    if (d->target && d->call)
        d->target->inflight--;
    if (d->using)
        mf_provider_call_ends(d->using);
    mf_park_forget(d);
    /* last: this may free a provider that has left */
    for (int i = 0; i < d->nroute; i++)
        mf_provider_release(d->route[i]->provider);
    json_decref(d->id);
    json_decref(d->msg);
    json_decref(d->progress_token);
    json_decref(d->upparams);
    json_decref(d->upname);
    json_decref(d->caps);
    json_decref(d->param_headers);
    json_decref(d->asks);
    json_decref(d->inputs);
    json_decref(d->upstate);
    json_decref(d->stashed);
    free(d->route);
    free(d->owner);
    free(d);
}

/* A tool's result that says it failed (isError). */
static bool tool_error_result(const json_t *result)
{
    return json_is_true(json_object_get(result, "isError"));
}

/* Answer d's client with the upstream's answer resp, and forget d. */
void mf_downreq_answer(downreq *d, json_t *resp)
{
    json_t *error = json_object_get(resp, "error");
    json_t *result = error ? NULL : json_object_get(resp, "result");
    bool tools_call = strcmp(d->method ?: "", "tools/call") == 0;
    /* looked up once, for the spans, the audit record and the metrics */
    bool tool_error = result && (d->obs || (tools_call && mf_stats_on())) && tool_error_result(result);
    mf_obs_answer(d, resp, error, tool_error);
    if (mf_cache_answer(d, resp))
        return;
    if (d->task) {   /* no client waits: the task keeps the answer */
        mf_tasks_call_done(d, resp);
        mf_downreq_free(d);
        return;
    }
    json_t *own = d->remote_task ? mf_tasks_remote_answer(d, resp) : NULL;
    if (own) {
        resp = own;
        error = json_object_get(resp, "error");
        result = error ? NULL : json_object_get(resp, "result");
        tool_error = result && tool_error_result(result);
    }
    session *s = d->s;
    if (tools_call)
        mf_stats_tool_call(d->name ?: "", d->provider ? d->provider->conf->name : NULL, error != NULL, tool_error);
    json_t *out;
    if (error) {
        mf_elicit_track(d->owner, resp, s);
        json_t *e = json_copy(error);
        json_int_t code = json_integer_value(json_object_get(e, "code"));
        const char *uri = json_string_value(json_object_get(d->msg, "uri"));
        if (d->modern && uri && (code == MF_RPC_RESOURCE_NOT_FOUND || code == MF_RPC_INVALID_PARAMS) &&
            !json_object_get(e, "data")) {
            /* SEP-2164: an unknown resource is -32602 naming the URI the client asked for; a
             * session-era upstream says -32002, or names none */
            json_object_set_new(e, "code", json_integer(MF_RPC_INVALID_PARAMS));
            json_object_set_new(e, "data", json_pack("{s:s}", "uri", uri));
        }
        out = json_pack("{s:s,s:O,s:o}", "jsonrpc", "2.0", "id", d->id, "error", e);
    } else {
        result = mf_catalog_publish_uris(d->provider, result);
        if (d->modern) {
            json_t *m = mf_modern_result(result);
            json_decref(result);
            result = m;
            /* a read is cacheable in 2026-07-28: the upstream's terms, or "ask again" */
            if (strcmp(d->method ?: "", "resources/read") == 0) {
                if (!json_is_integer(json_object_get(result, "ttlMs")))
                    json_object_set_new(result, "ttlMs", json_integer(0));
                if (!json_is_string(json_object_get(result, "cacheScope")))
                    json_object_set_new(result, "cacheScope", json_string("private"));
            }
        }
        out = json_pack("{s:s,s:O,s:o}", "jsonrpc", "2.0", "id", d->id, "result", result);
    }
    mf_send_to(s, MF_MSG_RESPONSE, d->tcorr, out);
    DL_DELETE(s->reqs, d);
    mf_downreq_free(d);
    json_decref(own);
}

static bool next_target(downreq *d);

static void on_done(void *ud, json_t *resp)
{
    downreq *d = ud;
    if (d->corr) {
        HASH_DEL(mf_fed.forwarded, d);   /* the call is over; another gets a new one */
        d->corr = 0;
    }
    d->call = NULL;
    mf_target *t = d->target;
    json_t *error = json_object_get(resp, "error");
    int code = error ? (int)json_integer_value(json_object_get(error, "code")) : 0;
    mf_obs_attempt_done(d, error, code);
    bool never_sent = code == MF_RPC_UNAVAILABLE || code == MF_RPC_OVERLOADED || code == MF_RPC_SHUTTING_DOWN;
    bool lost = code == MF_RPC_UPSTREAM_LOST || code == MF_RPC_TIMEOUT;
    if (t) {
        t->inflight--;
        /* a call that never reached the upstream (the target could not take it now) is no
         * outcome: its permit goes back, and the next target gets the call */
        if (never_sent) {
            mf_target_release(t);
        } else {
            mf_target_outcome(t, code, lost, mf_now() - d->sent_at);
            mf_stats_upstream(t, code, mf_now() - d->sent_at);
        }
    }
    if (mf_mrtr_hold(d, resp))
        return;
    if ((never_sent || (lost && d->idempotent)) && (d->s || d->task) && mf_now() < d->deadline && next_target(d))
        return;
    /* no target could take it now (starting, restarting): it waits in the kernel for one
     * that can, whichever becomes ready first */
    if (code == MF_RPC_UNAVAILABLE && mf_park_call(d))
        return;
    json_t *result = json_object_get(resp, "result");
    const char *type = json_string_value(json_object_get(result, "resultType"));
    /* asked input-required: a session-era client, or a task, is asked here; a 2026-07-28
     * client gets the result as it is, and calls again itself */
    if (type && strcmp(type, "input_required") == 0 && (!d->modern || d->task) && mf_mrtr_on_result(d, result))
        return;
    mf_downreq_answer(d, resp);
}

/* Send d's call (its method, params) to its current target. */
static void start_call(downreq *d, json_t *params)
{
    mf_obs_attempt(d, params);
    json_t *meta = d->progress_token ? json_object_get(params, "_meta") : NULL;
    if (json_is_object(meta))   /* each call's own token upstream */
        json_object_set_new(meta, "progressToken", json_integer((json_int_t)mf_call_next_corr()));
    const char *method = d->method;
    json_t *req = json_pack("{s:s,s:O,s:O,s:i}", "method", method ? method : "tools/call", "params", params,
                            "clientCapabilities", d->caps, "target", d->target ? d->target->index + 1 : 0);
    if (d->param_headers)
        json_object_set(req, "paramHeaders", d->param_headers);
    uint64_t now = mf_now();
    d->sent_at = now;
    uint64_t left = d->deadline > now ? d->deadline - now : 1;
    /* a try that may be followed by another (a call that can be sent again, a target left)
     * takes only its share, so that a hung target leaves time for the next */
    uint64_t share = (uint64_t)d->provider->conf->attempt_timeout_ms;
    if (share && share < left && d->idempotent && d->attempt < d->nroute)
        left = share;
    d->call = mf_call_start(mf_instance_ep(d->provider->inst), d->s ? d->s->id : 0, req, left, on_done, d);
    d->corr = mf_call_corr(d->call);
    HASH_ADD(hh, mf_fed.forwarded, corr, sizeof d->corr, d);
    if (d->target)
        d->target->inflight++;
}

/* Try the next target that takes the call; false when none is left. */
static bool next_target(downreq *d)
{
    while (d->attempt < d->nroute) {
        mf_target *t = d->route[d->attempt++];
        if (t->draining || !t->provider->inst || t->provider->standing == MF_STANDING_RETIRING)
            continue;
        if (!mf_target_acquire(t)) {
            d->refused++;
            continue;
        }
        d->target = t;
        d->provider = t->provider;
        if (d->using != t->provider) {
            mf_provider_call_begins(t->provider);
            if (d->using)
                mf_provider_call_ends(d->using);
            d->using = t->provider;
        }
        start_call(d, d->upparams);
        return true;
    }
    return false;
}

/* Send d's call again to the same target, with params (taken over): input gathered from
 * the client. */
void mf_resend(downreq *d, json_t *params)
{
    json_decref(d->upparams);
    d->upparams = params;
    json_decref(d->upname);
    d->upname = json_incref((json_t *)mf_params_named(params));
    if (d->target && !mf_target_acquire(d->target)) {
        json_t *err = json_pack("{s:o}", "error", mf_rpc_error_body(MF_RPC_REFUSED, "circuit breaker open for %s",
                                                                    d->target->name));
        mf_downreq_answer(d, err);
        json_decref(err);
        return;
    }
    start_call(d, params);
}

/* --- the routing decision ----------------------------------------------------------- */

static int add_candidates(mf_provider *p, bool fallback, mf_policy_candidate *c, mf_target **t, int n)
{
    for (int i = 0; i < p->ntargets && n < MF_POLICY_MAX; i++, n++) {
        mf_target *x = &p->targets[i];
        t[n] = x;
        c[n] = (mf_policy_candidate){
            .id = n + 1, .provider = p->conf->name, .target = x->name,
            .healthy = x->up && x->healthy && p->state == MF_PROVIDER_UP, .draining = x->draining,
            .fallback = fallback, .breaker = mf_target_breaker(x), .inflight = x->inflight,
            .latency_ms = x->ewma_ms, .p99_ms = mf_target_p99(x), .error_rate = x->error_ewma,
            .weight = p->conf->weight, .tags = p->conf->tags,
        };
    }
    return n;
}

/* What the policy is told of d's call to p (what it names is in d->msg, what goes
 * upstream in d->upparams). */
static mf_policy_request policy_request(downreq *d, const mf_provider *p)
{
    json_t *params = d->upparams;
    if (!d->args_sized) {   /* the rate limits' and the routing's question share it */
        json_t *args = json_object_get(params, "arguments");
        d->args_size = mf_json_size(args);
        d->args_sized = true;
    }
    const char *upstream = json_string_value(d->upname);
    /* a task's call, routed again while it waits for a target, has no client any more */
    const session *s = d->s;
    json_t *info = s ? s->client_info : NULL;
    return (mf_policy_request){
        .method = d->method, .name = d->name,
        .upstream = upstream, .provider = p->conf->name, .session = s ? s->id : 0,
        .client = json_string_value(json_object_get(info, "name")),
        .client_version = json_string_value(json_object_get(info, "version")),
        .protocol = d->modern ? MF_PROTOCOL_MODERN : s ? s->protocol : "2025-11-25",
        .identity = s ? s->identity : NULL, .identity_gen = s ? s->identity_gen : 0,
        .args_size = d->args_size,
    };
}

/* Rank d's targets with the policy; false, with the policy's reason in why, when it
 * refuses. */
static bool route(downreq *d, mf_provider *p, char *why, size_t len)
{
    mf_policy_candidate c[MF_POLICY_MAX];
    mf_target *t[MF_POLICY_MAX];
    int n = add_candidates(p, false, c, t, 0);
    for (char **f = p->conf->fallback; f && *f; f++) {
        size_t np;
        mf_provider **ps = mf_registry_providers(&np);
        for (size_t i = 0; i < np; i++)
            if (strcmp(ps[i]->conf->name, *f) == 0)
                n = add_candidates(ps[i], true, c, t, n);
    }
    const char *method = d->method;
    mf_policy_request req = policy_request(d, p);
    mf_policy_decision dec;
    mf_span *sp = mf_obs_policy_begin(d);
    mf_policy_route(&req, c, n, &dec);
    mf_obs_policy_end(d, sp, &dec);
    if (dec.refused) {
        snprintf(why, len, "%s", dec.reason);
        return false;
    }
    d->route = mf_xmalloc((size_t)(dec.n ? dec.n : 1) * sizeof *d->route);
    for (int i = 0; i < dec.n; i++) {
        d->route[i] = t[dec.order[i] - 1];
        mf_provider_hold(d->route[i]->provider);   /* it stays, even if it leaves meanwhile */
    }
    d->nroute = dec.n;
    /* reads can always go elsewhere; a tool call only when the policy says so */
    d->idempotent = dec.idempotent || strcmp(method, "tools/call") != 0;
    return true;
}

/* Why no target took d's call at all (none left to try). */
static json_t *none_took(const downreq *d)
{
    json_t *e = d->refused ? mf_rpc_error_body(MF_RPC_REFUSED, "circuit breaker open: no target of provider %s can take the call now", d->owner)
                           : mf_rpc_error_body(MF_RPC_UNAVAILABLE, "provider %s: no target can take the call now", d->owner);
    return json_pack("{s:o}", "error", e);
}

static void answer_error(downreq *d, json_t *err)
{
    mf_downreq_answer(d, err);
    json_decref(err);
}

void mf_forward_again(downreq *d)
{
    for (int i = 0; i < d->nroute; i++)
        mf_provider_release(d->route[i]->provider);
    free(d->route);
    d->route = NULL;
    d->nroute = d->attempt = 0;
    d->refused = 0;
    d->target = NULL;
    mf_provider *p = mf_registry_named(d->owner);
    char why[512];
    d->provider = p;   /* the one it held may have gone with the route released above */
    if (!p)
        answer_error(d, json_pack("{s:o}", "error", mf_rpc_error_body(MF_RPC_UNAVAILABLE, "provider %s has left", d->owner)));
    else if (!route(d, p, why, sizeof why))
        answer_error(d, json_pack("{s:o}", "error", mf_rpc_error_body(MF_RPC_REFUSED, "%s", why)));
    else if (!next_target(d))
        answer_error(d, none_took(d));
}

/* Whether the rate limits let d's call to p go (once per client request: before the
 * cache, which answers calls the client made too, and before any try); else r is
 * answered with when to try again. */
static bool rate_admitted(const rctx *r, downreq *d, const mf_provider *p, bool task)
{
    if (!mf_rate_counts(d->method) || !mf_rate_configured(mf_fed.sessions.conf, p->conf))
        return true;   /* and what the policy is told is not made for nothing */
    mf_policy_request req = policy_request(d, p);
    mf_rate_refusal no;
    if (mf_rate_admit(mf_fed.sessions.conf, &req, p->conf, &no))
        return true;
    const char *kind = mf_rate_kind_name(no.kind);
    mf_obs_refused(d, "rate limited");
    if (task) {   /* its client has its handle already: the task fails */
        answer_error(d, json_pack("{s:o}", "error", mf_rpc_error_body(MF_RPC_RATE_LIMITED,
                     "Rate limit exceeded: the %s limit \"%s\" allows another call in %llu ms", kind, no.bucket,
                     (unsigned long long)no.retry_ms)));
        return false;
    }
    mf_reply_error_flags(r, MF_RPC_RATE_LIMITED,
                         json_pack("{s:I,s:s,s:s}", "retryAfterMs", (json_int_t)no.retry_ms, "limit", kind, "bucket",
                                   no.bucket),
                         MF_MSGF_RATE_LIMITED, "Rate limit exceeded: the %s limit \"%s\" allows another call in %llu ms",
                         kind, no.bucket, (unsigned long long)no.retry_ms);
    return false;
}

static void forward(const rctx *r, mf_provider *p, const char *method, json_t *params, struct mf_task *task,
                    const char *remote_task)
{
    downreq *d = mf_xcalloc(1, sizeof *d);
    d->remote_task = remote_task ? mf_xstrdup(remote_task) : NULL;
    d->s = r->s;
    d->id = json_incref(r->id);
    d->tcorr = r->tcorr;
    d->modern = r->modern;
    d->provider = p;
    d->log_level = -1;
    json_t *meta = json_object_get(params, "_meta");
    if (json_is_object(meta)) {
        /* the client's, less the envelope's keys: a copy, as the client's message shares it
         * (none at all when nothing is left, as for every 2026-07-28 request with only its
         * envelope; the trace context then goes in one of observe.c's) */
        json_t *kept = NULL;
        const char *k;
        json_t *v;
        json_object_foreach(meta, k, v) {
            if (strcmp(k, MF_META_LOG_LEVEL) == 0 && json_is_string(v))
                d->log_level = mf_mcp_log_level_parse(json_string_value(v));
            if (strcmp(k, "progressToken") == 0)
                d->progress_token = json_incref(v);
            if (strncmp(k, "io.modelcontextprotocol/", 24) != 0) {
                if (!kept)
                    kept = json_object();
                json_object_set(kept, k, v);
            }
        }
        if (kept)
            json_object_set_new(params, "_meta", kept);
        else
            json_object_del(params, "_meta");
    }
    if (r->modern && d->log_level < 0)
        d->log_level = 99;   /* 2026-07-28: no logLevel, no log messages */
    d->upparams = params;
    d->upname = json_incref((json_t *)mf_params_named(params));
    d->caps = mf_tasks_upstream_caps(r->caps, task ? task : remote_task ? mf_task_lookup(remote_task) : NULL);
    if (r->tool)
        d->param_headers = mf_param_headers(r->tool, json_object_get(params, "arguments"));
    json_t *rp = json_object_get(r->msg, "params");
    d->msg = json_pack("{s:s,s:O?}", "method", method, "name", mf_params_named(rp));
    if (strcmp(method, "resources/read") == 0)   /* the client's URI, for a not-found answer */
        json_object_set(d->msg, "uri", json_object_get(rp, "uri"));
    d->method = json_string_value(json_object_get(d->msg, "method"));
    d->name = json_string_value(json_object_get(d->msg, "name"));
    d->owner = mf_xstrdup(p->conf->name);
    d->seq = mf_fed.park.next_seq++;
    mf_obs_begin(d);
    char why[512];
    if (task) {
        d->task = task;
        task->d = d;
    }
    if (!rate_admitted(r, d, p, task != NULL)) {
        if (!task)
            mf_downreq_free(d);
        return;
    }
    if (!route(d, p, why, sizeof why)) {
        mf_obs_refused(d, why);
        if (task) {
            answer_error(d, json_pack("{s:o}", "error", mf_rpc_error_body(MF_RPC_REFUSED, "%s", why)));
            return;
        }
        mf_reply_error(r, MF_RPC_REFUSED, NULL, false, "%s", why);
        mf_downreq_free(d);
        return;
    }
    if (!task && !remote_task && mf_cache_before(r, d, json_string_value(json_object_get(params, "name"))))
        return;
    d->timeout_ms = (uint64_t)p->conf->timeout_ms;
    d->deadline = mf_now() + d->timeout_ms;
    if (task)
        d->s = NULL;   /* detached: its client may go, the call goes on */
    else
        DL_APPEND(r->s->reqs, d);
    if (!next_target(d))
        answer_error(d, none_took(d));
}

void mf_forward(const rctx *r, mf_provider *p, const char *method, json_t *params)
{
    forward(r, p, method, params, NULL, NULL);
}

void mf_forward_task(const rctx *r, mf_provider *p, const char *method, json_t *params, struct mf_task *task)
{
    forward(r, p, method, params, task, NULL);
}

void mf_forward_remote(const rctx *r, mf_provider *p, const char *method, json_t *params, const char *remote_task)
{
    forward(r, p, method, params, NULL, remote_task);
}

void mf_downreq_cancel(downreq *d, const char *reason)
{
    if (mf_cache_keeps(d))
        return;
    if (d->call) {
        mf_call_cancel(d->call, reason);
        if (d->target)
            mf_target_release(d->target);
    }
    mf_mrtr_forget(d);
    if (d->s)
        DL_DELETE(d->s->reqs, d);
    mf_downreq_free(d);
}

void mf_session_cancel_all(session *s)
{
    downreq *d, *tmp;
    DL_FOREACH_SAFE(s->reqs, d, tmp) mf_downreq_cancel(d, "the client went away");
}
