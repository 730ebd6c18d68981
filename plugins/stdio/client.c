/* Upstream stdio: an MCP server run as supervised children (one, or `replicas` of them),
 * spoken to over their stdin and stdout.
 *
 * The replicas are the children of one supervisor, with the provider's restart settings
 * (strategy, intensity, period, cool-down). A call goes to the replica the kernel's routing
 * named (its target), and to no other: when that replica cannot take it now, the call is
 * answered -32010 at once, never held, so that the kernel tries its next target or waits
 * for one itself. The kernel's own requests, which name no target, go to the ready
 * replica with the fewest calls in flight, or wait in a bounded queue for one. When a replica
 * exits, every call it had in flight is answered with an error at once; when one dies
 * before answering initialize, the calls waiting for it fail too, with the reason. When
 * the supervisor gives up, waiting and new calls fail at once until it is back. */
#include "client.h"
#include "swapstate.h"
#include "child_conf.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define UPSTREAM_PROTOCOL "2025-11-25"
#define MAX_REPLICAS 256
#define MAX_STDIN_BACKLOG (64u * 1024 * 1024)

static const char *name_of(const client *c) { return mf_instance_name(c->inst); }

/* --- configuration --------------------------------------------------------------- */

/* A provider's settings, as the table below fills them. */
typedef struct settings {
    child_restart restart;
    const json_t *command, *env;
    const char *cwd;
    int64_t max_message_bytes, init_timeout_ms, max_queue, replicas, max_processes;
} settings;
CHILD_RESTART_FIRST(settings);

const mf_setting stdio_provider_settings[] = {
    {"command", MF_SET_STRINGS, MF_SET_REQUIRED | MF_SET_NONEMPTY, .at = MF_AT(settings, command),
     .doc = "the program and its arguments"},
    {"env", MF_SET_MAP, .def = "{}", .at = MF_AT(settings, env), .doc = "variables added to mcpfed's environment"},
    {"cwd", MF_SET_STRING, .def_doc = "mcpfed's", .at = MF_AT(settings, cwd), .doc = "the upstream's working directory"},
    {"max_message_bytes", MF_SET_BYTES, .def = "4194304", .min = 1024, .max = INT64_C(1) << 32,
     .at = MF_AT(settings, max_message_bytes), .doc = "the longest line the upstream may write"},
    {"init_timeout_ms", MF_SET_DURATION, .def = "30000", .min = 1, .max = 3600000,
     .at = MF_AT(settings, init_timeout_ms), .doc = "how long the upstream may take to answer initialize"},
    {"max_queue", MF_SET_INT, .def = "4096", .min = 0, .max = 1000000, .at = MF_AT(settings, max_queue),
     .doc = "the gateway's own requests (listings, subscriptions) that may wait while the upstream starts"},
    {"replicas", MF_SET_INT, .def = "1", .min = 1, .max = MAX_REPLICAS, .at = MF_AT(settings, replicas),
     .doc = "identical upstream processes, each a target"},
    {"max_processes", MF_SET_INT, .min = 1, .max = 100000, .at = MF_AT(settings, max_processes),
     .doc = "processes this provider may run at once (a pool's most replicas)"},
    {"restart", MF_SET_TABLE, .def = "{}", .sub = child_restart_settings, .doc = "how replicas are restarted"},
    {0},
};


/* conf checked against the table: its settings, defaults filled. */
static void read_settings(const json_t *conf, settings *st)
{
    memset(st, 0, sizeof *st);
    mf_settings_check(conf, "", stdio_provider_settings, st, NULL);
}

