/* The session layer.
 *
 * A transport opens a session per downstream client and hands every message it reads
 * to the "session" endpoint, tagged with the session. This layer answers the lifecycle
 * itself (initialize, ping) and the catalog from the registry, forwards tools/call to
 * the owning provider as a call with a deadline, and answers the client with the
 * original request id, whatever its JSON type. Each request gets exactly one answer:
 * the provider's, a timeout, or an error saying why not; a cancelled request gets none. */
#include "build-config.h"
#include "session.h"
#include "call.h"
#include "registry.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uthash.h>
#include <utlist.h>

const char *const mf_protocol_versions[] = {"2025-11-25", "2025-06-18", "2025-03-26",
                                            "2024-11-05", NULL};
/* Revisions without a session: each request carries its version in params._meta. */
const char *const mf_protocol_versions_modern[] = {MF_PROTOCOL_MODERN, NULL};

typedef struct downreq {
    struct session *s;
    json_t *id;               /* the client's id, echoed as it came */
    json_t *msg;              /* the whole request, while it waits for the catalog */
    uint64_t tcorr;           /* the transport's correlation for the answer */
    bool modern;              /* answered in the terms of revision 2026-07-28 */
    mf_call *call;            /* NULL while waiting for the catalog */
    struct downreq *prev, *next;
} downreq;

typedef struct session {
    uint64_t id;
    mf_ep transport;
    char *peer;
    bool initialized;
    char protocol[16];
    json_t *client_info;
    json_t *client_caps;
    downreq *reqs;            /* in flight */
    UT_hash_handle hh;
} session;

static mf_ep self;
static session *sessions;
static uint64_t next_session = 1;
static downreq *parked;       /* requests waiting for the catalog */
static const mf_config *conf;

mf_ep mf_kernel_ep(void) { return self; }

size_t mf_session_count(void) { return HASH_COUNT(sessions); }

static void send_to(session *s, mf_msg_kind kind, uint64_t tcorr, json_t *json)
{
    mf_msg *m = mf_msg_new(kind, self, s->transport, json);
    if (!m)
        return;
    m->session = s->id;
    m->corr = tcorr;
    mf_send(m);
}

static void answer(session *s, uint64_t tcorr, json_t *response)
{
    send_to(s, MF_MSG_RESPONSE, tcorr, response);
}

static void downreq_free(downreq *d)
{
    json_decref(d->id);
    json_decref(d->msg);
    free(d);
}


/* --- answering a request ---------------------------------------------------------- */

/* A request being answered: who asked, with which id, in which era's terms. */
typedef struct rctx {
    session *s;
    json_t *id;
    uint64_t tcorr;
    bool modern;
} rctx;

static json_t *server_info(void)
{
    return json_pack("{s:s,s:s}", "name", "mcpfed", "version", PACKAGE_VERSION);
}

/* Results of revision 2026-07-28 say what they are and who made them. */
static json_t *modern_result(json_t *result)
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

static void reply_result(const rctx *r, json_t *result)
{
    if (r->modern) {
        json_t *m = modern_result(result);
        json_decref(result);
        result = m;
    }
    answer(r->s, r->tcorr, mf_rpc_result(r->id, result));
}

