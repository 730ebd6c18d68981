/* What upstreams send that is not an answer: notifications, and requests for a client.
 *
 * Every provider has one upstream session shared by all clients, declared with the
 * client capabilities sampling, elicitation and roots. What the upstream sends is routed
 * to the client it concerns: progress by its token (the call's correlation), log
 * messages and requests by the call they were made for when the transport says so (a
 * POST's SSE stream); otherwise a request goes to the one client with calls under way on
 * that provider (or the only client there is), and when that is not one client it is
 * refused rather than guessed: a client never answers for another. A client without the
 * capability the request needs gets nothing; the upstream gets an error.
 *
 * Each client keeps its own subscriptions and log level. The upstream is subscribed while
 * any client is, and asked for the most verbose level any client asked for; what comes
 * back is filtered per client. */
#include "build-config.h"
#include "relay.h"
#include "elicit.h"
#include "cache_hook.h"
#include "listen.h"
#include "mrtr.h"
#include "tasks.h"
#include "router.h"
#include "view.h"
#include "federation.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const levels[] = {"debug", "info", "notice", "warning", "error",
                                     "critical", "alert", "emergency"};
#define NLEVELS (int)(sizeof levels / sizeof levels[0])

int mf_mcp_log_level_parse(const char *name)
{
    for (int i = 0; name && i < NLEVELS; i++)
        if (strcmp(levels[i], name) == 0)
            return i;
    return -1;
}

static void ignore_answer(void *ud, json_t *resp)
{
    MF_UNUSED(ud);
    MF_UNUSED(resp);
}

void mf_tell(mf_provider *p, const char *method, json_t *params)
{
    if (!p->inst || p->state != MF_PROVIDER_UP) {
        json_decref(params);
        return;
    }
    json_t *req = json_pack("{s:s,s:o}", "method", method, "params", params);
    mf_call_start(mf_instance_ep(p->inst), 0, req, (uint64_t)p->conf->timeout_ms, ignore_answer, NULL);
}

/* --- logging ------------------------------------------------------------------------- */

static void update_upstream_levels(void)
{
    int want = -1;
    session *s, *tmp;
    HASH_ITER(hh, mf_session_table(), s, tmp) {
        if (s->log_level >= 0 && (want < 0 || s->log_level < want))
            want = s->log_level;
    }
    if (want < 0)
        return;   /* nobody asked: leave the upstreams as they are */
    size_t n;
    mf_provider **ps = mf_registry_providers(&n);
    for (size_t i = 0; i < n; i++) {
        mf_provider *p = ps[i];
        if (p->state == MF_PROVIDER_UP && p->log_level != want && mf_provider_offers(p, "logging")) {
            p->log_level = want;
            mf_tell(p, "logging/setLevel", json_pack("{s:s}", "level", levels[want]));
        }
    }
}

void mf_set_log_level(const rctx *r, json_t *params)
{
    const char *name = json_string_value(json_object_get(params, "level"));
    int level = mf_mcp_log_level_parse(name);
    if (level < 0) {
        mf_reply_error(r, MF_RPC_INVALID_PARAMS, NULL, false,
                    "logging/setLevel: level must be one of debug, info, notice, warning, error, "
                    "critical, alert, emergency");
        return;
    }
    r->s->log_level = level;
    update_upstream_levels();
    mf_reply_result(r, json_object());
}

static bool admits(int level_wanted, const char *level)
{
    int l = mf_mcp_log_level_parse(level);
    return level_wanted >= 0 && level_wanted < NLEVELS && (l < 0 || l >= level_wanted);
}

static void on_log(mf_provider *p, json_t *note, uint64_t related)
{
    const char *level = json_string_value(json_object_get(json_object_get(note, "params"), "level"));
    downreq *d = related ? mf_downreq_of_call(related) : NULL;
    if (d && d->provider == p) {
        if (!d->s)
            return;   /* a call with no client now (a task's, or waiting for its client) */
        /* about one call: its client only, at the call's level or the client's */
        int want = d->log_level >= 0 ? d->log_level : d->s->log_level >= 0 ? d->s->log_level : 0;
        if (admits(want, level))
            mf_send_to(d->s, MF_MSG_NOTIFY, d->tcorr, json_incref(note));
        return;
    }
    /* about nothing in particular: every client that asked for this level */
    session *s, *tmp;
    HASH_ITER(hh, mf_session_table(), s, tmp) {
        if (s->initialized && admits(s->log_level, level))
            mf_send_to(s, MF_MSG_NOTIFY, 0, json_incref(note));
    }
}

