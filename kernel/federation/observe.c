/* A forwarded request as operators see it: one span for the request with children for the
 * policy's decision, the cache lookup and each attempt on a target, and one audit record
 * when it ends. The hooks are called on the request's path (forward.c, cache_hook.c);
 * with neither tracing nor the audit log on, a request carries nothing (d->obs NULL) and
 * each hook returns at once. */
#include "build-config.h"
#include "observe.h"
#include "names.h"
#include "router.h"
#include "span.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef struct mf_obs {
    mf_span *span, *cache, *attempt;
    uint64_t wall_ms, started;
    const char *outcome;      /* NULL until answered: then cancelled */
    int code;
    size_t bytes_in, bytes_out;
    json_t *result;           /* for the audit record, when it records results */
    json_t *meta, *meta_traceparent;   /* the _meta made for the upstream, and its string */
    bool audit;
} mf_obs;

static uint64_t wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static mf_spare spare_obs;

/* The _meta an upstream is told its parent in, when the client sent none: {"traceparent":
 * <string>}. Making one took six allocations (an object, its table, a string and its
 * text, two keys) and as many frees, on every attempt; finding it again in the params at
 * the end, five lookups by key. So the request keeps a reference to the one it made, and
 * to its string, and gives both back when it ends; the next takes the last given back
 * (likeliest in the cache) once nothing else holds it (its params are freed), and writes
 * its traceparent over the string's text, which is as long: no allocation, no lookup. */
typedef struct meta_spare {
    json_t *meta, *traceparent;   /* one reference each, ours */
} meta_spare;
enum { META_SPARE = 64 };
static meta_spare meta_spares[META_SPARE];
static unsigned nmeta_spares;

static void meta_spare_free(meta_spare m)
{
    json_decref(m.traceparent);
    json_decref(m.meta);
}

/* A _meta of tp for o's attempt; o holds a reference to it and to its string. */
static json_t *traceparent_meta(mf_obs *o, const char *tp)
{
    while (nmeta_spares) {
        meta_spare m = meta_spares[--nmeta_spares];
        /* ours alone, and still only the traceparent (held by us and by it), as long */
        if (m.meta->refcount == 1 && m.traceparent->refcount == 2 && json_object_size(m.meta) == 1 &&
            json_string_length(m.traceparent) == MF_TRACEPARENT_LEN) {
            memcpy((char *)json_string_value(m.traceparent), tp, MF_TRACEPARENT_LEN);
            o->meta = m.meta;
            o->meta_traceparent = m.traceparent;
            return json_incref(m.meta);
        }
        meta_spare_free(m);   /* kept by whoever holds it: the last given back usually is not */
    }
    json_t *m = json_object(), *s = json_stringn_nocheck(tp, MF_TRACEPARENT_LEN);
    /* ASCII we wrote: no validation needed */
    json_object_set_nocheck(m, "traceparent", s);
    o->meta = json_incref(m);
    o->meta_traceparent = s;
    return m;
}

/* o ends: the _meta it made, kept for the next (checked when taken). */
static void meta_give_back(mf_obs *o)
{
    meta_spare m = {o->meta, o->meta_traceparent};
    o->meta = o->meta_traceparent = NULL;
    if (!m.meta)
        return;
    if (nmeta_spares == META_SPARE)
        meta_spare_free(m);
    else
        meta_spares[nmeta_spares++] = m;
}

void mf_obs_pool_clear(void)
{
    mf_spare_clear(&spare_obs);
    while (nmeta_spares)
        meta_spare_free(meta_spares[--nmeta_spares]);
}

