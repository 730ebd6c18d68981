/* Tasks run by the gateway, in the terms of both revisions.
 *
 * A tools/call that is to be a task (the client asked with params.task, 2025-11-25; or the
 * provider's tasks table names the tool and the client declared the tasks extension,
 * 2026-07-28) is answered at once with a task handle, and its call goes on detached from
 * any client, through the routing, breakers and deadline of any call (forward.c). A tool of
 * the provider's tasks.after_input becomes one only once the input it asks for is answered:
 * its call waits for the answers as an ordinary 2026-07-28 one (mrtr.c), and goes on as a
 * task when they come (mf_tasks_adopt). What the upstream asks a task's call makes the
 * task input_required: a 2026-07-28 client reads the questions in tasks/get and answers
 * with tasks/update; a 2025-11-25 client is asked on its session (on the tasks/result
 * request that waits, when there is one). The result is kept
 * for the task's time to live (task_store.c), for whoever the task is bound to.
 *
 * A session-era upstream that runs tasks of its own (one target, task-augmented
 * tools/call) makes the task itself: the client's handle names it by the gateway's id, and
 * the requests about it go there. A 2026-07-28 client gets one for each tool whose
 * tools/list entry says the upstream runs it as a task; the gateway then keeps the
 * upstream's tasks/result open as the task's call (fetch_result), so that tasks/get can
 * inline the result and the upstream's questions on that stream become inputRequests. */
#include "build-config.h"
#include "tasks.h"
#include "relay.h"
#include "mrtr.h"
#include "elicit.h"
#include "federation.h"
#include "listen.h"
#include "cache_hook.h"

#include <fnmatch.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define TS (mf_fed.tasks)

static json_t *iso_time(uint64_t ms)
{
    time_t secs = (time_t)(ms / 1000);
    struct tm tm;
    gmtime_r(&secs, &tm);
    char buf[40];
    size_t n = strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(buf + n, sizeof buf - n, ".%03uZ", (unsigned)(ms % 1000));
    return json_string(buf);
}

/* The task as each revision shows it; detailed: with its result, error or questions
 * (tasks/get of 2026-07-28). */
static json_t *task_json(const mf_task *t, bool modern, bool detailed)
{
    const mf_config *c = mf_fed.sessions.conf;
    json_t *j = json_pack("{s:s,s:s,s:o,s:o}", "taskId", t->id, "status", mf_task_status_name(t->status),
                          "createdAt", iso_time(t->created_ms), "lastUpdatedAt", iso_time(t->updated_ms));
    json_object_set_new(j, modern ? "ttlMs" : "ttl", json_integer(t->ttl_ms));
    /* an upstream's task: as often as that upstream says to ask */
    json_object_set_new(j, modern ? "pollIntervalMs" : "pollInterval",
                        json_integer(t->poll_ms > 0 ? t->poll_ms : c->tasks_poll_ms));
    if (t->message)
        json_object_set_new(j, "statusMessage", json_string(t->message));
    if (detailed) {
        if (t->status == MF_TASK_COMPLETED && t->result)
            json_object_set(j, "result", t->result);
        else if (t->status == MF_TASK_FAILED && t->error)
            json_object_set(j, "error", t->error);
        else if (t->status == MF_TASK_INPUT_REQUIRED) {
            json_t *reqs = json_object();
            const char *key;
            json_t *a;
            json_object_foreach(t->asks, key, a) json_object_set(reqs, key, json_object_get(a, "request"));
            json_object_set_new(j, "inputRequests", reqs);
        }
    }
    return j;
}

/* --- status notifications ----------------------------------------------------------- */

/* Tell who follows t that it changed: the listens naming it (notifications/tasks, the task
 * as tasks/get shows it) and the owner's session-era sessions (notifications/tasks/status). */
static void notify(const mf_task *t)
{
    json_t *detailed = task_json(t, true, true);
    mf_listen_task(t->id, detailed);
    json_decref(detailed);
    if (t->modern)
        return;
    json_t *note = json_pack("{s:s,s:s,s:o}", "jsonrpc", "2.0", "method", "notifications/tasks/status", "params",
                             task_json(t, false, false));
    session *s, *tmp;
    HASH_ITER(hh, mf_session_table(), s, tmp) {
        if (!s->initialized)
            continue;
        char *owner = mf_task_owner(s, false);
        if (strcmp(owner, t->owner) == 0)
            mf_send_to(s, MF_MSG_NOTIFY, 0, json_incref(note));
        free(owner);
    }
    json_decref(note);
}

static void set_status(mf_task *t, mf_task_status st)
{
    if (t->status == st)
        return;
    t->status = st;
    mf_task_touch(t);
    notify(t);
}

/* --- the call ----------------------------------------------------------------------- */

static bool matches(const json_t *patterns, const char *name)
{
    size_t i;
    json_t *v;
    json_array_foreach(patterns, i, v) {
        if (json_is_string(v) && fnmatch(json_string_value(v), name, 0) == 0)
            return true;
    }
    return false;
}

/* The provider's tasks table: does it run tool (the upstream's name) as a task, with which
 * time to live, only as one (required), and only once its input is answered (after_input)? */
static bool configured(const mf_provider *p, const char *upstream, int64_t *ttl, bool *required, bool *after)
{
    const json_t *tasks = p->conf->tasks;
    if (!json_is_object(tasks))
        return false;
    json_t *ttl_ms = json_object_get(tasks, "ttl_ms");
    if (json_is_integer(ttl_ms))
        *ttl = json_integer_value(ttl_ms);
    json_t *tools = json_object_get(tasks, "tools");
    if (json_is_array(tools) && !matches(tools, upstream))
        return false;   /* absent: every tool of the provider */
    *required = matches(json_object_get(tasks, "required"), upstream);
    *after = matches(json_object_get(tasks, "after_input"), upstream);
    return true;
}

