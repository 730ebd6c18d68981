/* The session layer.
 *
 * A transport opens a session per downstream client and hands every message it reads to
 * the "session" endpoint, tagged with the session. This layer answers the lifecycle
 * (initialize, ping, server/discover), the lists (from the catalog, in pages with cursors
 * it mints), and forwards the rest to the provider that owns the tool, prompt or resource
 * (forward.c). Each request gets exactly one answer: the provider's, a timeout, or an
 * error saying why not; a cancelled request gets none, and its transport an MF_MSG_CANCEL
 * saying so.
 *
 * A request is of revision 2026-07-28 when its params._meta names a protocol version (and
 * server/discover always is): it needs no session, its envelope is checked, and its
 * answer says resultType. Everything else is the session era. */
#include "build-config.h"
#include "downstream.h"
#include "forward.h"
#include "relay.h"
#include "listen.h"
#include "mrtr.h"
#include "cursor.h"
#include "view.h"
#include "router.h"
#include "param_headers.h"
#include "names.h"
#include "swap.h"
#include "federation.h"
#include "park.h"
#include "elicit.h"
#include "tasks.h"
#include "trace.h"
#include "stats.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SES (mf_fed.sessions)

const char *const mf_protocol_versions[] = {"2025-11-25", "2025-06-18", "2025-03-26",
                                            "2024-11-05", NULL};
/* Revisions without a session: each request carries its version in params._meta. */
static const char *const modern_versions[] = {MF_PROTOCOL_MODERN, NULL};

mf_ep mf_kernel_ep(void) { return SES.self; }
size_t mf_session_count(void) { return HASH_COUNT(SES.all); }
session *mf_session_table(void) { return SES.all; }

session *mf_session_find(uint64_t id)
{
    session *s;
    HASH_FIND(hh, SES.all, &id, sizeof id, s);
    return s;
}

void mf_send_to(session *s, mf_msg_kind kind, uint64_t tcorr, json_t *json)
{
    if (kind == MF_MSG_RESPONSE)
        mf_stats_request_out(s, tcorr, json);
    mf_msg *m = mf_msg_new(kind, SES.self, s->transport, json);
    m->session = s->id;
    m->corr = tcorr;
    mf_send(m);
}

/* The subject a session acts for, for logs and the admin. */
static const char *session_subject(const session *s)
{
    const char *who = json_string_value(json_object_get(s->identity, "subject"));
    return who ? who : "anonymous";
}

/* --- answering ----------------------------------------------------------------------- */

static json_t *server_info(void)
{
    return json_pack("{s:s,s:s}", "name", "mcpfed", "version", PACKAGE_VERSION);
}

/* result (left to the caller) as a 2026-07-28 result: a copy with resultType and the
 * server's _meta. */
json_t *mf_modern_result(json_t *result)
{
    json_t *r = json_is_object(result) ? json_copy(result) : json_object();
    if (!json_object_get(r, "resultType"))
        json_object_set_new(r, "resultType", json_string("complete"));
    json_t *meta = json_object_get(r, "_meta");
    meta = json_is_object(meta) ? json_copy(meta) : json_object();
    json_object_set_new(meta, MF_META_SERVER_INFO, server_info());
    json_object_set_new(r, "_meta", meta);
    return r;
}

/* Lists and discovery are cacheable results in 2026-07-28; the catalog can change at any
 * time, so clients are told to check again each time. */
static json_t *cacheable(json_t *result)
{
    json_object_set_new(result, "ttlMs", json_integer(0));
    json_object_set_new(result, "cacheScope", json_string("private"));
    return result;
}

void mf_reply_result(const rctx *r, json_t *result)
{
    if (r->modern) {
        json_t *m = mf_modern_result(result);
        json_decref(result);
        result = m;
    }
    mf_send_to(r->s, MF_MSG_RESPONSE, r->tcorr, mf_rpc_result(r->id, result));
}