/* --- progress ------------------------------------------------------------------------ */

static void on_progress(mf_provider *p, json_t *note)
{
    json_t *params = json_object_get(note, "params");
    json_t *token = json_object_get(params, "progressToken");
    downreq *d = json_is_integer(token) ? mf_downreq_of_call((uint64_t)json_integer_value(token)) : NULL;
    if (!d || d->provider != p || !d->progress_token) {
        mf_debug("relay", "progress for no call", "provider=%s", p->conf->name);
        return;
    }
    if (d->task) {
        mf_tasks_progress(d, note);
        return;
    }
    if (!d->s)
        return;
    json_t *out = json_deep_copy(note);
    json_object_set(json_object_get(out, "params"), "progressToken", d->progress_token);
    mf_send_to(d->s, MF_MSG_NOTIFY, d->tcorr, out);
}

/* --- subscriptions --------------------------------------------------------------------- */

bool mf_anyone_subscribed(const mf_provider *p, const char *upstream, const sub *except)
{
    session *s, *tmp;
    HASH_ITER(hh, mf_session_table(), s, tmp) {
        sub *x;
        DL_FOREACH(s->subs, x) {
            if (x != except && x->provider == p && strcmp(x->upstream, upstream) == 0)
                return true;
        }
    }
    return false;
}

void mf_sub_free(sub *x)
{
    free(x->uri);
    free(x->upstream);
    free(x);
}

void mf_subscribe(const rctx *r, json_t *params, bool on)
{
    const char *method = on ? "resources/subscribe" : "resources/unsubscribe";
    if (mf_refuse_nul(r, method, json_object_get(params, "uri"), "params.uri"))
        return;
    const char *uri = json_string_value(json_object_get(params, "uri"));
    if (!uri) {
        mf_reply_error(r, MF_RPC_INVALID_PARAMS, NULL, false, "%s: params.uri must be a string", method);
        return;
    }
    /* a resource is the same whichever form the client names it by: public or upstream */
    char *upstream = NULL;
    mf_provider *p = on ? mf_view_resolve_uri(r, uri, &upstream) : mf_catalog_resolve_uri(uri, &upstream);
    session *s = r->s;
    sub *x = NULL;
    if (p)
        DL_FOREACH(s->subs, x) {
            if (!x->ls && x->provider == p && strcmp(x->upstream, upstream) == 0)
                break;
        }
    if (!on) {
        free(upstream);
        if (!x) {
            mf_reply_result(r, json_object());   /* nothing to undo */
            return;
        }
        DL_DELETE(s->subs, x);
        bool last = !mf_anyone_subscribed(x->provider, x->upstream, NULL);
        if (last)
            mf_forward(r, x->provider, method, json_pack("{s:s}", "uri", x->upstream));
        else
            mf_reply_result(r, json_object());
        mf_sub_free(x);
        return;
    }
    if (x) {
        free(upstream);
        mf_reply_result(r, json_object());
        return;
    }
    if (!p || !p->inst) {
        free(upstream);
        mf_reply_error(r, MF_RPC_RESOURCE_NOT_FOUND, json_pack("{s:s}", "uri", uri), false,
                    "Resource not found: %s", uri);
        return;
    }
    x = mf_xcalloc(1, sizeof *x);
    x->uri = mf_xstrdup(uri);
    x->provider = p;
    x->upstream = upstream;
    bool first = !mf_anyone_subscribed(p, upstream, NULL);
    DL_APPEND(s->subs, x);
    if (first)
        mf_forward(r, p, method, json_pack("{s:s}", "uri", upstream));
    else
        mf_reply_result(r, json_object());
}