const char *mf_tasks_support(const mf_provider *p, const char *upstream)
{
    int64_t ttl;
    bool required = false, after = false;
    if (!configured(p, upstream, &ttl, &required, &after))
        return NULL;
    return required ? "required" : "optional";
}

static bool declared_extension(const json_t *caps)
{
    return json_object_get(json_object_get(caps, "extensions"), MF_TASKS_EXTENSION) != NULL;
}

/* Does p's upstream run tasks of its own that the gateway can follow: a session-era
 * upstream that offers task-augmented tools/call, on one target (a task lives in the
 * upstream session that made it; the routing would not send the requests about it there). */
static bool upstream_runs_tasks(const mf_provider *p)
{
    json_t *tasks = json_object_get(json_object_get(p->init, "capabilities"), "tasks");
    return p->ntargets == 1 && json_is_object(json_object_get(json_object_get(json_object_get(tasks, "requests"),
                                                                              "tools"), "call"));
}

/* Does p's upstream run tasks of the 2026-07-28 extension that the gateway can follow for
 * a session-era client: it speaks that revision and declares the extension, on one target. */
static bool upstream_runs_modern_tasks(const mf_provider *p)
{
    json_t *caps = json_object_get(p->init, "capabilities");
    const char *version = json_string_value(json_object_get(p->init, "protocolVersion"));
    return p->ntargets == 1 && version && strcmp(version, MF_PROTOCOL_MODERN) == 0 &&
           json_object_get(json_object_get(caps, "extensions"), MF_TASKS_EXTENSION) != NULL;
}

/* What an upstream tool (its tools/list entry) says of tasks: "optional", "required", or
 * NULL (none, or "forbidden"). */
static const char *upstream_support(const json_t *tool)
{
    const char *v = json_string_value(json_object_get(json_object_get(tool, "execution"), "taskSupport"));
    return v && (strcmp(v, "optional") == 0 || strcmp(v, "required") == 0) ? v : NULL;
}

static mf_task_status status_named(const char *name, mf_task_status otherwise)
{
    for (int st = MF_TASK_WORKING; st <= MF_TASK_CANCELLED; st++)
        if (name && strcmp(name, mf_task_status_name((mf_task_status)st)) == 0)
            return (mf_task_status)st;
    return otherwise;
}

/* An upstream's task's status, as it said it (tasks/get, notifications). A 2026-07-28
 * client's task takes its status from the tasks/result the gateway keeps open upstream
 * (fetch_result): it is input_required when that asks, and ends with its answer, so that
 * it never shows an end without the result inlined. */
static void follow(mf_task *t, const json_t *task)
{
    mf_task_status st = status_named(json_string_value(json_object_get(task, "status")), t->status);
    const char *msg = json_string_value(json_object_get(task, "statusMessage"));
    if (msg && (!t->message || strcmp(msg, t->message) != 0)) {
        free(t->message);
        t->message = mf_xstrdup(msg);
    }
    if (!t->modern && st != t->status) {
        t->status = st;
        mf_task_touch(t);
        notify(t);
    }
}

/* Replace the upstream's id by the gateway's where j (a copy) names it at key. */
static void rename_at(json_t *j, const char *key, const mf_task *t)
{
    const char *v = json_string_value(json_object_get(j, key));
    if (v && t->upstream_id && strcmp(v, t->upstream_id) == 0)
        json_object_set_new(j, key, json_string(t->id));
}

/* Keep a tasks/result open upstream for t, a 2026-07-28 client's handle on an upstream's
 * task, as t's call: what the upstream asks on it makes t input_required (read in
 * tasks/get, answered with tasks/update), and its answer ends t with the result or error
 * that tasks/get inlines. s: the session of the request that made t. */
static void fetch_result(mf_task *t, session *s)
{
    mf_provider *p = mf_registry_named(t->provider);
    if (!p || !p->inst)
        return;   /* tasks/get finds the provider gone */
    json_t *msg = json_pack("{s:s,s:{s:s}}", "method", "tasks/result", "params", "taskId", t->upstream_id);
    rctx r = {.s = s, .msg = msg, .caps = t->caps};
    mf_forward_task(&r, p, "tasks/result", json_pack("{s:s}", "taskId", t->upstream_id), t);
    json_decref(msg);
}

static void cancel_here(mf_task *t);
static void waiters_answer(mf_task *t);

/* The answer resp of d, a request about t (a 2026-07-28 client's handle on an upstream's
 * task; created: the upstream's handle, when d made it), in 2026-07-28's terms. */
static json_t *modern_answer(mf_task *t, downreq *d, const json_t *created, json_t *resp)
{
    const char *method = d->method ?: "";
    json_t *result = json_object_get(resp, "result");
    json_t *out;
    if (strcmp(method, "tools/call") == 0) {
        if (!json_is_object(created))
            return NULL;
        out = task_json(t, true, false);
        json_object_set_new(out, "resultType", json_string("task"));
        fetch_result(t, d->s);
    } else if (strcmp(method, "tasks/cancel") == 0) {
        if (!json_is_object(result))
            return NULL;   /* the upstream's refusal, as it is */
        if (!mf_task_terminal(t))
            cancel_here(t);
        out = json_object();
    } else {
        /* tasks/get: the upstream's word on it, with what the gateway holds (its result,
         * error or questions); the gateway's view alone when the upstream cannot say */
        if (json_is_object(result))
            follow(t, result);
        out = task_json(t, true, true);
    }
    return json_pack("{s:o}", "result", out);
}

/* --- a 2026-07-28 upstream's task, for a session-era client ---------------------------- */

static void poll_upstream(mf_task *t);

typedef struct poll_timer {
    uv_timer_t h;             /* first: the handle is the struct */
    char id[33];              /* the task's: it may be gone when the timer fires */
} poll_timer;

static void poll_closed(uv_handle_t *h) { free(h); }

static void poll_cancel(mf_task *t)
{
    poll_timer *pt = t->poll;
    if (!pt)
        return;
    t->poll = NULL;
    uv_timer_stop(&pt->h);
    uv_close((uv_handle_t *)&pt->h, poll_closed);
}

