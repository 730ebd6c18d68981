/* Upstream HTTP: an MCP server reached over Streamable HTTP, in whichever era it speaks.
 *
 * The provider first asks server/discover (revision 2026-07-28); a server that answers
 * it is spoken to statelessly, every request carrying its envelope and headers. Any
 * other answer means the session era: initialize, keep the Mcp-Session-Id, open the GET
 * stream for what the server sends unasked, and initialize again when the server says
 * the session is gone (404, or 400 to a request that named the session).
 *
 * With `urls`, each URL is a replica: a target of its own for the kernel's routing, with
 * its own era, session, GET stream and reconnection. A call goes to the replica the routing
 * named, and to no other: when that replica is not connected, the call is answered -32010
 * at once, never held, so that the kernel tries its next target or waits for one itself.
 * The kernel's own requests, which name no target, go to the ready replica with the
 * fewest calls in flight, or wait in a bounded queue for one.
 *
 * A replica that failed three attempts in a row is failed: the calls waiting for it are
 * answered -32010, and when every replica is, calls are refused at once until an attempt
 * succeeds. A call that failed before its upstream received it (no connection, no address,
 * not sent) is answered -32010 too, which lets the kernel try the next target. */
#include "client.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <uthash.h>
#include <utlist.h>

const char *hp_name(const hprov *p) { return mf_instance_name(p->inst); }
static void connect_upstream(hrep *r);
static void exchange_done(xchg *x);
static void send_call(hrep *r, mf_msg *m, bool retried);

/* --- configuration ------------------------------------------------------------------ */

typedef struct settings {
    cred_settings cred;   /* first: the exchange table's offsets are a cred_settings' */
    http_upstream_settings up;
    const char *protocol;
} settings;
_Static_assert(offsetof(settings, cred) == 0, "cred_settings begins the settings");

static const char *const protocols[] = {"auto", "2026-07-28", "2025-11-25", "2025-06-18", "2025-03-26", NULL};

#define S(field) MF_AT(settings, field)
const mf_setting http_provider_settings[] = {
    HTTP_UPSTREAM_SETTINGS(S, "http:// or https://", "connecting"),
    {"replicas", MF_SET_VALUE, .doc = "refused: one replica per URL, listed in urls"},
    {"protocol", MF_SET_STRING, .def = "auto", .choices = protocols, .at = S(protocol),
     .doc = "auto (server/discover, else initialize), or a revision to insist on"},
    HTTP_CREDENTIAL_SETTINGS(S),
    {0},
};
#undef S

static bool http_url(const char *url)
{
    return strncasecmp(url, "http://", 7) == 0 || strncasecmp(url, "https://", 8) == 0;
}

/* What the table cannot say: `url` or `urls`, one of the two, and their schemes. */
static int check(const json_t *conf, const char *path, mf_error *err)
{
    settings st = {0};
    mf_settings_check(conf, path, http_provider_settings, &st, NULL);
    if (json_object_get(conf, "replicas")) {
        mf_error_set(err, -1, "%s.replicas: the http transport has one replica per URL: list them in urls", path);
        return -1;
    }
    if (http_check_urls(&st.up, path, http_url, "an http:// or https:// URL", err))
        return -1;
    return cred_check(conf, path, err);
}

/* --- answers to the kernel ---------------------------------------------------------- */

void hp_reply_error(hprov *p, mf_msg *req, int code, const char *text)
{
    mf_send(mf_msg_reply_error(req, mf_instance_ep(p->inst), code, "%s", text));
}

/* The ready replica with the fewest calls in flight: for the kernel's own requests, which
 * are for the provider as a whole. */
static hrep *pick(hprov *p)
{
    hrep *best = NULL;
    for (int i = 0; i < p->nreps; i++) {
        hrep *r = &p->reps[i];
        if (r->state == P_READY && (!best || r->inflight < best->inflight))
            best = r;
    }
    return best;
}

/* The target the kernel named in request m (1-based; 0 for none). */
static json_int_t target_of(const mf_msg *m)
{
    return json_integer_value(json_object_get(m->json, "target"));
}

/* The replica that serves m now: the one the kernel named when it is ready, or for a
 * request that names none, any ready one; NULL when it must wait or be refused. */
static hrep *server_of(hprov *p, const mf_msg *m)
{
    json_int_t t = target_of(m);
    if (!t)
        return pick(p);
    return t >= 1 && t <= p->nreps && p->reps[t - 1].state == P_READY ? &p->reps[t - 1] : NULL;
}

/* Why the replica m names cannot take it now, or NULL when m names none (it may wait for
 * any): a call for one replica is never held, the kernel decides where it goes next. */
static const char *cannot_take(const hprov *p, const mf_msg *m)
{
    json_int_t t = target_of(m);
    if (!t)
        return NULL;
    if (t < 1 || t > p->nreps)
        return "does not exist";
    return p->reps[t - 1].state == P_FAILED ? "has failed" : "is not connected";
}

/* Answer the requests waiting for replica r with an error; the others keep waiting, in
 * order. */
static void fail_waiting(hprov *p, const hrep *r, int code, const char *why)
{
    mf_msgq keep = {0};
    for (mf_msg *m; (m = mf_msgq_pop(&p->queue));) {
        if (target_of(m) == r->index + 1) {
            hp_reply_error(p, m, code, why);
            mf_msg_free(m);
        } else {
            mf_msgq_push(&keep, m);
        }
    }
    p->queue = keep;
}

static bool any_ready(const hprov *p)
{
    for (int i = 0; i < p->nreps; i++)
        if (p->reps[i].state == P_READY)
            return true;
    return false;
}

static bool all_failed(const hprov *p)
{
    for (int i = 0; i < p->nreps; i++)
        if (p->reps[i].state != P_FAILED)
            return false;
    return true;
}

/* Send the waiting requests whose replica is ready; the others keep waiting, in order. */
static void flush_queue(hprov *p)
{
    mf_msgq keep = {0};
    for (mf_msg *m; (m = mf_msgq_pop(&p->queue));) {
        hrep *r = server_of(p, m);
        if (!r) {
            mf_msgq_push(&keep, m);
            continue;
        }
        bool retried = (m->flags & RETRIED_FLAG) != 0;
        m->flags &= ~RETRIED_FLAG;
        send_call(r, m, retried);
    }
    p->queue = keep;
}