static void on_updated(mf_provider *p, json_t *note)
{
    const char *uri = json_string_value(json_object_get(json_object_get(note, "params"), "uri"));
    if (!uri)
        return;
    session *s, *tmp;
    HASH_ITER(hh, mf_session_table(), s, tmp) {
        sub *x;
        DL_FOREACH(s->subs, x) {
            if (x->provider != p || strcmp(x->upstream, uri) != 0)
                continue;
            json_t *out = json_deep_copy(note);
            json_t *params = json_object_get(out, "params");
            json_object_set_new(params, "uri", json_string(x->uri));
            /* the upstream's own listen id, if it has one, is no client's */
            json_t *meta = json_object_get(params, "_meta");
            json_object_del(meta, MF_META_SUBSCRIPTION_ID);
            if (json_is_object(meta) && json_object_size(meta) == 0)
                json_object_del(params, "_meta");
            if (x->ls) {
                mf_listen_updated(x->ls, params);
                json_decref(out);
            } else {
                mf_send_to(s, MF_MSG_NOTIFY, 0, out);
            }
        }
    }
}

/* --- requests for clients --------------------------------------------------------------- */

void mf_answer_provider(mf_ep provider, uint64_t pcorr, json_t *json)
{
    mf_msg *m = mf_msg_new(MF_MSG_RESPONSE, mf_fed.sessions.self, provider, json);
    m->corr = pcorr;
    mf_send(m);
}

static void refuse_ask(mf_ep provider, uint64_t pcorr, int code, const char *why)
{
    mf_answer_provider(provider, pcorr, json_pack("{s:o}", "error", mf_rpc_error_body(code, "%s", why)));
}

static void relay_closed(uv_handle_t *h)
{
    relay *x = h->data;
    free(x->key);
    free(x->task);
    free(x);
}

void mf_relay_drop(relay *x)
{
    DL_DELETE(x->s->relays, x);
    uv_close((uv_handle_t *)&x->timer, relay_closed);
}

/* The client answered x, which collects input for a call or a task, with msg. */
static void collected(relay *x, json_t *msg)
{
    if (x->task)
        mf_tasks_collected(x->task, x->key, msg);
    else
        mf_mrtr_collected(x, msg);
}

static void on_relay_timeout(uv_timer_t *t)
{
    relay *x = t->data;
    if (x->collector || x->task) {
        json_t *e = json_pack("{s:o}", "error", mf_rpc_error_body(MF_RPC_TIMEOUT, "the client did not answer in time"));
        collected(x, e);
        json_decref(e);
    } else {
        refuse_ask(x->provider_ep, x->pcorr, MF_RPC_TIMEOUT, "the client did not answer in time");
    }
    mf_relay_drop(x);
}

relay *mf_relay_new(session *s, mf_ep provider_ep, uint64_t pcorr)
{
    relay *x = mf_xcalloc(1, sizeof *x);
    x->s = s;
    x->id = s->next_relay++;
    x->provider_ep = provider_ep;
    x->pcorr = pcorr;
    uv_timer_init(mf_loop(), &x->timer);
    x->timer.data = x;
    uv_timer_start(&x->timer, on_relay_timeout, (uint64_t)mf_fed.sessions.conf->request_timeout_ms, 0);
    DL_APPEND(s->relays, x);
    return x;
}

/* The client an upstream's request is for, or NULL with why. */
static session *attribute(mf_provider *p, uint64_t related, downreq **dout, const char **why)
{
    downreq *d = related ? mf_downreq_of_call(related) : NULL;
    if (d && d->provider == p) {
        *dout = d;
        return d->s;
    }
    *dout = NULL;
    session *one = NULL, *s, *tmp;
    int busy = 0;
    HASH_ITER(hh, mf_session_table(), s, tmp) {
        downreq *x;
        DL_FOREACH(s->reqs, x) {
            if (x->provider == p) {
                if (one != s)
                    busy++;
                one = s;
                *dout = x;
                break;
            }
        }
    }
    downreq *task = NULL;
    int tasks = mf_tasks_running_on(p, &task);   /* calls no client waits for count too */
    if (busy == 1 && !tasks) {
        if (*dout && mf_downreq_of_call((*dout)->corr) != *dout)
            *dout = NULL;
        return one;
    }
    *dout = NULL;
    if (!busy && tasks == 1) {
        *dout = task;
        return NULL;
    }
    if (!busy && !tasks && (*dout = mf_mrtr_only_suspended(p)))
        return NULL;   /* a 2026-07-28 call waiting for its client: it is the one */
    if (busy + tasks > 1) {
        *why = "several clients have calls under way on this server: the gateway cannot tell which "
               "one this request is for";
        return NULL;
    }
    /* nothing under way: the only client there is, if there is one */
    int count = 0;
    HASH_ITER(hh, mf_session_table(), s, tmp) {
        if (s->initialized) {
            count++;
            one = s;
        }
    }
    if (count == 1)
        return one;
    *why = count ? "several clients are connected and none has a call under way on this server: "
                   "the gateway cannot tell which one this request is for"
                 : "no client is connected";
    return NULL;
}

