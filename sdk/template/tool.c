/* tool: a tool plugin to start from, with nothing to configure. Its tools run in process:
 * "count" answers at once (words, lines and characters of a text), "wait" answers later,
 * from a timer on the gateway's loop, the way a tool that waits on I/O does.
 *
 * It declares a default instance, so it needs no configuration entry: built out of the
 * tree (see Makefile) and copied into a plugin directory the gateway watches
 *
 *   plugin_dirs = { "/path/to/dir" }, watch_plugins = true,
 *
 * it starts as the provider "tool", and clients see "tool__count" and "tool__wait" (with a
 * notifications/tools/list_changed). Copying a new build over it hot-swaps it; deleting it
 * takes the tools away once the calls under way have finished. */
#include <mcpfed/mcpfed.h>

#include <stdlib.h>
#include <string.h>

typedef struct wait_call wait_call;

typedef struct tool {
    mf_instance *inst;
    wait_call *waits;        /* calls of "wait" under way */
    unsigned timers;         /* their timers not closed yet */
    bool draining, stopping;
} tool;

struct wait_call {
    tool *t;
    mf_msg *req;             /* answered when the timer fires */
    uv_timer_t timer;
    wait_call *next;
};

static json_t *tool_error(const char *text)
{
    /* bad tool input is a tool result with isError, not a protocol error */
    return json_pack("{s:[{s:s,s:s}],s:b}", "content", "type", "text", "text", text, "isError", 1);
}

static json_t *tools_list(void)
{
    return json_pack(
        "{s:[{s:s,s:s,s:{s:s,s:{s:{s:s}},s:[s]},s:{s:s,s:{s:{s:s},s:{s:s},s:{s:s}}}},"
        "{s:s,s:s,s:{s:s,s:{s:{s:s,s:i,s:i}},s:[s]}}]}",
        "tools",
        "name", "count", "description", "Count the words, lines and characters of a text",
        "inputSchema", "type", "object", "properties", "text", "type", "string", "required", "text",
        "outputSchema", "type", "object", "properties", "words", "type", "integer", "lines", "type", "integer",
        "chars", "type", "integer",
        "name", "wait", "description", "Answer after ms milliseconds",
        "inputSchema", "type", "object", "properties", "ms", "type", "integer", "minimum", 0, "maximum", 60000,
        "required", "ms");
}

static json_t *count(const json_t *args)
{
    const char *s = json_string_value(json_object_get(args, "text"));
    if (!s)
        return tool_error("count needs a \"text\" string");
    json_int_t words = 0, lines = 0, chars = 0;
    bool in_word = false;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        chars += (*p & 0xc0) != 0x80;   /* UTF-8: count the first byte of each character */
        lines += *p == '\n';
        bool space = *p == ' ' || *p == '\t' || *p == '\n' || *p == '\r';
        words += !space && !in_word;
        in_word = !space;
    }
    json_t *sc = json_pack("{s:I,s:I,s:I}", "words", words, "lines", lines, "chars", chars);
    char *text = json_dumps(sc, JSON_COMPACT);
    json_t *r = json_pack("{s:[{s:s,s:s}],s:o}", "content", "type", "text", "text", text, "structuredContent", sc);
    free(text);
    return r;
}

static void reply(tool *t, const mf_msg *req, json_t *result)
{
    mf_send(mf_msg_reply(req, mf_instance_ep(t->inst), json_pack("{s:o}", "result", result)));
}

/* The instance is done once it is stopping or draining and no call is left. */
static void stopped_if_idle(tool *t)
{
    if (t->timers || !(t->draining || t->stopping))
        return;
    mf_instance *inst = t->inst;
    free(t);
    mf_instance_stopped(inst);
}

static void wait_closed(uv_handle_t *h)
{
    wait_call *w = h->data;
    tool *t = w->t;
    mf_msg_free(w->req);
    free(w);
    t->timers--;
    stopped_if_idle(t);
}

/* End a wait: unlinked now, freed once its timer is closed. */
static void wait_end(wait_call *w)
{
    for (wait_call **p = &w->t->waits; *p; p = &(*p)->next)
        if (*p == w) {
            *p = w->next;
            break;
        }
    uv_close((uv_handle_t *)&w->timer, wait_closed);
}

static void wait_over(uv_timer_t *timer)
{
    wait_call *w = timer->data;
    reply(w->t, w->req, json_pack("{s:[{s:s,s:s}]}", "content", "type", "text", "text", "waited"));
    wait_end(w);
}