void mf_obs_begin(downreq *d)
{
    mf_span *span = mf_trace_request_take();
    /* the audit log is about what upstreams do: calls, gets and reads (not completions) */
    const char *method = mf_audit_on() ? d->method : NULL;
    bool audit = method && (strcmp(method, "tools/call") == 0 || strcmp(method, "prompts/get") == 0 ||
                            strcmp(method, "resources/read") == 0);
    if (!span && !audit)
        return;
    mf_obs *o = mf_spare_take(&spare_obs, sizeof *o);
    memset(o, 0, sizeof *o);
    o->span = span;
    o->audit = audit;
    o->started = mf_now();
    if (audit) {   /* the audit record's time; a span reads its own */
        o->wall_ms = wall_ms();
        o->bytes_in = mf_json_size(json_object_get(d->upparams, "arguments"));
    }
    mf_span_str(span, "mcpfed.provider", d->owner);
    if (mf_span_sampled(span) && d->s) {
        mf_span_str(span, "mcp.protocol.version", d->modern ? MF_PROTOCOL_MODERN : d->s->protocol);
        mf_span_str(span, "mcpfed.client", json_string_value(json_object_get(d->s->client_info, "name")));
    }
    d->obs = o;
}

mf_span *mf_obs_policy_begin(downreq *d)
{
    return d->obs ? mf_span_child(d->obs->span, "mcpfed.policy", NULL, MF_SPAN_INTERNAL) : NULL;
}

void mf_obs_policy_end(downreq *d, mf_span *sp, const mf_policy_decision *dec)
{
    (void)d;
    if (mf_span_sampled(sp)) {
        mf_span_int(sp, "mcpfed.policy.candidates", dec->n);
        mf_span_bool(sp, "mcpfed.policy.refused", dec->refused);
        mf_span_bool(sp, "mcpfed.policy.idempotent", dec->idempotent);
        if (dec->refused)
            mf_span_error(sp, MF_RPC_REFUSED, dec->reason);
    }
    mf_span_end(sp);
}

void mf_obs_cache_begin(downreq *d)
{
    if (d->obs)
        d->obs->cache = mf_span_child(d->obs->span, "mcpfed.cache", NULL, MF_SPAN_INTERNAL);
}

void mf_obs_cache_outcome(downreq *d, const char *outcome)
{
    if (!d->obs || !d->obs->cache)
        return;
    mf_span_str(d->obs->cache, "mcpfed.cache.outcome", outcome);
    mf_span_end(d->obs->cache);
    d->obs->cache = NULL;
}

void mf_obs_attempt(downreq *d, json_t *params)
{
    mf_obs *o = d->obs;
    if (!o || !o->span)
        return;
    mf_span_end(o->attempt);   /* a resend with input follows an attempt that answered */
    mf_span *a;
    if (mf_span_sampled(o->span)) {
        const char *method = d->method;
        const json_t *named = d->upname;   /* params' (start_call's are d->upparams) */
        const char *upstream = json_string_value(named);
        a = o->attempt = mf_span_child(o->span, method ? method : "?", upstream, MF_SPAN_CLIENT);
        mf_span_str(a, "mcp.method.name", method);
        mf_span_str(a, "mcpfed.provider", d->provider ? d->provider->conf->name : d->owner);
        mf_span_str(a, "mcpfed.target", d->target ? d->target->name : NULL);
        mf_span_int(a, "mcpfed.attempt", d->attempt);
        if (method && strcmp(method, "tools/call") == 0) {
            mf_span_strn(a, "gen_ai.tool.name", upstream, json_string_length(named));
            mf_span_str(a, "gen_ai.operation.name", "execute_tool");
        }
    } else {
        a = o->attempt = mf_span_child(o->span, "", NULL, MF_SPAN_CLIENT);
    }
    /* the upstream's parent is this attempt */
    char tp[MF_TRACEPARENT_LEN + 1];
    mf_span_traceparent(a, tp);
    const char *ts = mf_span_tracestate(a);
    json_t *meta = json_object_get(params, "_meta");
    if (!json_is_object(meta) && !ts) {   /* the usual case: the client sent no _meta */
        if (o->meta)   /* an attempt before made one */
            meta_give_back(o);
        json_object_set_new_nocheck(params, "_meta", traceparent_meta(o, tp));
        return;
    }
    /* one the client sent (forward.c copied it: the upstream's alone), or one an attempt
     * before was given, which another may still hold: written into a copy */
    if (!json_is_object(meta) || meta->refcount > 1) {
        json_t *own = json_is_object(meta) ? json_copy(meta) : json_object();
        json_object_set_new_nocheck(params, "_meta", own);
        meta = own;
    }
    /* ASCII we wrote or checked: no validation needed */
    json_object_set_new_nocheck(meta, "traceparent", json_stringn_nocheck(tp, MF_TRACEPARENT_LEN));
    if (ts)
        json_object_set_new_nocheck(meta, "tracestate", json_string_nocheck(ts));
    else if (json_object_size(meta) > 1)   /* more than the traceparent: look */
        json_object_del(meta, "tracestate");
}

