/* Upstream stdio: an MCP server run as a supervised child, spoken to over its stdin and
 * stdout.
 *
 * Calls that arrive while the server is starting or restarting wait in a bounded queue;
 * they go out once it has answered initialize. When the server exits, every call it had
 * in flight is answered with an error at once. When its supervisor gives up, waiting and
 * new calls fail at once until it is back. */
#include "stdio.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uthash.h>
#include <utlist.h>

#define UPSTREAM_PROTOCOL "2025-11-25"
#define DEFAULT_INIT_TIMEOUT_MS 30000
#define DEFAULT_MAX_QUEUE 4096
#define MAX_STDIN_BACKLOG (64u * 1024 * 1024)

typedef enum ustate { U_STARTING, U_READY, U_DOWN, U_FAILED, U_STOPPING } ustate;

typedef struct call {
    int64_t upid;              /* our id on the upstream */
    uint64_t corr;             /* the kernel's */
    mf_ep reply_to;
    uint64_t session;
    UT_hash_handle by_up, by_corr;
} call;

typedef struct client {
    mf_instance *inst;
    mf_child *child;
    mf_lines lines;
    ustate state;
    int64_t next_id;
    int64_t init_id;
    call *calls_by_up, *calls_by_corr;
    mf_msgq queue;             /* requests waiting for READY */
    mf_idmap asks;             /* the upstream's requests the kernel is answering */
    size_t max_queue;
    uv_timer_t init_timer;
    char *failed_reason;
    /* configuration */
    char **argv, **env;
    char *cwd;
    size_t max_message;
    uint64_t init_timeout_ms;
    mf_child_spec spec;
} client;

static const char *name_of(const client *c) { return mf_instance_name(c->inst); }

/* --- configuration --------------------------------------------------------------- */

static const char *const keys[] = {"command", "env", "cwd", "max_message_bytes", "init_timeout_ms",
                                   "max_queue", "restart", NULL};
static const char *const restart_keys[] = {"type", "backoff_min_ms", "backoff_max_ms", "intensity",
                                           "period_ms", "cooldown_ms", "shutdown_ms", NULL};

static int check_restart(const json_t *conf, const char *path, mf_child_spec *spec, mf_error *err)
{
    json_t *r = json_object_get(conf, "restart");
    if (!r)
        return 0;
    char rp[128];
    snprintf(rp, sizeof rp, "%s.restart", path);
    int64_t v[6] = {0};
    const char *type = NULL;
    if (mf_conf_keys(r, rp, restart_keys, err) ||
        mf_conf_string(r, rp, "type", false, &type, err) ||
        mf_conf_int(r, rp, "backoff_min_ms", 1, 3600000, &v[0], err) ||
        mf_conf_int(r, rp, "backoff_max_ms", 1, 3600000, &v[1], err) ||
        mf_conf_int(r, rp, "intensity", 1, 100000, &v[2], err) ||
        mf_conf_int(r, rp, "period_ms", 1, 86400000, &v[3], err) ||
        mf_conf_int(r, rp, "cooldown_ms", 1, 86400000, &v[4], err) ||
        mf_conf_int(r, rp, "shutdown_ms", 1, 600000, &v[5], err))
        return -1;
    mf_restart rt = MF_RESTART_PERMANENT;
    if (type) {
        if (strcmp(type, "permanent") == 0)
            rt = MF_RESTART_PERMANENT;
        else if (strcmp(type, "transient") == 0)
            rt = MF_RESTART_TRANSIENT;
        else if (strcmp(type, "temporary") == 0)
            rt = MF_RESTART_TEMPORARY;
        else {
            mf_error_set(err, -1, "%s.type: \"%s\" is not one of permanent, transient, temporary",
                         rp, type);
            return -1;
        }
    }
    if (spec) {
        spec->restart = rt;
        spec->backoff_min_ms = (uint32_t)v[0];
        spec->backoff_max_ms = (uint32_t)v[1];
        spec->intensity = (uint32_t)v[2];
        spec->period_ms = (uint32_t)v[3];
        spec->cooldown_ms = (uint32_t)v[4];
        spec->shutdown_ms = (uint32_t)v[5];
    }
    return 0;
}

