/* subscriptions/listen, the notification streams of revision 2026-07-28.
 *
 * A listen is a request that stays open: it is acknowledged at once with the part of its
 * filter the gateway honours (notifications/subscriptions/acknowledged), then carries the
 * notifications the client opted into, each tagged with the listen's id in
 * _meta["io.modelcontextprotocol/subscriptionId"], on the request's own stream (an HTTP
 * POST's SSE answer; on stdio, lines like any other). It ends when the client cancels it
 * (notifications/cancelled on stdio; over HTTP the connection closes, and with it the
 * request's kernel session), and when the gateway shuts down, with the complete result.
 *
 * The list-changed flags follow the federated catalog, whatever era the upstreams speak.
 * Resource subscriptions are public URIs; each is a subscription of the session (relay.c
 * keeps them with the session era's, owned by the listen), so the upstream is subscribed
 * while any client of either era is, and what it sends comes back under the URI the
 * client named.
 *
 * Task status (the tasks extension) is followed per task: notifications.taskIds names the
 * tasks, and only those the caller may reach (the rule of tasks/get) are honoured, so a
 * stream never learns of another caller's task. */
#include "build-config.h"
#include "listen.h"
#include "view.h"
#include "relay.h"
#include "tasks.h"

#include <stdlib.h>
#include <string.h>

static const char *const flags[] = {"toolsListChanged", "promptsListChanged", "resourcesListChanged"};
static const mf_kind flag_kind[] = {MF_KIND_TOOLS, MF_KIND_PROMPTS, MF_KIND_RESOURCES};
#define NFLAGS 3

static bool offers_subscribe(const mf_provider *p)
{
    json_t *res = json_object_get(json_object_get(p->init, "capabilities"), "resources");
    return json_is_true(json_object_get(res, "subscribe"));
}

/* A notification on l's stream: tagged with its id. params stays the caller's. */
static void deliver(lstream *l, const char *method, json_t *params)
{
    json_t *p = json_is_object(params) ? json_deep_copy(params) : json_object();
    json_t *meta = json_object_get(p, "_meta");
    meta = json_is_object(meta) ? json_copy(meta) : json_object();
    json_object_set(meta, MF_META_SUBSCRIPTION_ID, l->id);
    json_object_set_new(p, "_meta", meta);
    mf_send_to(l->s, MF_MSG_NOTIFY, l->tcorr,
            json_pack("{s:s,s:s,s:o}", "jsonrpc", "2.0", "method", method, "params", p));
}

void mf_listen_updated(lstream *l, json_t *params) { deliver(l, "notifications/resources/updated", params); }

void mf_listen_open(const rctx *r, json_t *params)
{
    json_t *want = json_object_get(params, "notifications");
    if (want && !json_is_object(want)) {
        mf_reply_error(r, MF_RPC_INVALID_PARAMS, NULL, false,
                    "subscriptions/listen: params.notifications must be an object");
        return;
    }
    json_t *uris = json_object_get(want, "resourceSubscriptions");
    if (uris && !json_is_array(uris)) {
        mf_reply_error(r, MF_RPC_INVALID_PARAMS, NULL, false,
                    "subscriptions/listen: notifications.resourceSubscriptions must be an array of URIs");
        return;
    }
    size_t i;
    json_t *u;
    json_array_foreach(uris, i, u) {
        if (!json_is_string(u)) {
            mf_reply_error(r, MF_RPC_INVALID_PARAMS, NULL, false,
                        "subscriptions/listen: notifications.resourceSubscriptions must be an array of URIs");
            return;
        }
        if (mf_refuse_nul(r, "subscriptions/listen", u, "a URI of notifications.resourceSubscriptions"))
            return;
    }
    json_t *task_ids = json_object_get(want, "taskIds");
    bool ids_ok = !task_ids || json_is_array(task_ids);
    json_array_foreach(task_ids, i, u) ids_ok = ids_ok && json_is_string(u);
    if (!ids_ok) {
        mf_reply_error(r, MF_RPC_INVALID_PARAMS, NULL, false,
                    "subscriptions/listen: notifications.taskIds must be an array of task ids");
        return;
    }
    if (json_array_size(uris) && !mf_registry_settled()) {
        /* which upstream has a URI, and whether it takes subscriptions, is known once
         * every provider came up (or failed): wait for that */
        mf_park(r->s, r->msg, r->tcorr);
        return;
    }
    session *s = r->s;
    lstream *l = mf_xcalloc(1, sizeof *l);
    l->s = s;
    l->id = json_incref(r->id);
    l->tcorr = r->tcorr;
    json_t *honoured = json_object();
    for (int k = 0; k < NFLAGS; k++) {
        l->lists[k] = json_is_true(json_object_get(want, flags[k]));
        if (l->lists[k])
            json_object_set_new(honoured, flags[k], json_true());
    }
    json_t *taken = json_array();
    json_array_foreach(uris, i, u) {
        const char *uri = json_string_value(u);
        char *upstream = NULL;
        mf_provider *p = mf_view_resolve_uri(r, uri, &upstream);
        if (!p || !p->inst || !offers_subscribe(p)) {
            mf_debug("listen", "resource subscription not honoured", "session=%llu uri=%s",
                     (unsigned long long)s->id, mf_log_esc(uri, (size_t)-1));
            free(upstream);
            continue;
        }
        sub *x;
        DL_FOREACH(s->subs, x) {
            if (x->ls == l && x->provider == p && strcmp(x->upstream, upstream) == 0)
                break;
        }
        json_array_append(taken, u);
        if (x) {   /* the same resource named twice */
            free(upstream);
            continue;
        }
        x = mf_xcalloc(1, sizeof *x);
        x->uri = mf_xstrdup(uri);
        x->provider = p;
        x->upstream = upstream;
        x->ls = l;
        bool first = !mf_anyone_subscribed(p, upstream, NULL);
        DL_APPEND(s->subs, x);
        if (first)
            mf_tell(p, "resources/subscribe", json_pack("{s:s}", "uri", upstream));
    }
    if (json_array_size(taken))
        json_object_set_new(honoured, "resourceSubscriptions", taken);
    else
        json_decref(taken);
    l->tasks = json_array();
    char *owner = mf_task_owner(s, true);
    json_array_foreach(task_ids, i, u) {
        if (mf_task_find(json_string_value(u), owner))
            json_array_append(l->tasks, u);
    }
    free(owner);
    if (json_array_size(l->tasks))
        json_object_set(honoured, "taskIds", l->tasks);
    DL_APPEND(s->listens, l);
    mf_info("listen", "opened", "session=%llu lists=%s%s%s resources=%zu tasks=%zu", (unsigned long long)s->id,
            l->lists[0] ? "t" : "-", l->lists[1] ? "p" : "-", l->lists[2] ? "r" : "-",
            json_array_size(json_object_get(honoured, "resourceSubscriptions")), json_array_size(l->tasks));
    json_t *ack = json_pack("{s:o}", "notifications", honoured);
    deliver(l, "notifications/subscriptions/acknowledged", ack);   /* deliver copies what it is lent */
    json_decref(ack);
}

