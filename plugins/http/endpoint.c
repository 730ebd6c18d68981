/* The MCP endpoint over HTTP, for both eras.
 *
 * Session era (2024-11-05 to 2025-11-25): initialize opens a session, named by
 * Mcp-Session-Id on every later request; GET opens the session's stream for messages
 * that belong to no request; DELETE ends it; events carry ids ("<stream>-<seq>") and a
 * bounded number of them is kept so that a client can resume with Last-Event-ID.
 * Revision 2026-07-28: no session; each POST carries its envelope in params._meta and
 * the MCP-Protocol-Version, Mcp-Method and Mcp-Name headers that must agree with it; the
 * request runs in a kernel session of its own, closed with the answer, and a client that
 * closes the connection cancels it.
 *
 * A request is answered with one JSON object, unless something related to it (progress,
 * a log message, a request to the client) comes first: then the answer becomes an SSE
 * stream that ends with the response. */
#include "listener.h"
#include "auth.h"

#include <ctype.h>
#include <mcpfed/buf.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static const char *const legacy_versions[] = {"2025-11-25", "2025-06-18", "2025-03-26",
                                              "2024-11-05", NULL};

static bool is_legacy_version(const char *v)
{
    for (const char *const *p = legacy_versions; *p; p++)
        if (strcmp(*p, v) == 0)
            return true;
    return false;
}

/* A date-shaped version from 2026-07-28 on: the stateless revisions. */
static bool is_modern_version(const char *v)
{
    if (strlen(v) != 10 || v[4] != '-' || v[7] != '-')
        return false;
    return strcmp(v, MF_PROTOCOL_MODERN) >= 0;
}

/* --- answering ----------------------------------------------------------------------- */

void send_json(http_conn *c, int status, const char *extra, const json_t *body)
{
    size_t len;
    char *text = mf_rpc_dump(body, &len);
    http_respond(c, status, "application/json", extra, text ? text : "{}", text ? len : 2);
    free(text);
}

void send_error(http_conn *c, int status, const char *extra, json_t *id, int code, const char *msg)
{
    json_t *e = mf_rpc_error(id, code, msg, NULL);
    send_json(c, status, extra, e);
    json_decref(e);
}

/* --- request headers ----------------------------------------------------------------- */

/* Does the Accept header take type ("application/json")? Wildcards count; q=0 refuses. */
static bool accepts(const char *accept, const char *type)
{
    if (!accept)
        return false;
    const char *slash = strchr(type, '/');
    size_t major = (size_t)(slash - type);
    const char *p = accept;
    while (*p) {
        while (*p == ' ' || *p == ',')
            p++;
        size_t n = strcspn(p, ",;");
        while (n && p[n - 1] == ' ')
            n--;
        const char *params = p + n;
        const char *end = p + strcspn(p, ",");
        bool refused = false;
        for (const char *q = strstr(params, "q="); q && q < end; q = NULL)
            refused = strtod(q + 2, NULL) == 0.0;
        bool match = (n == strlen(type) && strncasecmp(p, type, n) == 0) ||
                     (n == 3 && strncmp(p, "*/*", 3) == 0) ||
                     (n == major + 2 && strncasecmp(p, type, major + 1) == 0 && p[major + 1] == '*');
        if (match && !refused)
            return true;
        p = *end ? end + 1 : end;
    }
    return false;
}

static bool is_json_type(const char *ct)
{
    if (!ct || strncasecmp(ct, "application/json", 16) != 0)
        return false;
    return ct[16] == '\0' || ct[16] == ';' || ct[16] == ' ';
}

/* Does header name carry exactly want, once its surrounding whitespace is dropped? */
static bool header_is(const http_request *r, const char *name, const char *want)
{
    const char *v = http_header_get(r, name);
    if (!v)
        return false;
    size_t n;
    v = http_ows_trimmed(v, &n);
    return n == strlen(want) && strncmp(v, want, n) == 0;
}

/* A preflight names the headers the page will send; the Mcp-Param-<Name> headers (SEP-2243)
 * carry a tool's parameter names, so they cannot be listed in advance: each requested one
 * that is a well-formed token is allowed back, as ", Name" pieces (possibly ""). */