__attribute__((format(printf, 5, 0)))
static void reply_error(const rctx *r, int code, json_t *data, uint32_t flags, const char *fmt, va_list ap)
{
    char text[512];
    vsnprintf(text, sizeof text, fmt, ap);
    mf_trace_request_error(code, text);
    mf_msg *m = mf_msg_new(MF_MSG_RESPONSE, SES.self, r->s->transport,
                           mf_rpc_error(r->id, code, text, data));
    mf_stats_request_out(r->s, r->tcorr, m->json);
    m->session = r->s->id;
    m->corr = r->tcorr;
    m->flags = flags;
    mf_send(m);
}

void mf_reply_error(const rctx *r, int code, json_t *data, bool malformed, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    reply_error(r, code, data, malformed ? MF_MSGF_MALFORMED : 0, fmt, ap);
    va_end(ap);
}

void mf_reply_error_flags(const rctx *r, int code, json_t *data, uint32_t flags, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    reply_error(r, code, data, flags, fmt, ap);
    va_end(ap);
}

bool mf_refuse_nul(const rctx *r, const char *method, const json_t *v, const char *field)
{
    if (!json_is_string(v) || mf_name_text(v))
        return false;
    mf_reply_error(r, MF_RPC_INVALID_PARAMS, NULL, false, "%s: %s holds a NUL character, which no name or URI has",
                method, field);
    return true;
}

/* Until every provider listed its catalog once, requests that depend on it wait. */
void mf_park(session *s, json_t *msg, uint64_t tcorr)
{
    downreq *d = mf_xcalloc(1, sizeof *d);
    d->s = s;
    d->id = json_incref(json_object_get(msg, "id"));
    d->msg = json_incref(msg);
    d->tcorr = tcorr;
    DL_APPEND(SES.parked, d);
}

static json_t *all_versions(void)
{
    json_t *v = json_array();
    for (const char *const *p = modern_versions; *p; p++)
        json_array_append_new(v, json_string(*p));
    for (const char *const *p = mf_protocol_versions; *p; p++)
        json_array_append_new(v, json_string(*p));
    return v;
}

/* What the federation offers: tools always (mcpfed serves the list, empty or not), and
 * each other capability when a provider has offered it (the last time it started, so a
 * provider down for a moment still counts). The lists change as providers come and go,
 * so listChanged is always offered. */
static json_t *server_capabilities(const session *s)
{
    bool prompts = false, resources = false, subscribe = false, logging = false, completions = false;
    size_t n;
    mf_provider **ps = mf_registry_providers(&n);
    for (size_t i = 0; i < n; i++) {
        if (!mf_view_serves(s, ps[i]))
            continue;   /* a curated endpoint offers what its providers do */
        prompts |= mf_provider_offers(ps[i], "prompts");
        resources |= mf_provider_offers(ps[i], "resources");
        logging |= mf_provider_offers(ps[i], "logging");
        completions |= mf_provider_offers(ps[i], "completions");
        json_t *r = json_object_get(json_object_get(ps[i]->init, "capabilities"), "resources");
        subscribe |= json_is_true(json_object_get(r, "subscribe"));
    }
    json_t *caps = json_pack("{s:{s:b}}", "tools", "listChanged", 1);
    if (prompts)
        json_object_set_new(caps, "prompts", json_pack("{s:b}", "listChanged", 1));
    if (resources)
        json_object_set_new(caps, "resources", json_pack("{s:b,s:b}", "subscribe", subscribe, "listChanged", 1));
    if (logging)
        json_object_set_new(caps, "logging", json_object());
    if (completions)
        json_object_set_new(caps, "completions", json_object());
    return caps;
}

/* The upstreams' instructions, each under its provider's name. */
static json_t *instructions(const session *s)
{
    size_t n;
    mf_provider **ps = mf_registry_providers(&n);
    char *text = NULL;
    size_t len = 0;
    for (size_t i = 0; i < n; i++) {
        if (!mf_view_serves(s, ps[i]))
            continue;
        const char *in = json_string_value(json_object_get(ps[i]->init, "instructions"));
        if (!in || !*in)
            continue;
        size_t add = strlen(ps[i]->conf->name) + strlen(in) + 8;
        text = mf_xrealloc(text, len + add);
        len += (size_t)snprintf(text + len, add, "%s%s: %s", len ? "\n\n" : "", ps[i]->conf->name, in);
    }
    json_t *j = text ? json_string(text) : NULL;
    free(text);
    return j;
}