static void poll_fire(uv_timer_t *h)
{
    poll_timer *pt = (poll_timer *)h;
    mf_task *t = mf_task_lookup(pt->id);
    if (t && t->poll == pt) {
        poll_cancel(t);
        if (!mf_task_terminal(t) && !t->d)
            poll_upstream(t);
        return;
    }
    uv_close((uv_handle_t *)h, poll_closed);
}

/* Ask t's upstream how it stands once its poll interval has passed. */
static void poll_later(mf_task *t)
{
    if (t->poll || mf_task_terminal(t))
        return;
    poll_timer *pt = mf_xcalloc(1, sizeof *pt);
    uv_timer_init(mf_loop(), &pt->h);
    snprintf(pt->id, sizeof pt->id, "%s", t->id);
    t->poll = pt;
    uv_timer_start(&pt->h, poll_fire, (uint64_t)(t->poll_ms > 0 ? t->poll_ms : mf_fed.sessions.conf->tasks_poll_ms), 0);
}

/* t ended (as set by settle): who follows it hears so, a waiting tasks/result is answered. */
static void ended(mf_task *t)
{
    poll_cancel(t);
    mf_info("tasks", "task ended", "task=%s status=%s", t->id, mf_task_status_name(t->status));
    notify(t);
    waiters_answer(t);
}

/* What a 2026-07-28 upstream says of t (its tasks/get, the task with its result or error
 * inlined once it ended): t follows it, and keeps that result or error for tasks/result. */
static void absorb(mf_task *t, const json_t *task)
{
    json_t *pi = json_object_get(task, "pollIntervalMs");
    if (json_is_integer(pi) && json_integer_value(pi) > 0)
        t->poll_ms = json_integer_value(pi);
    mf_task_status st = status_named(json_string_value(json_object_get(task, "status")), t->status);
    if (mf_task_terminal(t) || (st == t->status && st != MF_TASK_INPUT_REQUIRED)) {
        follow(t, task);
        return;
    }
    const char *msg = json_string_value(json_object_get(task, "statusMessage"));
    if (msg) {
        free(t->message);
        t->message = mf_xstrdup(msg);
    }
    json_t *error = json_object_get(task, "error");
    if (st == MF_TASK_COMPLETED) {
        json_t *result = json_object_get(task, "result");
        mf_task_settle(t, st, json_is_object(result) ? json_copy(result) : json_object(), NULL);
    } else if (st == MF_TASK_FAILED) {
        mf_task_settle(t, st, NULL, json_is_object(error) ? json_copy(error)
                                    : mf_rpc_error_body(MF_RPC_INTERNAL_ERROR, "%s", msg ? msg : "the task failed"));
    } else if (st == MF_TASK_CANCELLED) {
        mf_task_settle(t, st, NULL, NULL);
    } else if (st == MF_TASK_INPUT_REQUIRED) {
        /* its questions (inputRequests, answered with tasks/update) have no counterpart a
         * session-era client's tasks/result could carry here: the task fails, saying so */
        free(t->message);
        t->message = NULL;
        mf_task_settle(t, MF_TASK_FAILED, NULL,
                       mf_rpc_error_body(MF_RPC_REFUSED, "the upstream's task %s asks for input (inputRequests), "
                                         "which the gateway does not relay to a 2025-11-25 client", t->upstream_id));
    } else {
        follow(t, task);
        return;
    }
    ended(t);
}

/* Ask t's upstream how it stands, as t's call (the answer: mf_tasks_call_done). */
static void poll_upstream(mf_task *t)
{
    mf_provider *p = mf_registry_named(t->provider);
    if (!p || !p->inst) {
        mf_task_settle(t, MF_TASK_FAILED, NULL, mf_rpc_error_body(MF_RPC_UNAVAILABLE, "the provider of task %s, %s, "
                                                                  "has left", t->id, t->provider));
        ended(t);
        return;
    }
    json_t *msg = json_pack("{s:s,s:{s:s}}", "method", "tasks/get", "params", "taskId", t->upstream_id);
    rctx r = {.msg = msg, .caps = t->caps};
    mf_forward_task(&r, p, "tasks/get", json_pack("{s:s}", "taskId", t->upstream_id), t);
    json_decref(msg);
}

/* The answer resp of d, a request about t (a session-era client's handle on a 2026-07-28
 * upstream's task; created: the upstream's CreateTaskResult, when d made it), in the
 * session era's terms. */
static json_t *session_answer(mf_task *t, downreq *d, const json_t *created, json_t *resp)
{
    const char *method = d->method ?: "";
    json_t *result = json_object_get(resp, "result");
    if (strcmp(method, "tools/call") == 0) {
        if (!json_is_object(created))
            return NULL;
        absorb(t, created);
        poll_later(t);
        return json_pack("{s:{s:o}}", "result", "task", task_json(t, false, false));
    }
    if (!json_is_object(result))
        return NULL;   /* the upstream's refusal, as it is */
    if (strcmp(method, "tasks/cancel") == 0 && !mf_task_terminal(t))
        cancel_here(t);
    else
        absorb(t, result);
    return json_pack("{s:o}", "result", task_json(t, false, false));
}