/* What the table cannot say. */
static int check(const json_t *conf, const char *path, mf_error *err)
{
    settings st;
    read_settings(conf, &st);
    if (child_conf_check(&st.restart, conf, path, err))
        return -1;
    if (st.max_processes && st.replicas > st.max_processes) {
        mf_error_set(err, -1, "%s.replicas: %lld is more than max_processes (%lld)", path,
                     (long long)st.replicas, (long long)st.max_processes);
        return -1;
    }
    if (st.restart.strategy == MF_SIMPLE_ONE_FOR_ONE && !st.max_processes) {
        mf_error_set(err, -1, "%s.max_processes: required with restart.strategy = \"simple_one_for_one\" "
                     "(the most replicas the pool may grow to)", path);
        return -1;
    }
    if (st.max_processes > MAX_REPLICAS && st.restart.strategy == MF_SIMPLE_ONE_FOR_ONE) {
        mf_error_set(err, -1, "%s.max_processes: %lld is more than a pool may grow to (%d)", path,
                     (long long)st.max_processes, MAX_REPLICAS);
        return -1;
    }
    return 0;
}

/* --- talking to the upstream ----------------------------------------------------- */

static int send_json(replica *r, const json_t *msg)
{
    size_t len;
    char *text = mf_rpc_dump(msg, &len);
    if (!text)
        return -1;
    text[len] = '\n';   /* the terminator slot becomes the line end */
    int rc = mf_child_write(r->child, text, len + 1);
    free(text);
    return rc;
}

static void reply_error(client *c, const call *k, int code, const char *text)
{
    mf_msg *m = mf_msg_new(MF_MSG_RESPONSE, mf_instance_ep(c->inst), k->reply_to,
                           json_pack("{s:o}", "error", mf_rpc_error_body(code, "%s", text)));
    m->corr = k->corr;
    m->session = k->session;
    mf_send(m);
}

static void shrink_step(client *c);

static void call_forget(client *c, call *k)
{
    HASH_DELETE(by_up, c->calls_by_up, k);
    HASH_DELETE(by_corr, c->calls_by_corr, k);
    replica *r = k->r;
    if (r->inflight)
        r->inflight--;
    free(k);
    if (r->leaving && !r->inflight)
        shrink_step(c);
}

/* Answer every call in flight on r (all replicas when r is NULL) with an error. */
static void fail_calls(client *c, replica *r, int code, const char *text)
{
    call *k, *tmp;
    HASH_ITER(by_up, c->calls_by_up, k, tmp) {
        if (!r || k->r == r) {
            reply_error(c, k, code, text);
            call_forget(c, k);
        }
    }
}

static bool takes_calls(const replica *r)
{
    return r->state == U_READY && !r->leaving;
}

/* The ready replica with the fewest calls in flight: for the kernel's own requests, which
 * are for the provider as a whole. */
