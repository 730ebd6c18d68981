/* Requests forwarded to the provider that owns what they name.
 *
 * The upstream gets the client's params with the upstream's own name or URI, without
 * the client's 2026-07-28 envelope (the provider speaks for the gateway, in its
 * upstream's era), and with the client's progress token replaced by the call's
 * correlation, unique across every client, so that progress notifications find their
 * way back and carry the client's own token again. */
#include "build-config.h"
#include "session_int.h"

#include <stdlib.h>
#include <string.h>

static downreq *by_corr;

downreq *downreq_of_call(uint64_t corr)
{
    downreq *d;
    HASH_FIND(hh, by_corr, &corr, sizeof corr, d);
    return d;
}

void downreq_free(downreq *d)
{
    if (d->corr)
        HASH_DEL(by_corr, d);
    json_decref(d->id);
    json_decref(d->msg);
    json_decref(d->progress_token);
    json_decref(d->upparams);
    json_decref(d->caps);
    json_decref(d->asks);
    json_decref(d->inputs);
    json_decref(d->upstate);
    json_decref(d->stashed);
    free(d);
}

/* Answer d's client with the upstream's answer resp, and forget d. */
void downreq_answer(downreq *d, json_t *resp)
{
    session *s = d->s;
    json_t *error = json_object_get(resp, "error");
    json_t *out;
    if (error) {
        out = json_pack("{s:s,s:O,s:O}", "jsonrpc", "2.0", "id", d->id, "error", error);
    } else {
        json_t *result = mf_catalog_publish_uris(d->provider, json_object_get(resp, "result"));
        if (d->modern) {
            json_t *m = modern_result(result);
            json_decref(result);
            result = m;
        }
        out = json_pack("{s:s,s:O,s:o}", "jsonrpc", "2.0", "id", d->id, "result", result);
    }
    send_to(s, MF_MSG_RESPONSE, d->tcorr, out);
    DL_DELETE(s->reqs, d);
    downreq_free(d);
}

static void on_done(void *ud, json_t *resp)
{
    downreq *d = ud;
    if (d->corr) {
        HASH_DEL(by_corr, d);   /* the call is over; a resend gets a new one */
        d->corr = 0;
    }
    d->call = NULL;
    if (mrtr_hold(d, resp))
        return;
    json_t *result = json_object_get(resp, "result");
    const char *type = json_string_value(json_object_get(result, "resultType"));
    if (type && strcmp(type, "input_required") == 0 && !d->modern && mrtr_on_result(d, result))
        return;
    downreq_answer(d, resp);
}

static void start_call(downreq *d, const char *method, json_t *params, json_t *caps)
{
    json_t *req = json_pack("{s:s,s:O,s:o}", "method", method, "params", params, "clientCapabilities",
                            caps ? json_incref(caps) : json_object());
    d->call = mf_call_start(mf_instance_ep(d->provider->inst), d->s->id, req,
                            (uint64_t)d->provider->conf->timeout_ms, on_done, d);
    if (d->call) {
        d->corr = mf_call_corr(d->call);
        HASH_ADD(hh, by_corr, corr, sizeof d->corr, d);
    }
}

/* Send d's call again, with params (taken over): input gathered from the client. */
void resend(downreq *d, json_t *params)
{
    const char *method = mf_rpc_method(d->msg);
    json_t *meta = json_object_get(params, "_meta");
    if (json_object_get(meta, "progressToken"))   /* the new call's own token */
        json_object_set_new(meta, "progressToken", json_integer((json_int_t)mf_call_next_corr()));
    start_call(d, method ? method : "tools/call", params, d->s->client_caps);
    json_decref(params);
    if (!d->call) {
        json_t *err = json_pack("{s:o}", "error", mf_rpc_error_body(MF_RPC_OVERLOADED, "out of memory"));
        downreq_answer(d, err);
        json_decref(err);
    }
}

void forward(const rctx *r, mf_provider *p, const char *method, json_t *params)
{
    downreq *d = calloc(1, sizeof *d);
    d->s = r->s;
    d->id = json_incref(r->id);
    d->tcorr = r->tcorr;
    d->modern = r->modern;
    d->provider = p;
    d->log_level = -1;
    uint64_t corr = mf_call_next_corr();
    json_t *meta = json_object_get(params, "_meta");
    if (json_is_object(meta)) {
        json_t *kept = json_object();
        const char *k;
        json_t *v;
        json_object_foreach(meta, k, v) {
            if (strcmp(k, MF_META_LOG_LEVEL) == 0 && json_is_string(v))
                d->log_level = log_level_parse(json_string_value(v));
            if (strcmp(k, "progressToken") == 0) {
                d->progress_token = json_incref(v);
                json_object_set_new(kept, k, json_integer((json_int_t)corr));
            } else if (strncmp(k, "io.modelcontextprotocol/", 24) != 0) {
                json_object_set(kept, k, v);
            }
        }
        if (json_object_size(kept))
            json_object_set_new(params, "_meta", kept);
        else {
            json_object_del(params, "_meta");
            json_decref(kept);
        }
    }
    if (r->modern && d->log_level < 0)
        d->log_level = 99;   /* 2026-07-28: no logLevel, no log messages */
    /* the provider may speak for this client upstream: it gets the client's capabilities */
    d->upparams = params;
    d->caps = r->caps ? json_incref(r->caps) : json_object();
    d->msg = json_pack("{s:s}", "method", method);
    DL_APPEND(r->s->reqs, d);
    start_call(d, method, params, r->caps);
    if (!d->call) {
        DL_DELETE(r->s->reqs, d);
        downreq_free(d);
        reply_error(r, MF_RPC_OVERLOADED, NULL, false, "out of memory");
    }
}

void session_cancel_all(session *s)
{
    downreq *d, *tmp;
    DL_FOREACH_SAFE(s->reqs, d, tmp) {
        if (d->call)
            mf_call_cancel(d->call, "the client went away");
        mrtr_forget(d);
        DL_DELETE(s->reqs, d);
        downreq_free(d);
    }
}
