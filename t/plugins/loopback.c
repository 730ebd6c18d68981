/* An in-process provider for the kernel's tests: no upstream, answers from memory.
 *
 * tools (listed in pages of two):
 *   echo     answers at once with {"content":[{"type":"text","text":<params as JSON>}]}
 *   slow     answers after arguments.ms, with the same text
 *   never    never answers
 *   cancels  answers with the number of MF_MSG_CANCEL received so far
 *   fail     answers with a JSON-RPC error {code: 1234}
 *   gen      answers with an address in this copy of the plugin: tells generations apart
 *   identify the calling session acts for arguments.subject from now on (method "test"), as
 *            a transport's authentication would say; no subject: anonymous again
 *
 * It hands over on a hot swap (its cancel count) and keeps its slow calls, which it
 * finishes while draining. Built with LOOPBACK_FAIL_LOAD its module set-up fails, with
 * LOOPBACK_FAIL_ADOPT it cannot take over from a predecessor (for the reload's refusals). */
#include <mcpfed/mcpfed.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef struct pending {
    uv_timer_t timer;
    mf_msg *req;
    struct lb *lb;
    struct pending *next;
} pending;

typedef struct lb {
    mf_instance *inst;
    int cancels;
    pending *slow;
    bool stopping, saving, draining;
    int open;
} lb;

static const char *const tools[] = {"echo", "slow", "never", "cancels", "fail", "gen", "identify"};
static char load_stamp[32];   /* when this copy was set up: one per generation */

static void reply_result(lb *p, const mf_msg *req, json_t *result)
{
    mf_send(mf_msg_reply(req, mf_instance_ep(p->inst),
                         json_pack("{s:s,s:I,s:o}", "jsonrpc", "2.0", "id", (json_int_t)999, "result", result)));
}

static json_t *text_of_params(const mf_msg *req)
{
    char *text = json_dumps(json_object_get(req->json, "params"), JSON_COMPACT | JSON_SORT_KEYS);
    json_t *r = json_pack("{s:[{s:s,s:s}]}", "content", "type", "text", "text", text);
    free(text);
    return r;
}

static void list(lb *p, mf_msg *m)
{
    const char *cursor = json_string_value(json_object_get(json_object_get(m->json, "params"), "cursor"));
    size_t start = cursor ? (size_t)atoi(cursor) : 0, n = sizeof tools / sizeof tools[0];
    json_t *arr = json_array();
    for (size_t i = start; i < n && i < start + 2; i++)
        json_array_append_new(arr, json_pack("{s:s,s:{s:s}}", "name", tools[i], "inputSchema", "type", "object"));
    json_t *result = json_pack("{s:o}", "tools", arr);
    if (start + 2 < n) {
        char next[16];
        snprintf(next, sizeof next, "%zu", start + 2);
        json_object_set_new(result, "nextCursor", json_string(next));
    }
    reply_result(p, m, result);
}

static void slow_closed(uv_handle_t *h)
{
    pending *q = h->data;
    lb *p = q->lb;
    mf_msg_free(q->req);
    free(q);
    if (--p->open == 0 && (p->stopping || p->draining)) {
        mf_instance *inst = p->inst;
        free(p);
        mf_instance_stopped(inst);
    }
}

static void unlink_pending(lb *p, pending *q)
{
    for (pending **pp = &p->slow; *pp; pp = &(*pp)->next)
        if (*pp == q) {
            *pp = q->next;
            return;
        }
}

static void slow_done(uv_timer_t *t)
{
    pending *q = t->data;
    reply_result(q->lb, q->req, text_of_params(q->req));
    unlink_pending(q->lb, q);
    uv_close((uv_handle_t *)t, slow_closed);
}

static void call(lb *p, mf_msg *m)
{
    json_t *params = json_object_get(m->json, "params");
    const char *name = json_string_value(json_object_get(params, "name"));
    if (!name) name = "";
    if (strcmp(name, "echo") == 0) {
        reply_result(p, m, text_of_params(m));
    } else if (strcmp(name, "slow") == 0) {
        pending *q = calloc(1, sizeof *q);
        q->req = m;
        q->lb = p;
        q->next = p->slow;
        p->slow = q;
        p->open++;
        uv_timer_init(mf_loop(), &q->timer);
        q->timer.data = q;
        json_int_t ms = json_integer_value(json_object_get(json_object_get(params, "arguments"), "ms"));
        uv_timer_start(&q->timer, slow_done, (uint64_t)ms, 0);
        return;   /* the request is kept */
    } else if (strcmp(name, "never") == 0) {
        /* no answer: the kernel's deadline must do it */
    } else if (strcmp(name, "cancels") == 0) {
        reply_result(p, m, json_pack("{s:[{s:s,s:I}]}", "content", "type", "text", "count",
                                     (json_int_t)p->cancels));
    } else if (strcmp(name, "gen") == 0) {
        reply_result(p, m, json_pack("{s:[{s:s,s:s}]}", "content", "type", "text", "text", load_stamp));
    } else if (strcmp(name, "identify") == 0) {
        const char *who = json_string_value(json_object_get(json_object_get(params, "arguments"), "subject"));
        mf_session_set_identity(m->session, who ? json_pack("{s:s,s:s,s:[],s:{}}", "subject", who, "method", "test",
                                                            "scopes", "claims")
                                                : NULL);
        reply_result(p, m, text_of_params(m));
    } else if (strcmp(name, "fail") == 0) {
        mf_send(mf_msg_reply(m, mf_instance_ep(p->inst),
                             json_pack("{s:{s:i,s:s}}", "error", "code", 1234, "message", "failed on purpose")));
    } else {
        mf_send(mf_msg_reply_error(m, mf_instance_ep(p->inst), MF_RPC_INVALID_PARAMS, "no tool %s", name));
    }
    mf_msg_free(m);
}

