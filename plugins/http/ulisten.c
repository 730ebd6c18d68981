/* What a 2026-07-28 upstream sends unasked, through a subscriptions/listen of ours.
 *
 * Revision 2026-07-28 has no GET stream and no resources/subscribe: a client opens a
 * long-lived subscriptions/listen with the notifications it wants. The provider keeps one,
 * asking for the list_changed notifications the upstream's capabilities announce and for
 * updates of the resources the kernel subscribed to. With replicas (`urls`) it is still
 * one per provider, on one ready replica of that era (the kernel subscribes once per
 * provider, and a client would hear of an update once per listen): when that replica is no
 * longer ready, or its listen ends, the listen is opened on another such replica if there
 * is one. The kernel keeps subscribing and unsubscribing as in the session era
 * (resources/subscribe and resources/unsubscribe, sent once per resource whatever the
 * number of clients): those requests are answered here, whichever 2026-07-28 replica they
 * were routed to, and change the provider's set of URIs; the listen is opened again with
 * the new set (on the next loop turn, so that a burst of changes opens it once). The old
 * one is closed, which ends it for the upstream.
 *
 * What comes on the stream goes to the kernel like what a session-era upstream sends on
 * its GET stream: list_changed makes the registry list again, resources/updated reaches
 * the clients subscribed (the kernel drops the upstream's subscription id). A listen that
 * ends (the upstream shut it, or the connection was lost) is opened again at once on
 * another ready replica, or after a second on the same one; one whose replica cannot be
 * reached makes that replica down, as a call would; one the upstream refuses with an error
 * is not opened again until the set of URIs changes. */
#include "client.h"

#include <stdlib.h>
#include <string.h>

#define REOPEN_MS 1000

static bool cap_true(const hrep *r, const char *kind, const char *flag)
{
    json_t *caps = json_object_get(json_object_get(r->init, "result"), "capabilities");
    if (!caps)   /* the discover answer is kept whole; an initialize result is not */
        caps = json_object_get(r->init, "capabilities");
    return json_is_true(json_object_get(json_object_get(caps, kind), flag));
}

static bool can_listen(const hrep *r)
{
    return r->era == ERA_MODERN && r->state == P_READY;
}

static bool quiet(const hprov *p)
{
    return p->stopping || p->saving || p->saved || p->draining;
}

/* The first ready 2026-07-28 replica after index `after` (cyclically, itself last). */
static hrep *listen_rep(hprov *p, int after)
{
    for (int k = 1; k <= p->nreps; k++) {
        hrep *r = &p->reps[((after + k) % p->nreps + p->nreps) % p->nreps];
        if (can_listen(r))
            return r;
    }
    return NULL;
}

void hp_listen_close(hprov *p)
{
    if (!p->listen)
        return;
    if (p->listen->req)
        hc_cancel(p->listen->req);
    hp_xchg_free(p->listen);   /* clears p->listen */
}

/* (Re)open the provider's listen on replica r. */
static void listen_open(hrep *r)
{
    hprov *p = r->p;
    if (!can_listen(r) || quiet(p))
        return;
    hp_listen_close(p);
    p->listen_stale = false;
    json_t *filter = json_object();
    if (cap_true(r, "tools", "listChanged"))
        json_object_set_new(filter, "toolsListChanged", json_true());
    if (cap_true(r, "prompts", "listChanged"))
        json_object_set_new(filter, "promptsListChanged", json_true());
    if (cap_true(r, "resources", "listChanged"))
        json_object_set_new(filter, "resourcesListChanged", json_true());
    if (cap_true(r, "resources", "subscribe") && json_object_size(p->listen_uris)) {
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
    p->listen = hp_post_modern(r, X_LISTEN, req, 0);
    json_decref(req);
    if (!p->listen)
        mf_warn("http", "cannot open subscriptions/listen upstream", "provider=%s target=%d", hp_name(p),
                r->index + 1);
    else
        mf_debug("http", "listening upstream", "provider=%s id=%s resources=%zu target=%d", hp_name(p), id,
                 json_object_size(p->listen_uris), r->index + 1);
}

void hp_listen_ensure(hrep *r)
{
    hprov *p = r->p;
    if (p->listen && !p->listen_stale)
        return;   /* one per provider, whatever the number of replicas */
    listen_open(r);
}

/* Open the listen again on a later turn (coalescing changes), or after a pause, on the
 * first ready replica of that era after index `after` (the timer of that replica's). */
static void reopen_later(hprov *p, uint64_t ms, int after)
{
    if (quiet(p))
        return;   /* a successor opens its own; a resumed instance opens it again */
    hrep *r = listen_rep(p, after);
    if (!r)
        return;   /* the next replica that becomes ready opens it */
    r->timer_for_get = true;   /* hp_open_get: for this era, the listen */
    uv_timer_start(&r->timer, hp_on_timer, ms, 0);
}

void hp_listen_lost(hrep *r)
{
    hprov *p = r->p;
    bool carried = p->listen && p->listen->r == r;
    bool pending = r->era == ERA_MODERN && r->timer_for_get && uv_is_active((uv_handle_t *)&r->timer);
    if (!carried && !pending)
        return;
    if (carried) {
        mf_debug("http", "the listen's replica is down; listening on another", "provider=%s target=%d",
                 hp_name(p), r->index + 1);
        hp_listen_close(p);
    }
    reopen_later(p, 0, r->index);   /* r is not ready: another one, if any */
}

bool hp_listen_request(hrep *r, mf_msg *m)
{
    hprov *p = r->p;
    const char *method = mf_rpc_method(m->json);
    bool on = strcmp(method, "resources/subscribe") == 0;
    if (!on && strcmp(method, "resources/unsubscribe") != 0)
        return false;
    const char *uri = json_string_value(json_object_get(json_object_get(m->json, "params"), "uri"));
    mf_ep self = mf_instance_ep(p->inst);
    mf_msg *out;
    if (!uri) {
        out = mf_msg_reply_error(m, self, MF_RPC_INVALID_PARAMS, "%s: params.uri must be a string", method);
    } else if (on && !cap_true(r, "resources", "subscribe")) {
        out = mf_msg_reply_error(m, self, MF_RPC_METHOD_NOT_FOUND,
                                 "provider %s: the upstream does not offer resource subscriptions", hp_name(p));
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
            p->listen_stale = true;
            /* on the replica that carries it, if it does */
            reopen_later(p, 0, p->listen ? p->listen->r->index - 1 : -1);
        }
        out = mf_msg_reply(m, self, json_pack("{s:s,s:i,s:{}}", "jsonrpc", "2.0", "id", 0, "result"));
    }
    mf_send(out);
    mf_msg_free(m);
    return true;
}

bool hp_listen_done(hrep *r, xchg *x, CURLcode rc)
{
    hprov *p = r->p;
    if (p->listen != x)
        return false;
    p->listen = NULL;   /* x is the caller's to free */
    if (p->stopping || p->draining)
        return false;
    if (rc == CURLE_OK && !x->sse) {
        /* an answer without a stream: refused (or ended before it began) */
        mf_warn("http", "the upstream refused subscriptions/listen", "provider=%s status=%ld target=%d", hp_name(p),
                x->status, r->index + 1);
        p->listen_refused = true;
        return true;
    }
    hrep *next = listen_rep(p, r->index);
    mf_debug("http", "upstream listen ended; opening it again", "provider=%s target=%d on=%d", hp_name(p),
             r->index + 1, next ? next->index + 1 : 0);
    reopen_later(p, next && next != r ? 0 : REOPEN_MS, r->index);
    return true;
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