json_t *mf_tasks_remote_answer(downreq *d, json_t *resp)
{
    char id[sizeof ((mf_task *)0)->id];
    snprintf(id, sizeof id, "%s", d->remote_task);
    free(d->remote_task);
    d->remote_task = NULL;
    mf_task *t = mf_task_lookup(id);
    if (!t)
        return NULL;
    json_t *result = json_object_get(resp, "result");
    const char *type = json_string_value(json_object_get(result, "resultType"));
    json_t *created = !t->upstream_modern ? json_object_get(result, "task")
                      : type && strcmp(type, "task") == 0 ? result : NULL;
    if (!t->upstream_id) {
        /* the call that was to make it: the upstream made one, or answered at once */
        const char *up = json_string_value(json_object_get(created, "taskId"));
        if (!up) {
            mf_task_free(t);
            return NULL;
        }
        t->upstream_id = mf_xstrdup(up);
        json_t *ttl = json_object_get(created, t->upstream_modern ? "ttlMs" : "ttl");
        if (json_is_integer(ttl) && json_integer_value(ttl) > 0 && json_integer_value(ttl) < t->ttl_ms) {
            t->expires -= (uint64_t)(t->ttl_ms - json_integer_value(ttl));
            t->ttl_ms = json_integer_value(ttl);
            mf_task_sweep();   /* the timer, for the earlier expiry (which may be past) */
            if (!(t = mf_task_lookup(id)))
                return NULL;
        }
        mf_info("tasks", "upstream task followed", "task=%s provider=%s upstream_task=\"%s\"", t->id, t->provider,
                mf_log_esc(up, (size_t)-1));
    }
    if (t->modern)
        return modern_answer(t, d, created, resp);
    if (t->upstream_modern)
        return session_answer(t, d, created, resp);
    if (!json_is_object(result))
        return NULL;
    json_t *out = json_deep_copy(resp);
    json_t *r = json_object_get(out, "result");
    rename_at(r, "taskId", t);
    rename_at(json_object_get(r, "task"), "taskId", t);
    rename_at(json_object_get(json_object_get(r, "_meta"), MF_META_RELATED_TASK), "taskId", t);
    if (json_is_string(json_object_get(result, "status")))
        follow(t, result);
    else if (json_is_object(created))
        follow(t, created);
    return out;
}

void mf_tasks_remote_dropped(const char *task_id)
{
    mf_task *t = mf_task_lookup(task_id);
    if (t && t->remote && !t->upstream_id)
        mf_task_free(t);   /* its creation was cancelled: no handle was given out */
}

void mf_tasks_upstream_status(const mf_provider *p, json_t *note)
{
    json_t *params = json_object_get(note, "params");
    const char *up = json_string_value(json_object_get(params, "taskId"));
    if (!up)
        return;
    for (mf_task *t = mf_task_first(); t; t = t->next)
        if (t->upstream_id && strcmp(t->upstream_id, up) == 0 && strcmp(t->provider, p->conf->name) == 0) {
            follow(t, params);
            return;
        }
}

/* Ask t's upstream about it (method: tasks/get, tasks/result, tasks/cancel) for r. */
static void ask_upstream(const rctx *r, mf_task *t, const char *method)
{
    mf_provider *p = mf_registry_named(t->provider);
    if (!p || !p->inst) {
        mf_reply_error(r, MF_RPC_UNAVAILABLE, NULL, false, "%s: the provider of task %s, %s, has left", method, t->id,
                       t->provider);
        return;
    }
    mf_forward_remote(r, p, method, json_pack("{s:s}", "taskId", t->upstream_id), t->id);
}

/* A new task for r's call of tool (public name) of p, owned by r's caller; NULL, with why,
 * when the bound on tasks is reached. */
static mf_task *task_begin(const rctx *r, const mf_provider *p, const char *tool, int64_t ttl, char *why, size_t len)
{
    char *owner = mf_task_owner(r->s, r->modern);
    mf_task *t = mf_task_new(owner, r->s->id, ttl, why, len);
    free(owner);
    if (!t)
        return NULL;
    t->provider = mf_xstrdup(p->conf->name);
    t->tool = mf_xstrdup(tool);
    t->modern = r->modern;
    t->caps = r->caps ? json_incref((json_t *)r->caps) : json_object();
    return t;
}

/* Answer r with t's handle, in r's revision's terms. */
static void reply_handle(const rctx *r, const mf_task *t)
{
    json_t *handle = task_json(t, r->modern, false);
    if (r->modern)
        json_object_set_new(handle, "resultType", json_string("task"));
    else
        handle = json_pack("{s:o}", "task", handle);
    mf_reply_result(r, handle);
}

bool mf_tasks_call(const rctx *r, mf_provider *p, const char *tool_public, const char *upstream_name,
                   json_t *params, json_t *up)
{
    int64_t ttl = 0;
    bool run = false, required = false, after = false, remote = false;
    json_t *asked = json_object_get(params, "task");
    bool named = configured(p, upstream_name, &ttl, &required, &after);
    if (r->modern && !named && upstream_runs_tasks(p)) {
        /* 2026-07-28: the server decides; here the upstream, as its tools/list says */
        const char *offers = upstream_support(r->tool);
        remote = offers && declared_extension(r->caps);
        required = offers && strcmp(offers, "required") == 0;
        run = remote;
    } else if (r->modern) {
        /* 2026-07-28: the server decides, for a client that declared the extension */
        run = named && declared_extension(r->caps);
        if (run && after && !json_object_get(params, "inputResponses")) {
            /* its input first: what the upstream asks is answered input-required, and the
             * call becomes a task when the answers come (mf_tasks_adopt; or here, for an
             * upstream of 2026-07-28 that asked with an input-required result) */
            json_object_del(up, "task");
            return false;
        }
    } else if (json_is_object(asked)) {
        /* 2025-11-25: the client asks; the upstream knows nothing of tasks, the gateway runs it */
        json_t *want = json_object_get(asked, "ttl");
        if (json_is_integer(want) && json_integer_value(want) > 0)
            ttl = json_integer_value(want);
        run = true;
    }
    if (!run && required) {
        json_decref(up);
        if (r->modern)
            mf_reply_error(r, MF_RPC_MISSING_CLIENT_CAPABILITY,
                           json_pack("{s:{s:{s:{}}}}", "requiredCapabilities", "extensions", MF_TASKS_EXTENSION),
                           false, "tool %s runs only as a task: the client must declare the extension "
                           MF_TASKS_EXTENSION, tool_public);
        else   /* 2025-11-25 says -32601 for a required task the client did not ask for */
            mf_reply_error(r, MF_RPC_METHOD_NOT_FOUND, NULL, false,
                           "tool %s runs only as a task: call it with params.task", tool_public);
        return true;
    }
    if (!run) {
        if (r->modern)   /* 2026-07-28 has no params.task: tolerated, and not passed on */
            json_object_del(up, "task");
        return false;
    }
    char why[300];
    mf_task *t = task_begin(r, p, tool_public, ttl, why, sizeof why);
    if (!t) {
        json_decref(up);
        mf_reply_error(r, MF_RPC_OVERLOADED, NULL, false, "%s", why);
        return true;
    }
    if (remote) {   /* asked of the upstream in its terms: the 2026-07-28 client sent no params.task */
        json_object_set_new(up, "task", json_pack("{s:I}", "ttl", (json_int_t)t->ttl_ms));
    }
    if (!r->modern && upstream_runs_modern_tasks(p)) {
        /* the upstream makes the task, in its revision's terms: asked by the extension the
         * gateway declares for it (mf_tasks_upstream_caps), not by params.task */
        t->remote = t->upstream_modern = true;
        json_object_del(up, "task");
        mf_forward_remote(r, p, "tools/call", up, t->id);
        return true;
    }
    if (remote || (!r->modern && upstream_runs_tasks(p))) {
        /* the upstream makes the task: its answer is the handle, under the gateway's id */
        t->remote = true;
        mf_forward_remote(r, p, "tools/call", up, t->id);
        return true;
    }
    json_object_del(up, "task");   /* the upstream knows nothing of it */
    mf_info("tasks", "task created", "task=%s tool=%s provider=%s session=%" PRIu64, t->id, tool_public,
            p->conf->name, r->s->id);
    /* the handle first: the task exists before its call can end */
    reply_handle(r, t);
    mf_forward_task(r, p, "tools/call", up, t);
    return true;
}