/* --- lifecycle ------------------------------------------------------------------ */

static void on_initialize(const rctx *r, json_t *params)
{
    session *s = r->s;
    /* the capabilities and instructions come from the providers: wait (bounded by
     * catalog_wait_ms) until each has started once */
    if (!mf_registry_settled()) {
        mf_park(r->s, r->msg, r->tcorr);
        return;
    }
    const char *asked = json_string_value(json_object_get(params, "protocolVersion"));
    if (!asked) {
        mf_reply_error(r, MF_RPC_INVALID_PARAMS, NULL, false,
                    "initialize: params.protocolVersion must be a string");
        return;
    }
    /* the client's version when we speak it, else our newest: the client decides then */
    const char *chosen = mf_protocol_versions[0];
    for (const char *const *v = mf_protocol_versions; *v; v++)
        if (strcmp(*v, asked) == 0)
            chosen = *v;
    snprintf(s->protocol, sizeof s->protocol, "%s", chosen);
    json_decref(s->client_info);
    json_decref(s->client_caps);
    s->client_info = json_incref(json_object_get(params, "clientInfo"));
    json_t *caps = json_object_get(params, "capabilities");
    s->client_caps = json_is_object(caps) ? json_incref(caps) : json_object();
    const char *cname = json_string_value(json_object_get(s->client_info, "name"));
    mf_info("session", "initialize", "session=%llu peer=%s subject=\"%s\" client=\"%s\" protocol=%s",
            (unsigned long long)s->id, s->peer, mf_log_esc(session_subject(s), (size_t)-1),
            mf_log_esc(cname, (size_t)-1), chosen);
    json_t *offered = server_capabilities(s);
    if (strcmp(chosen, "2025-11-25") == 0)   /* tasks came with that revision */
        mf_tasks_capabilities(offered, false);
    json_t *result = json_pack("{s:s,s:o,s:o}", "protocolVersion", chosen, "capabilities", offered, "serverInfo",
                               server_info());
    json_t *in = instructions(s);
    if (in)
        json_object_set_new(result, "instructions", in);
    mf_reply_result(r, result);
}

static void on_discover(const rctx *r)
{
    if (!mf_registry_settled()) {
        mf_park(r->s, r->msg, r->tcorr);
        return;
    }
    json_t *caps = server_capabilities(r->s);
    mf_tasks_capabilities(caps, true);
    json_t *result = json_pack("{s:o,s:o}", "supportedVersions", all_versions(), "capabilities", caps);
    json_t *in = instructions(r->s);
    if (in)
        json_object_set_new(result, "instructions", in);
    mf_reply_result(r, cacheable(result));
}

/* Check the per-request envelope of revision 2026-07-28; answer and return false when it
 * is unusable. */
static bool envelope_ok(const rctx *r, json_t *params)
{
    json_t *meta = json_object_get(params, "_meta");
    const char *version = json_string_value(json_object_get(meta, MF_META_PROTOCOL_VERSION));
    if (!version) {
        mf_reply_error(r, MF_RPC_INVALID_PARAMS, NULL, true,
                    "Invalid _meta envelope: " MF_META_PROTOCOL_VERSION " must be a string");
        return false;
    }
    bool known = false;
    for (const char *const *v = modern_versions; *v && !known; v++)
        known = strcmp(*v, version) == 0;
    if (!known) {
        mf_reply_error(r, MF_RPC_UNSUPPORTED_VERSION,
                    json_pack("{s:o,s:s}", "supported", all_versions(), "requested", version), true,
                    "Unsupported protocol version: %s", version);
        return false;
    }
    if (!json_is_object(json_object_get(meta, MF_META_CLIENT_CAPABILITIES))) {
        mf_reply_error(r, MF_RPC_INVALID_PARAMS, NULL, true,
                    "Invalid _meta envelope for protocol revision %s: " MF_META_CLIENT_CAPABILITIES
                    ": missing", version);
        return false;
    }
    json_t *info = json_object_get(meta, MF_META_CLIENT_INFO);
    if (info && !json_is_object(info)) {
        mf_reply_error(r, MF_RPC_INVALID_PARAMS, NULL, true,
                    "Invalid _meta envelope: " MF_META_CLIENT_INFO " must be an object");
        return false;
    }
    return true;
}

