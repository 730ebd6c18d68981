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

#include <stdlib.h>
#include <string.h>
#include <uthash.h>
#include <utlist.h>

const char *const mf_protocol_versions[] = {"2025-11-25", "2025-06-18", "2025-03-26",
                                            "2024-11-05", NULL};

typedef struct downreq {
    struct session *s;
    json_t *id;               /* the client's id, echoed as it came */
    json_t *msg;              /* the whole request, while it waits for the catalog */
    uint64_t tcorr;           /* the transport's correlation for the answer */
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

/* --- lifecycle ------------------------------------------------------------------ */

static json_t *server_capabilities(void)
{
    return json_pack("{s:{s:b}}", "tools", "listChanged", 1);
}

static void on_initialize(session *s, json_t *id, json_t *params, uint64_t tcorr)
{
    const char *asked = json_string_value(json_object_get(params, "protocolVersion"));
    if (!asked) {
        answer(s, tcorr, mf_rpc_error(id, MF_RPC_INVALID_PARAMS,
                                      "initialize: params.protocolVersion must be a string", NULL));
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
            (unsigned long long)s->id, s->peer, cname ? cname : "", chosen);
    json_t *result = json_pack("{s:s,s:o,s:{s:s,s:s}}", "protocolVersion", chosen,
                               "capabilities", server_capabilities(), "serverInfo", "name",
                               "mcpfed", "version", PACKAGE_VERSION);
    answer(s, tcorr, mf_rpc_result(id, result));
}

/* --- tools ----------------------------------------------------------------------- */

static void answer_tools_list(session *s, json_t *id, uint64_t tcorr)
{
    answer(s, tcorr, mf_rpc_result(id, json_pack("{s:O}", "tools", mf_registry_tools())));
}

static void on_call_done(void *ud, json_t *resp)
{
    downreq *d = ud;
    session *s = d->s;
    json_t *out = json_object();
    json_object_set_new(out, "jsonrpc", json_string("2.0"));
    json_object_set(out, "id", d->id);
    json_t *error = json_object_get(resp, "error");
    if (error)
        json_object_set(out, "error", error);
    else
        json_object_set(out, "result", json_object_get(resp, "result"));
    answer(s, d->tcorr, out);
    DL_DELETE(s->reqs, d);
    downreq_free(d);
}

static void on_tools_call(session *s, json_t *msg, json_t *id, json_t *params, uint64_t tcorr)
{
    const char *name = json_string_value(json_object_get(params, "name"));
    if (!name) {
        answer(s, tcorr, mf_rpc_error(id, MF_RPC_INVALID_PARAMS,
                                      "tools/call: params.name must be a string", NULL));
        return;
    }
    const mf_tool *t = mf_registry_tool(name);
    if (!t && !mf_registry_settled()) {
        park(s, msg, tcorr);
        return;
    }
    if (!t || !t->provider->inst) {
        answer(s, tcorr, mf_rpc_errorf(id, MF_RPC_INVALID_PARAMS, "Unknown tool: %s", name));
        return;
    }
    json_t *up = json_copy(params);
    json_object_set_new(up, "name", json_string(t->upstream));
    json_t *req = json_pack("{s:s,s:o}", "method", "tools/call", "params", up);
    downreq *d = calloc(1, sizeof *d);
    d->s = s;
    d->id = json_incref(id);
    d->tcorr = tcorr;
    DL_APPEND(s->reqs, d);
    d->call = mf_call_start(mf_instance_ep(t->provider->inst), s->id, req,
                            (uint64_t)t->provider->conf->timeout_ms, on_call_done, d);
    if (!d->call) {
        DL_DELETE(s->reqs, d);
        downreq_free(d);
        answer(s, tcorr, mf_rpc_error(id, MF_RPC_OVERLOADED, "out of memory", NULL));
    }
}

/* --- dispatch -------------------------------------------------------------------- */

static void on_request(session *s, json_t *msg, uint64_t tcorr)
{
    json_t *id = json_object_get(msg, "id");
    const char *method = mf_rpc_method(msg);
    json_t *params = json_object_get(msg, "params");
    if (params && !json_is_object(params)) {
        answer(s, tcorr, mf_rpc_errorf(id, MF_RPC_INVALID_PARAMS, "%s: params must be an object",
                                       method));
        return;
    }
    if (strcmp(method, "initialize") == 0) {
        on_initialize(s, id, params, tcorr);
    } else if (strcmp(method, "ping") == 0) {
        answer(s, tcorr, mf_rpc_result(id, json_object()));
    } else if (strcmp(method, "tools/list") == 0) {
        json_t *cursor = json_object_get(params, "cursor");
        if (cursor && !json_is_null(cursor)) {
            answer(s, tcorr, mf_rpc_error(id, MF_RPC_INVALID_PARAMS,
                                          "tools/list: invalid cursor", NULL));
        } else if (!mf_registry_settled()) {
            park(s, msg, tcorr);
        } else {
            answer_tools_list(s, id, tcorr);
        }
    } else if (strcmp(method, "tools/call") == 0) {
        on_tools_call(s, msg, id, params, tcorr);
    } else {
        answer(s, tcorr, mf_rpc_errorf(id, MF_RPC_METHOD_NOT_FOUND, "Method not found: %s", method));
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