bool mf_tasks_adopt(const rctx *r, downreq *d)
{
    mf_provider *p = mf_registry_named(d->owner);
    const char *upstream = json_string_value(json_object_get(d->upparams, "name"));
    const char *tool = d->name;
    int64_t ttl = 0;
    bool required = false, after = false;
    /* not when the call is over (its answer is given as it is) or asks still more */
    if (d->stashed || json_object_size(d->asks) || !p || !upstream || !tool || !declared_extension(r->caps) ||
        !configured(p, upstream, &ttl, &required, &after) || !after)
        return false;
    char why[300];
    mf_task *t = task_begin(r, p, tool, ttl, why, sizeof why);
    if (!t) {   /* no room for a task: the call goes on as an ordinary one */
        mf_warn("tasks", "call answered without a task", "tool=%s reason=\"%s\"", tool, why);
        return false;
    }
    mf_cache_leave(d);   /* a task's answer is its own */
    d->task = t;
    t->d = d;
    mf_info("tasks", "task created after its input", "task=%s tool=%s provider=%s session=%" PRIu64, t->id, tool,
            p->conf->name, r->s->id);
    reply_handle(r, t);
    return true;
}

/* Answer a tasks/result request waiting for t, now over. */
static void answer_waiter(const mf_task *t, const mf_task_waiter *w)
{
    session *s = mf_session_find(w->session);
    if (!s)
        return;
    rctx r = {.s = s, .id = w->id, .tcorr = w->tcorr};
    if (t->status == MF_TASK_COMPLETED) {
        json_t *result = json_copy(t->result);
        json_t *meta = json_object_get(result, "_meta");
        meta = json_is_object(meta) ? json_copy(meta) : json_object();
        json_object_set_new(meta, MF_META_RELATED_TASK, json_pack("{s:s}", "taskId", t->id));
        json_object_set_new(result, "_meta", meta);
        mf_reply_result(&r, result);
    } else if (t->status == MF_TASK_FAILED) {
        json_t *e = t->error;
        mf_reply_error(&r, (int)json_integer_value(json_object_get(e, "code")),
                       json_incref(json_object_get(e, "data")), false, "%s",
                       json_string_value(json_object_get(e, "message")) ?: "the task failed");
    } else {
        mf_reply_error(&r, MF_RPC_INVALID_PARAMS, NULL, false, "task %s was cancelled", t->id);
    }
}

static void waiters_answer(mf_task *t)
{
    mf_task_waiter *w = t->waiters;
    t->waiters = NULL;
    while (w) {
        mf_task_waiter *next = w->next;
        answer_waiter(t, w);
        json_decref(w->id);
        free(w);
        w = next;
    }
}

void mf_tasks_call_done(downreq *d, json_t *resp)
{
    mf_task *t = d->task;
    d->task = NULL;
    t->d = NULL;
    if (t->upstream_modern) {   /* the gateway's tasks/get of the upstream's task */
        json_t *result = json_object_get(resp, "result");
        if (json_is_object(result)) {
            absorb(t, result);
            poll_later(t);
        } else {   /* the upstream cannot say (gone, or it forgot the task): the task fails */
            json_t *error = json_object_get(resp, "error");
            mf_task_settle(t, MF_TASK_FAILED, NULL, json_is_object(error) ? json_copy(error)
                           : mf_rpc_error_body(MF_RPC_INTERNAL_ERROR, "the upstream answered tasks/get with no result"));
            ended(t);
        }
        return;
    }
    mf_asks_refuse(t->asks, "the call is over");
    json_t *error = json_object_get(resp, "error");
    if (error)
        mf_task_settle(t, MF_TASK_FAILED, NULL, json_copy(error));
    else
        mf_task_settle(t, MF_TASK_COMPLETED, mf_catalog_publish_uris(d->provider, json_object_get(resp, "result")),
                       NULL);
    /* an upstream's task's result names it: by the gateway's id, as the client knows it */
    rename_at(json_object_get(json_object_get(t->result, "_meta"), MF_META_RELATED_TASK), "taskId", t);
    mf_info("tasks", "task ended", "task=%s status=%s", t->id, mf_task_status_name(t->status));
    notify(t);
    waiters_answer(t);
}

