/* What a 2026-07-28 upstream sends unasked, through a subscriptions/listen of ours.
 *
 * Revision 2026-07-28 has no GET stream and no resources/subscribe: a client opens a
 * long-lived subscriptions/listen with the notifications it wants. The provider keeps one
 * per upstream, asking for the list_changed notifications the upstream's capabilities
 * announce and for updates of the resources the kernel subscribed to. The kernel keeps
 * subscribing and unsubscribing as in the session era (resources/subscribe and
 * resources/unsubscribe, sent once per resource whatever the number of clients): those
 * requests are answered here and change the set of URIs, and the listen is opened again
 * with the new set (on the next loop turn, so that a burst of changes opens it once). The
 * old one is closed, which ends it for the upstream.
 *
 * What comes on the stream goes to the kernel like what a session-era upstream sends on
 * its GET stream: list_changed makes the registry list again, resources/updated reaches
 * the clients subscribed (the kernel drops the upstream's subscription id). A listen that
 * ends (the upstream shut it, or the connection was lost) is opened again after a second;
 * one the upstream refuses with an error is not, until the set of URIs changes. */
#include "client.h"

#include <stdlib.h>
#include <string.h>

#define REOPEN_MS 1000

static bool cap_true(const hprov *p, const char *kind, const char *flag)
{
    json_t *caps = json_object_get(json_object_get(p->init, "result"), "capabilities");
    if (!caps)   /* the discover answer is kept whole; an initialize result is not */
        caps = json_object_get(p->init, "capabilities");
    return json_is_true(json_object_get(json_object_get(caps, kind), flag));
}

void hp_listen_close(hprov *p)
{
    if (!p->listen)
        return;
    if (p->listen->req)
        hc_cancel(p->listen->req);
    hp_xchg_free(p->listen);   /* clears p->listen */
}

void hp_listen_open(hprov *p)
{
    if (p->era != ERA_MODERN || p->state != P_READY || p->saving || p->saved || p->draining)
        return;
    hp_listen_close(p);
    json_t *filter = json_object();
    if (cap_true(p, "tools", "listChanged"))
        json_object_set_new(filter, "toolsListChanged", json_true());
    if (cap_true(p, "prompts", "listChanged"))
        json_object_set_new(filter, "promptsListChanged", json_true());
    if (cap_true(p, "resources", "listChanged"))
        json_object_set_new(filter, "resourcesListChanged", json_true());
    if (cap_true(p, "resources", "subscribe") && json_object_size(p->listen_uris)) {
        json_t *uris = json_array();
        const char *uri;
        json_t *v;
        json_object_foreach(p->listen_uris, uri, v) json_array_append_new(uris, json_string(uri));
        json_object_set_new(filter, "resourceSubscriptions", uris);
    }
    if (json_object_size(filter) == 0 || p->listen_refused) {
        json_decref(filter);
        return;   /* nothing to listen for */
    }
    char id[48];
    snprintf(id, sizeof id, "mcpfed-listen-%lld", (long long)p->next_id++);
    json_t *req = json_pack("{s:s,s:s,s:s,s:{s:o}}", "jsonrpc", "2.0", "id", id, "method",
                            "subscriptions/listen", "params", "notifications", filter);
    p->listen = hp_post_modern(p, X_LISTEN, req, 0);
    json_decref(req);
    if (!p->listen)
        mf_warn("http", "cannot open subscriptions/listen upstream", "provider=%s", hp_name(p));
    else
        mf_debug("http", "listening upstream", "provider=%s id=%s resources=%zu", hp_name(p), id,
                 json_object_size(p->listen_uris));
}

/* Open the listen again on a later turn (coalescing changes), or after a pause. */
static void reopen_later(hprov *p, uint64_t ms)
{
    if (p->state != P_READY || p->saving || p->saved || p->draining)
        return;   /* connecting opens it when ready; a successor opens its own */
    p->timer_for_get = true;
    uv_timer_start(&p->timer, hp_on_timer, ms, 0);
}

bool hp_listen_request(hprov *p, mf_msg *m)
{
    const char *method = mf_rpc_method(m->json);
    bool on = strcmp(method, "resources/subscribe") == 0;
    if (!on && strcmp(method, "resources/unsubscribe") != 0)
        return false;
    const char *uri = json_string_value(json_object_get(json_object_get(m->json, "params"), "uri"));
    mf_ep self = mf_instance_ep(p->inst);
    if (!uri) {
        mf_send(mf_msg_reply_error(m, self, MF_RPC_INVALID_PARAMS, "%s: params.uri must be a string", method));
    } else if (on && !cap_true(p, "resources", "subscribe")) {
        mf_send(mf_msg_reply_error(m, self, MF_RPC_METHOD_NOT_FOUND,
                                   "provider %s: the upstream does not offer resource subscriptions", hp_name(p)));
    } else {
        if (!p->listen_uris)
            p->listen_uris = json_object();
        bool had = json_object_get(p->listen_uris, uri) != NULL;
        if (on)
            json_object_set_new(p->listen_uris, uri, json_true());
        else
            json_object_del(p->listen_uris, uri);
        if (had != on) {
            p->listen_refused = false;
            reopen_later(p, 0);
        }
        mf_send(mf_msg_reply(m, self, json_pack("{s:s,s:i,s:{}}", "jsonrpc", "2.0", "id", 0, "result")));
    }
    mf_msg_free(m);
    return true;
}

void hp_listen_done(hprov *p, xchg *x, CURLcode rc)
{
    if (p->listen != x || p->state != P_READY || p->draining)
        return;
    if (rc == CURLE_OK && !x->sse) {
        /* an answer without a stream: refused (or ended before it began) */
        mf_warn("http", "the upstream refused subscriptions/listen", "provider=%s status=%ld", hp_name(p),
                x->status);
        p->listen_refused = true;
        return;
    }
    mf_debug("http", "upstream listen ended; opening it again", "provider=%s", hp_name(p));
    reopen_later(p, REOPEN_MS);
}

void hp_listen_save(const hprov *p, json_t *state)
{
    if (p->listen_uris)
        json_object_set(state, "listen_uris", p->listen_uris);
}

void hp_listen_adopt(hprov *p, const json_t *state)
{
    json_t *uris = json_object_get(state, "listen_uris");
    if (json_is_object(uris))
        p->listen_uris = json_deep_copy(uris);
}
