/* Input-required exchanges: how a server asks a client something in revision 2026-07-28,
 * bridged to and from the session era's server-to-client requests.
 *
 * A 2026-07-28 client cannot take requests. When an upstream of the session era asks
 * (sampling, elicitation, roots) while serving its call, the gateway answers the call
 * with an input-required result naming what is asked and a requestState of its own, and
 * keeps the upstream call going. The client calls again with inputResponses and that
 * requestState: the answers go to the upstream, and the new request takes over waiting
 * for the call's result (asking again if the upstream asks again).
 *
 * The other way round, an upstream of 2026-07-28 answers a session-era client's call with
 * an input-required result: the gateway asks the client each thing as a request of its
 * own, collects the answers, and sends the call again with inputResponses and the
 * upstream's requestState, until the upstream completes (at most MAX_ROUNDS times). */
#include "build-config.h"
#include "mrtr.h"
#include "elicit.h"
#include "tasks.h"
#include "cursor.h"
#include "router.h"
#include "federation.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MR (mf_fed.mrtr)

#define MAX_ROUNDS 8

typedef struct suspended {
    char *token;
    downreq *d;
    mf_provider *provider;
    uv_timer_t timer;
    UT_hash_handle hh;
} suspended;

static void susp_closed(uv_handle_t *h)
{
    suspended *su = h->data;
    free(su->token);
    free(su);
}

static void susp_free(suspended *su)
{
    HASH_DEL(MR.by_token, su);
    su->d->susp = NULL;
    uv_close((uv_handle_t *)&su->timer, susp_closed);
}

void mf_asks_refuse(json_t *asks, const char *why)
{
    const char *key;
    json_t *a;
    json_object_foreach(asks, key, a) {
        if (json_object_get(a, "round"))
            continue;   /* the call is not sent again: nothing waits upstream */
        mf_answer_provider((mf_ep)json_integer_value(json_object_get(a, "ep")),
                        (uint64_t)json_integer_value(json_object_get(a, "corr")),
                        json_pack("{s:o}", "error", mf_rpc_error_body(MF_RPC_UNAVAILABLE, "%s", why)));
    }
    json_object_clear(asks);
}

void mf_asks_answer(json_t *asks, const json_t *inputs)
{
    const char *key;
    json_t *a, *tmp;
    json_object_foreach_safe(asks, tmp, key, a) {
        json_t *answer = json_object_get(inputs, key);
        if (!answer)
            continue;
        mf_answer_provider((mf_ep)json_integer_value(json_object_get(a, "ep")),
                        (uint64_t)json_integer_value(json_object_get(a, "corr")),
                        json_pack("{s:O}", "result", answer));
        json_object_del(asks, key);
    }
}

void mf_asks_put(json_t **asks, json_t *entry)
{
    if (!*asks)
        *asks = json_object();
    char key[24];
    snprintf(key, sizeof key, "mf%u", MR.next_key++);
    json_object_set_new(*asks, key, entry);
}

bool mf_asks_add(json_t **asks, const json_t *caps, mf_ep from, uint64_t pcorr, json_t *request)
{
    /* never ask a client what it did not say it can answer */
    char why[256];
    int code = mf_client_can_answer(caps, request, why, sizeof why);
    if (code) {
        mf_answer_provider(from, pcorr, json_pack("{s:o}", "error", mf_rpc_error_body(code, "%s", why)));
        return false;
    }
    json_t *req = json_pack("{s:O,s:O}", "method", json_object_get(request, "method"), "params",
                            json_object_get(request, "params") ?: json_object());
    mf_asks_put(asks, json_pack("{s:I,s:I,s:o}", "ep", (json_int_t)from, "corr", (json_int_t)pcorr, "request", req));
    return true;
}

static void refuse_asks(downreq *d, const char *why)
{
    mf_asks_refuse(d->asks, why);
}