void mf_tasks_stop(mf_task *t, const char *why)
{
    poll_cancel(t);
    mf_asks_refuse(t->asks, why);
    if (t->d) {
        downreq *d = t->d;
        t->d = NULL;
        d->task = NULL;
        mf_downreq_cancel(d, why);
    }
    /* a tasks/result still waiting is answered: the task it waits for is going */
    mf_task_waiter *w = t->waiters;
    t->waiters = NULL;
    while (w) {
        mf_task_waiter *next = w->next;
        session *s = mf_session_find(w->session);
        if (s) {
            rctx r = {.s = s, .id = w->id, .tcorr = w->tcorr};
            mf_reply_error(&r, MF_RPC_INVALID_PARAMS, NULL, false, "task %s: %s", t->id, why);
        }
        json_decref(w->id);
        free(w);
        w = next;
    }
}

void mf_tasks_progress(downreq *d, json_t *note)
{
    mf_task *t = d->task;
    session *s = t->modern ? NULL : mf_session_find(t->session);
    if (!s || !d->progress_token)
        return;   /* its client is gone: progress is for the moment, not kept */
    json_t *out = json_deep_copy(note);
    json_object_set(json_object_get(out, "params"), "progressToken", d->progress_token);
    mf_send_to(s, MF_MSG_NOTIFY, 0, out);
}

/* Ask a session-era client t's questions on session s (with the tasks/result request
 * tcorr, when it waits); each goes as a request of its own whose answer goes upstream, or,
 * for a question of an input-required round, to the task (mf_tasks_collected), the
 * question staying until it is answered. */
static void deliver_asks(mf_task *t, session *s, uint64_t tcorr)
{
    const char *key;
    json_t *a, *tmp;
    json_object_foreach_safe(t->asks, tmp, key, a) {
        bool round = json_object_get(a, "round") != NULL;
        if (json_is_true(json_object_get(a, "sent")))
            continue;
        relay *x = mf_relay_new(s, (mf_ep)json_integer_value(json_object_get(a, "ep")),
                                (uint64_t)json_integer_value(json_object_get(a, "corr")));
        if (round) {
            x->task = mf_xstrdup(t->id);
            x->key = mf_xstrdup(key);
        }
        json_t *req = json_deep_copy(json_object_get(a, "request"));
        json_t *params = json_object_get(req, "params");
        if (!json_is_object(params)) {
            params = json_object();
            json_object_set_new(req, "params", params);
        }
        json_t *meta = json_object_get(params, "_meta");
        if (!json_is_object(meta)) {
            meta = json_object();
            json_object_set_new(params, "_meta", meta);
        }
        json_object_set_new(meta, MF_META_RELATED_TASK, json_pack("{s:s}", "taskId", t->id));
        json_object_set_new(req, "jsonrpc", json_string("2.0"));
        json_object_set_new(req, "id", json_integer((json_int_t)x->id));
        mf_send_to(s, MF_MSG_REQUEST, tcorr, req);
        if (round)
            json_object_set_new(a, "sent", json_true());
        else
            json_object_del(t->asks, key);
    }
    set_status(t, MF_TASK_WORKING);   /* asked: the answer goes straight upstream */
}

/* t has questions now: it says so, and a session-era client is asked. */
static void asking(mf_task *t)
{
    set_status(t, MF_TASK_INPUT_REQUIRED);
    if (t->modern)
        return;   /* read with tasks/get, answered with tasks/update */
    /* the session era: asked on the tasks/result that waits, or on the next one (the
     * status says input_required: the client is to call it) */
    for (mf_task_waiter *w = t->waiters; w; w = w->next) {
        session *s = mf_session_find(w->session);
        if (s) {
            deliver_asks(t, s, w->tcorr);
            return;
        }
    }
}

void mf_tasks_ask(downreq *d, mf_ep from, uint64_t pcorr, json_t *request)
{
    mf_task *t = d->task;
    json_t *req = json_deep_copy(request);
    /* an upstream's task's question names it: by the gateway's id, as the client knows it */
    rename_at(json_object_get(json_object_get(json_object_get(req, "params"), "_meta"), MF_META_RELATED_TASK),
              "taskId", t);
    if (mf_asks_add(&t->asks, t->caps, from, pcorr, req))
        asking(t);
    json_decref(req);
}

void mf_tasks_ask_round(downreq *d, json_t *requests)
{
    mf_task *t = d->task;
    const char *key;
    json_t *req;
    json_object_foreach(requests, key, req) {
        json_t *params = json_object_get(req, "params");
        mf_asks_put(&t->asks, json_pack("{s:s,s:{s:O,s:O}}", "round", key, "request", "method",
                                        json_object_get(req, "method"), "params",
                                        json_is_object(params) ? params : json_object()));
    }
    asking(t);
}

/* Does t wait for an answer of its call's input-required round? */
static bool round_open(const mf_task *t)
{
    const char *key;
    json_t *a;
    json_object_foreach(t->asks, key, a) {
        if (json_object_get(a, "round"))
            return true;
    }
    return false;
}

/* The client answered t's question key of an input-required round with msg ({result} or
 * {error}): once every one is answered, the call goes upstream again with the answers and
 * the upstream's requestState; an error ends the call with it. */
static void round_answered(mf_task *t, const char *key, const json_t *msg)
{
    downreq *d = t->d;
    const char *up = json_string_value(json_object_get(json_object_get(t->asks, key), "round"));
    if (!d || !up)
        return;   /* over meanwhile, or not such a question */
    json_t *error = json_object_get(msg, "error");
    if (error) {
        json_t *e = json_pack("{s:O}", "error", error);
        mf_downreq_answer(d, e);   /* the client declined: its error ends the call */
        json_decref(e);
        return;
    }
    json_object_set(d->inputs, up, json_object_get(msg, "result") ?: json_object());
    json_object_del(t->asks, key);
    if (round_open(t))
        return;
    if (!json_object_size(t->asks))
        set_status(t, MF_TASK_WORKING);
    mf_mrtr_send_inputs(d);
}