/* --- lists ------------------------------------------------------------------------ */

static void on_list(const rctx *r, mf_kind k, json_t *params)
{
    json_t *cursor = json_object_get(params, "cursor");
    size_t offset = 0;
    uint64_t gen = mf_view_stamp(r->s, k);   /* cursors page through this caller's view */
    if (cursor && !json_is_null(cursor)) {
        const char *why = "a cursor must be a string";
        if (!json_is_string(cursor) ||
            mf_cursor_check(json_string_value(cursor), k, gen, &offset, &why) != 0) {
            mf_reply_error(r, MF_RPC_INVALID_PARAMS, NULL, false, "%s: invalid cursor: %s",
                        mf_kinds[k].list_method, why);
            return;
        }
    }
    if (!mf_registry_settled()) {
        mf_park(r->s, r->msg, r->tcorr);
        return;
    }
    json_t *items = mf_view_items(r, k);
    size_t total = json_array_size(items), size = (size_t)SES.conf->page_size;
    json_t *result;
    if (offset == 0 && total <= size) {
        result = json_pack("{s:O}", mf_kinds[k].result_key, items);   /* shared, not copied */
    } else {
        json_t *page = json_array();
        for (size_t i = offset; i < total && i < offset + size; i++)
            json_array_append(page, json_array_get(items, i));
        result = json_pack("{s:o}", mf_kinds[k].result_key, page);
        if (offset + size < total) {
            char *next = mf_cursor_mint(k, gen, offset + size);
            json_object_set_new(result, "nextCursor", json_string(next));
            free(next);
        }
    }
    mf_reply_result(r, r->modern ? cacheable(result) : result);
}

/* --- routed requests -------------------------------------------------------------- */

/* The entry a request names, or an answer saying it is unknown (or parked until the
 * catalog is complete). */
static const mf_entry *named(const rctx *r, mf_kind k, const char *method, const json_t *v,
                             const char *field, const char *what)
{
    if (mf_refuse_nul(r, method, v, field))
        return NULL;
    const char *name = json_string_value(v);
    if (!name) {
        mf_reply_error(r, MF_RPC_INVALID_PARAMS, NULL, false, "%s: params.name must be a string", method);
        return NULL;
    }
    const mf_entry *e = mf_catalog_find(k, name);
    if (e && !mf_view_allows(r, k, e))
        e = NULL;   /* what the caller may not see is unknown to it */
    if (!e && !mf_registry_settled()) {
        mf_park(r->s, r->msg, r->tcorr);
        return NULL;
    }
    if (!e || !e->provider->inst) {
        mf_reply_error(r, MF_RPC_INVALID_PARAMS, NULL, false, "Unknown %s: %s", what, name);
        return NULL;
    }
    return e;
}

static void by_name(const rctx *r, mf_kind k, const char *method, json_t *params, const char *what)
{
    if (r->modern && mf_mrtr_resume(r, params))
        return;
    const mf_entry *e = named(r, k, method, r->name, "params.name", what);
    if (!e)
        return;
    rctx rt = *r;
    if (k == MF_KIND_TOOLS) {
        rt.tool = e->item;
        /* over HTTP the transport passes the Mcp-Param-* headers it was sent */
        json_t *given = json_object_get(r->msg, "paramHeaders");
        char why[300];
        if (r->modern && json_is_object(given) &&
            !mf_param_headers_agree(e->item, json_object_get(params, "arguments"), given, why, sizeof why)) {
            mf_reply_error(r, MF_RPC_HEADER_MISMATCH, NULL, true, "the request headers and body disagree: %s", why);
            return;
        }
    }
    json_t *up = json_copy(params);
    json_object_set_new(up, "name", json_string(e->upstream));
    if (k == MF_KIND_TOOLS && mf_tasks_call(&rt, e->provider, e->name, e->upstream, params, up))
        return;
    mf_forward(&rt, e->provider, method, up);
}