static char *preflight_param_headers(const http_request *r)
{
    const char *req = http_header_get(r, "access-control-request-headers");
    char *out = NULL;
    size_t len = 0, cap = 0;
    mf_buf_append(&out, &len, &cap, "", 0);
    while (req && *req) {
        size_t skip = strspn(req, " \t,");
        req += skip;
        size_t n = strcspn(req, " \t,");
        bool token = n > 10 && strncasecmp(req, "mcp-param-", 10) == 0;
        for (size_t i = 0; token && i < n; i++)
            token = isalnum((unsigned char)req[i]) || strchr("!#$%&'*+-.^_`|~", req[i]);
        if (token && len + n < 4096) {
            mf_buf_append(&out, &len, &cap, ", ", 2);
            mf_buf_append(&out, &len, &cap, req, n);
        }
        req += n;
    }
    return out;
}

/* SEP-2243: the Mcp-Param-<Name> headers, decoded, for the kernel to hold against the
 * arguments of the tool that declares them: {lower-case name: value, or null when its
 * encoding is malformed}. */
static json_t *param_headers(const http_request *r)
{
    json_t *o = json_object();
    for (size_t i = 0; i < r->nheaders; i++) {
        const http_header *h = &r->headers[i];
        if (strncmp(h->name, "mcp-param-", 10) != 0 || !h->name[10])
            continue;
        size_t len;
        char *d = http_header_value_decoded(h->value, &len);
        /* a NUL inside is no header value */
        json_object_set_new(o, h->name + 10, d && strlen(d) == len ? json_string(d) : json_null());
        free(d);
    }
    return o;
}

/* Headers every answer to this request carries: the session, and CORS for an allowed
 * browser origin. */
static char *extra_headers(listener *l, const http_request *r, const hsession *hs)
{
    const char *origin = http_header_get(r, "origin");
    char buf[1024] = "";
    int n = 0;
    if (hs)
        n += snprintf(buf + n, sizeof buf - (size_t)n, "Mcp-Session-Id: %s\r\n", hs->id);
    if (origin && !http_check_origin(&l->conf, origin) && strlen(origin) < 512)
        n += snprintf(buf + n, sizeof buf - (size_t)n,
                      "Access-Control-Allow-Origin: %s\r\nVary: Origin\r\n"
                      "Access-Control-Expose-Headers: Mcp-Session-Id, WWW-Authenticate\r\n", origin);
    return strdup(buf);
}

/* --- requests in flight ------------------------------------------------------------ */

hreq *hreq_new(listener *l, http_conn *c, hsession *hs, hreq_kind kind)
{
    hreq *h = calloc(1, sizeof *h);
    h->l = l;
    h->c = c;
    h->hs = hs;
    h->kind = kind;
    h->ksid = hs ? hs->sid : 0;
    if (c)
        http_conn_set_app_data(c, h);
    if (hs && kind == HR_POST)
        hs->inflight++;
    DL_APPEND(l->reqs, h);
    return h;
}

static void forget_corrs(listener *l, hreq *h)
{
    corr_entry *e, *tmp;
    if (!h->waiting)
        return;
    HASH_ITER(hh, l->corrs, e, tmp) {
        if (e->h == h) {
            HASH_DEL(l->corrs, e);
            free(e);
        }
    }
}

void hreq_free(hreq *h)
{
    listener *l = h->l;
    forget_corrs(l, h);
    DL_DELETE(l->reqs, h);
    if (h->c && http_conn_app_data(h->c) == h)
        http_conn_set_app_data(h->c, NULL);
    if (h->hs && h->kind == HR_POST && h->hs->inflight)
        h->hs->inflight--;
    if (h->hs && h->hs->get == h)
        h->hs->get = NULL;
    if (h->hs)
        h->hs->last_active = mf_now();
    if ((h->modern || h->kind == HR_WS) && h->ksid && !l->handed_over)
        mf_session_close(h->ksid);
    json_decref(h->answers);
    free(h->extra);
    free(h);
}

void ep_forward(listener *l, hreq *h, json_t *msg, mf_rpc_kind kind)
{
    mf_msg_kind mk = kind == MF_RPC_REQUEST ? MF_MSG_REQUEST
                     : kind == MF_RPC_NOTIFICATION ? MF_MSG_NOTIFY : MF_MSG_RESPONSE;
    mf_msg *m = mf_msg_new(mk, mf_instance_ep(l->inst), mf_kernel_ep(), json_incref(msg));
    m->session = h->ksid;
    if (kind == MF_RPC_REQUEST) {
        corr_entry *e = malloc(sizeof *e);
        e->corr = ++l->next_corr;
        e->h = h;
        HASH_ADD(hh, l->corrs, corr, sizeof e->corr, e);
        m->corr = e->corr;
        h->waiting++;
    }
    mf_send(m);
}