static void on_expired(uv_timer_t *t)
{
    suspended *su = t->data;
    downreq *d = su->d;
    mf_info("mrtr", "the client did not come back with input; call abandoned", "provider=%s",
            d->provider->conf->name);
    refuse_asks(d, "the client did not come back with its input");
    susp_free(su);
    mf_downreq_cancel(d, "the client did not come back with its input");
}

/* Answer d's client with what the upstream asks, and hold d until it comes back. */
static void answer_input_required(downreq *d)
{
    json_t *requests = json_object();
    const char *key;
    json_t *a;
    json_object_foreach(d->asks, key, a) json_object_set(requests, key, json_object_get(a, "request"));
    suspended *su = mf_xcalloc(1, sizeof *su);
    su->token = mf_request_state_mint(MR.next_state++);
    su->d = d;
    su->provider = d->provider;
    d->susp = su;
    HASH_ADD_KEYPTR(hh, MR.by_token, su->token, strlen(su->token), su);
    uv_timer_init(mf_loop(), &su->timer);
    su->timer.data = su;
    uv_timer_start(&su->timer, on_expired, (uint64_t)mf_fed.sessions.conf->request_timeout_ms, 0);
    json_t *asked = json_pack("{s:s,s:o,s:s}", "resultType", "input_required", "inputRequests", requests,
                              "requestState", su->token);
    json_t *result = mf_modern_result(asked);   /* a copy: asked stays ours */
    json_decref(asked);
    mf_send_to(d->s, MF_MSG_RESPONSE, d->tcorr, mf_rpc_result(d->id, result));
    /* the client's request is answered; the call goes on, attached to no client */
    DL_DELETE(d->s->reqs, d);
    d->s = NULL;
}

void mf_mrtr_ask_modern(downreq *d, mf_ep from, uint64_t pcorr, json_t *request)
{
    if (!mf_asks_add(&d->asks, d->caps, from, pcorr, request))
        return;
    if (d->s)
        answer_input_required(d);
    /* else the client is away: this is asked when it comes back */
}

downreq *mf_mrtr_only_suspended(const mf_provider *p)
{
    downreq *found = NULL;
    suspended *su, *tmp;
    HASH_ITER(hh, MR.by_token, su, tmp) {
        if (su->provider == p) {
            if (found)
                return NULL;
            found = su->d;
        }
    }
    return found;
}

bool mf_mrtr_resume(const rctx *r, json_t *params)
{
    const char *state = json_string_value(json_object_get(params, "requestState"));
    if (!state || strncmp(state, "mfr1.", 5) != 0)
        return false;   /* not ours: the upstream's own, passed through */
    suspended *su;
    HASH_FIND_STR(MR.by_token, state, su);
    if (!su || !mf_request_state_check(state)) {
        mf_reply_error(r, MF_RPC_INVALID_PARAMS, NULL, false,
                    "requestState is unknown or expired: call again without it");
        return true;
    }
    downreq *d = su->d;
    susp_free(su);
    mf_asks_answer(d->asks, json_object_get(params, "inputResponses"));
    if (mf_tasks_adopt(r, d))
        return true;   /* it goes on as a task, whose handle answers r */
    /* the new request takes the call over */
    d->s = r->s;
    json_decref(d->id);
    d->id = json_incref(r->id);
    d->tcorr = r->tcorr;
    d->modern = true;
    DL_APPEND(r->s->reqs, d);
    if (d->stashed) {
        json_t *resp = d->stashed;
        d->stashed = NULL;
        refuse_asks(d, "the call is over");
        mf_downreq_answer(d, resp);
        json_decref(resp);
    } else if (json_object_size(d->asks)) {
        answer_input_required(d);   /* still unanswered, or asked meanwhile */
    }
    return true;
}

bool mf_mrtr_hold(downreq *d, json_t *resp)
{
    /* only a call waiting for its client to come back; one whose client left while others
     * wait for the same call (the result cache's) is answered to them */
    if (d->s || !d->susp)
        return false;
    json_decref(d->stashed);
    d->stashed = json_incref(resp);
    return true;
}