static void reply_error(const rctx *r, int code, json_t *data, bool malformed, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

static void reply_error(const rctx *r, int code, json_t *data, bool malformed, const char *fmt, ...)
{
    char text[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text, sizeof text, fmt, ap);
    va_end(ap);
    mf_msg *m = mf_msg_new(MF_MSG_RESPONSE, self, r->s->transport, mf_rpc_error(r->id, code, text, data));
    if (!m)
        return;
    m->session = r->s->id;
    m->corr = r->tcorr;
    m->flags = malformed ? MF_MSGF_MALFORMED : 0;
    mf_send(m);
}

/* Until every provider listed its catalog once, requests that depend on it wait. */
static void park(session *s, json_t *msg, uint64_t tcorr)
{
    downreq *d = calloc(1, sizeof *d);
    d->s = s;
    d->id = json_incref(json_object_get(msg, "id"));
    d->msg = json_incref(msg);
    d->tcorr = tcorr;
    DL_APPEND(parked, d);
}

static json_t *all_versions(void)
{
    json_t *v = json_array();
    for (const char *const *p = mf_protocol_versions_modern; *p; p++)
        json_array_append_new(v, json_string(*p));
    for (const char *const *p = mf_protocol_versions; *p; p++)
        json_array_append_new(v, json_string(*p));
    return v;
}

static json_t *server_capabilities(void)
{
    return json_pack("{s:{s:b}}", "tools", "listChanged", 1);
}

/* --- lifecycle ------------------------------------------------------------------ */

static void on_initialize(const rctx *r, json_t *params)
{
    session *s = r->s;
    const char *asked = json_string_value(json_object_get(params, "protocolVersion"));
    if (!asked) {
        reply_error(r, MF_RPC_INVALID_PARAMS, NULL, false,
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
    s->client_caps = json_incref(json_object_get(params, "capabilities"));
    const char *cname = json_string_value(json_object_get(s->client_info, "name"));
    mf_info("session", "initialize", "session=%llu peer=%s client=\"%s\" protocol=%s",
            (unsigned long long)s->id, s->peer, mf_log_esc(cname, (size_t)-1), chosen);
    reply_result(r, json_pack("{s:s,s:o,s:o}", "protocolVersion", chosen, "capabilities",
                              server_capabilities(), "serverInfo", server_info()));
}

static void on_discover(const rctx *r)
{
    json_t *result = json_pack("{s:o,s:o}", "supportedVersions", all_versions(), "capabilities",
                               server_capabilities());
    reply_result(r, cacheable(result));
}

/* Check the per-request envelope of revision 2026-07-28; answer and return false when it
 * is unusable. */
static bool envelope_ok(const rctx *r, json_t *params)
{
    json_t *meta = json_object_get(params, "_meta");
    const char *version = json_string_value(json_object_get(meta, MF_META_PROTOCOL_VERSION));
    if (!version) {
        reply_error(r, MF_RPC_INVALID_PARAMS, NULL, true,
                    "Invalid _meta envelope: " MF_META_PROTOCOL_VERSION " must be a string");
        return false;
    }
    bool known = false;
    for (const char *const *v = mf_protocol_versions_modern; *v && !known; v++)
        known = strcmp(*v, version) == 0;
    if (!known) {
        reply_error(r, MF_RPC_UNSUPPORTED_VERSION,
                    json_pack("{s:o,s:s}", "supported", all_versions(), "requested", version), true,
                    "Unsupported protocol version: %s", version);
        return false;
    }
    if (!json_is_object(json_object_get(meta, MF_META_CLIENT_CAPABILITIES))) {
        reply_error(r, MF_RPC_INVALID_PARAMS, NULL, true,
                    "Invalid _meta envelope for protocol revision %s: " MF_META_CLIENT_CAPABILITIES
                    ": missing", version);
        return false;
    }
    json_t *info = json_object_get(meta, MF_META_CLIENT_INFO);
    if (info && !json_is_object(info)) {
        reply_error(r, MF_RPC_INVALID_PARAMS, NULL, true,
                    "Invalid _meta envelope: " MF_META_CLIENT_INFO " must be an object");
        return false;
    }
    return true;
}

/* --- tools ----------------------------------------------------------------------- */

static void answer_tools_list(const rctx *r)
{
    json_t *result = json_pack("{s:O}", "tools", mf_registry_tools());
    reply_result(r, r->modern ? cacheable(result) : result);
}

static void on_call_done(void *ud, json_t *resp)
{
    downreq *d = ud;
    session *s = d->s;
    json_t *error = json_object_get(resp, "error");
    json_t *out;
    if (error) {
        out = json_pack("{s:s,s:O,s:O}", "jsonrpc", "2.0", "id", d->id, "error", error);
    } else {
        json_t *result = json_object_get(resp, "result");
        out = json_pack("{s:s,s:O,s:o}", "jsonrpc", "2.0", "id", d->id, "result",
                        d->modern ? modern_result(result) : json_incref(result));
    }
    answer(s, d->tcorr, out);
    DL_DELETE(s->reqs, d);
    downreq_free(d);
}

/* What goes upstream: the client's params with the upstream's name, without the
 * client's envelope (the provider speaks for the gateway to its upstream). */
static json_t *upstream_params(json_t *params, const char *name)
{
    json_t *up = json_copy(params);
    json_object_set_new(up, "name", json_string(name));
    json_t *meta = json_object_get(params, "_meta");
    if (json_is_object(meta)) {
        json_t *kept = json_object();
        const char *k;
        json_t *v;
        json_object_foreach(meta, k, v) {
            if (strncmp(k, "io.modelcontextprotocol/", 24) != 0)
                json_object_set(kept, k, v);
        }
        if (json_object_size(kept))
            json_object_set_new(up, "_meta", kept);
        else {
            json_object_del(up, "_meta");
            json_decref(kept);
        }
    }
    return up;
}

static void on_tools_call(const rctx *r, json_t *msg, json_t *params)
{
    const char *name = json_string_value(json_object_get(params, "name"));
    if (!name) {
        reply_error(r, MF_RPC_INVALID_PARAMS, NULL, false, "tools/call: params.name must be a string");
        return;
    }
    const mf_tool *t = mf_registry_tool(name);
    if (!t && !mf_registry_settled()) {
        park(r->s, msg, r->tcorr);
        return;
    }
    if (!t || !t->provider->inst) {
        reply_error(r, MF_RPC_INVALID_PARAMS, NULL, false, "Unknown tool: %s", name);
        return;
    }
    json_t *req = json_pack("{s:s,s:o}", "method", "tools/call", "params",
                            upstream_params(params, t->upstream));
    downreq *d = calloc(1, sizeof *d);
    d->s = r->s;
    d->id = json_incref(r->id);
    d->tcorr = r->tcorr;
    d->modern = r->modern;
    DL_APPEND(r->s->reqs, d);
    d->call = mf_call_start(mf_instance_ep(t->provider->inst), r->s->id, req,
                            (uint64_t)t->provider->conf->timeout_ms, on_call_done, d);
    if (!d->call) {
        DL_DELETE(r->s->reqs, d);
        downreq_free(d);
        reply_error(r, MF_RPC_OVERLOADED, NULL, false, "out of memory");
    }
}

/* --- dispatch -------------------------------------------------------------------- */

static void on_request(session *s, json_t *msg, uint64_t tcorr)
{
    rctx r = {.s = s, .id = json_object_get(msg, "id"), .tcorr = tcorr};
    const char *method = mf_rpc_method(msg);
    json_t *params = json_object_get(msg, "params");
    if (params && !json_is_object(params)) {
        reply_error(&r, MF_RPC_INVALID_PARAMS, NULL, false, "%s: params must be an object", method);
        return;
    }
    json_t *meta = json_object_get(params, "_meta");
    /* a request of revision 2026-07-28 names its version itself; server/discover is only
     * ever one */
    r.modern = json_object_get(meta, MF_META_PROTOCOL_VERSION) != NULL ||
               strcmp(method, "server/discover") == 0;
    if (r.modern && !envelope_ok(&r, params))
        return;
    bool tools_list = strcmp(method, "tools/list") == 0;
    if (r.modern && strcmp(method, "server/discover") == 0) {
        on_discover(&r);
    } else if (!r.modern && strcmp(method, "initialize") == 0) {
        on_initialize(&r, params);
    } else if (!r.modern && strcmp(method, "ping") == 0) {
        reply_result(&r, json_object());
    } else if (tools_list) {
        json_t *cursor = json_object_get(params, "cursor");
        if (cursor && !json_is_null(cursor))
            reply_error(&r, MF_RPC_INVALID_PARAMS, NULL, false, "tools/list: invalid cursor");
        else if (!mf_registry_settled())
            park(s, msg, tcorr);
        else
            answer_tools_list(&r);
    } else if (strcmp(method, "tools/call") == 0) {
        on_tools_call(&r, msg, params);
    } else {
        reply_error(&r, MF_RPC_METHOD_NOT_FOUND, NULL, false, "Method not found: %s", method);
    }
}

static void on_cancelled(session *s, json_t *params)
{
    json_t *rid = json_object_get(params, "requestId");
    downreq *d;
    DL_FOREACH(s->reqs, d) {
        if (d->call && json_equal(d->id, rid)) {
            const char *reason = json_string_value(json_object_get(params, "reason"));
            mf_call_cancel(d->call, reason ? reason : "cancelled by the client");
            DL_DELETE(s->reqs, d);
            downreq_free(d);
            return;
        }
    }
    DL_FOREACH(parked, d) {
        if (d->s == s && json_equal(d->id, rid)) {
            DL_DELETE(parked, d);
            downreq_free(d);
            return;
        }
    }
    mf_debug("session", "cancel for an unknown request ignored", "session=%llu",
             (unsigned long long)s->id);
}

static void on_notification(session *s, json_t *msg)
{
    const char *method = mf_rpc_method(msg);
    if (strcmp(method, "notifications/initialized") == 0)
        s->initialized = true;
    else if (strcmp(method, "notifications/cancelled") == 0)
        on_cancelled(s, json_object_get(msg, "params"));
    else
        mf_debug("session", "notification ignored", "method=%s", method);
}

static void on_message(void *ud, mf_msg *m)
{
    MF_UNUSED(ud);
    session *s;
    HASH_FIND(hh, sessions, &m->session, sizeof m->session, s);
    if (!s || s->transport != m->src) {
        if (m->kind == MF_MSG_REQUEST) {
            mf_msg *r = mf_msg_new(MF_MSG_RESPONSE, self, m->src,
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
        on_request(s, m->json, m->corr);
        break;
    case MF_MSG_NOTIFY:
        on_notification(s, m->json);
        break;
    default:
        mf_debug("session", "message ignored", "session=%llu kind=%d", (unsigned long long)s->id,
                 (int)m->kind);
        break;
    }
    mf_msg_free(m);
}

/* --- sessions -------------------------------------------------------------------- */

uint64_t mf_session_open(mf_instance *transport, const char *peer)
{
    session *s = calloc(1, sizeof *s);
    if (!s)
        return 0;
    s->id = next_session++;
    s->transport = mf_instance_ep(transport);
    s->peer = strdup(peer ? peer : "?");
    HASH_ADD(hh, sessions, id, sizeof s->id, s);
    mf_debug("session", "opened", "session=%llu peer=%s", (unsigned long long)s->id, s->peer);
    return s->id;
}

static void session_free(session *s)
{
    downreq *d, *tmp;
    DL_FOREACH_SAFE(s->reqs, d, tmp) {
        if (d->call)
            mf_call_cancel(d->call, "the client went away");
        DL_DELETE(s->reqs, d);
        downreq_free(d);
    }
    DL_FOREACH_SAFE(parked, d, tmp) {
        if (d->s == s) {
            DL_DELETE(parked, d);
            downreq_free(d);
        }
    }
    HASH_DEL(sessions, s);
    json_decref(s->client_info);
    json_decref(s->client_caps);
    free(s->peer);
    free(s);
}

void mf_session_close(uint64_t id)
{
    session *s;
    HASH_FIND(hh, sessions, &id, sizeof id, s);
    if (!s)
        return;
    mf_debug("session", "closed", "session=%llu", (unsigned long long)id);
    session_free(s);
}

void mf_session_catalog_settled(void)
{
    downreq *d, *tmp;
    DL_FOREACH_SAFE(parked, d, tmp) {
        DL_DELETE(parked, d);
        on_request(d->s, d->msg, d->tcorr);
        downreq_free(d);
    }
}

void mf_session_broadcast(json_t *notification)
{
    session *s, *tmp;
    HASH_ITER(hh, sessions, s, tmp) {
        if (s->initialized)
            send_to(s, MF_MSG_NOTIFY, 0, json_incref(notification));
    }
    json_decref(notification);
}

void mf_session_from_upstream(struct mf_provider *p, json_t *notification, uint64_t corr)
{
    MF_UNUSED(corr);
    mf_debug("session", "upstream notification not forwarded", "provider=%s method=%s",
             p->conf->name, mf_rpc_method(notification));
}

int mf_session_init(const mf_config *cfg)
{
    conf = cfg;
    self = mf_endpoint_open("session", on_message, NULL);
    return self ? 0 : -1;
}

void mf_session_shutdown(void)
{
    session *s, *tmp;
    HASH_ITER(hh, sessions, s, tmp) {
        session_free(s);
    }
    if (self) {
        mf_endpoint_close(self);
        self = 0;
    }
}