static void wait_start(tool *t, mf_msg *m, const json_t *args)
{
    const json_t *ms = json_object_get(args, "ms");
    if (!json_is_integer(ms) || json_integer_value(ms) < 0 || json_integer_value(ms) > 60000) {
        reply(t, m, tool_error("wait needs \"ms\", an integer from 0 to 60000"));
        mf_msg_free(m);
        return;
    }
    wait_call *w = calloc(1, sizeof *w);
    w->t = t;
    w->req = m;
    w->timer.data = w;
    uv_timer_init(mf_loop(), &w->timer);
    t->timers++;
    uv_timer_start(&w->timer, wait_over, (uint64_t)json_integer_value(ms), 0);
    w->next = t->waits;
    t->waits = w;
    /* progress, when the client asked for it: here, that the wait began */
    const json_t *token = json_object_get(json_object_get(json_object_get(m->json, "params"), "_meta"), "progressToken");
    if (token)
        mf_provider_notify(t->inst,
                           json_pack("{s:s,s:s,s:{s:O,s:i,s:I}}", "jsonrpc", "2.0", "method", "notifications/progress",
                                     "params", "progressToken", token, "progress", 0, "total", json_integer_value(ms)),
                           m->corr);
}

/* Every request gets exactly one answer, sent back to its sender; a cancelled one none. */
static void receive(void *self, mf_msg *m)
{
    tool *t = self;
    if (m->kind == MF_MSG_CANCEL) {
        for (wait_call *w = t->waits; w; w = w->next)
            if (w->req->corr == m->corr) {
                wait_end(w);
                mf_msg_free(m);
                return;
            }
    }
    if (t->draining) {   /* replaced: what is not ours any more is the successor's */
        mf_instance_forward(t->inst, m);
        return;
    }
    if (m->kind != MF_MSG_REQUEST) {
        mf_msg_free(m);
        return;
    }
    const char *method = mf_rpc_method(m->json);
    const json_t *params = json_object_get(m->json, "params");
    const char *name = json_string_value(json_object_get(params, "name"));
    const json_t *args = json_object_get(params, "arguments");
    if (method && strcmp(method, "tools/call") == 0 && name && strcmp(name, "wait") == 0) {
        wait_start(t, m, args);
        return;   /* the request is the wait's */
    }
    if (method && strcmp(method, "tools/list") == 0)
        reply(t, m, tools_list());
    else if (method && strcmp(method, "tools/call") == 0 && name && strcmp(name, "count") == 0)
        reply(t, m, count(args));
    else if (method && strcmp(method, "ping") == 0)
        reply(t, m, json_object());
    else
        mf_send(mf_msg_reply_error(m, mf_instance_ep(t->inst), MF_RPC_METHOD_NOT_FOUND, "tool cannot do %s",
                                   method ? method : "that"));
    mf_msg_free(m);
}

/* No settings: the kernel refuses any key against this empty table, naming it. */
static const mf_setting tool_settings[] = {{0}};

static tool *make(mf_instance *inst)
{
    tool *t = calloc(1, sizeof *t);
    t->inst = inst;
    return t;
}

static int start(mf_instance *inst, const json_t *conf, void **self, mf_error *err)
{
    (void)conf;
    (void)err;
    *self = make(inst);
    /* in process: up at once */
    json_t *init = json_pack("{s:s,s:{s:{}},s:{s:s,s:s}}", "protocolVersion", "2025-11-25", "capabilities",
                             "tools", "serverInfo", "name", "tool", "version", "1");
    mf_provider_status(inst, MF_PROVIDER_UP, init, NULL);
    json_decref(init);
    return 0;
}

/* Stop: the calls under way are answered with an error, and the timers closed. */
static void stop(void *self)
{
    tool *t = self;
    t->stopping = true;
    while (t->waits) {
        wait_call *w = t->waits;
        mf_send(mf_msg_reply_error(w->req, mf_instance_ep(t->inst), MF_RPC_SHUTTING_DOWN, "tool is stopping"));
        wait_end(w);
    }
    stopped_if_idle(t);
}

/* Hot swap: the state is empty (nothing to hand over but the calls of "wait", which stay
 * here and finish while draining); the successor starts afresh. */
static void save(void *self)
{
    tool *t = self;
    json_t *state = json_object();
    size_t len = 0;
    char *bytes = mf_state_pack(state, &len);
    json_decref(state);
    mf_instance_saved(t->inst, bytes, len, bytes ? NULL : "out of memory");
    free(bytes);
}

static void resume(void *self) { (void)self; }   /* it never stopped serving */

static int adopt(mf_instance *inst, const json_t *conf, const char *state, size_t len, void **self, mf_error *err)
{
    (void)conf;
    (void)state;
    (void)len;
    (void)err;
    *self = make(inst);   /* the kernel knows the provider is up: nothing to announce */
    return 0;
}

static void drain(void *self)
{
    tool *t = self;
    t->draining = true;
    stopped_if_idle(t);
}

static const mf_role_ops tool_provider = {
    .start = start, .receive = receive, .stop = stop,
    .save = save, .resume = resume, .adopt = adopt, .drain = drain,
};

/* the instance that runs with no configuration entry, named as the plugin */
static const mf_default_instance tool_instance = {.name = NULL};

MF_PLUGIN(.name = "tool", .version = "1", .description = "counts words, and waits; a template for tool plugins",
          .provider = &tool_provider, .provider_settings = tool_settings,
          .default_instance = &tool_instance);
