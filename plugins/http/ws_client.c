/* The ws provider: an upstream MCP server reached over WebSocket (ws_upstream.c), one
 * connection and MCP session per URL (each URL a target of the provider).
 *
 * A call goes to exactly the replica the kernel's routing names; one that is not ready
 * answers -32010 at once (a call is never held here, whatever the request's "wait"), so the
 * call moves on to another target or a fallback. The kernel's own requests, which name no
 * replica (listings, subscriptions), go to the ready one with the fewest calls in flight,
 * or wait in a bounded queue while no replica has connected yet. When a
 * connection drops its calls in flight are answered -32011 (they may have reached the
 * upstream), the replica connects again with a doubling backoff, initializes a new session
 * and subscribes again to every resource it was subscribed to.
 *
 * A hot swap hands over the subscriptions and the next request id; the successor opens
 * connections of its own while the predecessor finishes the calls it has in flight on its
 * connections, then closes them. */
#include "asks.h"
#include "http.h"
#include "ws_upstream.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uthash.h>

#define FAIL_AFTER 3
#define STATE_VERSION 1

typedef enum rstate { R_CONNECTING, R_READY, R_DOWN, R_FAILED, R_STOPPING } rstate;

typedef struct wprov wprov;
typedef struct wrep wrep;

typedef struct wcall {
    int64_t upid;
    mf_msg *msg;              /* the kernel's request */
    wrep *r;
    UT_hash_handle hh_up, hh_corr;
} wcall;

struct wrep {
    wprov *p;
    int index;
    char *url;
    rstate state;
    bool ever_ready;
    wsu *conn;
    int64_t init_id;
    unsigned failures;
    char last_error[300];
    uint64_t backoff;
    uv_timer_t timer;         /* reconnecting, or the initialize deadline */
    json_t *subs;             /* {uri: true}: subscribed upstream, again after a reconnect */
    unsigned inflight;
};

struct wprov {
    mf_instance *inst;
    json_t *headers;
    bool insecure;
    char *ca_file, *cert_file, *key_file;
    uint64_t connect_timeout_ms, init_timeout_ms, backoff_min, backoff_max;
    size_t max_message, max_queue;
    wrep *reps;
    int nreps;
    int64_t next_id;
    wcall *by_up, *by_corr;
    mf_msgq queue;            /* calls waiting for a first connection */
    asks asks;                /* the upstreams' requests */
    bool stopping, draining;
    bool failed;              /* said so to the kernel: every replica failed */
    int timers_open;
};

static const char *name_of(const wprov *p) { return mf_instance_name(p->inst); }

/* --- configuration ----------------------------------------------------------------------- */

typedef struct settings {
    http_upstream_settings up;
    const char *credentials;
} settings;

/* One connection (and session) serves every caller of a replica: its opening handshake
 * can carry no caller's credentials, only the configured headers. */
static const char *const ws_cred_modes[] = {"static", NULL};

#define S(field) MF_AT(settings, field)
const mf_setting ws_provider_settings[] = {
    HTTP_UPSTREAM_SETTINGS(S, "ws:// or wss://", "DNS, TCP, TLS and the opening handshake together"),
    {"credentials", MF_SET_STRING, .def = "static", .choices = ws_cred_modes, .at = S(credentials),
     .doc = "static only: one connection serves every caller, with headers on its handshake"},
    {0},
};
#undef S

/* What the table cannot say: `url` or `urls`, one of the two, and their schemes. */
static int check(const json_t *conf, const char *path, mf_error *err)
{
    settings st = {0};
    mf_settings_check(conf, path, ws_provider_settings, &st, NULL);
    return http_check_urls(&st.up, path, wsu_url_ok, "a ws:// or wss:// URL", err);
}

/* --- answers to the kernel ------------------------------------------------------------------ */