const char *mf_capability_for(const char *method)
{
    if (strcmp(method, "sampling/createMessage") == 0)
        return "sampling";
    if (strcmp(method, "elicitation/create") == 0)
        return "elicitation";
    if (strcmp(method, "roots/list") == 0)
        return "roots";
    return NULL;
}

static void on_ask(mf_provider *p, mf_msg *m)
{
    mf_ep from = m->src;
    const char *method = mf_rpc_method(m->json);
    char why[512];
    if (!method || !mf_capability_for(method)) {
        snprintf(why, sizeof why, "Method not found: %s", method ? method : "(none)");
        refuse_ask(from, m->corr, MF_RPC_METHOD_NOT_FOUND, why);
        return;
    }
    downreq *d = mf_tasks_call_named(p, m->json);
    if (d) {   /* it names its task: whatever else is under way on p */
        mf_cache_asked(p, d);
        mf_tasks_ask(d, from, m->corr, m->json);
        return;
    }
    const char *reason = NULL;
    session *s = attribute(p, m->related, &d, &reason);
    /* the call's answer is this client's alone; when the call is not known for sure, the
     * answer of any call on p may be */
    mf_cache_asked(p, m->related && d && mf_downreq_of_call(m->related) == d ? d : NULL);
    if (d && d->task) {   /* a task's call: the task collects the question */
        mf_tasks_ask(d, from, m->corr, m->json);
        return;
    }
    if (d && (d->modern || !s)) {
        /* 2026-07-28 takes no requests from servers: the call answers input-required */
        mf_mrtr_ask_modern(d, from, m->corr, m->json);
        return;
    }
    if (!s) {
        mf_warn("relay", "upstream request refused", "provider=%s method=%s reason=\"%s\"", p->conf->name,
                method, reason);
        refuse_ask(from, m->corr, MF_RPC_REFUSED, reason);
        return;
    }
    int code = mf_client_can_answer(s->client_caps, m->json, why, sizeof why);
    if (code) {
        refuse_ask(from, m->corr, code, why);
        return;
    }
    mf_elicit_track(p->conf->name, m->json, s);
    relay *x = mf_relay_new(s, from, m->corr);
    json_t *out = json_copy(m->json);
    json_object_set_new(out, "jsonrpc", json_string("2.0"));
    json_object_set_new(out, "id", json_integer((json_int_t)x->id));
    mf_send_to(s, MF_MSG_REQUEST, d ? d->tcorr : 0, out);
}

void mf_relay_response(session *s, json_t *msg)
{
    json_t *id = json_object_get(msg, "id");
    relay *x;
    DL_FOREACH(s->relays, x) {
        if (json_is_integer(id) && (uint64_t)json_integer_value(id) == x->id)
            break;
    }
    if (!x) {
        mf_debug("relay", "answer for no request", "session=%llu", (unsigned long long)s->id);
        return;
    }
    if (x->collector || x->task) {
        collected(x, msg);
        mf_relay_drop(x);
        return;
    }
    json_t *error = json_object_get(msg, "error");
    mf_answer_provider(x->provider_ep, x->pcorr,
                    error ? json_pack("{s:O}", "error", error)
                          : json_pack("{s:O}", "result", json_object_get(msg, "result") ?: json_null()));
    mf_relay_drop(x);
}