static bool is_mine(lb *p, uint64_t corr)
{
    for (pending *q = p->slow; q; q = q->next)
        if (q->req->corr == corr)
            return true;
    return false;
}

static void receive(void *self, mf_msg *m)
{
    lb *p = self;
    if (p->draining && !(m->kind == MF_MSG_CANCEL && is_mine(p, m->corr))) {
        mf_instance_forward(p->inst, m);   /* the successor's now */
        return;
    }
    if (m->kind == MF_MSG_CANCEL) {
        p->cancels++;
        mf_msg_free(m);
        return;
    }
    if (m->kind != MF_MSG_REQUEST) {
        mf_msg_free(m);
        return;
    }
    const char *method = json_string_value(json_object_get(m->json, "method"));
    if (method && strcmp(method, "tools/list") == 0) {
        list(p, m);
        mf_msg_free(m);
    } else if (method && strcmp(method, "tools/call") == 0) {
        call(p, m);
    } else {
        mf_send(mf_msg_reply_error(m, mf_instance_ep(p->inst), MF_RPC_METHOD_NOT_FOUND, "no"));
        mf_msg_free(m);
    }
}

static int start(mf_instance *inst, const json_t *conf, void **self, mf_error *err)
{
    (void)conf;
    (void)err;
    lb *p = calloc(1, sizeof *p);
    p->inst = inst;
    *self = p;
    json_t *init = json_pack("{s:s,s:{s:{}},s:{s:s,s:s}}", "protocolVersion", "2025-11-25",
                             "capabilities", "tools", "serverInfo", "name", "loopback", "version", "1");
    mf_provider_status(inst, MF_PROVIDER_UP, init, NULL);
    json_decref(init);
    return 0;
}

static void finish_if_idle(lb *p)
{
    if (p->open == 0) {
        mf_instance *inst = p->inst;
        free(p);
        mf_instance_stopped(inst);
    }
}

static void stop(void *self)
{
    lb *p = self;
    p->stopping = true;
    if (p->open == 0) {
        finish_if_idle(p);
        return;
    }
    for (pending *q = p->slow; q; q = q->next) {
        mf_send(mf_msg_reply_error(q->req, mf_instance_ep(p->inst), MF_RPC_SHUTTING_DOWN, "loopback stopping"));
        uv_timer_stop(&q->timer);
        uv_close((uv_handle_t *)&q->timer, slow_closed);
    }
    p->slow = NULL;
}

/* --- hot swap: the cancel count goes over; slow calls stay and finish here --- */

static void save(void *self)
{
    lb *p = self;
    p->saving = true;
    json_t *st = json_pack("{s:i}", "cancels", p->cancels);
    size_t len = 0;
    char *buf = mf_state_pack(st, &len);
    json_decref(st);
    mf_instance_saved(p->inst, buf, len, buf ? NULL : "cannot pack the state");
    free(buf);
}

static void resume(void *self)
{
    lb *p = self;
    p->saving = false;
}

static int adopt(mf_instance *inst, const json_t *conf, const char *state, size_t len, void **self, mf_error *err)
{
#ifdef LOOPBACK_FAIL_ADOPT
    (void)inst;
    (void)conf;
    (void)state;
    (void)len;
    (void)self;
    mf_error_set(err, -1, "deliberate failure to take over");
    return -1;
#else
    json_t *st = mf_state_unpack(state, len, err);
    if (!st)
        return -1;
    lb *p = calloc(1, sizeof *p);
    p->inst = inst;
    p->cancels = (int)json_integer_value(json_object_get(st, "cancels"));
    json_decref(st);
    (void)conf;
    *self = p;   /* the kernel knows it is up: nothing to announce */
    return 0;
#endif
}

static void drain(void *self)
{
    lb *p = self;
    p->draining = true;
    finish_if_idle(p);
}

static int load(mf_error *err)
{
#ifdef LOOPBACK_FAIL_LOAD
    mf_error_set(err, -1, "deliberate failure to set up");
    return -1;
#else
    (void)err;
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    snprintf(load_stamp, sizeof load_stamp, "%lld.%09ld", (long long)ts.tv_sec, ts.tv_nsec);
    return 0;
#endif
}

static const mf_role_ops provider = {.start = start, .receive = receive, .stop = stop, .save = save,
                                     .resume = resume, .adopt = adopt, .drain = drain};

MF_PLUGIN(.name = "loopback", .version = "1", .description = "in-process test provider", .load = load,
          .provider = &provider);