static void complete(hreq *h, const mf_msg *m);

/* --- POST -------------------------------------------------------------------------- */

static void post_modern(listener *l, http_conn *c, http_request *r, json_t *msg, const char *hv)
{
    json_t *id = json_object_get(msg, "id");
    const char *method = mf_rpc_method(msg);
    const char *env = mf_rpc_envelope_version(msg);
    char why[256];
    char *extra = extra_headers(l, r, NULL);
    if (!hv) {
        send_error(c, 400, extra, id, MF_RPC_HEADER_MISMATCH,
                   "the required MCP-Protocol-Version header is absent");
        goto out;
    }
    if (!env) {
        send_error(c, 400, extra, id, MF_RPC_INVALID_PARAMS,
                   "Invalid _meta envelope: missing the required per-request envelope key(s): _meta");
        goto out;
    }
    if (!header_is(r, "mcp-protocol-version", env)) {
        snprintf(why, sizeof why, "the request headers and body disagree: the body names protocol "
                 "version %.40s but the MCP-Protocol-Version header names %.40s", env, hv);
        send_error(c, 400, extra, id, MF_RPC_HEADER_MISMATCH, why);
        goto out;
    }
    const char *mm = http_header_get(r, "mcp-method");
    if (!header_is(r, "mcp-method", method)) {
        snprintf(why, sizeof why, mm ? "the Mcp-Method header (%.60s) does not match the method"
                                     : "the required Mcp-Method header is absent%.0s", mm ? mm : "");
        send_error(c, 400, extra, id, MF_RPC_HEADER_MISMATCH, why);
        goto out;
    }
    /* the tasks extension names its task in Mcp-Name too */
    const char *name_key = strcmp(method, "tools/call") == 0 || strcmp(method, "prompts/get") == 0
                               ? "name"
                           : strcmp(method, "resources/read") == 0 ? "uri"
                           : strcmp(method, "tasks/get") == 0 || strcmp(method, "tasks/update") == 0 ||
                                   strcmp(method, "tasks/cancel") == 0
                               ? "taskId"
                               : NULL;
    if (name_key) {
        const char *mn = http_header_get(r, "mcp-name");
        if (!http_mcp_name_matches(mn, json_object_get(json_object_get(msg, "params"), name_key))) {
            send_error(c, 400, extra, id, MF_RPC_HEADER_MISMATCH,
                       mn ? "the Mcp-Name header does not match the request's name"
                          : "the required Mcp-Name header is absent");
            goto out;
        }
    }
    if (strcmp(method, "tools/call") == 0)
        json_object_set_new(msg, "paramHeaders", param_headers(r));
    hreq *h = hreq_new(l, c, NULL, HR_POST);
    h->modern = true;
    h->extra = extra;
    h->ksid = mf_session_open(l->inst, http_conn_peer(c));
    http_auth_bind_session(h->ksid, l->who, r, true);
    ep_forward(l, h, msg, MF_RPC_REQUEST);
    return;
out:
    free(extra);
}

/* 2025-03-26 allows a batch: an array of messages, answered with an array. */
static void post_batch(listener *l, http_conn *c, http_request *r, json_t *arr, hsession *hs)
{
    char *extra = extra_headers(l, r, hs);
    if (json_array_size(arr) == 0) {
        send_error(c, 400, extra, NULL, MF_RPC_INVALID_REQUEST, "Invalid Request: an empty batch");
        free(extra);
        return;
    }
    if (strcmp(hs->protocol, "2025-03-26") != 0) {
        send_error(c, 400, extra, NULL, MF_RPC_INVALID_REQUEST,
                   "Invalid Request: batches are part of protocol revision 2025-03-26 only");
        free(extra);
        return;
    }
    hreq *h = hreq_new(l, c, hs, HR_POST);
    h->batch = true;
    h->answers = json_array();
    h->extra = extra;
    size_t i;
    json_t *m;
    json_array_foreach(arr, i, m) {
        json_t *reply = NULL;
        mf_rpc_kind k = mf_rpc_classify(m, &reply);
        if (k == MF_RPC_BAD) {
            if (reply)
                json_array_append_new(h->answers, reply);
        } else if (k == MF_RPC_REQUEST && strcmp(mf_rpc_method(m), "initialize") == 0) {
            json_array_append_new(h->answers, mf_rpc_error(json_object_get(m, "id"),
                                  MF_RPC_INVALID_REQUEST, "initialize cannot be part of a batch", NULL));
        } else {
            ep_forward(l, h, m, k);
        }
    }
    if (h->waiting == 0)
        complete(h, NULL);
}