static void resource_not_found(const rctx *r, const char *uri)
{
    /* -32002 in the session era; 2026-07-28 says -32602 */
    mf_reply_error(r, r->modern ? MF_RPC_INVALID_PARAMS : MF_RPC_RESOURCE_NOT_FOUND,
                json_pack("{s:s}", "uri", uri), false, "Resource not found: %s", uri);
}

static void on_read(const rctx *r, const char *method, json_t *params)
{
    if (r->modern && mf_mrtr_resume(r, params))
        return;
    if (mf_refuse_nul(r, method, json_object_get(params, "uri"), "params.uri"))
        return;
    const char *uri = json_string_value(json_object_get(params, "uri"));
    if (!uri) {
        mf_reply_error(r, MF_RPC_INVALID_PARAMS, NULL, false, "%s: params.uri must be a string", method);
        return;
    }
    char *upstream = NULL;
    mf_provider *p = mf_view_resolve_uri(r, uri, &upstream);
    if (!p && !mf_registry_settled()) {
        mf_park(r->s, r->msg, r->tcorr);
        return;
    }
    if (!p || !p->inst) {
        free(upstream);
        resource_not_found(r, uri);
        return;
    }
    json_t *up = json_copy(params);
    json_object_set_new(up, "uri", json_string(upstream));
    free(upstream);
    mf_forward(r, p, method, up);
}

/* completion/complete goes to the owner of the prompt or resource template it is about. */
static void on_complete(const rctx *r, json_t *params)
{
    json_t *ref = json_object_get(params, "ref");
    const char *type = json_string_value(json_object_get(ref, "type"));
    json_t *up = json_deep_copy(params);
    json_t *upref = json_object_get(up, "ref");
    mf_provider *p = NULL;
    if (type && strcmp(type, "ref/prompt") == 0) {
        const mf_entry *e = named(r, MF_KIND_PROMPTS, "completion/complete", json_object_get(ref, "name"),
                                  "params.ref.name", "prompt");
        if (!e) {
            json_decref(up);
            return;
        }
        json_object_set_new(upref, "name", json_string(e->upstream));
        p = e->provider;
    } else if (type && strcmp(type, "ref/resource") == 0) {
        if (mf_refuse_nul(r, "completion/complete", json_object_get(ref, "uri"), "params.ref.uri")) {
            json_decref(up);
            return;
        }
        const char *uri = json_string_value(json_object_get(ref, "uri"));
        const mf_entry *e = uri ? mf_catalog_find(MF_KIND_TEMPLATES, uri) : NULL;
        char *upstream = NULL;
        if (e && mf_view_allows(r, MF_KIND_TEMPLATES, e)) {
            p = e->provider;
            upstream = mf_xstrdup(e->upstream);
        } else if (uri && !e) {
            p = mf_view_resolve_uri(r, uri, &upstream);
        }
        if (!p || !p->inst) {
            free(upstream);
            json_decref(up);
            if (!p && !mf_registry_settled())
                mf_park(r->s, r->msg, r->tcorr);
            else
                mf_reply_error(r, MF_RPC_INVALID_PARAMS, NULL, false, "Unknown resource template: %s",
                            uri ? uri : "(none)");
            return;
        }
        json_object_set_new(upref, "uri", json_string(upstream));
        free(upstream);
    } else {
        json_decref(up);
        mf_reply_error(r, MF_RPC_INVALID_PARAMS, NULL, false,
                    "completion/complete: params.ref.type must be ref/prompt or ref/resource");
        return;
    }
    mf_forward(r, p, "completion/complete", up);
}

/* --- dispatch -------------------------------------------------------------------- */