void mf_tasks_collected(const char *task_id, const char *key, const json_t *msg)
{
    mf_task *t = mf_task_lookup(task_id);
    if (t)
        round_answered(t, key, msg);
}

downreq *mf_tasks_call_named(const mf_provider *p, const json_t *request)
{
    json_t *meta = json_object_get(json_object_get(request, "params"), "_meta");
    const char *up = json_string_value(json_object_get(json_object_get(meta, MF_META_RELATED_TASK), "taskId"));
    if (!up)
        return NULL;
    for (mf_task *t = mf_task_first(); t; t = t->next)
        if (t->d && t->d->provider == p && t->upstream_id && strcmp(t->upstream_id, up) == 0)
            return t->d;
    return NULL;
}

int mf_tasks_running_on(const mf_provider *p, downreq **one)
{
    int n = 0;
    for (mf_task *t = mf_task_first(); t; t = t->next)
        if (t->d && t->d->provider == p) {
            n++;
            *one = t->d;
        }
    return n;
}

void mf_tasks_capabilities(json_t *caps, bool modern)
{
    if (modern) {
        json_t *ext = json_object_get(caps, "extensions");
        if (!json_is_object(ext)) {
            ext = json_object();
            json_object_set_new(caps, "extensions", ext);
        }
        json_object_set_new(ext, MF_TASKS_EXTENSION, json_object());
    } else {
        json_object_set_new(caps, "tasks", json_pack("{s:{},s:{},s:{s:{s:{}}}}", "list", "cancel", "requests", "tools",
                                                     "call"));
    }
}

json_t *mf_tasks_upstream_caps(json_t *caps, const mf_task *t)
{
    json_t *ext = json_object_get(caps, "extensions");
    bool want = t && t->upstream_modern;
    if (!want && !json_object_get(ext, MF_TASKS_EXTENSION))
        return caps ? json_incref(caps) : json_object();
    json_t *c = caps ? json_copy(caps) : json_object();
    json_t *e = json_is_object(ext) ? json_copy(ext) : json_object();
    if (want)
        json_object_set_new(e, MF_TASKS_EXTENSION, json_object());
    else
        json_object_del(e, MF_TASKS_EXTENSION);
    json_object_set_new(c, "extensions", e);
    return c;
}

/* Forget the tasks/result requests of session sid waiting (all of them, or the one of id
 * rid); the transport correlation of the last one forgotten, 0 if none. */
static uint64_t forget_waiters(uint64_t sid, const json_t *rid)
{
    uint64_t tcorr = 0;
    for (mf_task *t = mf_task_first(); t; t = t->next) {
        mf_task_waiter **pw = &t->waiters;
        while (*pw) {
            mf_task_waiter *w = *pw;
            if (w->session == sid && (!rid || json_equal(w->id, rid))) {
                *pw = w->next;
                tcorr = w->tcorr ? w->tcorr : tcorr;
                json_decref(w->id);
                free(w);
            } else {
                pw = &w->next;
            }
        }
    }
    return tcorr;
}

void mf_tasks_session_closed(uint64_t sid) { forget_waiters(sid, NULL); }

bool mf_tasks_waiter_cancelled(uint64_t sid, const json_t *rid, uint64_t *tcorr)
{
    bool any = false;
    for (mf_task *t = mf_task_first(); t && !any; t = t->next)
        for (mf_task_waiter *w = t->waiters; w && !any; w = w->next)
            any = w->session == sid && json_equal(w->id, rid);
    if (any)
        *tcorr = forget_waiters(sid, rid);
    return any;
}

/* --- the methods -------------------------------------------------------------------- */

/* The task a request names, for whoever makes it; NULL when answered (unknown, or
 * another's, which is the same). */
static mf_task *named_task(const rctx *r, const char *method, json_t *params)
{
    json_t *id = json_object_get(params, "taskId");
    if (!json_is_string(id)) {
        mf_reply_error(r, MF_RPC_INVALID_PARAMS, NULL, false, "%s: params.taskId must be a string", method);
        return NULL;
    }
    mf_task_sweep();
    char *owner = mf_task_owner(r->s, r->modern);
    mf_task *t = mf_task_find(json_string_value(id), owner);
    free(owner);
    if (!t)
        mf_reply_error(r, MF_RPC_INVALID_PARAMS, NULL, false, "%s: unknown task: %s", method, json_string_value(id));
    return t;
}

static void on_get(const rctx *r, json_t *params)
{
    mf_task *t = named_task(r, "tasks/get", params);
    if (t && t->remote && !((t->modern || t->upstream_modern) && mf_task_terminal(t)))
        ask_upstream(r, t, "tasks/get");
    else if (t)
        mf_reply_result(r, task_json(t, r->modern, r->modern));
}

static void on_result(const rctx *r, json_t *params)
{
    mf_task *t = named_task(r, "tasks/result", params);
    if (!t)
        return;
    if (t->remote && !t->upstream_modern) {
        ask_upstream(r, t, "tasks/result");
        return;
    }
    /* a 2026-07-28 upstream's task (no tasks/result there) is polled, and answers the
     * waiters when it ends */
    mf_task_waiter *w = mf_xcalloc(1, sizeof *w);
    w->session = r->s->id;
    w->id = json_incref(r->id);
    w->tcorr = r->tcorr;
    if (mf_task_terminal(t)) {
        answer_waiter(t, w);
        json_decref(w->id);
        free(w);
        return;
    }
    w->next = t->waiters;
    t->waiters = w;
    if (json_object_size(t->asks))
        deliver_asks(t, r->s, r->tcorr);
}