static hsession *session_of(listener *l, http_conn *c, http_request *r, const char *extra)
{
    const char *sidh = http_header_get(r, "mcp-session-id");
    if (!sidh) {
        send_error(c, 400, extra, NULL, -32000, "Bad Request: Mcp-Session-Id header is required");
        return NULL;
    }
    hsession *hs = hs_find(l, sidh);
    /* a session is its creator's: to anyone else it does not exist */
    if (!hs || !hs->ready || !http_auth_session_matches(hs->sid, l->who)) {
        send_error(c, 404, extra, NULL, -32001, "Session not found");
        return NULL;
    }
    http_auth_bind_session(hs->sid, l->who, r, false);
    hs->last_active = mf_now();
    return hs;
}

/* W3C trace context: the traceparent and tracestate headers go to the kernel in the
 * request's params._meta, where any transport's client puts them, unless the body names
 * its own; the kernel checks them. */
static void trace_context(const http_request *r, json_t *msg)
{
    static const char *const keys[] = {"traceparent", "tracestate"};
    const char *values[] = {http_header_get(r, keys[0]), http_header_get(r, keys[1])};
    if (!values[0] && !values[1])   /* the usual request: nothing more to look at */
        return;
    json_t *params = json_object_get(msg, "params");
    if (!mf_rpc_method(msg) || !json_object_get(msg, "id") || (params && !json_is_object(params)))
        return;
    for (size_t i = 0; i < 2; i++) {
        if (!values[i])
            continue;
        if (!params) {
            params = json_object();
            json_object_set_new(msg, "params", params);
        }
        json_t *meta = json_object_get(params, "_meta");
        if (!meta) {
            meta = json_object();
            json_object_set_new(params, "_meta", meta);
        }
        if (json_is_object(meta) && !json_object_get(meta, keys[i]))
            json_object_set_new(meta, keys[i], json_string(values[i]));
    }
}

static void on_post(listener *l, http_conn *c, http_request *r)
{
    char *extra = extra_headers(l, r, NULL);
    const char *accept = http_header_get(r, "accept");
    if (!accepts(accept, "application/json") || !accepts(accept, "text/event-stream")) {
        send_error(c, 406, extra, NULL, -32000,
                   "Not Acceptable: the client must accept both application/json and text/event-stream");
        goto out;
    }
    if (!is_json_type(http_header_get(r, "content-type"))) {
        send_error(c, 415, extra, NULL, -32000, "Unsupported Media Type: Content-Type must be application/json");
        goto out;
    }
    json_t *reply = NULL;
    json_t *msg = mf_rpc_parse(r->body, r->body_len, &reply);
    if (!msg) {
        send_json(c, 400, extra, reply);
        json_decref(reply);
        goto out;
    }
    const char *hv = http_header_get(r, "mcp-protocol-version");
    size_t i;
    json_t *item;
    if (json_is_array(msg))
        json_array_foreach(msg, i, item) trace_context(r, item);
    else
        trace_context(r, msg);
    if (json_is_array(msg)) {
        if (hv && !is_legacy_version(hv)) {
            send_error(c, 400, extra, NULL, MF_RPC_INVALID_REQUEST,
                       "Invalid Request: batches are part of protocol revision 2025-03-26 only");
        } else {
            hsession *hs = session_of(l, c, r, extra);
            if (hs)
                post_batch(l, c, r, msg, hs);
        }
        json_decref(msg);
        goto out;
    }
    mf_rpc_kind kind = mf_rpc_classify(msg, &reply);
    if (kind == MF_RPC_BAD) {
        if (reply)
            send_json(c, 400, extra, reply);
        else
            send_error(c, 400, extra, NULL, MF_RPC_INVALID_REQUEST, "Invalid Request");
        json_decref(reply);
        json_decref(msg);
        goto out;
    }
    const char *method = kind == MF_RPC_RESPONSE ? "" : mf_rpc_method(msg);
    bool modern = (hv && is_modern_version(hv)) || mf_rpc_envelope_version(msg) ||
                  strcmp(method, "server/discover") == 0;
    if (modern) {
        if (kind == MF_RPC_REQUEST)
            post_modern(l, c, r, msg, hv);
        else   /* the revision defines no client notifications over HTTP: nothing to do */
            http_respond(c, 202, NULL, extra, "", 0);
        json_decref(msg);
        goto out;
    }
    if (hv && !is_legacy_version(hv)) {
        char why[160];
        snprintf(why, sizeof why, "Bad Request: Unsupported protocol version: %.40s", hv);
        send_error(c, 400, extra, NULL, -32000, why);
        json_decref(msg);
        goto out;
    }
    if (kind == MF_RPC_REQUEST && strcmp(method, "initialize") == 0) {
        if (http_header_get(r, "mcp-session-id")) {
            send_error(c, 400, extra, json_object_get(msg, "id"), MF_RPC_INVALID_REQUEST,
                       "Invalid Request: initialize starts a session and must not name one");
        } else if (HASH_CNT(hh_id, l->by_id) + ep_ws_sessions(l) >= l->conf.max_sessions) {
            send_error(c, 503, extra, json_object_get(msg, "id"), MF_RPC_OVERLOADED,
                       "too many sessions");
        } else {
            hsession *hs = hs_new(l);
            http_auth_bind_session(hs->sid, l->who, r, true);
            hreq *h = hreq_new(l, c, hs, HR_POST);
            h->initialize = true;
            h->extra = extra_headers(l, r, hs);
            ep_forward(l, h, msg, kind);
        }
        json_decref(msg);
        goto out;
    }
    hsession *hs = session_of(l, c, r, extra);
    if (hs) {
        if (kind == MF_RPC_REQUEST) {
            hreq *h = hreq_new(l, c, hs, HR_POST);
            h->extra = extra_headers(l, r, hs);
            ep_forward(l, h, msg, kind);
        } else {
            hreq tmp = {.ksid = hs->sid};
            ep_forward(l, &tmp, msg, kind);
            http_respond(c, 202, NULL, extra, "", 0);
        }
    }
    json_decref(msg);
out:
    free(extra);
}

