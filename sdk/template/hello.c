/* hello: a provider plugin to start from. It serves one tool, "greet", from memory.
 *
 * Build it out of the tree with the SDK's pkg-config file (see Makefile), drop hello.so
 * into a plugin directory, and declare it in the configuration:
 *
 *   plugin_dirs = { "/path/to/dir" },
 *   providers = { { name = "hello", transport = "hello", greeting = "Hi" } },
 *
 * Its tool is then listed to clients as "hello__greet". */
#include <mcpfed/mcpfed.h>

#include <stdlib.h>
#include <string.h>

typedef struct hello {
    mf_instance *inst;
    char *greeting;
} hello;

/* The provider's keys (the kernel's own keys of a provider are not among them), once:
 * the kernel checks the configuration against this table, naming a bad key, and
 * `mcpfed --help-config` prints it. A role's check is only needed for what a table cannot
 * say (a bound that depends on another key). */
typedef struct settings {
    const char *greeting;
} settings;

static const mf_setting hello_settings[] = {
    {"greeting", MF_SET_STRING, .def = "Hello", .at = MF_AT(settings, greeting),
     .doc = "what greet says before the name"},
    {0},
};

/* An instance of the provider on inst, with its settings (checked already). */
static hello *make(mf_instance *inst, const json_t *conf)
{
    settings st;
    mf_settings_check(conf, "", hello_settings, &st, NULL);   /* fills the defaults too */
    hello *h = calloc(1, sizeof *h);
    h->inst = inst;
    h->greeting = strdup(st.greeting);
    return h;
}

static int start(mf_instance *inst, const json_t *conf, void **self, mf_error *err)
{
    (void)err;
    *self = make(inst, conf);
    /* in-process: up at once. A provider with an upstream says so once it answered. */
    json_t *init = json_pack("{s:s,s:{s:{}},s:{s:s,s:s}}", "protocolVersion", "2025-11-25",
                             "capabilities", "tools", "serverInfo", "name", "hello", "version", "1");
    mf_provider_status(inst, MF_PROVIDER_UP, init, NULL);
    json_decref(init);
    return 0;
}

static json_t *tools_list(void)
{
    return json_pack("{s:[{s:s,s:s,s:{s:s,s:{s:{s:s}},s:[s]}}]}", "tools", "name", "greet",
                     "description", "Greet someone by name", "inputSchema", "type", "object",
                     "properties", "name", "type", "string", "required", "name");
}

static json_t *greet(hello *h, json_t *args)
{
    const char *name = json_string_value(json_object_get(args, "name"));
    if (!name)   /* bad tool input is a tool result with isError, not a protocol error */
        return json_pack("{s:[{s:s,s:s}],s:b}", "content", "type", "text", "text",
                         "greet needs a \"name\" string", "isError", 1);
    json_t *text = json_sprintf("%s, %s!", h->greeting, name);
    return json_pack("{s:[{s:s,s:o}]}", "content", "type", "text", "text", text);
}

/* Every request gets exactly one answer, sent back to the request's sender. */
static void receive(void *self, mf_msg *m)
{
    hello *h = self;
    if (m->kind == MF_MSG_REQUEST) {
        const char *method = mf_rpc_method(m->json);
        json_t *params = json_object_get(m->json, "params");
        json_t *result = NULL;
        if (method && strcmp(method, "tools/list") == 0)
            result = tools_list();
        else if (method && strcmp(method, "tools/call") == 0 &&
                 strcmp(json_string_value(json_object_get(params, "name")) ?: "", "greet") == 0)
            result = greet(h, json_object_get(params, "arguments"));
        mf_msg *r = result ? mf_msg_reply(m, mf_instance_ep(h->inst), json_pack("{s:o}", "result", result))
                           : mf_msg_reply_error(m, mf_instance_ep(h->inst), MF_RPC_METHOD_NOT_FOUND,
                                                "hello cannot do %s", method ? method : "that");
        mf_send(r);
    }
    mf_msg_free(m);
}

static void stop(void *self)
{
    hello *h = self;
    mf_instance *inst = h->inst;
    free(h->greeting);
    free(h);
    mf_instance_stopped(inst);
}

/* Hot swap (mcpfedctl reload hello): this instance hands what it has to the next
 * generation of the plugin. A provider with an upstream would put its connection or its
 * processes (mf_child_id) and its calls in flight in the state; this one has nothing but
 * answers at once, so the state is empty and the successor re-reads its settings. */
static void save(void *self)
{
    hello *h = self;
    json_t *state = json_object();
    size_t len = 0;
    char *bytes = mf_state_pack(state, &len);
    json_decref(state);
    mf_instance_saved(h->inst, bytes, len, bytes ? NULL : "out of memory");
    free(bytes);
}

static void resume(void *self) { (void)self; }   /* it never stopped serving */

static int adopt(mf_instance *inst, const json_t *conf, const char *state, size_t len, void **self,
                 mf_error *err)
{
    (void)state;
    (void)len;
    (void)err;
    *self = make(inst, conf);   /* the kernel knows the provider is up: nothing to announce */
    return 0;
}

/* Replaced: it kept nothing (it answers every call at once), so it stops now; what is
 * still sent to it goes to its successor. A provider that kept calls would finish them
 * first and pass every other message on with mf_instance_forward. */
static void drain(void *self) { stop(self); }

static const mf_role_ops hello_provider = {
    .start = start,
    .receive = receive,
    .stop = stop,
    .save = save,
    .resume = resume,
    .adopt = adopt,
    .drain = drain,
};

MF_PLUGIN(.name = "hello", .version = "1", .description = "greets; a template for plugins",
          .provider = &hello_provider, .provider_settings = hello_settings);
