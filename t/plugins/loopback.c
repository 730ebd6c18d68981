/* An in-process provider for the kernel's tests: no upstream, answers from memory.
 *
 * tools (listed in pages of two):
 *   echo     answers at once with {"content":[{"type":"text","text":<params as JSON>}]}
 *   slow     answers after arguments.ms, with the same text
 *   never    never answers
 *   cancels  answers with the number of MF_MSG_CANCEL received so far
 *   fail     answers with a JSON-RPC error {code: 1234}
 */
#include <mcpfed/mcpfed.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
    bool stopping;
    int open;
} lb;

static const char *const tools[] = {"echo", "slow", "never", "cancels", "fail"};

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
    if (--p->open == 0 && p->stopping) {
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
    } else if (strcmp(name, "fail") == 0) {
        mf_send(mf_msg_reply(m, mf_instance_ep(p->inst),
                             json_pack("{s:{s:i,s:s}}", "error", "code", 1234, "message", "failed on purpose")));
    } else {
        mf_send(mf_msg_reply_error(m, mf_instance_ep(p->inst), MF_RPC_INVALID_PARAMS, "no tool %s", name));
    }
    mf_msg_free(m);
}

static void receive(void *self, mf_msg *m)
{
    lb *p = self;
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

static void stop(void *self)
{
    lb *p = self;
    p->stopping = true;
    if (p->open == 0) {
        mf_instance *inst = p->inst;
        free(p);
        mf_instance_stopped(inst);
        return;
    }
    for (pending *q = p->slow; q; q = q->next) {
        uv_timer_stop(&q->timer);
        uv_close((uv_handle_t *)&q->timer, slow_closed);
    }
    p->slow = NULL;
}

static const mf_role_ops provider = {.start = start, .receive = receive, .stop = stop};

MF_PLUGIN(.name = "loopback", .version = "1", .description = "in-process test provider",
          .provider = &provider);