/* The client cancelled t: its call stops, and whoever follows it hears so. */
static void cancel_here(mf_task *t)
{
    mf_info("tasks", "task cancelled", "task=%s", t->id);
    mf_tasks_stop(t, "the task was cancelled");
    free(t->message);
    t->message = mf_xstrdup("cancelled by the client");
    mf_task_settle(t, MF_TASK_CANCELLED, NULL, NULL);
    notify(t);
    waiters_answer(t);
}

static void on_cancel(const rctx *r, json_t *params)
{
    mf_task *t = named_task(r, "tasks/cancel", params);
    if (!t)
        return;
    if (t->remote && !((t->modern || t->upstream_modern) && mf_task_terminal(t))) {
        ask_upstream(r, t, "tasks/cancel");
        return;
    }
    if (mf_task_terminal(t)) {
        if (r->modern)
            mf_reply_result(r, json_object());   /* 2026-07-28: an idempotent ack */
        else
            mf_reply_error(r, MF_RPC_INVALID_PARAMS, NULL, false, "tasks/cancel: task %s is already %s", t->id,
                           mf_task_status_name(t->status));
        return;
    }
    cancel_here(t);
    mf_reply_result(r, r->modern ? json_object() : task_json(t, false, false));
}

static void on_update(const rctx *r, json_t *params)
{
    json_t *inputs = json_object_get(params, "inputResponses");
    mf_task *t = named_task(r, "tasks/update", params);
    if (!t)
        return;
    if (!json_is_object(inputs)) {
        mf_reply_error(r, MF_RPC_INVALID_PARAMS, NULL, false, "tasks/update: params.inputResponses must be an object");
        return;
    }
    const char *key;
    json_t *answer;
    json_object_foreach(inputs, key, answer) {
        if (t->d && json_object_get(json_object_get(t->asks, key), "round")) {
            json_t *msg = json_pack("{s:O}", "result", answer);
            round_answered(t, key, msg);
            json_decref(msg);
        }
    }
    mf_asks_answer(t->asks, inputs);
    if (!json_object_size(t->asks) && t->status == MF_TASK_INPUT_REQUIRED)
        set_status(t, MF_TASK_WORKING);
    mf_reply_result(r, json_object());
}

static void on_list(const rctx *r, json_t *params)
{
    json_t *cursor = json_object_get(params, "cursor");
    uint64_t after = 0;
    if (cursor && !json_is_null(cursor)) {
        int used = 0;
        const char *c = json_string_value(cursor);
        if (!c || sscanf(c, "mft1.%" SCNx64 "%n", &after, &used) != 1 || c[used] != '\0') {
            mf_reply_error(r, MF_RPC_INVALID_PARAMS, NULL, false, "tasks/list: invalid cursor");
            return;
        }
    }
    mf_task_sweep();
    char *owner = mf_task_owner(r->s, false);
    json_t *list = json_array();
    size_t size = (size_t)mf_fed.sessions.conf->page_size;
    uint64_t last = 0;
    bool more = false;
    for (mf_task *t = mf_task_first(); t; t = t->next) {
        if (t->seq <= after || strcmp(t->owner, owner) != 0)
            continue;
        if (json_array_size(list) == size) {
            more = true;
            break;
        }
        json_array_append_new(list, task_json(t, false, false));
        last = t->seq;
    }
    free(owner);
    json_t *result = json_pack("{s:o}", "tasks", list);
    if (more) {
        char next[40];
        snprintf(next, sizeof next, "mft1.%" PRIx64, last);
        json_object_set_new(result, "nextCursor", json_string(next));
    }
    mf_reply_result(r, result);
}

bool mf_tasks_request(const rctx *r, const char *method, json_t *params)
{
    static const char *const methods[] = {"tasks/get", "tasks/result", "tasks/list", "tasks/cancel", "tasks/update"};
    int which = -1;
    for (int i = 0; i < 5; i++)
        if (strcmp(method, methods[i]) == 0)
            which = i;
    if (which < 0)
        return false;
    bool modern_only = which == 4, session_only = which == 1 || which == 2;
    if ((r->modern && session_only) || (!r->modern && modern_only)) {
        mf_reply_error(r, MF_RPC_METHOD_NOT_FOUND, NULL, false, "Method not found: %s", method);
        return true;
    }
    if (r->modern && !json_object_get(json_object_get(r->caps, "extensions"), MF_TASKS_EXTENSION)) {
        mf_reply_error(r, MF_RPC_MISSING_CLIENT_CAPABILITY,
                       json_pack("{s:{s:{s:{}}}}", "requiredCapabilities", "extensions", MF_TASKS_EXTENSION), false,
                       "%s needs the client capability extensions[\"" MF_TASKS_EXTENSION "\"]", method);
        return true;
    }
    if (!params)
        params = json_object_get(r->msg, "params");
    switch (which) {
    case 0: on_get(r, params); break;
    case 1: on_result(r, params); break;
    case 2: on_list(r, params); break;
    case 3: on_cancel(r, params); break;
    default: on_update(r, params); break;
    }
    return true;
}

json_t *mf_tasks_status(void)
{
    mf_task_sweep();
    json_t *list = json_array();
    uint64_t now = mf_now();
    for (mf_task *t = mf_task_first(); t; t = t->next) {
        int waiting = 0;
        for (mf_task_waiter *w = t->waiters; w; w = w->next)
            waiting++;
        json_array_append_new(list, json_pack("{s:s,s:s,s:s,s:s,s:s,s:s,s:I,s:I,s:I,s:i}", "id", t->id, "owner", t->owner,
                                              "provider", t->provider ?: "", "tool", t->tool ?: "", "state",
                                              mf_task_status_name(t->status), "revision",
                                              t->modern ? MF_PROTOCOL_MODERN : "2025-11-25", "age_ms",
                                              (json_int_t)(now - (t->expires - (uint64_t)t->ttl_ms)), "expires_in_ms",
                                              (json_int_t)(t->expires - now), "result_bytes", (json_int_t)t->bytes,
                                              "waiting", waiting));
    }
    return list;
}