/* --- requests -------------------------------------------------------------------- */

static bool plain_header_value(const char *s)
{
    if (!*s || *s == ' ' || s[strlen(s) - 1] == ' ' || strncmp(s, "=?", 2) == 0)
        return false;
    for (const unsigned char *c = (const unsigned char *)s; *c; c++)
        if (*c < 0x20 || *c > 0x7e)
            return false;
    return true;
}

/* Header values that are not plain ASCII travel as "=?base64?...?=". */
static char *encode_header_value(const char *s)
{
    static const char tbl[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    if (plain_header_value(s))
        return strdup(s);
    size_t n = strlen(s);
    char *out = malloc(12 + (n + 2) / 3 * 4);
    size_t o = 0;
    memcpy(out, "=?base64?", 9);
    o = 9;
    for (size_t i = 0; i < n; i += 3) {
        unsigned v = (unsigned char)s[i] << 16;
        if (i + 1 < n) v |= (unsigned char)s[i + 1] << 8;
        if (i + 2 < n) v |= (unsigned char)s[i + 2];
        out[o++] = tbl[(v >> 18) & 63];
        out[o++] = tbl[(v >> 12) & 63];
        out[o++] = i + 1 < n ? tbl[(v >> 6) & 63] : '=';
        out[o++] = i + 2 < n ? tbl[v & 63] : '=';
    }
    memcpy(out + o, "?=", 3);
    return out;
}

struct curl_slist *hp_headers(hrep *r, const csess *cs, const char *auth, const char *accept)
{
    hprov *p = r->p;
    struct curl_slist *h = NULL;
    for (struct curl_slist *c = p->headers; c; c = c->next)
        if (!auth || strncasecmp(c->data, "authorization:", 14) != 0)   /* the caller's replaces it */
            h = curl_slist_append(h, c->data);
    char line[256];
    snprintf(line, sizeof line, "Accept: %s", accept);
    h = curl_slist_append(h, line);
    const char *session = cs ? callers_session_id(cs) : r->era == ERA_LEGACY ? r->session : NULL;
    const char *protocol = cs ? callers_protocol(cs) : r->protocol;
    if (session) {
        snprintf(line, sizeof line, "Mcp-Session-Id: %.200s", session);
        h = curl_slist_append(h, line);
    }
    if (protocol[0]) {
        snprintf(line, sizeof line, "MCP-Protocol-Version: %s", protocol);
        h = curl_slist_append(h, line);
    }
    if (auth) {
        char *a = malloc(strlen(auth) + 16);
        sprintf(a, "Authorization: %s", auth);
        h = curl_slist_append(h, a);
        explicit_bzero(a, strlen(a));
        free(a);
    }
    return h;
}

/* The Authorization value exchange x carries: its caller session's, or its call's. */
static const char *auth_of(const xchg *x)
{
    if (x->cs)
        return callers_auth(x->cs);
    return x->kind == X_CALL && x->msg ? cred_auth(x->msg) : NULL;
}

static void on_head(hc_req *r, long status, void *ud);
static void on_data(hc_req *r, const char *buf, size_t len, void *ud);
static void on_done(hc_req *r, CURLcode rc, long status, const char *error, void *ud);
static const hc_ops ops = {on_head, on_data, on_done};

static xchg *xchg_new_on(hrep *r, csess *cs, xkind kind)
{
    hprov *p = r->p;
    xchg *x = calloc(1, sizeof *x);
    x->p = p;
    x->r = r;
    x->kind = kind;
    x->cs = cs;
    if (cs)
        callers_ref(cs, 1);
    DL_APPEND(p->all, x);
    return x;
}

static xchg *xchg_new(hrep *r, xkind kind) { return xchg_new_on(r, NULL, kind); }

void hp_xchg_free(xchg *x)
{
    hprov *p = x->p;
    DL_DELETE(p->all, x);
    if (x->kind == X_CALL && x->msg)
        HASH_DEL(p->calls, x);
    if (x->kind == X_CALL)
        x->r->inflight--;
    if (x->r->get == x)
        x->r->get = NULL;
    if (p->listen == x)
        p->listen = NULL;
    if (x->cs)
        callers_ref(x->cs, -1);
    if (x->sse)
        sse_parser_free(&x->parser);
    free(x->body);
    mf_msg_free(x->msg);
    free(x);
}

/* Headers may hold a caller's token: wiped before they are freed. */
/* POST msg (a JSON-RPC message); extra headers for this one, taken over. The lines are
 * linked, not copied: a call's list goes to hc_start whole, which keeps it. */
static int post(xchg *x, const json_t *msg, struct curl_slist *extra, long timeout_ms)
{
    hrep *r = x->r;
    hprov *p = r->p;
    size_t len;
    char *body = mf_rpc_dump(msg, &len);
    struct curl_slist *h = hp_headers(r, x->cs, auth_of(x), "application/json, text/event-stream");
    h = curl_slist_append(h, "Content-Type: application/json");
    struct curl_slist *last = h;
    while (last->next)
        last = last->next;
    last->next = extra;
    hc_options o = {.method = "POST", .url = r->url, .headers_taken = h, .body = body, .body_len = len,
                    .timeout_ms = timeout_ms, .connect_timeout_ms = p->connect_timeout_ms,
                    .insecure = p->insecure, .ca_file = p->ca_file,
                    .cert_file = p->cert_file, .key_file = p->key_file};
    mf_error err = {0};
    x->req = hc_start(&o, &ops, x, &err);
    free(body);
    return x->req ? 0 : -1;
}

xchg *hp_post(hrep *r, csess *cs, xkind kind, const json_t *msg, long timeout_ms)
{
    xchg *x = xchg_new_on(r, cs, kind);
    if (post(x, msg, NULL, timeout_ms)) {
        hp_xchg_free(x);
        return NULL;
    }
    return x;
}

/* The envelope and headers of revision 2026-07-28 for a request of ours, on behalf of a
 * client with caps (NULL: none). */
/* Append "<name>: <value>" to a request's headers, the value encoded as headers need. */
static void add_header(struct curl_slist **extra, const char *name, const char *value)
{
    char *v = encode_header_value(value);
    char *hl = malloc(strlen(name) + strlen(v) + 3);
    sprintf(hl, "%s: %s", name, v);
    *extra = curl_slist_append(*extra, hl);
    free(hl);
    free(v);
}

static json_t *modern_request(json_t *req, struct curl_slist **extra, json_t *caps)
{
    json_t *params = json_object_get(req, "params");
    if (!json_is_object(params)) {
        params = json_object();
        json_object_set_new(req, "params", params);
    }
    json_t *meta = json_object_get(params, "_meta");
    meta = json_is_object(meta) ? json_copy(meta) : json_object();
    json_object_set_new(meta, MF_META_PROTOCOL_VERSION, json_string(MF_PROTOCOL_MODERN));
    json_object_set_new(meta, MF_META_CLIENT_CAPABILITIES,
                        json_is_object(caps) ? json_deep_copy(caps) : json_object());
    json_object_set_new(meta, MF_META_CLIENT_INFO,
                        json_pack("{s:s,s:s}", "name", "mcpfed", "version", mf_version()));
    json_object_set_new(params, "_meta", meta);
    const char *method = mf_rpc_method(req);
    char line[600];
    snprintf(line, sizeof line, "Mcp-Method: %.500s", method);
    *extra = curl_slist_append(*extra, line);
    const char *key = strcmp(method, "tools/call") == 0 || strcmp(method, "prompts/get") == 0 ? "name"
                      : strcmp(method, "resources/read") == 0 ? "uri" : NULL;
    const char *name = key ? json_string_value(json_object_get(params, key)) : NULL;
    if (name)
        add_header(extra, "Mcp-Name", name);
    return req;
}

/* W3C trace context: the kernel puts the call's traceparent (and the client's tracestate)
 * in params._meta; an HTTP upstream reads them from headers too. Only a well-formed
 * value is copied: nothing of a client's can add a header line. */
static void trace_headers(const json_t *params, struct curl_slist **extra)
{
    json_t *meta = json_object_get(params, "_meta"), *tpj = json_object_get(meta, "traceparent");
    const char *tp = json_string_value(tpj);
    if (!tp || json_string_length(tpj) != 55 || strspn(tp, "0123456789abcdef-") != 55)
        return;
    char line[600];
    memcpy(line, "traceparent: ", 13);
    memcpy(line + 13, tp, 56);
    *extra = curl_slist_append(*extra, line);
    /* the usual _meta holds the traceparent alone: no lookup more */
    const char *ts = json_object_size(meta) > 1 ? json_string_value(json_object_get(meta, "tracestate")) : NULL;
    size_t n = ts ? strlen(ts) : 0;
    bool printable = n && n <= 512;
    for (size_t i = 0; printable && i < n; i++)
        printable = ts[i] >= 0x20 && ts[i] <= 0x7e;
    if (printable) {
        memcpy(line, "tracestate: ", 12);
        memcpy(line + 12, ts, n + 1);
        *extra = curl_slist_append(*extra, line);
    }
}

static long call_timeout(const mf_msg *m)
{
    uint64_t now = mf_now();
    /* past the kernel's deadline the kernel answers: a little slack avoids racing it */
    return m->deadline > now ? (long)(m->deadline - now) + 1000 : 0;
}

xchg *hp_post_modern(hrep *r, xkind kind, json_t *req, long timeout_ms)
{
    struct curl_slist *extra = NULL;
    modern_request(req, &extra, NULL);
    xchg *x = xchg_new(r, kind);
    int rc = post(x, req, extra, timeout_ms);
    if (rc) {
        hp_xchg_free(x);
        return NULL;
    }
    return x;
}

static void send_call(hrep *r, mf_msg *m, bool retried)
{
    const char *auth = cred_auth(m);
    if (auth && r->era == ERA_LEGACY) {   /* on the caller's own session with the upstream */
        callers_call(r, m, auth, retried);
        return;
    }
    hp_send_on(r, NULL, m, retried);
}

void hp_send_on(hrep *r, csess *cs, mf_msg *m, bool retried)
{
    hprov *p = r->p;
    if (r->era == ERA_MODERN && hp_listen_request(r, m))
        return;
    xchg *x = xchg_new_on(r, cs, X_CALL);
    r->inflight++;
    x->msg = m;
    x->retried = retried;
    x->upid = p->next_id++;
    HASH_ADD(hh, p->calls, msg->corr, sizeof m->corr, x);
    json_t *req = json_pack("{s:s,s:I,s:O}", "jsonrpc", "2.0", "id", (json_int_t)x->upid, "method",
                            json_object_get(m->json, "method"));
    json_t *params = json_object_get(m->json, "params");
    if (params)
        json_object_set_new(req, "params", json_deep_copy(params));
    struct curl_slist *extra = NULL;
    trace_headers(params, &extra);
    if (r->era == ERA_MODERN) {   /* the upstream may ask what this client can answer */
        modern_request(req, &extra, json_object_get(m->json, "clientCapabilities"));
        /* SEP-2243: the arguments the tool mirrors in headers, as the kernel found them */
        const char *k;
        json_t *v;
        json_object_foreach(json_object_get(m->json, "paramHeaders"), k, v) {
            char name[300];
            snprintf(name, sizeof name, "Mcp-Param-%.280s", k);
            if (json_is_string(v))
                add_header(&extra, name, json_string_value(v));
        }
    }
    int rc = post(x, req, extra, call_timeout(m));
    json_decref(req);
    if (rc) {
        /* nothing went out: another target may take it */
        hp_reply_error(p, m, MF_RPC_UNAVAILABLE, "cannot send the request upstream");
        x->msg = NULL;
        HASH_DEL(p->calls, x);
        mf_msg_free(m);
        hp_xchg_free(x);
    }
}

/* --- what the upstream sends ------------------------------------------------------- */

/* POST a message (a response, a notification) to the upstream, on cs's session or r's;
 * nothing waits for it. */
static void post_oneway_on(hrep *r, csess *cs, const json_t *msg)
{
    hp_post(r, cs, X_NOTIFY, msg, r->p->init_timeout_ms);
}

static void post_oneway(hrep *r, json_t *msg) { post_oneway_on(r, NULL, msg); }

/* Where a request the upstream makes on exchange x came from, as the asks keep it: the
 * replica's index, and the caller's session (its serial) above ASK_REPLICA_BITS. */
#define ASK_REPLICA_BITS 9
_Static_assert(HTTP_MAX_URLS <= 1 << ASK_REPLICA_BITS, "a replica index fits below the caller's serial");
static int ask_origin(const xchg *x)
{
    return x->r->index | (x->cs ? (int)(callers_serial(x->cs) << ASK_REPLICA_BITS) : 0);
}

/* The upstream asks something of a client: ping is ours to answer; the rest goes to the
 * kernel, told which call it came with when it came on that call's stream. */
static void on_server_request(hprov *p, xchg *x, json_t *msg)
{
    json_t *id = json_object_get(msg, "id");
    if (strcmp(mf_rpc_method(msg), "ping") == 0) {
        json_t *resp = mf_rpc_result(id, json_object());
        post_oneway_on(x->r, x->cs, resp);
        json_decref(resp);
        return;
    }
    asks_forward(&p->asks, p->inst, msg, ask_origin(x), x->kind == X_CALL && x->msg ? x->msg->corr : 0);
}

/* One message from the upstream, in a response body or an SSE event. */
static void on_message(xchg *x, json_t *msg)
{
    hprov *p = x->p;
    switch (mf_rpc_classify(msg, NULL)) {
    case MF_RPC_RESPONSE:
        if (x->kind == X_CALL && x->msg && !x->answered) {
            json_t *id = json_object_get(msg, "id");
            if (json_is_integer(id) && json_integer_value(id) == x->upid) {
                x->answered = true;
                mf_send(mf_msg_reply(x->msg, mf_instance_ep(p->inst), json_incref(msg)));
            }
        } else if (x->kind == X_INITIALIZE && x->cs) {
            callers_init_message(x, msg);
        } else if ((x->kind == X_DISCOVER || x->kind == X_INITIALIZE) && !x->answered) {
            x->answered = true;
            json_decref(x->r->init);
            x->r->init = json_incref(msg);
        }
        break;
    case MF_RPC_NOTIFICATION:
        if (strcmp(mf_rpc_method(msg), "notifications/cancelled") == 0)
            asks_cancelled(&p->asks, p->inst, msg, ask_origin(x));   /* the upstream takes one back */
        else
            mf_provider_notify(p->inst, json_incref(msg), x->kind == X_CALL && x->msg ? x->msg->corr : 0);
        break;
    case MF_RPC_REQUEST:
        on_server_request(p, x, msg);
        break;
    default:
        mf_warn("http", "upstream sent an invalid JSON-RPC message", "provider=%s", hp_name(p));
    }
}

static void on_event(void *ud, const sse_event *e)
{
    xchg *x = ud;
    if (x->kind == X_GET && e->id) {
        free(x->r->last_event_id);
        x->r->last_event_id = strdup(e->id);
    }
    if (e->retry_ms >= 0 && x->kind == X_GET)
        x->r->get_retry_ms = e->retry_ms;
    if (!e->data_len)
        return;   /* priming or keep-alive */
    json_t *msg = mf_rpc_parse(e->data, e->data_len, NULL);
    if (!msg) {
        mf_warn("http", "upstream sent an event that is not JSON", "provider=%s", hp_name(x->p));
        return;
    }
    on_message(x, msg);
    json_decref(msg);
}

static void on_head(hc_req *r, long status, void *ud)
{
    xchg *x = ud;
    x->status = status;
    const char *ct = hc_header(r, "content-type");
    if (status >= 200 && status < 300 && ct && strncasecmp(ct, "text/event-stream", 17) == 0) {
        x->sse = true;
        sse_parser_init(&x->parser, x->p->max_message, on_event, x);
    }
    if (x->kind == X_INITIALIZE && x->cs) {
        callers_init_head(x, hc_header(r, "mcp-session-id"));
    } else if (x->kind == X_INITIALIZE) {
        const char *sid = hc_header(r, "mcp-session-id");
        free(x->r->session);
        x->r->session = sid ? strdup(sid) : NULL;
    }
}

static void on_data(hc_req *r, const char *buf, size_t len, void *ud)
{
    (void)r;
    xchg *x = ud;
    if (x->sse) {
        sse_parser_feed(&x->parser, buf, len);
        return;
    }
    if (x->too_big || x->len + len > x->p->max_message) {
        x->too_big = true;
        return;
    }
    mf_buf_append(&x->body, &x->len, &x->cap, buf, len);
}

/* --- connecting -------------------------------------------------------------------- */

static void set_error(hrep *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void set_error(hrep *r, const char *fmt, ...)
{
    char buf[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    free(r->last_error);
    r->last_error = strdup(buf);
}

static void connect_failed(hrep *r)
{
    hprov *p = r->p;
    if (p->stopping || p->draining)
        return;
    r->failures++;
    uint64_t delay = p->backoff_min_ms;
    for (unsigned i = 1; i < r->failures && delay < p->backoff_max_ms; i++)
        delay *= 2;
    if (delay > p->backoff_max_ms)
        delay = p->backoff_max_ms;
    mf_warn("http", "cannot reach the upstream; retrying", "provider=%s url=%s in_ms=%llu reason=\"%s\" target=%d",
            hp_name(p), r->url, (unsigned long long)delay, mf_log_esc(r->last_error, (size_t)-1), r->index + 1);
    if (r->state == P_READY)
        mf_provider_target_status(p->inst, r->index, false);
    if (r->failures >= FAIL_AFTER && r->state != P_FAILED) {
        r->state = P_FAILED;
        char why[600];
        snprintf(why, sizeof why, "provider %s: the upstream %s is unavailable: %s", hp_name(p), r->url,
                 r->last_error);
        fail_waiting(p, r, MF_RPC_UNAVAILABLE, why);
    } else if (r->state != P_FAILED)
        r->state = P_DOWN;
    if (all_failed(p) && !p->failed) {
        p->failed = true;
        char why[600];
        snprintf(why, sizeof why, "provider %s is unavailable: %s", hp_name(p), r->last_error);
        mf_msgq_fail(&p->queue, mf_instance_ep(p->inst), MF_RPC_UNAVAILABLE, why);
        mf_provider_status(p->inst, MF_PROVIDER_FAILED, NULL, r->last_error);
    } else if (!p->failed && !any_ready(p)) {
        mf_provider_status(p->inst, MF_PROVIDER_DOWN, NULL, r->last_error);
    }
    hp_listen_lost(r);   /* before its timer is taken for connecting again */
    r->timer_for_get = false;
    uv_timer_start(&r->timer, hp_on_timer, delay, 0);
    if (p->saving)
        hp_hand_over_if_settled(p);
}

void hp_open_get(hrep *r)
{
    hprov *p = r->p;
    if (r->era == ERA_MODERN) {   /* no GET stream in 2026-07-28: the provider's listen instead */
        hp_listen_ensure(r);
        return;
    }
    if (r->era != ERA_LEGACY || !r->session || r->get || r->state != P_READY)
        return;
    xchg *x = xchg_new(r, X_GET);
    struct curl_slist *h = hp_headers(r, NULL, NULL, "text/event-stream");
    if (r->last_event_id) {
        char line[300];
        snprintf(line, sizeof line, "Last-Event-ID: %.250s", r->last_event_id);
        h = curl_slist_append(h, line);
    }
    hc_options o = {.method = "GET", .url = r->url, .headers = h, .connect_timeout_ms = p->connect_timeout_ms,
                    .insecure = p->insecure, .ca_file = p->ca_file,
                    .cert_file = p->cert_file, .key_file = p->key_file};
    mf_error err = {0};
    x->req = hc_start(&o, &ops, x, &err);
    curl_slist_free_all(h);
    if (!x->req)
        hp_xchg_free(x);
    else
        r->get = x;
}

static void became_ready(hrep *r, json_t *init_result)
{
    hprov *p = r->p;
    r->state = P_READY;
    r->failures = 0;
    p->failed = false;
    const char *server = json_string_value(json_object_get(json_object_get(init_result, "serverInfo"), "name"));
    mf_info("http", "upstream ready", "provider=%s url=%s era=%s protocol=%s session=%s server=\"%s\" target=%d",
            hp_name(p), r->url, r->era == ERA_MODERN ? "stateless" : "session", r->protocol,
            r->session ? r->session : "-", mf_log_esc(server, (size_t)-1), r->index + 1);
    mf_provider_target_status(p->inst, r->index, true);
    mf_provider_status(p->inst, MF_PROVIDER_UP, init_result, NULL);
    flush_queue(p);
    if (p->saving)
        hp_hand_over_if_settled(p);   /* the successor opens the GET stream */
    else
        hp_open_get(r);
}

json_t *hp_initialize_request(hprov *p, const char *version)
{
    return json_pack("{s:s,s:I,s:s,s:{s:s,s:o,s:{s:s,s:s}}}", "jsonrpc", "2.0", "id", (json_int_t)p->next_id++,
                     "method", "initialize", "params", "protocolVersion", version, "capabilities",
                     mf_client_capabilities(), "clientInfo", "name", "mcpfed", "version", mf_version());
}

static void start_initialize(hrep *r)
{
    hprov *p = r->p;
    r->era = ERA_LEGACY;
    r->protocol[0] = '\0';
    free(r->session);
    r->session = NULL;
    const char *want = strcmp(p->want, "auto") == 0 || strcmp(p->want, MF_PROTOCOL_MODERN) == 0
                           ? LEGACY_PROTOCOL : p->want;
    json_t *req = hp_initialize_request(p, want);
    xchg *x = xchg_new(r, X_INITIALIZE);
    if (post(x, req, NULL, p->init_timeout_ms)) {
        hp_xchg_free(x);
        set_error(r, "cannot start the initialize request");
        connect_failed(r);
    }
    json_decref(req);
}

static void connect_upstream(hrep *r)
{
    hprov *p = r->p;
    if (p->stopping)
        return;
    if (r->state != P_FAILED)
        r->state = P_CONNECTING;
    json_decref(r->init);
    r->init = NULL;
    if (strcmp(p->want, "auto") != 0 && strcmp(p->want, MF_PROTOCOL_MODERN) != 0) {
        start_initialize(r);
        return;
    }
    r->era = ERA_MODERN;
    snprintf(r->protocol, sizeof r->protocol, "%s", MF_PROTOCOL_MODERN);
    json_t *req = json_pack("{s:s,s:s,s:s,s:{}}", "jsonrpc", "2.0", "id", "mcpfed-discover",
                            "method", "server/discover", "params");
    struct curl_slist *extra = NULL;
    modern_request(req, &extra, NULL);
    xchg *x = xchg_new(r, X_DISCOVER);
    if (post(x, req, extra, p->init_timeout_ms)) {
        hp_xchg_free(x);
        set_error(r, "cannot start the discover request");
        connect_failed(r);
    }
    json_decref(req);
}

void hp_on_timer(uv_timer_t *t)
{
    hrep *r = t->data;
    if (r->timer_for_get)
        hp_open_get(r);
    else
        connect_upstream(r);
}

/* --- finished exchanges ------------------------------------------------------------ */

/* The body of a non-streamed answer, parsed into messages. */
static void consume_body(xchg *x)
{
    if (x->sse || !x->len || x->too_big)
        return;
    json_t *v = mf_rpc_parse(x->body, x->len, NULL);
    if (json_is_array(v)) {
        size_t i;
        json_t *m;
        json_array_foreach(v, i, m) on_message(x, m);
    } else if (v) {
        on_message(x, v);
    }
    json_decref(v);
}

static void discover_done(hrep *r, xchg *x, CURLcode rc)
{
    hprov *p = r->p;
    json_t *result = json_object_get(r->init, "result");
    json_t *versions = json_object_get(result, "supportedVersions");
    bool modern = false;
    size_t i;
    json_t *v;
    json_array_foreach(versions, i, v) {
        if (json_is_string(v) && strcmp(json_string_value(v), MF_PROTOCOL_MODERN) == 0)
            modern = true;
    }
    if (modern) {
        /* present it to the kernel as an initialize result would be */
        json_t *info = json_object_get(json_object_get(result, "_meta"), MF_META_SERVER_INFO);
        json_t *init = json_pack("{s:s,s:O,s:O}", "protocolVersion", MF_PROTOCOL_MODERN, "capabilities",
                                 json_object_get(result, "capabilities") ?: json_object(),
                                 "serverInfo", info ? info : json_object());
        json_t *instr = json_object_get(result, "instructions");
        if (instr)
            json_object_set(init, "instructions", instr);
        became_ready(r, init);
        json_decref(init);
        return;
    }
    if (rc != CURLE_OK) {
        set_error(r, "%s", curl_easy_strerror(rc));
        connect_failed(r);
        return;
    }
    if (x->status >= 500 || x->status == 401 || x->status == 403) {
        /* not an answer about eras: the server is failing, or wants credentials */
        set_error(r, "server/discover answered HTTP %ld", x->status);
        connect_failed(r);
        return;
    }
    if (strcmp(p->want, MF_PROTOCOL_MODERN) == 0) {
        set_error(r, "the upstream does not speak revision %s", MF_PROTOCOL_MODERN);
        connect_failed(r);
        return;
    }
    /* anything else says: the session era */
    start_initialize(r);
}

static void initialize_done(hrep *r, xchg *x, CURLcode rc, const char *error)
{
    json_t *result = json_object_get(r->init, "result");
    if (rc != CURLE_OK || !json_is_object(result)) {
        if (rc != CURLE_OK)
            set_error(r, "initialize: %s", error);
        else if (json_object_get(r->init, "error"))
            set_error(r, "initialize refused: %s",
                      json_string_value(json_object_get(json_object_get(r->init, "error"), "message")) ?: "?");
        else
            set_error(r, "initialize answered HTTP %ld without a result", x->status);
        connect_failed(r);
        return;
    }
    const char *version = json_string_value(json_object_get(result, "protocolVersion"));
    snprintf(r->protocol, sizeof r->protocol, "%s", version ? version : LEGACY_PROTOCOL);
    json_t *note = json_pack("{s:s,s:s}", "jsonrpc", "2.0", "method", "notifications/initialized");
    post_oneway(r, note);
    json_decref(note);
    became_ready(r, result);
}

/* The upstream forgot our session: initialize again, then send the call once more, to
 * the same replica (the call waits for it: the kernel named it). */
static void session_lost(hrep *r)
{
    hprov *p = r->p;
    if (r->state != P_READY || p->draining)
        return;
    mf_warn("http", "upstream session expired; initializing again", "provider=%s session=%s target=%d",
            hp_name(p), r->session ? r->session : "-", r->index + 1);
    if (r->get) {
        hc_cancel(r->get->req);
        hp_xchg_free(r->get);
    }
    free(r->last_event_id);
    r->last_event_id = NULL;
    r->state = P_CONNECTING;
    mf_provider_target_status(p->inst, r->index, false);
    start_initialize(r);
}

/* Did the request fail before the upstream could have received it? Then it was not acted
 * on, and another target may take it. */
bool hp_never_received(CURLcode rc)
{
    switch (rc) {
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_RESOLVE_PROXY:
    case CURLE_COULDNT_CONNECT:
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SEND_ERROR:   /* the request did not go out whole */
        return true;
    default:
        return false;
    }
}

static void call_done(hrep *r, xchg *x, CURLcode rc, const char *error)
{
    hprov *p = r->p;
    mf_msg *m = x->msg;
    if (x->answered)
        return;
    /* 404 is the spec's word for a forgotten session; some servers say 400 (with an
     * error that has no id) to a request naming a session they do not know */
    bool gone = r->era == ERA_LEGACY && (x->cs ? callers_session_id(x->cs) != NULL : r->session != NULL) &&
                rc == CURLE_OK && (x->status == 404 || x->status == 400);
    if (gone && !x->retried) {
        x->msg = NULL;   /* taken back for the retry */
        HASH_DEL(p->calls, x);
        if (x->cs && !p->draining) {
            callers_session_lost(x->cs, m);
            return;
        }
        if (p->draining) {
            /* the session is the successor's now: it renews it and sends the call again */
            mf_instance_forward(p->inst, m);
            return;
        }
        m->flags |= RETRIED_FLAG;   /* it goes out again once, after the new initialize */
        mf_msgq_push_front(&p->queue, m);
        session_lost(r);
        return;
    }
    char why[600];
    if (hp_never_received(rc)) {
        snprintf(why, sizeof why, "provider %s: the upstream %s did not receive the request: %s", hp_name(p),
                 r->url, error);
        hp_reply_error(p, m, MF_RPC_UNAVAILABLE, why);
        if (rc != CURLE_SEND_ERROR && r->state == P_READY) {
            set_error(r, "%s", error);
            connect_failed(r);
        }
        return;
    }
    if (rc != CURLE_OK)
        snprintf(why, sizeof why, "provider %s: the upstream request failed: %s", hp_name(p), error);
    else if (x->too_big)
        snprintf(why, sizeof why, "provider %s: the upstream's answer is larger than max_message_bytes",
                 hp_name(p));
    else
        snprintf(why, sizeof why, "provider %s: the upstream answered HTTP %ld without a response",
                 hp_name(p), x->status);
    hp_reply_error(p, m, MF_RPC_UPSTREAM_LOST, why);
}

static void get_done(hrep *r, xchg *x, CURLcode rc)
{
    if (r->state != P_READY || r->p->draining)
        return;
    if (rc == CURLE_OK && x->status == 405)
        return;   /* no GET stream on this server */
    if (rc == CURLE_OK && (x->status == 404 || x->status == 400)) {
        session_lost(r);
        return;
    }
    /* the stream ended: open it again, resuming after the last event seen */
    r->timer_for_get = true;
    uv_timer_start(&r->timer, hp_on_timer, r->get_retry_ms > 0 ? (uint64_t)r->get_retry_ms : 1000, 0);
}

static void on_done(hc_req *r, CURLcode rc, long status, const char *error, void *ud)
{
    (void)r;
    xchg *x = ud;
    hrep *rp = x->r;
    x->req = NULL;
    x->status = status;
    consume_body(x);
    switch (x->kind) {
    case X_DISCOVER:   /* a draining instance's handshake: the successor has its own */
        if (!x->p->draining)
            discover_done(rp, x, rc);
        break;
    case X_INITIALIZE:
        if (x->cs)
            callers_init_done(x, rc, error);
        else if (!x->p->draining)
            initialize_done(rp, x, rc, error);
        break;
    case X_CALL:
        call_done(rp, x, rc, error);
        break;
    case X_GET:
        if (rp->get == x)
            rp->get = NULL;
        get_done(rp, x, rc);
        break;
    case X_LISTEN:
        /* an upstream the listen cannot reach is down, as for a call: the listen moves on */
        if (hp_listen_done(rp, x, rc) && hp_never_received(rc) && rp->state == P_READY) {
            set_error(rp, "subscriptions/listen: %s", error);
            connect_failed(rp);
        }
        break;
    default:
        break;
    }
    exchange_done(x);
}

static void exchange_done(xchg *x)
{
    hprov *p = x->p;
    bool was_delete = x->kind == X_DELETE;
    hp_xchg_free(x);
    if (was_delete || p->stopping || p->draining)
        hp_stopped_if_idle(p);
}

/* --- role operations ---------------------------------------------------------------- */

static void free_prov(hprov *p)
{
    for (int i = 0; i < p->nreps; i++) {
        hrep *r = &p->reps[i];
        free(r->url);
        free(r->session);
        free(r->last_error);
        free(r->last_event_id);
        json_decref(r->init);
    }
    free(p->reps);
    callers_free(p);
    cred_free(p);
    hc_headers_free(p->headers);
    free(p->want);
    free(p->ca_file);
    free(p->cert_file);
    free(p->key_file);
    json_decref(p->listen_uris);
    asks_clear(&p->asks);
    free(p);
}

static void shut_down(void *ud)
{
    mf_instance *inst = ud;
    if (inst)
        mf_instance_stopped(inst);
}

static void timer_closed(uv_handle_t *h)
{
    hprov *p = ((hrep *)h->data)->p;
    if (--p->timers_open > 0)
        return;
    mf_instance *inst = p->inst;
    free_prov(p);
    /* stopped only once libcurl's handles are closed too: this code may be unloaded then */
    hc_shutdown(shut_down, inst);
}

void hp_stopped_if_idle(hprov *p)
{
    if (p->all)
        return;
    for (int i = 0; i < p->nreps; i++)
        if (!uv_is_closing((uv_handle_t *)&p->reps[i].timer))
            uv_close((uv_handle_t *)&p->reps[i].timer, timer_closed);
}

hprov *hp_new(mf_instance *inst, const json_t *conf, mf_error *err)
{
    if (hc_init(err))
        return NULL;
    const json_t *urls = json_object_get(conf, "urls");
    size_t n = json_is_array(urls) && json_array_size(urls) ? json_array_size(urls) : 1;
    hprov *p = calloc(1, sizeof *p);
    hrep *reps = calloc(n, sizeof *reps);
    if (!p || !reps) {
        free(p);
        free(reps);
        mf_error_set(err, -1, "out of memory");
        hc_shutdown(NULL, NULL);
        return NULL;
    }
    p->inst = inst;
    p->next_id = 1;
    p->reps = reps;
    p->nreps = (int)n;
    if (cred_init(p, conf, err)) {
        free(reps);
        free(p);
        hc_shutdown(NULL, NULL);
        return NULL;
    }
    settings st = {0};
    mf_settings_check(conf, "", http_provider_settings, &st, NULL);
    const char *url = st.up.url;
    const json_t *headers = st.up.headers;
    for (int i = 0; i < p->nreps; i++) {
        hrep *r = &p->reps[i];
        const char *u = json_is_array(urls) ? json_string_value(json_array_get(urls, (size_t)i)) : url;
        r->p = p;
        r->index = i;
        r->url = strdup(u ? u : "");
        uv_timer_init(mf_loop(), &r->timer);
        r->timer.data = r;
    }
    p->timers_open = p->nreps;
    p->want = strdup(st.protocol);
    p->insecure = !st.up.tls_verify;
    p->ca_file = st.up.ca_file ? strdup(st.up.ca_file) : NULL;
    p->cert_file = st.up.cert_file ? strdup(st.up.cert_file) : NULL;
    p->key_file = st.up.key_file ? strdup(st.up.key_file) : NULL;
    p->connect_timeout_ms = (long)st.up.connect_timeout_ms;
    p->init_timeout_ms = (long)st.up.init_timeout_ms;
    p->max_message = (size_t)st.up.max_message_bytes;
    p->max_queue = (size_t)st.up.max_queue;
    p->backoff_min_ms = (uint64_t)st.up.backoff_min_ms;
    p->backoff_max_ms = (uint64_t)st.up.backoff_max_ms;
    if (json_is_object(headers)) {
        const char *k;
        json_t *v;
        json_object_foreach((json_t *)headers, k, v) {
            char line[2048];
            snprintf(line, sizeof line, "%s: %s", k, json_string_value(v));
            p->headers = curl_slist_append(p->headers, line);
            explicit_bzero(line, sizeof line);
        }
    }
    return p;
}

static int start(mf_instance *inst, const json_t *conf, void **self, mf_error *err)
{
    hprov *p = hp_new(inst, conf, err);
    if (!p)
        return -1;
    *self = p;
    mf_provider_targets(inst, p->nreps);
    mf_provider_status(inst, MF_PROVIDER_STARTING, NULL, NULL);
    for (int i = 0; i < p->nreps; i++)
        connect_upstream(&p->reps[i]);
    return 0;
}

void hp_answer_ask(hprov *p, mf_msg *m)
{
    int i = -1;
    json_t *out = asks_answer(&p->asks, m, &i);
    int index = i & ((1 << ASK_REPLICA_BITS) - 1);
    unsigned serial = (unsigned)i >> ASK_REPLICA_BITS;
    if (out && i >= 0 && index < p->nreps) {
        /* on the session that asked: a caller's own, while it lasts, or the replica's */
        csess *cs = serial ? callers_by_serial(p, serial) : NULL;
        if (serial ? cs != NULL : p->reps[index].state == P_READY)
            post_oneway_on(&p->reps[index], cs, out);
    }
    json_decref(out);
}

void hp_cancel_call(hprov *p, xchg *x)
{
    (void)p;
    if (x->r->era == ERA_LEGACY) {
        /* the session era cancels with a notification; closing is not enough */
        json_t *note = json_pack("{s:s,s:s,s:{s:I,s:s}}", "jsonrpc", "2.0", "method", "notifications/cancelled",
                                 "params", "requestId", (json_int_t)x->upid, "reason", "cancelled");
        post_oneway_on(x->r, x->cs, note);
        json_decref(note);
    }
    /* in 2026-07-28 closing the request is the cancellation */
    if (x->req)
        hc_cancel(x->req);
    hp_xchg_free(x);
}

/* A request from the kernel: a caller's gets its credentials first (perhaps waiting for a
 * token exchange), then it is sent to its replica, held for it, or answered at once. */
static void take_request(hprov *p, mf_msg *m)
{
    if (p->cred != CRED_STATIC && m->session && cred_resolve(p, &m) <= 0)
        return;
    hp_take_resolved(p, m);
}

void hp_take_resolved(hprov *p, mf_msg *m)
{
    hrep *r;
    const char *cannot;
    char why[600];
    if (!json_is_string(json_object_get(m->json, "method")))
        hp_reply_error(p, m, MF_RPC_INVALID_REQUEST, "request without a method");
    else if (!p->stopping && (r = server_of(p, m))) {
        send_call(r, m, false);
        return;
    } else if (p->failed || p->stopping) {
        snprintf(why, sizeof why, "provider %s is unavailable: %s", hp_name(p),
                 p->stopping ? "stopping" : p->reps[0].last_error ? p->reps[0].last_error : "failed");
        hp_reply_error(p, m, p->stopping ? MF_RPC_SHUTTING_DOWN : MF_RPC_UNAVAILABLE, why);
    } else if ((cannot = cannot_take(p, m))) {   /* never sent: the kernel decides what next */
        snprintf(why, sizeof why, "provider %s: replica %lld %s", hp_name(p), (long long)target_of(m), cannot);
        hp_reply_error(p, m, MF_RPC_UNAVAILABLE, why);
    } else if (p->queue.len >= p->max_queue)
        hp_reply_error(p, m, MF_RPC_OVERLOADED, "too many calls wait for this provider to connect");
    else {
        mf_msgq_push(&p->queue, m);
        return;
    }
    mf_msg_free(m);
}

static void receive(void *self, mf_msg *m)
{
    hprov *p = self;
    if (p->draining) {
        hp_drain_receive(p, m);
        return;
    }
    switch (m->kind) {
    case MF_MSG_REQUEST:
        take_request(p, m);
        return;
    case MF_MSG_RESPONSE:
        /* the answer to a request the upstream made */
        hp_answer_ask(p, m);
        break;
    case MF_MSG_NOTIFY:
        /* a client's notification for the upstreams (roots changed); 2026-07-28 has none */
        for (int i = 0; i < p->nreps; i++)
            if (p->reps[i].state == P_READY && p->reps[i].era == ERA_LEGACY)
                post_oneway(&p->reps[i], m->json);
        break;
    case MF_MSG_CANCEL: {
        xchg *x;
        HASH_FIND(hh, p->calls, &m->corr, sizeof m->corr, x);
        if (x)
            hp_cancel_call(p, x);
        else if (!mf_msgq_drop(&p->queue, m->corr))   /* still waiting: drop it there */
            if (!cred_drop(p, m->corr))
                callers_drop(p, m->corr);
        break;
    }
    default:
        break;
    }
    mf_msg_free(m);
}

/* Tell the upstream a session is over; bounded, and nothing waits on it but us. */
void hp_end_session(hrep *r, struct curl_slist *h)
{
    hprov *p = r->p;
    xchg *d = xchg_new(r, X_DELETE);
    hc_options o = {.method = "DELETE", .url = r->url, .headers = h, .timeout_ms = 2000,
                    .connect_timeout_ms = 2000, .insecure = p->insecure, .ca_file = p->ca_file,
                    .cert_file = p->cert_file, .key_file = p->key_file};
    mf_error err = {0};
    d->req = hc_start(&o, &ops, d, &err);
    hc_headers_free(h);
    if (!d->req)
        hp_xchg_free(d);
}

static void stop(void *self)
{
    hprov *p = self;
    /* a replaced instance's sessions are its successor's: it must not end them */
    bool ends_sessions = !p->draining;
    p->stopping = true;
    char why[200];
    snprintf(why, sizeof why, "provider %s is shutting down", hp_name(p));
    mf_msgq_fail(&p->queue, mf_instance_ep(p->inst), MF_RPC_SHUTTING_DOWN, why);
    cred_stop(p, false, MF_RPC_SHUTTING_DOWN, why);
    xchg *x, *tmp;
    DL_FOREACH_SAFE(p->all, x, tmp) {
        if (x->kind == X_CALL && x->msg && !x->answered)
            hp_reply_error(p, x->msg, MF_RPC_SHUTTING_DOWN, why);
        if (x->req)
            hc_cancel(x->req);
        hp_xchg_free(x);
    }
    for (int i = 0; i < p->nreps; i++) {
        hrep *r = &p->reps[i];
        bool had_session = ends_sessions && r->era == ERA_LEGACY && r->session && r->state == P_READY;
        r->state = P_STOPPING;
        uv_timer_stop(&r->timer);
        if (had_session)
            hp_end_session(r, hp_headers(r, NULL, NULL, "application/json, text/event-stream"));
    }
    callers_stop(p, ends_sessions, false, MF_RPC_SHUTTING_DOWN, why);
    hp_stopped_if_idle(p);
}

static json_t *status(void *self) { return cred_status(self); }

const mf_role_ops http_provider_ops = {
    .check = check,
    .start = start,
    .receive = receive,
    .stop = stop,
    .save = hp_save,
    .resume = hp_resume,
    .adopt = hp_adopt,
    .drain = hp_drain,
    .status = status,
};