static int check(const json_t *conf, const char *path, mf_error *err)
{
    return mf_conf_keys(conf, path, keys, err) ||
           mf_conf_strings(conf, path, "command", true, true, NULL, err) ||
           mf_conf_strmap(conf, path, "env", NULL, err) ||
           mf_conf_string(conf, path, "cwd", false, NULL, err) ||
           mf_conf_int(conf, path, "max_message_bytes", 1024, INT64_C(1) << 32, NULL, err) ||
           mf_conf_int(conf, path, "init_timeout_ms", 1, 3600000, NULL, err) ||
           mf_conf_int(conf, path, "max_queue", 0, 1000000, NULL, err) ||
           check_restart(conf, path, NULL, err);
}

/* --- talking to the upstream ----------------------------------------------------- */

static int send_json(client *c, json_t *msg)
{
    size_t len;
    char *text = mf_rpc_dump(msg, &len);
    if (!text)
        return -1;
    text[len] = '\n';   /* the terminator slot becomes the line end */
    int rc = mf_child_write(c->child, text, len + 1);
    free(text);
    return rc;
}

static void reply_error(client *c, const call *k, int code, const char *text)
{
    mf_msg *r = mf_msg_new(MF_MSG_RESPONSE, mf_instance_ep(c->inst), k->reply_to,
                           json_pack("{s:o}", "error", mf_rpc_error_body(code, "%s", text)));
    if (r) {
        r->corr = k->corr;
        r->session = k->session;
        mf_send(r);
    }
}

static void call_forget(client *c, call *k)
{
    HASH_DELETE(by_up, c->calls_by_up, k);
    HASH_DELETE(by_corr, c->calls_by_corr, k);
    free(k);
}

static void fail_calls(client *c, int code, const char *text)
{
    call *k, *tmp;
    HASH_ITER(by_up, c->calls_by_up, k, tmp) {
        reply_error(c, k, code, text);
        call_forget(c, k);
    }
}

static void forward(client *c, mf_msg *m)
{
    if (mf_child_write_queue(c->child) > MAX_STDIN_BACKLOG) {
        mf_send(mf_msg_reply_error(m, mf_instance_ep(c->inst), MF_RPC_OVERLOADED,
                                   "provider %s: upstream is not reading its input", name_of(c)));
        mf_msg_free(m);
        return;
    }
    call *k = calloc(1, sizeof *k);
    k->upid = c->next_id++;
    k->corr = m->corr;
    k->reply_to = m->src;
    k->session = m->session;
    json_t *req = json_pack("{s:s,s:I,s:O}", "jsonrpc", "2.0", "id", (json_int_t)k->upid, "method",
                            json_object_get(m->json, "method"));
    json_t *params = json_object_get(m->json, "params");
    if (params)
        json_object_set(req, "params", params);
    if (send_json(c, req) != 0) {
        mf_send(mf_msg_reply_error(m, mf_instance_ep(c->inst), MF_RPC_UPSTREAM_LOST,
                                   "provider %s: cannot write to the upstream", name_of(c)));
        free(k);
    } else {
        HASH_ADD(by_up, c->calls_by_up, upid, sizeof k->upid, k);
        HASH_ADD(by_corr, c->calls_by_corr, corr, sizeof k->corr, k);
    }
    json_decref(req);
    mf_msg_free(m);
}

static void flush_queue(client *c)
{
    mf_msg *m;
    while (c->state == U_READY && (m = mf_msgq_pop(&c->queue)))
        forward(c, m);
}

static void on_initialized(client *c, json_t *msg)
{
    uv_timer_stop(&c->init_timer);
    json_t *result = json_object_get(msg, "result");
    if (!json_is_object(result)) {
        json_t *e = json_object_get(msg, "error");
        mf_warn("stdio", "upstream refused initialize; restarting it", "provider=%s message=\"%s\"",
                name_of(c), mf_log_esc(e ? json_string_value(json_object_get(e, "message")) : "no result",
                                       (size_t)-1));
        mf_child_kill(c->child, "initialize failed");
        return;
    }
    const char *version = json_string_value(json_object_get(result, "protocolVersion"));
    json_t *info = json_object_get(result, "serverInfo");
    mf_info("stdio", "upstream ready", "provider=%s pid=%d protocol=%s server=\"%s\"", name_of(c),
            mf_child_pid(c->child), version ? version : "?",
            mf_log_esc(json_string_value(json_object_get(info, "name")), (size_t)-1));
    json_t *note = json_pack("{s:s,s:s}", "jsonrpc", "2.0", "method", "notifications/initialized");
    send_json(c, note);
    json_decref(note);
    c->state = U_READY;
    mf_provider_status(c->inst, MF_PROVIDER_UP, result, NULL);
    flush_queue(c);
}