/* --- GET and DELETE ------------------------------------------------------------------ */

static void start_stream(hreq *h)
{
    h->streaming = true;
    if (h->c)
        http_stream_start(h->c, 200, "text/event-stream", h->extra);
}

static void send_priming(hreq *h)
{
    hsession *hs = h->hs;
    if (!hs || !h->c || !hs_priming_wanted(hs))
        return;
    char id[48];
    snprintf(id, sizeof id, "%u-%llu", h->stream, (unsigned long long)hs->next_seq++);
    size_t len;
    char *text = sse_format(id, "", 0, &len);
    http_stream_write(h->c, text, len);
    free(text);
}

/* GET and DELETE belong to the session era: 405 for a client of 2026-07-28. */
static bool refused_as_modern(http_conn *c, http_request *r, const char *what)
{
    const char *hv = http_header_get(r, "mcp-protocol-version");
    if (!hv || !is_modern_version(hv))
        return false;
    char text[160];
    snprintf(text, sizeof text, "Method Not Allowed: revision 2026-07-28 has no %s", what);
    send_error(c, 405, "Allow: POST\r\n", NULL, -32000, text);
    return true;
}

static void on_get(listener *l, http_conn *c, http_request *r)
{
    if (refused_as_modern(c, r, "GET stream"))
        return;
    char *extra = extra_headers(l, r, NULL);
    if (!accepts(http_header_get(r, "accept"), "text/event-stream")) {
        send_error(c, 406, extra, NULL, -32000, "Not Acceptable: the client must accept text/event-stream");
        goto out;
    }
    hsession *hs = session_of(l, c, r, extra);
    if (!hs)
        goto out;
    const char *lei = http_header_get(r, "last-event-id");
    unsigned stream = 0;
    unsigned long long after = 0;
    bool resume = lei && sscanf(lei, "%u-%llu", &stream, &after) == 2;
    if (resume && stream != 0) {
        /* resuming a request's stream: what it missed, then its answer if still due */
        hreq *h = hreq_new(l, c, hs, HR_GET);
        h->extra = extra_headers(l, r, hs);
        h->stream = stream;
        start_stream(h);
        hs_replay(hs, c, stream, after);
        hreq *post;
        DL_FOREACH(l->reqs, post) {
            if (post->hs == hs && post->kind == HR_POST && post->streaming && post->stream == stream)
                break;
        }
        if (post) {
            /* the waiting request takes over this connection; a client that resumes has lost
             * the one it had, even when the gateway has not seen that one close: its stream
             * is ended there */
            if (post->c) {
                http_conn *stale = post->c;
                http_conn_set_app_data(stale, NULL);
                http_stream_end(stale);
            }
            http_conn_set_app_data(c, post);
            post->c = c;
            h->c = NULL;
            hreq_free(h);
        } else {
            http_stream_end(c);
            hreq_free(h);
        }
        goto out;
    }
    if (hs->get) {
        send_error(c, 409, extra, NULL, -32000, "Conflict: Only one SSE stream is allowed per session");
        goto out;
    }
    hreq *h = hreq_new(l, c, hs, HR_GET);
    h->extra = extra_headers(l, r, hs);
    hs->get = h;
    start_stream(h);
    send_priming(h);
    hs->delivered0 = hs_replay(hs, c, 0, resume ? after : hs->delivered0);
out:
    free(extra);
}