/* --- an upstream of 2026-07-28 asks a client of the session era ------------------------ */

static size_t collecting(const downreq *d, const relay *except)
{
    size_t n = 0;
    relay *x;
    DL_FOREACH(d->s->relays, x) {
        if (x->collector == d && x != except)
            n++;
    }
    return n;
}

void mf_mrtr_forget(downreq *d)
{
    if (!d->s)
        return;
    relay *x, *tmp;
    DL_FOREACH_SAFE(d->s->relays, x, tmp) {
        if (x->collector == d)
            mf_relay_drop(x);
    }
}

static void fail_call(downreq *d, int code, const char *text)
{
    mf_mrtr_forget(d);
    json_t *e = json_pack("{s:o}", "error", mf_rpc_error_body(code, "%s", text));
    mf_downreq_answer(d, e);
    json_decref(e);
}

bool mf_mrtr_on_result(downreq *d, json_t *result)
{
    if (++d->rounds > MAX_ROUNDS) {
        fail_call(d, MF_RPC_INTERNAL_ERROR, "the server asked for input more than 8 times");
        return true;
    }
    json_decref(d->inputs);
    d->inputs = json_object();
    json_decref(d->upstate);
    d->upstate = json_incref(json_object_get(result, "requestState"));
    json_t *reqs = json_object_get(result, "inputRequests");
    const char *key;
    json_t *req;
    /* first check it can all be asked, so that nothing is asked in vain */
    json_object_foreach(reqs, key, req) {
        char can[200], why[256];
        int code = mf_client_can_answer(d->task ? d->task->caps : d->s->client_caps, req, can, sizeof can);
        if (code) {
            snprintf(why, sizeof why, "the server needs what this client cannot answer: %s", can);
            fail_call(d, code, why);
            return true;
        }
    }
    if (d->task && json_object_size(reqs)) {
        mf_tasks_ask_round(d, reqs);   /* the task's client is asked, when it comes */
        return true;
    }
    json_object_foreach(reqs, key, req) {
        relay *x = mf_relay_new(d->s, 0, 0);
        x->collector = d;
        x->key = mf_xstrdup(key);
        json_t *out = json_pack("{s:s,s:I,s:O,s:O}", "jsonrpc", "2.0", "id", (json_int_t)x->id, "method",
                                json_object_get(req, "method"), "params",
                                json_object_get(req, "params") ?: json_object());
        mf_send_to(d->s, MF_MSG_REQUEST, d->tcorr, out);
    }
    if (!d->s || !collecting(d, NULL)) {
        /* nothing to ask: only the state to send back */
        json_t *params = json_deep_copy(d->upparams);
        if (d->upstate)
            json_object_set(params, "requestState", d->upstate);
        mf_resend(d, params);
    }
    return true;
}

void mf_mrtr_collected(relay *x, json_t *msg)
{
    downreq *d = x->collector;
    json_t *error = json_object_get(msg, "error");
    if (error) {
        mf_mrtr_forget(d);
        json_t *e = json_pack("{s:O}", "error", error);
        mf_downreq_answer(d, e);   /* the client declined: its error ends the call */
        json_decref(e);
        return;
    }
    json_object_set(d->inputs, x->key, json_object_get(msg, "result") ?: json_object());
    if (!collecting(d, x))
        mf_mrtr_send_inputs(d);
}

void mf_mrtr_send_inputs(downreq *d)
{
    json_t *params = json_deep_copy(d->upparams);
    json_object_set(params, "inputResponses", d->inputs);
    if (d->upstate)
        json_object_set(params, "requestState", d->upstate);
    mf_resend(d, params);
}

void mf_mrtr_shutdown(void)
{
    suspended *su, *tmp;
    HASH_ITER(hh, MR.by_token, su, tmp) {
        downreq *d = su->d;
        refuse_asks(d, "the gateway is shutting down");
        susp_free(su);
        mf_downreq_cancel(d, "the gateway is shutting down");
    }
}