static replica *pick(client *c)
{
    replica *best = NULL;
    for (int i = 0; i < c->nreplicas; i++) {
        replica *r = &c->replicas[i];
        if (takes_calls(r) && (!best || r->inflight < best->inflight))
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
static replica *server_of(client *c, const mf_msg *m)
{
    json_int_t t = target_of(m);
    if (!t)
        return pick(c);
    return t >= 1 && t <= c->nreplicas && takes_calls(&c->replicas[t - 1]) ? &c->replicas[t - 1] : NULL;
}

/* Why the replica m names cannot take it now, or NULL when m names none (it may wait for
 * any): a call for one replica is never held, the kernel decides where it goes next. */
static const char *cannot_take(const client *c, const mf_msg *m)
{
    json_int_t t = target_of(m);
    if (!t)
        return NULL;
    if (t < 1 || t > c->nreplicas)
        return "is not in use";
    const replica *r = &c->replicas[t - 1];
    if (r->leaving)
        return "is leaving the pool";
    if (r->state != U_STARTING && r->state != U_DOWN)
        return "has failed";
    return r->state == U_STARTING ? "is starting" : "is restarting";
}

/* Answer the requests waiting for replica r (when r is not NULL) and, when untargeted,
 * those that name no replica, with an error; the others keep waiting, in order. */
static void fail_waiting(client *c, const replica *r, bool untargeted, int code, const char *why)
{
    mf_msgq keep = {0};
    for (mf_msg *m; (m = mf_msgq_pop(&c->queue));) {
        json_int_t t = target_of(m);
        if ((!t && untargeted) || (r && t == r->index + 1)) {
            mf_send(mf_msg_reply_error(m, mf_instance_ep(c->inst), code, "%s", why));
            mf_msg_free(m);
        } else {
            mf_msgq_push(&keep, m);
        }
    }
    c->queue = keep;
}

static void forward(client *c, replica *r, mf_msg *m)
{
    if (mf_child_write_queue(r->child) > MAX_STDIN_BACKLOG) {
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
    k->r = r;
    json_t *req = json_pack("{s:s,s:I,s:O}", "jsonrpc", "2.0", "id", (json_int_t)k->upid, "method",
                            json_object_get(m->json, "method"));
    json_t *params = json_object_get(m->json, "params");
    if (params)
        json_object_set(req, "params", params);
    if (send_json(r, req) != 0) {
        mf_send(mf_msg_reply_error(m, mf_instance_ep(c->inst), MF_RPC_UPSTREAM_LOST,
                                   "provider %s: cannot write to the upstream", name_of(c)));
        free(k);
    } else {
        HASH_ADD(by_up, c->calls_by_up, upid, sizeof k->upid, k);
        HASH_ADD(by_corr, c->calls_by_corr, corr, sizeof k->corr, k);
        r->inflight++;
    }
    json_decref(req);
    mf_msg_free(m);
}

/* Send the waiting requests whose replica is ready; the others keep waiting, in order. */
static void flush_queue(client *c)
{
    mf_msgq keep = {0};
    for (mf_msg *m; (m = mf_msgq_pop(&c->queue));) {
        replica *r = server_of(c, m);
        if (r)
            forward(c, r, m);
        else
            mf_msgq_push(&keep, m);
    }
    c->queue = keep;
}

static bool any_ready(const client *c)
{
    for (int i = 0; i < c->nreplicas; i++)
        if (c->replicas[i].state == U_READY)
            return true;
    return false;
}

/* Is some replica ready, or on its way (its process started, initialize not answered)? */
static bool any_alive(const client *c)
{
    for (int i = 0; i < c->nreplicas; i++)
        if (c->replicas[i].state == U_READY || (c->replicas[i].state == U_STARTING && mf_child_pid(c->replicas[i].child)))
            return true;
    return false;
}

static void on_initialized(replica *r, json_t *msg)
{
    client *c = r->c;
    uv_timer_stop(&r->init_timer);
    if (!mf_child_pid(r->child))
        return;   /* it answered while being stopped: it will take no call */
    json_t *result = json_object_get(msg, "result");
    if (!json_is_object(result)) {
        json_t *e = json_object_get(msg, "error");
        mf_warn("stdio", "upstream refused initialize; restarting it", "provider=%s replica=%d message=\"%s\"",
                name_of(c), r->index,
                mf_log_esc(e ? json_string_value(json_object_get(e, "message")) : "no result", (size_t)-1));
        mf_child_kill(r->child, "initialize failed");
        return;
    }
    const char *version = json_string_value(json_object_get(result, "protocolVersion"));
    json_t *info = json_object_get(result, "serverInfo");
    mf_info("stdio", "upstream ready", "provider=%s replica=%d pid=%d protocol=%s server=\"%s\"", name_of(c),
            r->index, mf_child_pid(r->child), version ? version : "?",
            mf_log_esc(json_string_value(json_object_get(info, "name")), (size_t)-1));
    json_t *note = json_pack("{s:s,s:s}", "jsonrpc", "2.0", "method", "notifications/initialized");
    send_json(r, note);
    json_decref(note);
    r->state = U_READY;
    mf_child_ready(r->child);   /* its start is complete: the next replica's may begin */
    json_decref(r->init_result);
    r->init_result = json_incref(result);
    c->failed = false;
    if (!r->leaving)
        mf_provider_target_status(c->inst, r->index, true);
    if (!c->up) {
        c->up = true;
        mf_provider_status(c->inst, MF_PROVIDER_UP, result, NULL);
    }
    flush_queue(c);
}

/* The upstream asks something of a client: ping is ours to answer; the rest goes to the
 * kernel, which finds the client it is for. */
static void on_upstream_request(replica *r, json_t *msg)
{
    json_t *id = json_object_get(msg, "id");
    if (strcmp(mf_rpc_method(msg), "ping") == 0) {
        json_t *reply = mf_rpc_result(id, json_object());
        send_json(r, reply);
        json_decref(reply);
        return;
    }
    json_t *who = json_pack("[i,O]", r->index, id);
    uint64_t key = mf_idmap_put(&r->c->asks, who);
    json_decref(who);
    mf_provider_ask(r->c->inst, json_incref(msg), key, 0);
}

/* The upstream takes back a request it made: name it by our key. */
static void on_upstream_cancel(replica *r, json_t *msg)
{
    uint64_t key;
    json_t *params = json_object_get(msg, "params");
    json_t *who = json_pack("[i,O]", r->index, json_object_get(params, "requestId") ?: json_null());
    bool known = mf_idmap_key_of(&r->c->asks, who, &key);
    json_decref(who);
    if (!known)
        return;
    json_decref(mf_idmap_take(&r->c->asks, key));
    json_t *note = json_deep_copy(msg);
    json_object_set_new(json_object_get(note, "params"), "requestId", json_integer((json_int_t)key));
    mf_provider_notify(r->c->inst, note, 0);
}

static void on_upstream_line(void *ud, const char *line, size_t len)
{
    replica *r = ud;
    client *c = r->c;
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
        if (r->state == U_STARTING && upid == r->init_id) {
            on_initialized(r, msg);
            break;
        }
        call *k;
        HASH_FIND(by_up, c->calls_by_up, &upid, sizeof upid, k);
        if (!k || k->r != r) {
            mf_debug("stdio", "answer for no call", "provider=%s id=%lld", name_of(c), (long long)upid);
            break;
        }
        mf_msg *out = mf_msg_new(MF_MSG_RESPONSE, mf_instance_ep(c->inst), k->reply_to, json_incref(msg));
        out->corr = k->corr;
        out->session = k->session;
        mf_send(out);
        call_forget(c, k);
        break;
    }
    case MF_RPC_NOTIFICATION:
        if (strcmp(mf_rpc_method(msg), "notifications/cancelled") == 0)
            on_upstream_cancel(r, msg);
        else
            mf_provider_notify(c->inst, json_incref(msg), 0);
        break;
    case MF_RPC_REQUEST:
        on_upstream_request(r, msg);
        break;
    default:
        mf_warn("stdio", "upstream wrote an invalid JSON-RPC message", "provider=%s line=\"%s\"",
                name_of(c), mf_log_esc(line, len > 200 ? 200 : len));
    }
    json_decref(msg);
}

static void on_upstream_overflow(void *ud, size_t bytes)
{
    replica *r = ud;
    /* the lost line may have been an answer: the calls it held will time out */
    mf_warn("stdio", "upstream message too large; dropped", "provider=%s bytes=%zu max=%zu",
            name_of(r->c), bytes, r->c->max_message);
}

/* --- supervision callbacks ------------------------------------------------------- */

void client_on_init_timeout(uv_timer_t *t)
{
    replica *r = t->data;
    if (r->state == U_STARTING)
        mf_child_kill(r->child, "no answer to initialize in time");
}

static void on_started(mf_child *ch, void *ud)
{
    replica *r = ud;
    client *c = r->c;
    (void)ch;
    mf_lines_free(&r->lines);
    mf_lines_init(&r->lines, c->max_message);
    r->state = U_STARTING;
    r->init_id = c->next_id++;
    json_t *init = json_pack("{s:s,s:I,s:s,s:{s:s,s:o,s:{s:s,s:s}}}", "jsonrpc", "2.0", "id",
                             (json_int_t)r->init_id, "method", "initialize", "params",
                             "protocolVersion", UPSTREAM_PROTOCOL, "capabilities", mf_client_capabilities(),
                             "clientInfo", "name", "mcpfed", "version", mf_version());
    send_json(r, init);
    json_decref(init);
    uv_timer_start(&r->init_timer, client_on_init_timeout, c->init_timeout_ms, 0);
    if (!c->up)
        mf_provider_status(c->inst, MF_PROVIDER_STARTING, NULL, NULL);
}

static void on_output(mf_child *ch, const char *buf, size_t len, void *ud)
{
    replica *r = ud;
    (void)ch;
    mf_lines_feed(&r->lines, buf, len, on_upstream_line, on_upstream_overflow, r);
}

static void forget_asks_of(client *c, replica *r)
{
    /* a new process never asked them */
    for (uint64_t k = 1; k <= c->asks.next; k++) {
        json_t *who = mf_idmap_take(&c->asks, k);
        if (!who)
            continue;
        if (json_integer_value(json_array_get(who, 0)) != r->index)
            mf_idmap_put_at(&c->asks, k, who);   /* another replica's: keep, under the key the kernel knows */
        json_decref(who);
    }
}

static void on_exited(mf_child *ch, int64_t status, int sig, void *ud)
{
    replica *r = ud;
    client *c = r->c;
    (void)ch;
    uv_timer_stop(&r->init_timer);
    bool was_starting = r->state == U_STARTING;
    char why[200];
    if (sig)
        snprintf(why, sizeof why, "provider %s: upstream killed by signal %d", name_of(c), sig);
    else
        snprintf(why, sizeof why, "provider %s: upstream exited with status %lld", name_of(c),
                 (long long)status);
    char lost[260];
    snprintf(lost, sizeof lost, "%s while handling the request", why);
    fail_calls(c, r, MF_RPC_UPSTREAM_LOST, lost);
    forget_asks_of(c, r);
    if (c->stopping)
        return;
    if (r->state == U_READY)
        mf_provider_target_status(c->inst, r->index, false);
    r->state = U_DOWN;
    if (was_starting) {
        /* the start these calls waited for has failed: say so now, not at their deadline
         * (those for any replica wait on while another is ready) */
        char failed[260];
        snprintf(failed, sizeof failed, "%s before it answered initialize", why);
        fail_waiting(c, r, !any_ready(c), MF_RPC_UNAVAILABLE, failed);
        /* the calls the kernel keeps waiting for this provider hear it too, unless another
         * replica is on its way */
        if (!c->up && !any_alive(c))
            mf_provider_status(c->inst, MF_PROVIDER_DOWN, NULL, failed);
    }
    if (!any_ready(c) && c->up) {
        c->up = false;
        mf_provider_status(c->inst, MF_PROVIDER_DOWN, NULL, why);
    }
}

static void on_failed(mf_child *ch, const char *reason, void *ud)
{
    replica *r = ud;
    client *c = r->c;
    (void)ch;
    if (c->stopping)
        return;
    r->state = U_FAILED;
    char why[700];
    snprintf(why, sizeof why, "provider %s is unavailable: %s", name_of(c), reason);
    fail_waiting(c, r, false, MF_RPC_UNAVAILABLE, why);
    if (any_alive(c) || c->failed)
        return;   /* the others may still serve */
    c->failed = true;
    c->up = false;
    free(c->failed_reason);
    c->failed_reason = strdup(reason);
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
    for (int i = 0; i < c->cap; i++) {
        mf_lines_free(&c->replicas[i].lines);
        json_decref(c->replicas[i].init_result);
    }
    free(c->replicas);
    free(c);
}

static void on_timer_closed(uv_handle_t *h)
{
    replica *r = h->data;
    client *c = r->c;
    if (--c->open_timers > 0)
        return;
    mf_instance *inst = c->inst;
    free_client(c);
    if (inst)   /* NULL when start failed: the instance was never ours to report */
        mf_instance_stopped(inst);
}

void client_close_timers(client *c)
{
    for (int i = 0; i < c->cap; i++)
        uv_close((uv_handle_t *)&c->replicas[i].init_timer, on_timer_closed);
}

static void on_stopped(mf_child *ch, void *ud)
{
    replica *r = ud;
    (void)ch;
    r->child = NULL;
    if (r->leaving)
        shrink_step(r->c);
}

/* --- a dynamic pool ----------------------------------------------------------------- */

/* Shrinking: the last replica in use goes once it has no call left, then the one before,
 * until the pool has the size asked for. */
static void shrink_step(client *c)
{
    while (!c->stopping && !c->handed_over && c->nreplicas > c->want) {
        replica *r = &c->replicas[c->nreplicas - 1];
        if (r->child) {
            if (r->inflight || r->stop_sent)
                return;
            r->stop_sent = true;
            mf_info("stdio", "pool replica drained; stopping it", "provider=%s replica=%d", name_of(c), r->index);
            mf_child_stop(r->child);   /* on_stopped comes back here */
            return;
        }
        json_decref(r->init_result);
        r->init_result = NULL;
        r->state = U_STOPPING;
        r->leaving = r->stop_sent = false;
        c->nreplicas--;
        if (c->nreplicas == c->want)
            mf_info("stdio", "pool scaled", "provider=%s replicas=%d", name_of(c), c->nreplicas);
    }
}

static int start_replica(client *c, int i, mf_error *err)
{
    char name[160];
    replica *r = &c->replicas[i];
    snprintf(name, sizeof name, c->cap > 1 ? "%s#%d" : "%s", mf_instance_name(c->inst), i + 1);
    c->spec.name = name;
    r->state = U_STARTING;
    r->inflight = 0;
    r->child = mf_child_start(&c->spec, &stdio_child_ops, r, err);
    c->spec.name = NULL;
    return r->child ? 0 : -1;
}

static int scale(void *self, int n, mf_error *err)
{
    client *c = self;
    if (!c->pool) {
        mf_error_set(err, -1, "provider %s is not a dynamic pool (restart.strategy = \"simple_one_for_one\")",
                     name_of(c));
        return -1;
    }
    if (c->stopping || c->handed_over) {
        mf_error_set(err, -1, "provider %s is stopping", name_of(c));
        return -1;
    }
    if (n > c->cap) {
        mf_error_set(err, MF_RPC_OVERLOADED, "provider %s: %d replicas is more than its max_processes (%d)",
                     name_of(c), n, c->cap);
        return -1;
    }
    if (c->want < c->nreplicas) {
        mf_error_set(err, -1, "provider %s: %d replicas are still finishing their calls before they stop",
                     name_of(c), c->nreplicas - c->want);
        return -1;
    }
    c->want = n;
    if (n < c->nreplicas) {
        char why[200];
        snprintf(why, sizeof why, "provider %s: the replica is leaving the pool", name_of(c));
        for (int i = n; i < c->nreplicas; i++) {
            c->replicas[i].leaving = true;
            mf_provider_target_status(c->inst, i, false);
            fail_waiting(c, &c->replicas[i], false, MF_RPC_UNAVAILABLE, why);
        }
        shrink_step(c);
        return 0;
    }
    while (c->nreplicas < n) {
        if (start_replica(c, c->nreplicas, err) != 0) {
            c->want = c->nreplicas;
            return -1;
        }
        c->nreplicas++;
    }
    return 0;
}

static void on_sup_stopped(void *ud) { client_close_timers(ud); }

/* --- role operations ------------------------------------------------------------- */

static char **strings(const json_t *arr)
{
    size_t n = json_array_size(arr);
    char **out = calloc(n + 1, sizeof *out);
    for (size_t i = 0; i < n; i++)
        out[i] = strdup(json_string_value(json_array_get(arr, i)));
    return out;
}

const mf_child_ops stdio_child_ops = {
    .started = on_started, .output = on_output, .exited = on_exited,
    .failed = on_failed, .stopped = on_stopped,
};

client *client_new(mf_instance *inst, const json_t *conf)
{
    client *c = calloc(1, sizeof *c);
    if (!c)
        return NULL;
    c->inst = inst;
    c->next_id = 1;
    settings st;
    read_settings(conf, &st);
    int64_t replicas = st.replicas, maxp = st.max_processes;
    child_conf_apply(&st.restart, &c->spec, &c->sup_spec);
    c->max_message = (size_t)st.max_message_bytes;
    c->init_timeout_ms = (uint64_t)st.init_timeout_ms;
    c->max_queue = (size_t)st.max_queue;
    c->argv = strings(st.command);
    c->env = child_conf_env(st.env);
    c->cwd = st.cwd ? strdup(st.cwd) : NULL;
    c->sup_spec.name = mf_instance_name(inst);
    c->sup_spec.max_children = (uint32_t)maxp;
    c->pool = c->sup_spec.strategy == MF_SIMPLE_ONE_FOR_ONE;
    c->cap = c->pool && maxp ? (int)maxp : (int)replicas;
    c->replicas = calloc((size_t)c->cap, sizeof *c->replicas);
    if (!c->replicas) {
        free_client(c);
        return NULL;
    }
    c->nreplicas = c->want = (int)replicas;
    for (int i = 0; i < c->cap; i++) {
        replica *r = &c->replicas[i];
        r->c = c;
        r->index = i;
        r->state = U_STARTING;
        mf_lines_init(&r->lines, c->max_message);
        uv_timer_init(mf_loop(), &r->init_timer);
        r->init_timer.data = r;
        c->open_timers++;
    }
    c->spec.start_ack = true;   /* started = answered initialize (or exited) */
    c->spec.argv = (const char *const *)c->argv;
    c->spec.env = (const char *const *)c->env;
    c->spec.cwd = c->cwd;
    return c;
}

static int start(mf_instance *inst, const json_t *conf, void **self, mf_error *err)
{
    client *c = client_new(inst, conf);
    if (!c) {
        mf_error_set(err, -1, "out of memory");
        return -1;
    }
    c->sup = mf_sup_start(&c->sup_spec, err);
    if (!c->sup) {
        c->inst = NULL;
        client_close_timers(c);
        return -1;
    }
    c->spec.sup = c->sup;
    *self = c;
    /* a pool has a target for each replica it may grow to (the kernel's targets stay put
     * while requests point at them); those not in use are down */
    mf_provider_targets(inst, c->cap);
    for (int i = c->nreplicas; i < c->cap; i++)
        mf_provider_target_status(inst, i, false);
    for (int i = 0; i < c->nreplicas; i++) {
        if (start_replica(c, i, err) != 0) {
            /* what started goes; the timers live in c: free c once the loop let go of them */
            c->inst = NULL;
            c->stopping = true;
            mf_sup_stop(c->sup, on_sup_stopped, c);
            return -1;
        }
    }
    return 0;
}

/* A request from the kernel: sent to its replica, held for it, or answered at once. */
static void take_request(client *c, mf_msg *m)
{
    replica *r;
    const char *why;
    mf_ep self = mf_instance_ep(c->inst);
    if (!json_is_string(json_object_get(m->json, "method")))
        mf_send(mf_msg_reply_error(m, self, MF_RPC_INVALID_REQUEST, "request without a method"));
    else if ((r = server_of(c, m))) {
        forward(c, r, m);
        return;
    } else if (c->failed || c->stopping)
        mf_send(mf_msg_reply_error(m, self, c->failed ? MF_RPC_UNAVAILABLE : MF_RPC_SHUTTING_DOWN,
                                   "provider %s is unavailable: %s", name_of(c),
                                   c->stopping ? "stopping" : c->failed_reason));
    else if ((why = cannot_take(c, m)))   /* never sent: the kernel decides what next */
        mf_send(mf_msg_reply_error(m, self, MF_RPC_UNAVAILABLE, "provider %s: replica %lld %s", name_of(c),
                                   (long long)target_of(m), why));
    else if (c->queue.len >= c->max_queue)
        mf_send(mf_msg_reply_error(m, self, MF_RPC_OVERLOADED, "provider %s is starting and %zu calls already wait for it",
                                   name_of(c), c->queue.len));
    else {
        mf_msgq_push(&c->queue, m);
        return;
    }
    mf_msg_free(m);
}

static void receive(void *self, mf_msg *m)
{
    client *c = self;
    if (c->handed_over) {
        mf_instance_forward(c->inst, m);   /* the successor has every call and ask */
        return;
    }
    switch (m->kind) {
    case MF_MSG_REQUEST:
        take_request(c, m);
        return;
    case MF_MSG_CANCEL: {
        call *k;
        HASH_FIND(by_corr, c->calls_by_corr, &m->corr, sizeof m->corr, k);
        if (k) {
            const char *reason = json_string_value(json_object_get(m->json, "reason"));
            json_t *note = json_pack("{s:s,s:s,s:{s:I,s:s}}", "jsonrpc", "2.0", "method",
                                     "notifications/cancelled", "params", "requestId",
                                     (json_int_t)k->upid, "reason", reason ? reason : "cancelled");
            send_json(k->r, note);
            json_decref(note);
            call_forget(c, k);
        } else {
            mf_msgq_drop(&c->queue, m->corr);   /* still waiting: drop it there */
        }
        break;
    }
    case MF_MSG_NOTIFY:
        /* a client's notification (roots changed): every replica hears it */
        for (int i = 0; i < c->nreplicas; i++)
            if (c->replicas[i].state == U_READY)
                send_json(&c->replicas[i], m->json);
        break;
    case MF_MSG_RESPONSE: {
        /* the answer to a request an upstream made */
        json_t *who = mf_idmap_take(&c->asks, m->corr);
        int i = who ? (int)json_integer_value(json_array_get(who, 0)) : -1;
        if (i >= 0 && i < c->nreplicas && c->replicas[i].state == U_READY) {
            json_t *out = json_pack("{s:s,s:O}", "jsonrpc", "2.0", "id", json_array_get(who, 1));
            json_t *error = json_object_get(m->json, "error");
            json_object_set(out, error ? "error" : "result",
                            error ? error : json_object_get(m->json, "result"));
            send_json(&c->replicas[i], out);
            json_decref(out);
        }
        json_decref(who);
        break;
    }
    default:
        break;
    }
    mf_msg_free(m);
}

void client_forget_all(client *c)
{
    call *k, *tmp;
    HASH_ITER(by_up, c->calls_by_up, k, tmp)
        call_forget(c, k);
    mf_idmap_clear(&c->asks);
}

static void stop(void *self)
{
    client *c = self;
    if (c->handed_over)
        return;   /* draining: its timers are closing and stop it when closed */
    c->stopping = true;
    for (int i = 0; i < c->nreplicas; i++) {
        uv_timer_stop(&c->replicas[i].init_timer);
        c->replicas[i].state = U_STOPPING;
    }
    char why[200];
    snprintf(why, sizeof why, "provider %s is shutting down", name_of(c));
    mf_msgq_fail(&c->queue, mf_instance_ep(c->inst), MF_RPC_SHUTTING_DOWN, why);
    fail_calls(c, NULL, MF_RPC_SHUTTING_DOWN, why);
    mf_sup_stop(c->sup, on_sup_stopped, c);
}

const mf_role_ops stdio_provider_ops = {
    .check = check,
    .start = start,
    .receive = receive,
    .stop = stop,
    .save = client_save,
    .resume = client_resume,
    .adopt = client_adopt,
    .drain = client_drain,
    .scale = scale,
};