static void reply_error(wprov *p, const mf_msg *req, int code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static void reply_error(wprov *p, const mf_msg *req, int code, const char *fmt, ...)
{
    char text[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text, sizeof text, fmt, ap);
    va_end(ap);
    mf_send(mf_msg_reply_error(req, mf_instance_ep(p->inst), code, "%s", text));
}

static void call_forget(wprov *p, wcall *k)
{
    HASH_DELETE(hh_up, p->by_up, k);
    HASH_DELETE(hh_corr, p->by_corr, k);
    k->r->inflight--;
    mf_msg_free(k->msg);
    free(k);
}

/* --- sending ----------------------------------------------------------------------------------- */

static int send_json(wrep *r, const json_t *msg)
{
    size_t len;
    char *text = mf_rpc_dump(msg, &len);
    int rc = text && r->conn ? wsu_send(r->conn, text, len) : -1;
    free(text);
    return rc;
}

/* Keep the subscriptions that pass, to take them out again after a reconnect. */
static void note_subscription(wrep *r, const mf_msg *m)
{
    const char *method = mf_rpc_method(m->json);
    const char *uri = json_string_value(json_object_get(json_object_get(m->json, "params"), "uri"));
    if (!uri)
        return;
    if (strcmp(method, "resources/subscribe") == 0)
        json_object_set_new(r->subs, uri, json_true());
    else if (strcmp(method, "resources/unsubscribe") == 0)
        json_object_del(r->subs, uri);
}

static void send_call(wrep *r, mf_msg *m)
{
    wprov *p = r->p;
    wcall *k = mf_xcalloc(1, sizeof *k);
    k->upid = p->next_id++;
    k->r = r;
    json_t *req = json_pack("{s:s,s:I,s:O}", "jsonrpc", "2.0", "id", (json_int_t)k->upid, "method",
                            json_object_get(m->json, "method"));
    json_t *params = json_object_get(m->json, "params");
    if (params)
        json_object_set(req, "params", params);
    int rc = send_json(r, req);
    json_decref(req);
    if (rc != 0) {
        /* it never left: another target may take it */
        reply_error(p, m, MF_RPC_UNAVAILABLE, "provider %s: the upstream connection is not open", name_of(p));
        mf_msg_free(m);
        free(k);
        return;
    }
    note_subscription(r, m);
    k->msg = m;
    HASH_ADD(hh_up, p->by_up, upid, sizeof k->upid, k);
    HASH_ADD(hh_corr, p->by_corr, msg->corr, sizeof k->msg->corr, k);
    r->inflight++;
}

/* The ready replica with the fewest calls in flight. */
static wrep *pick(wprov *p)
{
    wrep *best = NULL;
    for (int i = 0; i < p->nreps; i++)
        if (p->reps[i].state == R_READY && (!best || p->reps[i].inflight < best->inflight))
            best = &p->reps[i];
    return best;
}

static void flush_queue(wprov *p)
{
    wrep *r;
    while (p->queue.len && (r = pick(p)))
        send_call(r, mf_msgq_pop(&p->queue));
}

/* --- a replica's connection ---------------------------------------------------------------------- */

static void connect_rep(wrep *r);
static void on_open(void *ud);
static void on_message(void *ud, const char *text, size_t len);
static void on_closed(void *ud, const char *why);
static const wsu_ops ops = {on_open, on_message, on_closed};

static void on_timer(uv_timer_t *t)
{
    wrep *r = t->data;
    if (r->conn && r->state != R_READY) {
        /* initialize was not answered in time */
        on_closed(r, "the upstream did not answer initialize in time");
        return;
    }
    if (!r->conn)
        connect_rep(r);
}

static bool any_waiting_first(const wprov *p)
{
    for (int i = 0; i < p->nreps; i++)
        if (!p->reps[i].ever_ready && p->reps[i].state == R_CONNECTING)
            return true;
    return false;
}

static void connect_rep(wrep *r)
{
    wprov *p = r->p;
    if (p->stopping || p->draining)
        return;
    mf_error err = {0};
    wsu_options o = {.url = r->url, .headers = p->headers, .insecure = p->insecure, .ca_file = p->ca_file,
                     .cert_file = p->cert_file, .key_file = p->key_file,
                     .connect_timeout_ms = p->connect_timeout_ms, .max_message = p->max_message};
    r->conn = wsu_connect(&o, &ops, r, &err);
    if (!r->conn)
        on_closed(r, err.msg);
}

static void on_open(void *ud)
{
    wrep *r = ud;
    wprov *p = r->p;
    r->init_id = p->next_id++;
    json_t *req = json_pack("{s:s,s:I,s:s,s:{s:s,s:o,s:{s:s,s:s}}}", "jsonrpc", "2.0", "id", (json_int_t)r->init_id,
                            "method", "initialize", "params", "protocolVersion", "2025-11-25", "capabilities",
                            mf_client_capabilities(), "clientInfo", "name", "mcpfed", "version", mf_version());
    send_json(r, req);
    json_decref(req);
    uv_timer_start(&r->timer, on_timer, p->init_timeout_ms, 0);
}

static void became_ready(wrep *r, json_t *msg)
{
    wprov *p = r->p;
    json_t *result = json_object_get(msg, "result");
    if (!json_is_object(result)) {
        on_closed(r, "the upstream refused initialize");
        return;
    }
    uv_timer_stop(&r->timer);
    json_t *note = json_pack("{s:s,s:s}", "jsonrpc", "2.0", "method", "notifications/initialized");
    send_json(r, note);
    json_decref(note);
    /* the subscriptions of the session before, in the new one */
    const char *uri;
    json_t *v;
    json_object_foreach(r->subs, uri, v) {
        json_t *sub = json_pack("{s:s,s:I,s:s,s:{s:s}}", "jsonrpc", "2.0", "id", (json_int_t)p->next_id++, "method",
                                "resources/subscribe", "params", "uri", uri);
        send_json(r, sub);
        json_decref(sub);
    }
    bool again = r->ever_ready;
    r->state = R_READY;
    r->ever_ready = true;
    r->failures = 0;
    r->backoff = 0;
    p->failed = false;
    const char *server = json_string_value(json_object_get(json_object_get(result, "serverInfo"), "name"));
    mf_info("ws", "upstream ready", "provider=%s url=%s protocol=%s server=\"%s\" target=%d subscriptions=%zu%s",
            name_of(p), r->url, json_string_value(json_object_get(result, "protocolVersion")) ?: "?",
            mf_log_esc(server, (size_t)-1), r->index + 1, json_object_size(r->subs), again ? " reconnected" : "");
    mf_provider_target_status(p->inst, r->index, true);
    mf_provider_status(p->inst, MF_PROVIDER_UP, result, NULL);
    flush_queue(p);
}

/* The upstream asks something of a client: ping is ours to answer; the rest the kernel's. */
static void on_upstream_request(wrep *r, json_t *msg)
{
    if (strcmp(mf_rpc_method(msg), "ping") == 0) {
        json_t *reply = mf_rpc_result(json_object_get(msg, "id"), json_object());
        send_json(r, reply);
        json_decref(reply);
        return;
    }
    asks_forward(&r->p->asks, r->p->inst, msg, r->index, 0);
}

static void on_message(void *ud, const char *text, size_t len)
{
    wrep *r = ud;
    wprov *p = r->p;
    json_t *msg = mf_rpc_parse(text, len, NULL);
    if (!msg || !json_is_object(msg)) {
        mf_warn("ws", "upstream sent a message that is not a JSON-RPC object", "provider=%s", name_of(p));
        json_decref(msg);
        return;
    }
    switch (mf_rpc_classify(msg, NULL)) {
    case MF_RPC_RESPONSE: {
        json_t *id = json_object_get(msg, "id");
        int64_t upid = json_is_integer(id) ? json_integer_value(id) : -1;
        if (r->state != R_READY && upid == r->init_id) {
            became_ready(r, msg);
            break;
        }
        wcall *k;
        HASH_FIND(hh_up, p->by_up, &upid, sizeof upid, k);
        if (!k || k->r != r)
            break;   /* a subscription renewed after a reconnect, or a call cancelled */
        mf_send(mf_msg_reply(k->msg, mf_instance_ep(p->inst), json_incref(msg)));
        call_forget(p, k);
        break;
    }
    case MF_RPC_NOTIFICATION:
        if (strcmp(mf_rpc_method(msg), "notifications/cancelled") == 0)
            asks_cancelled(&p->asks, p->inst, msg, r->index);   /* the upstream takes one back */
        else
            mf_provider_notify(p->inst, json_incref(msg), 0);
        break;
    case MF_RPC_REQUEST:
        on_upstream_request(r, msg);
        break;
    default:
        mf_warn("ws", "upstream sent an invalid JSON-RPC message", "provider=%s", name_of(p));
    }
    json_decref(msg);
}

static bool all_failed(const wprov *p)
{
    for (int i = 0; i < p->nreps; i++)
        if (p->reps[i].state != R_FAILED)
            return false;
    return true;
}

static void on_closed(void *ud, const char *why)
{
    wrep *r = ud;
    wprov *p = r->p;
    if (r->conn) {
        wsu_close(r->conn);
        r->conn = NULL;
    }
    uv_timer_stop(&r->timer);
    snprintf(r->last_error, sizeof r->last_error, "%s", why);
    bool was_ready = r->state == R_READY;
    /* what was sent on it may have reached the upstream: lost, not unavailable */
    wcall *k, *tmp;
    HASH_ITER(hh_up, p->by_up, k, tmp) {
        if (k->r == r) {
            reply_error(p, k->msg, MF_RPC_UPSTREAM_LOST, "provider %s: the upstream connection dropped", name_of(p));
            call_forget(p, k);
        }
    }
    if (p->stopping || p->draining) {
        r->state = R_STOPPING;
        return;
    }
    r->failures++;
    r->state = r->failures >= FAIL_AFTER ? R_FAILED : r->ever_ready ? R_DOWN : R_CONNECTING;
    mf_warn("ws", was_ready ? "upstream connection lost" : "cannot reach the upstream",
            "provider=%s url=%s reason=\"%s\" failures=%u", name_of(p), r->url, why, r->failures);
    if (was_ready)
        mf_provider_target_status(p->inst, r->index, false);
    if (all_failed(p))   /* calls fail at once while every replica is failed */
        mf_msgq_fail(&p->queue, mf_instance_ep(p->inst), MF_RPC_UNAVAILABLE, "every upstream connection failed");
    if (!pick(p)) {
        if (all_failed(p) && !p->failed) {
            p->failed = true;
            mf_provider_status(p->inst, MF_PROVIDER_FAILED, NULL, why);
        } else if (was_ready) {
            mf_provider_status(p->inst, MF_PROVIDER_DOWN, NULL, why);
        }
    }
    r->backoff = r->backoff ? r->backoff * 2 : p->backoff_min;
    if (r->backoff > p->backoff_max)
        r->backoff = p->backoff_max;
    uv_timer_start(&r->timer, on_timer, r->backoff, 0);
}

/* --- the role ---------------------------------------------------------------------------------- */

static void free_prov(wprov *p)
{
    for (int i = 0; i < p->nreps; i++) {
        free(p->reps[i].url);
        json_decref(p->reps[i].subs);
    }
    asks_clear(&p->asks);
    json_decref(p->headers);
    free(p->ca_file);
    free(p->cert_file);
    free(p->key_file);
    free(p->reps);
    free(p);
}

static void timer_closed(uv_handle_t *h)
{
    wrep *r = h->data;
    wprov *p = r->p;
    if (--p->timers_open == 0) {
        mf_instance *inst = p->inst;
        free_prov(p);
        mf_instance_stopped(inst);
    }
}

static wprov *prov_new(mf_instance *inst, const json_t *conf, mf_error *err)
{
    if (check(conf, mf_instance_name(inst), err))
        return NULL;
    wprov *p = mf_xcalloc(1, sizeof *p);
    p->inst = inst;
    settings st = {0};
    mf_settings_check(conf, "", ws_provider_settings, &st, NULL);
    const http_upstream_settings *u = &st.up;
    p->headers = u->headers ? json_deep_copy(u->headers) : json_object();
    p->ca_file = u->ca_file ? mf_xstrdup(u->ca_file) : NULL;
    p->cert_file = u->cert_file ? mf_xstrdup(u->cert_file) : NULL;
    p->key_file = u->key_file ? mf_xstrdup(u->key_file) : NULL;
    p->insecure = !u->tls_verify;
    p->connect_timeout_ms = (uint64_t)u->connect_timeout_ms;
    p->init_timeout_ms = (uint64_t)u->init_timeout_ms;
    p->max_message = (size_t)u->max_message_bytes;
    p->max_queue = (size_t)u->max_queue;
    p->backoff_min = (uint64_t)u->backoff_min_ms;
    p->backoff_max = (uint64_t)(u->backoff_max_ms < u->backoff_min_ms ? u->backoff_min_ms : u->backoff_max_ms);
    p->next_id = 1;
    const json_t *urls = u->urls;
    p->nreps = urls ? (int)json_array_size(urls) : 1;
    p->reps = mf_xcalloc((size_t)p->nreps, sizeof *p->reps);
    for (int i = 0; i < p->nreps; i++) {
        wrep *r = &p->reps[i];
        r->p = p;
        r->index = i;
        r->url = mf_xstrdup(urls ? json_string_value(json_array_get(urls, (size_t)i))
                                 : u->url);
        r->subs = json_object();
        uv_timer_init(mf_loop(), &r->timer);
        r->timer.data = r;
        p->timers_open++;
    }
    return p;
}

static void start_all(wprov *p)
{
    if (p->nreps > 1)
        mf_provider_targets(p->inst, p->nreps);
    for (int i = 0; i < p->nreps; i++)
        connect_rep(&p->reps[i]);
}

static int start(mf_instance *inst, const json_t *conf, void **self, mf_error *err)
{
    wprov *p = prov_new(inst, conf, err);
    if (!p)
        return -1;
    start_all(p);
    *self = p;
    return 0;
}

static void answer_ask(wprov *p, mf_msg *m)
{
    int i = -1;
    json_t *out = asks_answer(&p->asks, m, &i);
    if (out && i >= 0 && i < p->nreps && p->reps[i].state == R_READY)
        send_json(&p->reps[i], out);
    json_decref(out);
}

static void cancel_call(wprov *p, wcall *k)
{
    json_t *note = json_pack("{s:s,s:s,s:{s:I,s:s}}", "jsonrpc", "2.0", "method", "notifications/cancelled", "params",
                             "requestId", (json_int_t)k->upid, "reason", "cancelled");
    send_json(k->r, note);
    json_decref(note);
    call_forget(p, k);
}

static void take_request(wprov *p, mf_msg *m)
{
    json_int_t t = json_integer_value(json_object_get(m->json, "target"));
    wrep *r = NULL;
    if (!json_is_string(json_object_get(m->json, "method"))) {
        reply_error(p, m, MF_RPC_INVALID_REQUEST, "%s", "request without a method");
    } else if (p->stopping) {
        reply_error(p, m, MF_RPC_SHUTTING_DOWN, "provider %s is stopping", name_of(p));
    } else if (t) {
        /* exactly the replica the routing named, or -32010 now: the kernel moves it on */
        r = t >= 1 && t <= p->nreps ? &p->reps[t - 1] : NULL;
        if (r && r->state == R_READY) {
            send_call(r, m);
            return;
        }
        reply_error(p, m, MF_RPC_UNAVAILABLE, "provider %s: replica %lld %s", name_of(p), (long long)t,
                    r ? "is not connected" : "does not exist");
        r = NULL;
    } else if ((r = pick(p))) {
        send_call(r, m);
        return;
    } else if (any_waiting_first(p) && p->queue.len < p->max_queue) {
        mf_msgq_push(&p->queue, m);
        return;
    } else {
        reply_error(p, m, MF_RPC_UNAVAILABLE, "provider %s: no upstream connection is open", name_of(p));
    }
    mf_msg_free(m);
}

static void receive(void *self, mf_msg *m)
{
    wprov *p = self;
    wcall *k;
    if (p->draining) {
        /* only what concerns the calls it finishes stays here */
        if (m->kind == MF_MSG_CANCEL) {
            HASH_FIND(hh_corr, p->by_corr, &m->corr, sizeof m->corr, k);
            if (k) {
                cancel_call(p, k);
                mf_msg_free(m);
                return;
            }
        }
        mf_instance_forward(p->inst, m);   /* taken over either way */
        return;
    }
    switch (m->kind) {
    case MF_MSG_REQUEST:
        take_request(p, m);
        return;
    case MF_MSG_RESPONSE:
        answer_ask(p, m);
        break;
    case MF_MSG_NOTIFY:
        for (int i = 0; i < p->nreps; i++)
            if (p->reps[i].state == R_READY)
                send_json(&p->reps[i], m->json);
        break;
    case MF_MSG_CANCEL:
        HASH_FIND(hh_corr, p->by_corr, &m->corr, sizeof m->corr, k);
        if (k)
            cancel_call(p, k);
        else
            mf_msgq_drop(&p->queue, m->corr);
        break;
    default:
        break;
    }
    mf_msg_free(m);
}

static void close_all(wprov *p)
{
    for (int i = 0; i < p->nreps; i++) {
        wrep *r = &p->reps[i];
        r->state = R_STOPPING;
        if (r->conn) {
            wsu_close(r->conn);
            r->conn = NULL;
        }
        if (!uv_is_closing((uv_handle_t *)&r->timer))
            uv_close((uv_handle_t *)&r->timer, timer_closed);
    }
}

static void stop(void *self)
{
    wprov *p = self;
    if (p->stopping)
        return;
    p->stopping = true;
    char why[200];
    snprintf(why, sizeof why, "provider %s is shutting down", name_of(p));
    mf_msgq_fail(&p->queue, mf_instance_ep(p->inst), MF_RPC_SHUTTING_DOWN, why);
    wcall *k, *tmp;
    HASH_ITER(hh_up, p->by_up, k, tmp) {
        reply_error(p, k->msg, MF_RPC_SHUTTING_DOWN, "%s", why);
        call_forget(p, k);
    }
    close_all(p);
}

/* --- hot swap ------------------------------------------------------------------------------------ */

static void save(void *self)
{
    wprov *p = self;
    json_t *subs = json_array();
    for (int i = 0; i < p->nreps; i++)
        json_array_append(subs, p->reps[i].subs);
    /* the successor's ids start far above ours, so answers never mix */
    json_t *st = json_pack("{s:i,s:I,s:o}", "v", STATE_VERSION, "next_id", (json_int_t)(p->next_id + 1000000000),
                           "subs", subs);
    size_t len = 0;
    char *buf = mf_state_pack(st, &len);
    json_decref(st);
    mf_instance_saved(p->inst, buf, len, buf ? NULL : "cannot write the state down");
    free(buf);
}

static void resume(void *self) { (void)self; }

static int adopt(mf_instance *inst, const json_t *conf, const char *state, size_t len, void **self, mf_error *err)
{
    json_t *st = http_state_unpack(state, len, STATE_VERSION, err);
    if (!st)
        return -1;
    wprov *p = prov_new(inst, conf, err);
    if (!p) {
        json_decref(st);
        return -1;
    }
    p->next_id = json_integer_value(json_object_get(st, "next_id"));
    json_t *subs = json_object_get(st, "subs");
    for (int i = 0; i < p->nreps && i < (int)json_array_size(subs); i++)
        if (json_is_object(json_array_get(subs, (size_t)i)))
            json_object_update(p->reps[i].subs, json_array_get(subs, (size_t)i));
    json_decref(st);
    start_all(p);
    *self = p;
    return 0;
}

static void drain_check(uv_timer_t *t);

static void drain(void *self)
{
    wprov *p = self;
    p->draining = true;
    mf_msgq_fail(&p->queue, mf_instance_ep(p->inst), MF_RPC_UNAVAILABLE, "the provider was replaced");
    for (int i = 0; i < p->nreps; i++)
        if (!p->reps[i].conn)
            uv_timer_stop(&p->reps[i].timer);
    uv_timer_start(&p->reps[0].timer, drain_check, 0, 0);
}

/* The predecessor goes once the calls it sent are answered (or stop ends them). */
static void drain_check(uv_timer_t *t)
{
    wrep *r0 = t->data;
    wprov *p = r0->p;
    if (p->stopping)
        return;
    if (HASH_CNT(hh_up, p->by_up) > 0) {
        uv_timer_start(t, drain_check, 20, 0);
        return;
    }
    p->stopping = true;
    close_all(p);
}

const mf_role_ops ws_provider_ops = {
    .check = check,
    .start = start,
    .receive = receive,
    .stop = stop,
    .save = save,
    .resume = resume,
    .adopt = adopt,
    .drain = drain,
};