/* Answer what a session still has in flight, close its stream, forget it. */
static void end_session(listener *l, hsession *hs, const char *why)
{
    hreq *h, *tmp;
    DL_FOREACH_SAFE(l->reqs, h, tmp) {
        if (h->hs != hs)
            continue;
        if (h->c && h->streaming)
            http_stream_end(h->c);
        else if (h->c)
            send_error(h->c, 404, h->extra, NULL, -32001, why);
        hreq_free(h);
    }
    hs_free(hs);
}

static void on_delete(listener *l, http_conn *c, http_request *r)
{
    if (refused_as_modern(c, r, "sessions"))
        return;
    char *extra = extra_headers(l, r, NULL);
    hsession *hs = session_of(l, c, r, extra);
    if (hs) {
        mf_info("http", "session ended by the client", "session=%s", hs->id);
        end_session(l, hs, "Session terminated");
        http_respond(c, 200, NULL, extra, "", 0);
    }
    free(extra);
}

/* --- routing ----------------------------------------------------------------------- */

static void dispatch(listener *l, http_conn *c, http_request *r);

void ep_on_request(void *ud, http_conn *c, http_request *r)
{
    listener *l = ud;
    if (http_auth_metadata(l->conf.auth, c, r, l->conf.path))
        return;
    if (strcmp(r->path, l->conf.path) != 0) {
        http_respond(c, 404, "text/plain", NULL, "no MCP endpoint here\n", 21);
        return;
    }
    const char *why = http_check_host(&l->conf, http_header_get(r, "host"));
    if (!why)
        why = http_check_origin(&l->conf, http_header_get(r, "origin"));
    if (why) {
        mf_info("http", "request forbidden", "peer=%s reason=\"%s\"", http_conn_peer(c), why);
        char text[160];
        snprintf(text, sizeof text, "Forbidden: %s", why);
        send_error(c, 403, NULL, NULL, -32000, text);
        return;
    }
    /* who calls, before anything else is looked at; a preflight carries no credentials */
    auth_who who;
    char reason[256];
    auth_verdict v = r->method == HTTP_OPTIONS && !http_ws_wanted(r)
                         ? (memset(&who, 0, sizeof who), AUTH_OK)
                         : http_auth_request(l->conf.auth, c, r, &who, reason, sizeof reason);
    if (v != AUTH_OK) {
        char *extra = extra_headers(l, r, NULL);
        http_auth_refuse(l->conf.auth, c, r, v, extra, who.bad_token);
        free(extra);
        auth_who_clear(&who);
        return;
    }
    l->who = &who;
    dispatch(l, c, r);
    l->who = NULL;
    auth_who_clear(&who);
}