/* The upstream asks something of a client: ping is ours to answer; the rest goes to the
 * kernel, which finds the client it is for. */
static void on_upstream_request(client *c, json_t *msg)
{
    const char *method = mf_rpc_method(msg);
    json_t *id = json_object_get(msg, "id");
    if (strcmp(method, "ping") == 0) {
        json_t *reply = mf_rpc_result(id, json_object());
        send_json(c, reply);
        json_decref(reply);
        return;
    }
    uint64_t key = mf_idmap_put(&c->asks, id);
    mf_provider_ask(c->inst, json_incref(msg), key, 0);
}

/* The upstream takes back a request it made: name it by our key. */
static void on_upstream_cancel(client *c, json_t *msg)
{
    uint64_t key;
    json_t *params = json_object_get(msg, "params");
    if (!mf_idmap_key_of(&c->asks, json_object_get(params, "requestId"), &key))
        return;
    json_decref(mf_idmap_take(&c->asks, key));
    json_t *note = json_deep_copy(msg);
    json_object_set_new(json_object_get(note, "params"), "requestId", json_integer((json_int_t)key));
    mf_provider_notify(c->inst, note, 0);
}

static void on_upstream_line(void *ud, const char *line, size_t len)
{
    client *c = ud;
    json_t *msg = mf_rpc_parse(line, len, NULL);
    if (!msg) {
        mf_warn("stdio", "upstream wrote a line that is not JSON", "provider=%s line=\"%s\"",
                name_of(c), mf_log_esc(line, len > 200 ? 200 : len));
        return;
    }
    switch (mf_rpc_classify(msg, NULL)) {
    case MF_RPC_RESPONSE: {
        json_t *id = json_object_get(msg, "id");
        int64_t upid = json_is_integer(id) ? json_integer_value(id) : -1;
        if (c->state == U_STARTING && upid == c->init_id) {
            on_initialized(c, msg);
            break;
        }
        call *k;
        HASH_FIND(by_up, c->calls_by_up, &upid, sizeof upid, k);
        if (!k) {
            mf_debug("stdio", "answer for no call", "provider=%s id=%lld", name_of(c), (long long)upid);
            break;
        }
        mf_msg *r = mf_msg_new(MF_MSG_RESPONSE, mf_instance_ep(c->inst), k->reply_to, json_incref(msg));
        r->corr = k->corr;
        r->session = k->session;
        mf_send(r);
        call_forget(c, k);
        break;
    }
    case MF_RPC_NOTIFICATION:
        if (strcmp(mf_rpc_method(msg), "notifications/cancelled") == 0)
            on_upstream_cancel(c, msg);
        else
            mf_provider_notify(c->inst, json_incref(msg), 0);
        break;
    case MF_RPC_REQUEST:
        on_upstream_request(c, msg);
        break;
    default:
        mf_warn("stdio", "upstream wrote an invalid JSON-RPC message", "provider=%s line=\"%s\"",
                name_of(c), mf_log_esc(line, len > 200 ? 200 : len));
    }
    json_decref(msg);
}

static void on_upstream_overflow(void *ud, size_t bytes)
{
    client *c = ud;
    /* the lost line may have been an answer: the calls it held will time out */
    mf_warn("stdio", "upstream message too large; dropped", "provider=%s bytes=%zu max=%zu",
            name_of(c), bytes, c->max_message);
}

/* --- supervision callbacks ------------------------------------------------------- */

static void on_init_timeout(uv_timer_t *t)
{
    client *c = t->data;
    if (c->state == U_STARTING)
        mf_child_kill(c->child, "no answer to initialize in time");
}

static void on_started(mf_child *ch, void *ud)
{
    client *c = ud;
    (void)ch;
    mf_lines_free(&c->lines);
    mf_lines_init(&c->lines, c->max_message);
    c->state = U_STARTING;
    c->init_id = c->next_id++;
    json_t *init = json_pack("{s:s,s:I,s:s,s:{s:s,s:o,s:{s:s,s:s}}}", "jsonrpc", "2.0", "id",
                             (json_int_t)c->init_id, "method", "initialize", "params",
                             "protocolVersion", UPSTREAM_PROTOCOL, "capabilities", mf_client_capabilities(),
                             "clientInfo", "name", "mcpfed", "version", mf_version());
    send_json(c, init);
    json_decref(init);
    uv_timer_start(&c->init_timer, on_init_timeout, c->init_timeout_ms, 0);
    mf_provider_status(c->inst, MF_PROVIDER_STARTING, NULL, NULL);
}