static void dispatch(session *s, json_t *msg, uint64_t tcorr, const char *method, json_t *params, json_t *id,
                     json_t *meta, const json_t *name)
{
    rctx r = {.s = s, .id = id, .msg = msg, .tcorr = tcorr, .name = name};
    if (params && !json_is_object(params)) {
        mf_reply_error(&r, MF_RPC_INVALID_PARAMS, NULL, false, "%s: params must be an object", method);
        return;
    }
    r.modern = json_object_get(meta, MF_META_PROTOCOL_VERSION) != NULL ||
               strcmp(method, "server/discover") == 0;
    if (r.modern && !envelope_ok(&r, params))
        return;
    r.caps = r.modern ? json_object_get(meta, MF_META_CLIENT_CAPABILITIES) : s->client_caps;
    mf_view_caller(&r);

    if (r.modern && strcmp(method, "server/discover") == 0)
        on_discover(&r);
    else if (!r.modern && strcmp(method, "initialize") == 0)
        on_initialize(&r, params);
    else if (!r.modern && strcmp(method, "ping") == 0)
        mf_reply_result(&r, json_object());
    else if (strcmp(method, "tools/list") == 0)
        on_list(&r, MF_KIND_TOOLS, params);
    else if (strcmp(method, "prompts/list") == 0)
        on_list(&r, MF_KIND_PROMPTS, params);
    else if (strcmp(method, "resources/list") == 0)
        on_list(&r, MF_KIND_RESOURCES, params);
    else if (strcmp(method, "resources/templates/list") == 0)
        on_list(&r, MF_KIND_TEMPLATES, params);
    else if (strcmp(method, "tools/call") == 0)
        by_name(&r, MF_KIND_TOOLS, method, params, "tool");
    else if (strcmp(method, "prompts/get") == 0)
        by_name(&r, MF_KIND_PROMPTS, method, params, "prompt");
    else if (strcmp(method, "resources/read") == 0)
        on_read(&r, method, params);
    else if (strcmp(method, "completion/complete") == 0)
        on_complete(&r, params);
    else if (!r.modern && strcmp(method, "resources/subscribe") == 0)
        mf_subscribe(&r, params, true);
    else if (!r.modern && strcmp(method, "resources/unsubscribe") == 0)
        mf_subscribe(&r, params, false);
    else if (r.modern && strcmp(method, "subscriptions/listen") == 0)
        mf_listen_open(&r, params);
    else if (!r.modern && strcmp(method, "logging/setLevel") == 0)
        mf_set_log_level(&r, params);
    else if (strncmp(method, "tasks/", 6) == 0 && mf_tasks_request(&r, method, params))
        ;
    else
        mf_reply_error(&r, MF_RPC_METHOD_NOT_FOUND, NULL, false, "Method not found: %s", method);
}

/* A request, within its span (trace.h): one a forward takes goes on; any other ends with
 * its answer, given by now, or with its wait for the catalog. */
static void on_request(session *s, json_t *msg, uint64_t tcorr, bool again)
{
    /* looked up once, for the request's span, its count and its dispatch */
    const char *method = mf_rpc_method(msg);
    json_t *params = json_object_get(msg, "params"), *id = json_object_get(msg, "id");
    json_t *meta = json_object_get(params, "_meta"), *name = json_object_get(params, "name");
    if (!again)   /* a request that waited for the catalog was counted when it came */
        mf_stats_request_in(s, tcorr, method);
    mf_trace_request_begin(id, method, params, name, meta, s->mcp_id);
    dispatch(s, msg, tcorr, method, params, id, meta, name);
    mf_trace_request_end();
}

/* The transport holds what it needs to deliver the answer of tcorr (an HTTP request kept
 * open, say): none will come, it may let go. */
static void tell_no_answer(session *s, uint64_t tcorr, const char *reason)
{
    if (tcorr)
        mf_send_to(s, MF_MSG_CANCEL, tcorr, json_pack("{s:s}", "reason", reason));
}