static void dispatch(listener *l, http_conn *c, http_request *r)
{
    if (http_ws_wanted(r)) {
        ep_ws_upgrade(l, c, r);
        return;
    }
    if (l->conf.ws_only) {
        static const char text[] = "this endpoint speaks WebSocket only: send GET with Upgrade: websocket\n";
        http_respond(c, 426, "text/plain", "Upgrade: websocket\r\n", text, sizeof text - 1);
        return;
    }
    switch (r->method) {
    case HTTP_POST:
        on_post(l, c, r);
        break;
    case HTTP_GET:
        on_get(l, c, r);
        break;
    case HTTP_DELETE:
        on_delete(l, c, r);
        break;
    case HTTP_OPTIONS: {
        char *extra = extra_headers(l, r, NULL);
        char *params = preflight_param_headers(r);
        size_t n = strlen(extra) + strlen(params) + 400;
        char *buf = mf_xmalloc(n);
        snprintf(buf, n,
                 "%sAllow: GET, POST, DELETE, OPTIONS\r\n"
                 "Access-Control-Allow-Methods: GET, POST, DELETE\r\n"
                 "Access-Control-Allow-Headers: Content-Type, Accept, Authorization, Mcp-Session-Id, "
                 "MCP-Protocol-Version, Mcp-Method, Mcp-Name, Last-Event-ID%s\r\n"
                 "Access-Control-Max-Age: 86400\r\n", extra, params);
        http_respond(c, 204, NULL, buf, "", 0);
        free(buf);
        free(params);
        free(extra);
        break;
    }
    default:
        send_error(c, 405, "Allow: GET, POST, DELETE, OPTIONS\r\n", NULL, -32000, "Method Not Allowed");
    }
}

void ep_on_close(void *ud, http_conn *c)
{
    (void)ud;
    hreq *h = http_conn_app_data(c);
    if (!h)
        return;
    h->c = NULL;
    if (h->kind == HR_GET || h->kind == HR_WS || h->modern) {
        /* a stream with no client is over; in 2026-07-28 a closed request is cancelled */
        hreq_free(h);
    }
    /* a session-era request goes on: closing is not cancelling, and its answer can be
     * resumed when it was streamed */
}

/* --- from the kernel ----------------------------------------------------------------- */

static int modern_status(const mf_msg *m)
{
    if (m->flags & MF_MSGF_MALFORMED)
        return 400;
    if (m->flags & MF_MSGF_RATE_LIMITED)
        return 429;
    json_t *e = json_object_get(m->json, "error");
    json_int_t code = json_integer_value(json_object_get(e, "code"));
    if (e && code == MF_RPC_METHOD_NOT_FOUND)
        return 404;
    /* SEP-2575: a request refused for a capability its client did not declare is a bad
     * request, whoever refused it (an upstream's refusal comes back as its error) */
    if (e && code == MF_RPC_MISSING_CLIENT_CAPABILITY)
        return 400;
    return 200;
}

static void write_event(hreq *h, const json_t *msg)
{
    size_t len;
    char *text = h->hs ? hs_record(h->hs, h->stream, msg, &len) : NULL;
    if (!h->hs) {
        size_t dl;
        char *data = mf_rpc_dump(msg, &dl);
        text = sse_format(NULL, data ? data : "", dl, &len);   /* 2026-07-28 events carry no ids */
        free(data);
    }
    if (text && h->c)
        http_stream_write(h->c, text, len);
    free(text);
}

/* 429 with Retry-After, in whole seconds rounded up, from the error's data.retryAfterMs. */
static void send_rate_limited(http_conn *c, const char *extra, const json_t *answer)
{
    json_t *data = json_object_get(json_object_get(answer, "error"), "data");
    json_int_t ms = json_integer_value(json_object_get(data, "retryAfterMs"));
    size_t n = (extra ? strlen(extra) : 0) + 40;
    char *headers = mf_xmalloc(n);
    snprintf(headers, n, "%sRetry-After: %lld\r\n", extra ? extra : "", (long long)(ms > 0 ? (ms + 999) / 1000 : 1));
    send_json(c, 429, headers, answer);
    free(headers);
}

/* The last thing h waited for is here: m, its answer (NULL when nothing more is to be
 * written: a batch's answers are in h->answers or already streamed, or the kernel said the
 * request was cancelled). The exchange ends and h goes.
 *
 * A cancelled request gets no JSON-RPC answer (the client asked for none) but its HTTP
 * exchange must still end: a stream ends with the events it had; a POST not yet streaming
 * gets 202 Accepted with no body, the answer the transport gives to what has no JSON-RPC
 * response, which both the TypeScript and the Python SDK clients take as "nothing to read"
 * (a 204, or 200 without a content type, is an error to them). */
static void complete(hreq *h, const mf_msg *m)
{
    http_conn *c = h->c;
    if (!c)
        mf_debug("http", "an answer for a request whose connection has gone", "session=%s",
                 h->hs ? h->hs->id : "-");
    else if (h->streaming)
        http_stream_end(c);
    else if (h->batch && json_array_size(h->answers))
        send_json(c, 200, h->extra, h->answers);
    else if (m && h->modern && (m->flags & MF_MSGF_RATE_LIMITED))
        send_rate_limited(c, h->extra, m->json);
    else if (m)
        send_json(c, h->modern ? modern_status(m) : 200, h->extra, m->json);
    else
        http_respond(c, 202, NULL, h->extra, "", 0);
    /* c may be closing now; it is still there until ep_on_close, which no longer finds h */
    hreq_free(h);
}