static int error_code(const json_t *error, const char **message)
{
    *message = json_string_value(json_object_get(error, "message"));
    return error ? (int)json_integer_value(json_object_get(error, "code")) : 0;
}

void mf_obs_attempt_done(downreq *d, const json_t *error, int code)
{
    mf_obs *o = d->obs;
    if (!o || !o->attempt)
        return;
    if (code)
        mf_span_error(o->attempt, code, json_string_value(json_object_get(error, "message")));
    mf_span_end(o->attempt);
    o->attempt = NULL;
}

void mf_obs_answer(downreq *d, const json_t *resp, const json_t *error, bool tool_error)
{
    mf_obs *o = d->obs;
    if (!o || o->outcome || (!o->audit && !mf_span_sampled(o->span)))   /* nobody to tell */
        return;
    const char *message;
    int code = error_code(error, &message);
    o->code = code;
    o->outcome = code == MF_RPC_TIMEOUT ? "timeout" : code == MF_RPC_REFUSED ? "refused" : code ? "error"
                 : tool_error ? "error" : "ok";
    if (code)
        mf_span_error(o->span, code, message);
    else if (strcmp(o->outcome, "error") == 0)
        mf_span_error(o->span, 0, "the tool's result is an error");
    if (o->audit) {
        const json_t *out = code ? error : json_object_get(resp, "result");
        o->bytes_out = mf_json_size(out);
        if (mf_audit_results(d->provider ? d->provider->conf : NULL))
            o->result = json_incref((json_t *)out);
    }
}

void mf_obs_refused(downreq *d, const char *why)
{
    json_t *error = json_pack("{s:i,s:s}", "code", MF_RPC_REFUSED, "message", why);
    mf_obs_answer(d, NULL, error, false);
    json_decref(error);
}

static void audit(downreq *d, mf_obs *o)
{
    const mf_provider_conf *pc = d->provider ? d->provider->conf : NULL;
    const char *upstream = json_string_value(d->upname);
    char tid[33] = "";
    if (mf_span_sampled(o->span)) {
        char tp[MF_TRACEPARENT_LEN + 1];
        mf_span_traceparent(o->span, tp);
        memcpy(tid, tp + 3, 32);
        tid[32] = '\0';
    }
    mf_audit_record r = {
        .started_ms = o->wall_ms, .identity = d->s ? d->s->identity : NULL,
        .client = d->s ? json_string_value(json_object_get(d->s->client_info, "name")) : NULL,
        .session = d->s ? d->s->id : 0, .method = d->method,
        .name = d->name, .upstream = upstream, .provider = d->owner,
        .target = d->target ? d->target->name : NULL, .outcome = o->outcome ? o->outcome : "cancelled",
        .code = o->code, .latency_ms = mf_now() - o->started, .bytes_in = o->bytes_in, .bytes_out = o->bytes_out,
        .arguments = mf_audit_arguments(pc) ? json_object_get(d->upparams, "arguments") : NULL,
        .result = o->result, .trace_id = tid[0] ? tid : NULL,
    };
    mf_audit_write(&r);
}

void mf_obs_end(downreq *d)
{
    mf_obs *o = d->obs;
    if (!o)
        return;
    d->obs = NULL;
    if (o->audit && d->owner && mf_audit_on())
        audit(d, o);
    if (!o->outcome)
        mf_span_str(o->span, "mcpfed.outcome", "cancelled");
    mf_span_end(o->cache);
    mf_span_end(o->attempt);
    mf_span_end(o->span);
    meta_give_back(o);
    json_decref(o->result);
    mf_spare_give(&spare_obs, o);
}