/* An upstream takes back a request it made of a client. */
static void on_upstream_cancel(mf_provider *p, json_t *note)
{
    json_t *rid = json_object_get(json_object_get(note, "params"), "requestId");
    if (!json_is_integer(rid))
        return;
    mf_ep ep = mf_instance_ep(p->inst);
    session *s, *tmp;
    HASH_ITER(hh, mf_session_table(), s, tmp) {
        relay *x;
        DL_FOREACH(s->relays, x) {
            if (x->provider_ep == ep && x->pcorr == (uint64_t)json_integer_value(rid)) {
                json_t *out = json_deep_copy(note);
                json_object_set_new(json_object_get(out, "params"), "requestId", json_integer((json_int_t)x->id));
                mf_send_to(s, MF_MSG_NOTIFY, 0, out);
                mf_relay_drop(x);
                return;
            }
        }
    }
}

/* --- routing what upstreams send ---------------------------------------------------------- */

void mf_session_from_upstream(mf_provider *p, mf_msg *m)
{
    const char *method = mf_rpc_method(m->json);
    if (m->kind == MF_MSG_REQUEST) {
        on_ask(p, m);
    } else if (m->kind == MF_MSG_NOTIFY && method) {
        if (strcmp(method, "notifications/progress") == 0)
            on_progress(p, m->json);
        else if (strcmp(method, "notifications/message") == 0)
            on_log(p, m->json, m->corr);
        else if (strcmp(method, "notifications/resources/updated") == 0)
            on_updated(p, m->json);
        else if (strcmp(method, "notifications/cancelled") == 0)
            on_upstream_cancel(p, m->json);
        else if (strcmp(method, "notifications/elicitation/complete") == 0)
            mf_elicit_complete(p->conf->name, m->json, m->corr);
        else if (strcmp(method, "notifications/tasks/status") == 0)
            mf_tasks_upstream_status(p, m->json);
        else
            mf_debug("relay", "upstream notification not forwarded", "provider=%s method=%s",
                     p->conf->name, method);
    }
    mf_msg_free(m);
}

void mf_relay_session_closed(session *s)
{
    mf_listen_session_closed(s);
    relay *x, *tmp;
    DL_FOREACH_SAFE(s->relays, x, tmp) {
        /* input collected for a call goes with the call, which the session cancels; a
         * task's call outlives the session, and ends with the question unanswered */
        if (x->task) {
            json_t *e = json_pack("{s:o}", "error", mf_rpc_error_body(MF_RPC_UNAVAILABLE, "the client went away"));
            collected(x, e);
            json_decref(e);
        } else if (!x->collector) {
            refuse_ask(x->provider_ep, x->pcorr, MF_RPC_UNAVAILABLE, "the client went away");
        }
        mf_relay_drop(x);
    }
    sub *y, *t2;
    DL_FOREACH_SAFE(s->subs, y, t2) {
        DL_DELETE(s->subs, y);
        if (!mf_anyone_subscribed(y->provider, y->upstream, NULL))
            mf_tell(y->provider, "resources/unsubscribe", json_pack("{s:s}", "uri", y->upstream));
        mf_sub_free(y);
    }
    int had = s->log_level;
    s->log_level = -1;
    if (had >= 0)
        update_upstream_levels();
}

void mf_session_provider_up(mf_provider *p)
{
    /* the new upstream session knows nothing of the old one's subscriptions */
    json_t *done = json_object();
    session *s, *tmp;
    HASH_ITER(hh, mf_session_table(), s, tmp) {
        sub *x;
        DL_FOREACH(s->subs, x) {
            if (x->provider == p && !json_object_get(done, x->upstream)) {
                json_object_set_new(done, x->upstream, json_true());
                mf_tell(p, "resources/subscribe", json_pack("{s:s}", "uri", x->upstream));
            }
        }
    }
    json_decref(done);
    update_upstream_levels();
}

void mf_session_provider_replaced(mf_provider *old, mf_provider *successor)
{
    session *s, *tmp;
    HASH_ITER(hh, mf_session_table(), s, tmp) {
        sub *x, *t2;
        DL_FOREACH_SAFE(s->subs, x, t2) {
            if (x->provider != old)
                continue;
            if (successor) {
                x->provider = successor;   /* subscribed upstream once it is up (mf_session_provider_up) */
            } else {
                DL_DELETE(s->subs, x);
                mf_sub_free(x);
            }
        }
    }
}