static void on_cancelled(session *s, json_t *params)
{
    json_t *rid = json_object_get(params, "requestId");
    if (mf_listen_cancel(s, rid))
        return;
    const char *reason = json_string_value(json_object_get(params, "reason"));
    if (!reason)
        reason = "cancelled by the client";
    downreq *d;
    DL_FOREACH(s->reqs, d) {
        if (json_equal(d->id, rid)) {
            uint64_t tcorr = d->tcorr;
            mf_downreq_cancel(d, reason);
            tell_no_answer(s, tcorr, reason);
            return;
        }
    }
    uint64_t waiting;
    if (mf_tasks_waiter_cancelled(s->id, rid, &waiting)) {
        tell_no_answer(s, waiting, reason);
        return;
    }
    DL_FOREACH(SES.parked, d) {
        if (d->s == s && json_equal(d->id, rid)) {
            uint64_t tcorr = d->tcorr;
            DL_DELETE(SES.parked, d);
            mf_downreq_free(d);
            tell_no_answer(s, tcorr, reason);
            return;
        }
    }
    mf_debug("session", "cancel for an unknown request ignored", "session=%llu",
             (unsigned long long)s->id);
}

static void on_notification(session *s, json_t *msg)
{
    const char *method = mf_rpc_method(msg);
    if (strcmp(method, "notifications/initialized") == 0) {
        s->initialized = true;
    } else if (strcmp(method, "notifications/cancelled") == 0) {
        on_cancelled(s, json_object_get(msg, "params"));
    } else if (strcmp(method, "notifications/roots/list_changed") == 0) {
        /* the upstreams ask again; what they ask reaches the client it concerns */
        size_t n;
        mf_provider **ps = mf_registry_providers(&n);
        for (size_t i = 0; i < n; i++)
            if (ps[i]->inst && ps[i]->state == MF_PROVIDER_UP)
                mf_send(mf_msg_new(MF_MSG_NOTIFY, SES.self, mf_instance_ep(ps[i]->inst),
                                   json_incref(msg)));
    } else {
        mf_debug("session", "notification ignored", "method=%s", method);
    }
}

static void on_message(void *ud, mf_msg *m)
{
    MF_UNUSED(ud);
    session *s = mf_session_find(m->session);
    if (!s || s->transport != m->src) {
        if (m->kind == MF_MSG_REQUEST) {
            mf_msg *r = mf_msg_new(MF_MSG_RESPONSE, SES.self, m->src,
                                   mf_rpc_error(json_object_get(m->json, "id"), MF_RPC_INVALID_REQUEST,
                                                "Unknown session", NULL));
            if (r) {
                r->session = m->session;
                r->corr = m->corr;
                mf_send(r);
            }
        }
        mf_msg_free(m);
        return;
    }
    switch (m->kind) {
    case MF_MSG_REQUEST:
        on_request(s, m->json, m->corr, false);
        break;
    case MF_MSG_NOTIFY:
        on_notification(s, m->json);
        break;
    case MF_MSG_RESPONSE:
        mf_relay_response(s, m->json);
        break;
    default:
        break;
    }
    mf_msg_free(m);
}

/* --- sessions -------------------------------------------------------------------- */

void mf_sessions_move(mf_ep from, mf_ep to)
{
    for (session *s = SES.all; s; s = s->hh.next)
        if (s->transport == from)
            s->transport = to;
}

uint64_t mf_session_open(mf_instance *transport, const char *peer)
{
    session *s = mf_xcalloc(1, sizeof *s);
    s->id = SES.next_id++;
    s->transport = mf_instance_ep(transport);
    s->peer = mf_xstrdup(peer ? peer : "?");
    s->log_level = -1;
    s->client_caps = json_object();
    s->next_relay = 1;
    s->endpoint = mf_view_endpoint(transport);
    HASH_ADD(hh, SES.all, id, sizeof s->id, s);
    mf_debug("session", "opened", "session=%llu peer=%s", (unsigned long long)s->id, s->peer);
    return s->id;
}

static void session_free(session *s)
{
    mf_tasks_session_closed(s->id);
    mf_relay_session_closed(s);
    mf_session_cancel_all(s);
    mf_stats_session_closed(s);
    downreq *d, *tmp;
    DL_FOREACH_SAFE(SES.parked, d, tmp) {
        if (d->s == s) {
            DL_DELETE(SES.parked, d);
            mf_downreq_free(d);
        }
    }
    mf_view_free(s);
    HASH_DEL(SES.all, s);
    json_decref(s->identity);
    if (s->bearer) {
        explicit_bzero(s->bearer, strlen(s->bearer));
        free(s->bearer);
    }
    json_decref(s->client_info);
    json_decref(s->client_caps);
    free(s->peer);
    free(s->mcp_id);
    free(s);
}