/* Forget l and the subscriptions it made; the upstream is unsubscribed from what nobody
 * else wants. With graceful, the client is told it is over (the complete result). */
static void listen_end(lstream *l, bool graceful)
{
    session *s = l->s;
    sub *x, *tmp;
    DL_FOREACH_SAFE(s->subs, x, tmp) {
        if (x->ls != l)
            continue;
        DL_DELETE(s->subs, x);
        if (!mf_anyone_subscribed(x->provider, x->upstream, NULL))
            mf_tell(x->provider, "resources/unsubscribe", json_pack("{s:s}", "uri", x->upstream));
        mf_sub_free(x);
    }
    if (graceful) {
        json_t *result = mf_modern_result(NULL);
        json_object_set(json_object_get(result, "_meta"), MF_META_SUBSCRIPTION_ID, l->id);
        mf_send_to(s, MF_MSG_RESPONSE, l->tcorr, mf_rpc_result(l->id, result));
    }
    mf_debug("listen", "ended", "session=%llu graceful=%d", (unsigned long long)s->id, graceful);
    DL_DELETE(s->listens, l);
    json_decref(l->id);
    json_decref(l->tasks);
    free(l);
}

bool mf_listen_cancel(session *s, json_t *request_id)
{
    lstream *l;
    DL_FOREACH(s->listens, l) {
        if (json_equal(l->id, request_id)) {
            listen_end(l, false);
            return true;
        }
    }
    return false;
}

void mf_listen_session_closed(session *s)
{
    while (s->listens)
        listen_end(s->listens, false);
}

void mf_listen_list_changed(session *s, int kind, json_t *note)
{
    lstream *l;
    DL_FOREACH(s->listens, l) {
        for (int k = 0; k < NFLAGS; k++)
            if (l->lists[k] && (int)flag_kind[k] == (kind == MF_KIND_TEMPLATES ? MF_KIND_RESOURCES : kind))
                deliver(l, json_string_value(json_object_get(note, "method")), json_object_get(note, "params"));
    }
}

void mf_listen_task(const char *task_id, json_t *task)
{
    session *s, *tmp;
    HASH_ITER(hh, mf_session_table(), s, tmp) {
        lstream *l;
        DL_FOREACH(s->listens, l) {
            size_t i;
            json_t *id;
            json_array_foreach(l->tasks, i, id) {
                if (strcmp(json_string_value(id), task_id) == 0) {
                    deliver(l, "notifications/tasks", task);
                    break;
                }
            }
        }
    }
}

size_t mf_session_end_listens(void)
{
    size_t n = 0;
    session *s, *tmp;
    HASH_ITER(hh, mf_session_table(), s, tmp) {
        while (s->listens) {
            listen_end(s->listens, true);
            n++;
        }
    }
    if (n)
        mf_info("listen", "ended for shutdown", "listens=%zu", n);
    return n;
}