static void on_output(mf_child *ch, const char *buf, size_t len, void *ud)
{
    client *c = ud;
    (void)ch;
    mf_lines_feed(&c->lines, buf, len, on_upstream_line, on_upstream_overflow, c);
}

static void on_exited(mf_child *ch, int64_t status, int sig, void *ud)
{
    client *c = ud;
    (void)ch;
    uv_timer_stop(&c->init_timer);
    char why[160];
    if (sig)
        snprintf(why, sizeof why, "provider %s: upstream killed by signal %d while handling the request",
                 name_of(c), sig);
    else
        snprintf(why, sizeof why, "provider %s: upstream exited with status %lld while handling the request",
                 name_of(c), (long long)status);
    fail_calls(c, MF_RPC_UPSTREAM_LOST, why);
    mf_idmap_clear(&c->asks);   /* a new process never asked them */
    if (c->state != U_STOPPING) {
        c->state = U_DOWN;
        mf_provider_status(c->inst, MF_PROVIDER_DOWN, NULL, why);
    }
}

static void on_failed(mf_child *ch, const char *reason, void *ud)
{
    client *c = ud;
    (void)ch;
    if (c->state == U_STOPPING)
        return;
    c->state = U_FAILED;
    free(c->failed_reason);
    c->failed_reason = strdup(reason);
    char why[600];
    snprintf(why, sizeof why, "provider %s is unavailable: %s", name_of(c), reason);
    mf_msgq_fail(&c->queue, mf_instance_ep(c->inst), MF_RPC_UNAVAILABLE, why);
    mf_provider_status(c->inst, MF_PROVIDER_FAILED, NULL, reason);
}

static void free_client(client *c)
{
    for (char **p = c->argv; p && *p; p++)
        free(*p);
    for (char **p = c->env; p && *p; p++)
        free(*p);
    free(c->argv);
    free(c->env);
    free(c->cwd);
    free(c->failed_reason);
    mf_idmap_clear(&c->asks);
    mf_lines_free(&c->lines);
    free(c);
}

static void on_timer_closed(uv_handle_t *h)
{
    client *c = h->data;
    mf_instance *inst = c->inst;
    free_client(c);
    if (inst)   /* NULL when start failed: the instance was never ours to report */
        mf_instance_stopped(inst);
}

static void on_stopped(mf_child *ch, void *ud)
{
    client *c = ud;
    (void)ch;
    c->child = NULL;
    uv_close((uv_handle_t *)&c->init_timer, on_timer_closed);
}

/* --- role operations ------------------------------------------------------------- */

static char **strings(const json_t *arr)
{
    size_t n = json_array_size(arr);
    char **out = calloc(n + 1, sizeof *out);
    for (size_t i = 0; i < n; i++)
        out[i] = strdup(json_string_value(json_array_get(arr, i)));
    return out;
}

static char **env_list(const json_t *map)
{
    size_t n = json_is_object(map) ? json_object_size(map) : 0, i = 0;
    char **out = calloc(n + 1, sizeof *out);
    const char *k;
    json_t *v;
    if (n)
        json_object_foreach((json_t *)map, k, v) {
            size_t len = strlen(k) + json_string_length(v) + 2;
            out[i] = malloc(len);
            snprintf(out[i++], len, "%s=%s", k, json_string_value(v));
        }
    return out;
}

static int start(mf_instance *inst, const json_t *conf, void **self, mf_error *err)
{
    client *c = calloc(1, sizeof *c);
    c->inst = inst;
    c->next_id = 1;
    int64_t max_message = STDIO_DEFAULT_MAX_MESSAGE, init_timeout = DEFAULT_INIT_TIMEOUT_MS,
            max_queue = DEFAULT_MAX_QUEUE;
    const char *cwd = NULL;
    const json_t *env = NULL;
    mf_conf_int(conf, "", "max_message_bytes", 1024, INT64_C(1) << 32, &max_message, NULL);
    mf_conf_int(conf, "", "init_timeout_ms", 1, 3600000, &init_timeout, NULL);
    mf_conf_int(conf, "", "max_queue", 0, 1000000, &max_queue, NULL);
    mf_conf_string(conf, "", "cwd", false, &cwd, NULL);
    mf_conf_strmap(conf, "", "env", &env, NULL);
    check_restart(conf, "", &c->spec, NULL);
    c->max_message = (size_t)max_message;
    c->init_timeout_ms = (uint64_t)init_timeout;
    c->max_queue = (size_t)max_queue;
    c->argv = strings(json_object_get(conf, "command"));
    c->env = env_list(env);
    c->cwd = cwd ? strdup(cwd) : NULL;
    mf_lines_init(&c->lines, c->max_message);
    uv_timer_init(mf_loop(), &c->init_timer);
    c->init_timer.data = c;
    c->state = U_STARTING;

    c->spec.name = mf_instance_name(inst);
    c->spec.argv = (const char *const *)c->argv;
    c->spec.env = (const char *const *)c->env;
    c->spec.cwd = c->cwd;
    static const mf_child_ops ops = {
        .started = on_started, .output = on_output, .exited = on_exited,
        .failed = on_failed, .stopped = on_stopped,
    };
    *self = c;
    c->child = mf_child_start(&c->spec, &ops, c, err);
    if (!c->child) {
        /* the timer handle lives in c: free c only after the loop let go of it */
        c->inst = NULL;
        uv_close((uv_handle_t *)&c->init_timer, on_timer_closed);
        return -1;
    }
    return 0;
}