/* Write a batch's answers collected so far as events of its stream. */
static void flush_answers(hreq *h)
{
    size_t i;
    json_t *a;
    json_array_foreach(h->answers, i, a) write_event(h, a);
    json_array_clear(h->answers);
}

/* An answer for h from the kernel, or NULL: the kernel dropped the request (the client
 * cancelled it) and no answer will come. */
static void answer(hreq *h, const mf_msg *m)
{
    hsession *hs = h->hs;
    bool failed_init = false;
    if (h->initialize) {
        json_t *result = m ? json_object_get(m->json, "result") : NULL;
        if (result) {
            hs->ready = true;
            snprintf(hs->protocol, sizeof hs->protocol, "%s",
                     json_string_value(json_object_get(result, "protocolVersion")) ?: "");
            mf_info("http", "session started", "session=%s protocol=%s peer=%s", hs->id,
                    hs->protocol, h->c ? http_conn_peer(h->c) : "?");
        } else {
            failed_init = true;
        }
    }
    h->waiting--;
    if (m && h->streaming)
        write_event(h, m->json);   /* a batch's too: a stream carries each answer as it comes */
    else if (m && h->batch)
        json_array_append(h->answers, m->json);
    if (h->batch && h->waiting > 0)
        return;
    complete(h, h->batch || h->streaming ? NULL : m);
    if (failed_init)
        hs_free(hs);
}

/* Something that belongs to request h comes before its answer: stream. */
static void related(hreq *h, const json_t *msg)
{
    if (!h->streaming) {
        if (h->hs)
            h->stream = h->hs->next_stream++;
        start_stream(h);
        send_priming(h);
        if (h->batch)
            flush_answers(h);   /* from now on the batch's answers go out as events */
    }
    write_event(h, msg);
}

/* Something for the session as a whole: its GET stream, or kept until one opens. */
static void unrelated(hsession *hs, const json_t *msg)
{
    size_t len;
    char *text = hs_record(hs, 0, msg, &len);
    /* counted as delivered only when written: a stream whose connection is closing is not
     * told, and the event is replayed when the client comes back */
    if (text && hs->get && hs->get->c && http_stream_write(hs->get->c, text, len) == 0)
        hs->delivered0 = hs->next_seq - 1;
    free(text);
}

void ep_from_kernel(listener *l, mf_msg *m)
{
    corr_entry *e = NULL;
    if (m->corr)
        HASH_FIND(hh, l->corrs, &m->corr, sizeof m->corr, e);
    hreq *h = e ? e->h : NULL;
    if (ep_ws_from_kernel(l, h, e, m)) {
        mf_msg_free(m);
        return;
    }
    if (m->kind == MF_MSG_RESPONSE || m->kind == MF_MSG_CANCEL) {
        /* a cancel: the client cancelled the request and the kernel sends no answer */
        if (e) {
            HASH_DEL(l->corrs, e);
            free(e);
            answer(h, m->kind == MF_MSG_RESPONSE ? m : NULL);
        } else {
            mf_debug("http", "an answer for a request no longer here", "corr=%llu", (unsigned long long)m->corr);
        }
    } else if (m->kind == MF_MSG_NOTIFY || m->kind == MF_MSG_REQUEST) {
        if (h) {
            related(h, m->json);
        } else if (!m->corr) {
            hsession *hs = hs_find_sid(l, m->session);
            if (hs && hs->ready)
                unrelated(hs, m->json);
        }
    }
    mf_msg_free(m);
}

void ep_shutdown(listener *l)
{
    hreq *h, *tmp;
    DL_FOREACH_SAFE(l->reqs, h, tmp) {
        if (h->c && h->streaming)
            http_stream_end(h->c);
        else if (h->c && h->kind == HR_POST)
            send_error(h->c, 503, h->extra, NULL, MF_RPC_SHUTTING_DOWN, "the gateway is shutting down");
        hreq_free(h);
    }
    hsession *hs, *t2;
    HASH_ITER(hh_id, l->by_id, hs, t2) {
        hs_free(hs);
    }
}