void mf_session_set_mcp_id(uint64_t id, const char *mcp_session_id)
{
    session *s = mf_session_find(id);
    if (!s)
        return;
    free(s->mcp_id);
    s->mcp_id = mcp_session_id ? mf_xstrdup(mcp_session_id) : NULL;
}

void mf_session_set_identity(uint64_t id, json_t *identity)
{
    session *s = mf_session_find(id);
    if (!s) {
        json_decref(identity);
        return;
    }
    json_decref(s->identity);
    s->identity = json_is_object(identity) ? identity : NULL;
    if (!s->identity)
        json_decref(identity);
    s->identity_gen = ++SES.identity_gen;
}

const json_t *mf_session_identity(uint64_t id)
{
    session *s = mf_session_find(id);
    return s ? s->identity : NULL;
}

void mf_session_set_bearer(uint64_t id, const char *token)
{
    session *s = mf_session_find(id);
    if (!s || (s->bearer && token && strcmp(s->bearer, token) == 0))
        return;
    if (s->bearer) {
        explicit_bzero(s->bearer, strlen(s->bearer));
        free(s->bearer);
    }
    s->bearer = token ? mf_xstrdup(token) : NULL;
}

const char *mf_session_bearer(uint64_t id)
{
    session *s = mf_session_find(id);
    return s ? s->bearer : NULL;
}

void mf_session_close(uint64_t id)
{
    session *s = mf_session_find(id);
    if (!s)
        return;
    mf_debug("session", "closed", "session=%llu", (unsigned long long)id);
    session_free(s);
}

void mf_session_catalog_settled(void)
{
    downreq *d, *tmp;
    DL_FOREACH_SAFE(SES.parked, d, tmp) {
        DL_DELETE(SES.parked, d);
        on_request(d->s, d->msg, d->tcorr, true);
        mf_downreq_free(d);
    }
}

void mf_session_set_conf(const mf_config *cfg) { SES.conf = cfg; }

int mf_session_init(const mf_config *cfg)
{
    /* a transport's successor takes over its sessions */
    static const mf_swap_observer sessions_follow = { .transport_moved = mf_sessions_move };
    mf_swap_observe(&sessions_follow);
    SES.conf = cfg;
    SES.self = mf_endpoint_open("session", on_message, NULL);
    return SES.self ? 0 : -1;
}

void mf_session_shutdown(void)
{
    mf_task_store_shutdown();
    mf_mrtr_shutdown();
    session *s, *tmp;
    HASH_ITER(hh, SES.all, s, tmp) {
        session_free(s);
    }
    mf_park_shutdown();
    mf_elicit_shutdown();
    if (SES.self) {
        mf_endpoint_close(SES.self);
        SES.self = 0;
    }
}

json_t *mf_sessions_status(void)
{
    json_t *list = json_array();
    session *s, *tmp;
    HASH_ITER(hh, SES.all, s, tmp) {
        int inflight = 0, subs = 0, listens = 0;
        downreq *d;
        sub *x;
        lstream *l;
        DL_COUNT(s->reqs, d, inflight);
        DL_COUNT(s->subs, x, subs);
        DL_COUNT(s->listens, l, listens);
        const char *auth = json_string_value(json_object_get(s->identity, "method"));
        json_array_append_new(list, json_pack("{s:I,s:s,s:s,s:s,s:s,s:b,s:O?,s:i,s:i,s:i,s:s?}", "id", (json_int_t)s->id,
                                              "peer", s->peer, "subject", session_subject(s), "auth",
                                              auth ? auth : "anonymous", "protocol", s->protocol, "initialized",
                                              s->initialized, "client", s->client_info, "in_flight", inflight,
                                              "subscriptions", subs, "listens", listens, "log_level",
                                              s->log_level >= 0 ? (const char *[]){"debug", "info", "notice",
                                                  "warning", "error", "critical", "alert", "emergency"}[s->log_level]
                                                                : NULL));
    }
    return list;
}