static void receive(void *self, mf_msg *m)
{
    client *c = self;
    switch (m->kind) {
    case MF_MSG_REQUEST:
        if (!json_is_string(json_object_get(m->json, "method"))) {
            mf_send(mf_msg_reply_error(m, mf_instance_ep(c->inst), MF_RPC_INVALID_REQUEST,
                                       "request without a method"));
            mf_msg_free(m);
        } else if (c->state == U_READY) {
            forward(c, m);
        } else if (c->state == U_FAILED || c->state == U_STOPPING) {
            mf_send(mf_msg_reply_error(m, mf_instance_ep(c->inst),
                                       c->state == U_FAILED ? MF_RPC_UNAVAILABLE : MF_RPC_SHUTTING_DOWN,
                                       "provider %s is unavailable: %s", name_of(c),
                                       c->state == U_FAILED ? c->failed_reason : "stopping"));
            mf_msg_free(m);
        } else if (c->queue.len >= c->max_queue) {
            mf_send(mf_msg_reply_error(m, mf_instance_ep(c->inst), MF_RPC_OVERLOADED,
                                       "provider %s is starting and %zu calls already wait for it",
                                       name_of(c), c->queue.len));
            mf_msg_free(m);
        } else {
            mf_msgq_push(&c->queue, m);
        }
        return;
    case MF_MSG_CANCEL: {
        call *k;
        HASH_FIND(by_corr, c->calls_by_corr, &m->corr, sizeof m->corr, k);
        if (k) {
            const char *reason = json_string_value(json_object_get(m->json, "reason"));
            json_t *note = json_pack("{s:s,s:s,s:{s:I,s:s}}", "jsonrpc", "2.0", "method",
                                     "notifications/cancelled", "params", "requestId",
                                     (json_int_t)k->upid, "reason", reason ? reason : "cancelled");
            send_json(c, note);
            json_decref(note);
            call_forget(c, k);
        } else {
            mf_msgq_drop(&c->queue, m->corr);   /* still waiting: drop it there */
        }
        break;
    }
    case MF_MSG_NOTIFY:
        if (c->state == U_READY)
            send_json(c, m->json);
        break;
    case MF_MSG_RESPONSE: {
        /* the answer to a request the upstream made */
        json_t *id = mf_idmap_take(&c->asks, m->corr);
        if (id && c->state == U_READY) {
            json_t *out = json_pack("{s:s,s:o}", "jsonrpc", "2.0", "id", id);
            json_t *error = json_object_get(m->json, "error");
            json_object_set(out, error ? "error" : "result",
                            error ? error : json_object_get(m->json, "result"));
            send_json(c, out);
            json_decref(out);
        } else {
            json_decref(id);
        }
        break;
    }
    default:
        break;
    }
    mf_msg_free(m);
}

static void stop(void *self)
{
    client *c = self;
    c->state = U_STOPPING;
    uv_timer_stop(&c->init_timer);
    char why[200];
    snprintf(why, sizeof why, "provider %s is shutting down", name_of(c));
    mf_msgq_fail(&c->queue, mf_instance_ep(c->inst), MF_RPC_SHUTTING_DOWN, why);
    fail_calls(c, MF_RPC_SHUTTING_DOWN, why);
    mf_child_stop(c->child);
}

const mf_role_ops stdio_provider_ops = {
    .check = check,
    .start = start,
    .receive = receive,
    .stop = stop,
};
