/* The session layer with an in-process provider (t/plugins/loopback): ids keep their
 * JSON type, sessions keep their own ids apart, deadlines answer and cancel, a client's
 * cancel reaches the provider and gets no answer (its transport is told so). */
#include "harness.h"
#include "call.h"
#include "config.h"
#include "instance.h"
#include "plugin_loader.h"
#include "registry.h"
#include "session.h"

#include <stdio.h>
#include <string.h>

#define MAX_SEEN 64

typedef struct client {
    mf_instance inst;   /* only its endpoint is used by the session layer */
    uint64_t sid;
    json_t *seen[MAX_SEEN];
    uint32_t flags[MAX_SEEN];
    mf_msg_kind kinds[MAX_SEEN];
    uint64_t corrs[MAX_SEEN];
    int n;
    uint64_t next_corr;
} client;

static mf_config *cfg;
static char cfgpath[] = "/tmp/mcpfed-session-test-XXXXXX";

static void on_reply(void *ud, mf_msg *m)
{
    client *c = ud;
    cr_assert_lt(c->n, MAX_SEEN);
    cr_assert_eq(m->session, c->sid);
    c->flags[c->n] = m->flags;
    c->kinds[c->n] = m->kind;
    c->corrs[c->n] = m->corr;
    c->seen[c->n++] = json_incref(m->json);
    mf_msg_free(m);
}

static void client_open(client *c, const char *name)
{
    memset(c, 0, sizeof *c);
    c->inst.ep = mf_endpoint_open(name, on_reply, c);
    c->sid = mf_session_open(&c->inst, name);
}

static void client_close(client *c)
{
    mf_session_close(c->sid);
    mf_endpoint_close(c->inst.ep);
    for (int i = 0; i < c->n; i++)
        json_decref(c->seen[i]);
}

static void send_text(client *c, const char *text)
{
    json_t *msg = json_loads(text, 0, NULL);
    cr_assert_not_null(msg, "%s", text);
    bool request = json_object_get(msg, "id") != NULL;
    mf_msg *m = mf_msg_new(request ? MF_MSG_REQUEST : MF_MSG_NOTIFY, c->inst.ep, mf_kernel_ep(), msg);
    m->session = c->sid;
    m->corr = ++c->next_corr;
    mf_send(m);
}

typedef struct want { client *c; int n; } want;
static bool has_n(void *ud) { want *w = ud; return w->c->n >= w->n; }

static void wait_n(client *c, int n, uint64_t ms)
{
    want w = {c, n};
    cr_assert(run_until(has_n, &w, ms), "expected %d answers, got %d", n, c->n);
}

static json_t *answer_with_id(client *c, json_t *id)
{
    for (int i = 0; i < c->n; i++)
        if (json_equal(json_object_get(c->seen[i], "id"), id))
            return c->seen[i];
    return NULL;
}

static bool settled(void *ud) { (void)ud; return mf_registry_settled(); }

static void setup(void)
{
    kernel_up();
    cr_assert_not_null(mkdtemp(cfgpath));
    char file[128];
    snprintf(file, sizeof file, "%s/c.lua", cfgpath);
    FILE *f = fopen(file, "w");
    fputs("return { providers = { { name = 'lb', transport = 'loopback', timeout_ms = 200 } } }", f);
    fclose(f);
    mf_error err = {0};
    cfg = mf_config_load(file, false, &err);
    cr_assert_not_null(cfg, "%s", err.msg);
    cr_assert_eq(mf_plugins_init(NULL, &err), 0);
    cr_assert_eq(mf_calls_init(), 0);
    cr_assert_eq(mf_session_init(cfg), 0);
    cr_assert_eq(mf_registry_start(cfg, &err), 0, "%s", err.msg);
    cr_assert(run_until(settled, NULL, 2000));
}

static bool stopped_flag;
static void on_stopped(void) { stopped_flag = true; }
static bool is_stopped(void *ud) { (void)ud; return stopped_flag; }

static void teardown(void)
{
    stopped_flag = false;
    mf_registry_stop(on_stopped);
    cr_assert(run_until(is_stopped, NULL, 2000));
    mf_session_shutdown();
    mf_registry_close();
    mf_calls_close();
    mf_plugins_shutdown();
    mf_config_unref(cfg);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", cfgpath);
    cr_assert_eq(system(cmd), 0);
    kernel_down();
}

TestSuite(session, .init = setup, .fini = teardown);

Test(session, catalog_follows_upstream_pages_and_prefixes_names)
{
    client c;
    client_open(&c, "t1");
    send_text(&c, "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/list\"}");
    wait_n(&c, 1, 1000);
    json_t *tools = json_object_get(json_object_get(c.seen[0], "result"), "tools");
    cr_assert_eq(json_array_size(tools), 7, "four pages of two");
    cr_assert_str_eq(json_string_value(json_object_get(json_array_get(tools, 0), "name")), "lb__echo");
    cr_assert_str_eq(json_string_value(json_object_get(json_array_get(tools, 5), "name")), "lb__gen");
    client_close(&c);
}

Test(session, ids_come_back_with_their_json_type)
{
    client c;
    client_open(&c, "t1");
    send_text(&c, "{\"jsonrpc\":\"2.0\",\"id\":\"abc\",\"method\":\"tools/call\",\"params\":{\"name\":\"lb__echo\",\"arguments\":{\"x\":1}}}");
    send_text(&c, "{\"jsonrpc\":\"2.0\",\"id\":42,\"method\":\"tools/call\",\"params\":{\"name\":\"lb__echo\",\"arguments\":{\"x\":2}}}");
    send_text(&c, "{\"jsonrpc\":\"2.0\",\"id\":\"42\",\"method\":\"tools/call\",\"params\":{\"name\":\"lb__echo\",\"arguments\":{\"x\":3}}}");
    send_text(&c, "{\"jsonrpc\":\"2.0\",\"id\":0,\"method\":\"tools/call\",\"params\":{\"name\":\"lb__fail\"}}");
    wait_n(&c, 4, 1000);
    json_t *sid = json_string("abc"), *nid = json_integer(42), *s42 = json_string("42"), *zero = json_integer(0);
    json_t *a = answer_with_id(&c, sid), *b = answer_with_id(&c, nid), *d = answer_with_id(&c, s42),
           *e = answer_with_id(&c, zero);
    cr_assert(a && b && d && e);
    const char *ta = json_string_value(json_object_get(json_array_get(json_object_get(json_object_get(a, "result"), "content"), 0), "text"));
    const char *tb = json_string_value(json_object_get(json_array_get(json_object_get(json_object_get(b, "result"), "content"), 0), "text"));
    const char *td = json_string_value(json_object_get(json_array_get(json_object_get(json_object_get(d, "result"), "content"), 0), "text"));
    cr_assert_str_eq(ta, "{\"arguments\":{\"x\":1},\"name\":\"echo\"}", "the upstream sees its own tool name");
    cr_assert_str_eq(tb, "{\"arguments\":{\"x\":2},\"name\":\"echo\"}");
    cr_assert_str_eq(td, "{\"arguments\":{\"x\":3},\"name\":\"echo\"}", "\"42\" and 42 are different ids");
    json_t *err = json_object_get(e, "error");
    cr_assert_eq(json_integer_value(json_object_get(err, "code")), 1234, "the upstream's error comes back unchanged");
    cr_assert_str_eq(json_string_value(json_object_get(err, "message")), "failed on purpose");
    json_decref(sid); json_decref(nid); json_decref(s42); json_decref(zero);
    client_close(&c);
}

Test(session, two_sessions_with_the_same_ids_stay_apart)
{
    client c1, c2;
    client_open(&c1, "t1");
    client_open(&c2, "t2");
    send_text(&c1, "{\"jsonrpc\":\"2.0\",\"id\":7,\"method\":\"tools/call\",\"params\":{\"name\":\"lb__slow\",\"arguments\":{\"ms\":60,\"who\":\"one\"}}}");
    send_text(&c2, "{\"jsonrpc\":\"2.0\",\"id\":7,\"method\":\"tools/call\",\"params\":{\"name\":\"lb__slow\",\"arguments\":{\"ms\":20,\"who\":\"two\"}}}");
    wait_n(&c1, 1, 1000);
    wait_n(&c2, 1, 1000);
    cr_assert_eq(c1.n, 1);
    cr_assert_eq(c2.n, 1);
    char *t1 = json_dumps(c1.seen[0], 0), *t2 = json_dumps(c2.seen[0], 0);
    cr_assert_not_null(strstr(t1, "one"), "%s", t1);
    cr_assert_not_null(strstr(t2, "two"), "%s", t2);
    free(t1);
    free(t2);
    client_close(&c1);
    client_close(&c2);
}

Test(session, a_call_past_its_deadline_is_answered_and_cancelled_upstream)
{
    client c;
    client_open(&c, "t1");
    send_text(&c, "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/call\",\"params\":{\"name\":\"lb__never\"}}");
    wait_n(&c, 1, 2000);
    json_t *err = json_object_get(c.seen[0], "error");
    cr_assert_eq(json_integer_value(json_object_get(err, "code")), MF_RPC_TIMEOUT);
    cr_assert_not_null(strstr(json_string_value(json_object_get(err, "message")), "200 ms"));
    send_text(&c, "{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"tools/call\",\"params\":{\"name\":\"lb__cancels\"}}");
    wait_n(&c, 2, 1000);
    cr_assert_eq(json_integer_value(json_object_get(json_array_get(json_object_get(json_object_get(c.seen[1], "result"), "content"), 0), "count")), 1,
                 "the provider was told to drop the call");
    client_close(&c);
}

Test(session, a_cancelled_call_gets_no_answer_and_reaches_the_provider)
{
    client c;
    client_open(&c, "t1");
    send_text(&c, "{\"jsonrpc\":\"2.0\",\"id\":\"c1\",\"method\":\"tools/call\",\"params\":{\"name\":\"lb__slow\",\"arguments\":{\"ms\":50}}}");
    send_text(&c, "{\"jsonrpc\":\"2.0\",\"method\":\"notifications/cancelled\",\"params\":{\"requestId\":\"c1\"}}");
    send_text(&c, "{\"jsonrpc\":\"2.0\",\"method\":\"notifications/cancelled\",\"params\":{\"requestId\":\"unknown\"}}");
    /* a later, longer call: when it is answered, the provider has answered the first */
    send_text(&c, "{\"jsonrpc\":\"2.0\",\"id\":\"marker\",\"method\":\"tools/call\",\"params\":{\"name\":\"lb__slow\",\"arguments\":{\"ms\":60}}}");
    wait_n(&c, 2, 1000);
    send_text(&c, "{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"tools/call\",\"params\":{\"name\":\"lb__cancels\"}}");
    wait_n(&c, 3, 1000);
    cr_assert_eq(c.n, 3, "the cancelled call is never answered");
    /* instead the transport is told that no answer will come for the call's correlation */
    cr_assert_eq(c.kinds[0], MF_MSG_CANCEL);
    cr_assert_eq(c.corrs[0], 1, "the cancel names the cancelled call (sent first)");
    cr_assert_eq(c.kinds[1], MF_MSG_RESPONSE);
    cr_assert_str_eq(json_string_value(json_object_get(c.seen[1], "id")), "marker");
    cr_assert_eq(json_integer_value(json_object_get(c.seen[2], "id")), 2);
    cr_assert_eq(json_integer_value(json_object_get(json_array_get(json_object_get(json_object_get(c.seen[2], "result"), "content"), 0), "count")), 1);
    client_close(&c);
}

Test(session, lifecycle_and_errors)
{
    client c;
    client_open(&c, "t1");
    send_text(&c, "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"initialize\",\"params\":{\"protocolVersion\":\"2025-06-18\",\"capabilities\":{},\"clientInfo\":{\"name\":\"t\",\"version\":\"1\"}}}");
    send_text(&c, "{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"initialize\",\"params\":{\"protocolVersion\":\"1999-01-01\"}}");
    send_text(&c, "{\"jsonrpc\":\"2.0\",\"id\":3,\"method\":\"ping\"}");
    send_text(&c, "{\"jsonrpc\":\"2.0\",\"id\":4,\"method\":\"resources/frobnicate\"}");
    send_text(&c, "{\"jsonrpc\":\"2.0\",\"id\":5,\"method\":\"tools/call\",\"params\":{\"name\":\"nope\"}}");
    send_text(&c, "{\"jsonrpc\":\"2.0\",\"id\":6,\"method\":\"tools/call\",\"params\":{}}");
    send_text(&c, "{\"jsonrpc\":\"2.0\",\"id\":7,\"method\":\"initialize\",\"params\":{}}");
    wait_n(&c, 7, 1000);
    json_t *id;
    id = json_integer(1);
    cr_assert_str_eq(json_string_value(json_object_get(json_object_get(answer_with_id(&c, id), "result"), "protocolVersion")), "2025-06-18");
    json_decref(id);
    id = json_integer(2);
    cr_assert_str_eq(json_string_value(json_object_get(json_object_get(answer_with_id(&c, id), "result"), "protocolVersion")), "2025-11-25",
                     "an unknown version gets our newest");
    json_decref(id);
    id = json_integer(3);
    cr_assert(json_is_object(json_object_get(answer_with_id(&c, id), "result")));
    json_decref(id);
    static const struct { int id; int code; const char *text; } errs[] = {
        {4, MF_RPC_METHOD_NOT_FOUND, "Method not found: resources/frobnicate"},
        {5, MF_RPC_INVALID_PARAMS, "Unknown tool: nope"},
        {6, MF_RPC_INVALID_PARAMS, "params.name"},
        {7, MF_RPC_INVALID_PARAMS, "protocolVersion"},
    };
    for (size_t i = 0; i < sizeof errs / sizeof errs[0]; i++) {
        id = json_integer(errs[i].id);
        json_t *e = json_object_get(answer_with_id(&c, id), "error");
        cr_assert_eq(json_integer_value(json_object_get(e, "code")), errs[i].code, "id %d", errs[i].id);
        cr_assert_not_null(strstr(json_string_value(json_object_get(e, "message")), errs[i].text), "id %d", errs[i].id);
        json_decref(id);
    }
    client_close(&c);
}

Test(session, closing_a_session_cancels_its_calls)
{
    client c, probe;
    client_open(&c, "t1");
    client_open(&probe, "t2");
    send_text(&c, "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/call\",\"params\":{\"name\":\"lb__slow\",\"arguments\":{\"ms\":30}}}");
    send_text(&c, "{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"tools/call\",\"params\":{\"name\":\"lb__never\"}}");
    /* let both reach the provider, then leave */
    send_text(&probe, "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"ping\"}");
    wait_n(&probe, 1, 1000);
    client_close(&c);
    cr_assert_eq(mf_calls_in_flight(), 0);
    send_text(&probe, "{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"tools/call\",\"params\":{\"name\":\"lb__cancels\"}}");
    wait_n(&probe, 2, 1000);
    cr_assert_eq(json_integer_value(json_object_get(json_array_get(json_object_get(json_object_get(probe.seen[1], "result"), "content"), 0), "count")), 2);
    client_close(&probe);
}

#define ENVELOPE "\"_meta\":{\"io.modelcontextprotocol/protocolVersion\":\"2026-07-28\",\"io.modelcontextprotocol/clientCapabilities\":{}}"

static json_t *result_of(client *c, int i) { return json_object_get(c->seen[i], "result"); }
static int code_of(client *c, int i)
{
    return (int)json_integer_value(json_object_get(json_object_get(c->seen[i], "error"), "code"));
}

Test(session, modern_requests_need_no_session_and_say_what_they_are)
{
    client c;
    client_open(&c, "t1");
    send_text(&c, "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"server/discover\",\"params\":{" ENVELOPE "}}");
    wait_n(&c, 1, 1000);
    json_t *r = result_of(&c, 0);
    cr_assert_str_eq(json_string_value(json_array_get(json_object_get(r, "supportedVersions"), 0)), "2026-07-28");
    cr_assert_not_null(json_object_get(json_object_get(r, "capabilities"), "tools"));
    cr_assert_str_eq(json_string_value(json_object_get(r, "resultType")), "complete");
    cr_assert_eq(json_integer_value(json_object_get(r, "ttlMs")), 0);
    cr_assert_str_eq(json_string_value(json_object_get(r, "cacheScope")), "private");
    cr_assert_str_eq(json_string_value(json_object_get(json_object_get(json_object_get(r, "_meta"),
                     "io.modelcontextprotocol/serverInfo"), "name")), "mcpfed");

    send_text(&c, "{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"tools/list\",\"params\":{" ENVELOPE "}}");
    wait_n(&c, 2, 1000);
    r = result_of(&c, 1);
    cr_assert_eq(json_array_size(json_object_get(r, "tools")), 7);
    cr_assert_str_eq(json_string_value(json_object_get(r, "resultType")), "complete");
    cr_assert_not_null(json_object_get(r, "ttlMs"));

    send_text(&c, "{\"jsonrpc\":\"2.0\",\"id\":3,\"method\":\"tools/call\",\"params\":{\"name\":\"lb__echo\",\"arguments\":{},"
                  "\"_meta\":{\"io.modelcontextprotocol/protocolVersion\":\"2026-07-28\",\"io.modelcontextprotocol/clientCapabilities\":{},\"progressToken\":\"p1\"}}}");
    wait_n(&c, 3, 1000);
    r = result_of(&c, 2);
    cr_assert_str_eq(json_string_value(json_object_get(r, "resultType")), "complete");
    const char *seen_upstream = json_string_value(json_object_get(json_array_get(json_object_get(r, "content"), 0), "text"));
    json_t *up = json_loads(seen_upstream, 0, NULL);
    json_t *upmeta = json_object_get(json_object_get(up, "params") ? json_object_get(up, "params") : up, "_meta");
    cr_assert_eq(json_object_size(upmeta), 1, "the client's envelope stays here: %s", seen_upstream);
    cr_assert(json_is_integer(json_object_get(upmeta, "progressToken")),
              "the progress token upstream is the gateway's own: %s", seen_upstream);
    cr_assert_str_eq(json_string_value(json_object_get(up, "name")), "echo");
    json_decref(up);
    cr_assert_eq(c.flags[2], 0);
    client_close(&c);
}

Test(session, modern_envelope_errors_are_marked_malformed)
{
    client c;
    client_open(&c, "t1");
    send_text(&c, "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/list\",\"params\":{\"_meta\":{\"io.modelcontextprotocol/protocolVersion\":\"2099-01-01\",\"io.modelcontextprotocol/clientCapabilities\":{}}}}");
    wait_n(&c, 1, 1000);
    cr_assert_eq(code_of(&c, 0), MF_RPC_UNSUPPORTED_VERSION);
    json_t *data = json_object_get(json_object_get(c.seen[0], "error"), "data");
    cr_assert_str_eq(json_string_value(json_object_get(data, "requested")), "2099-01-01");
    cr_assert_geq(json_array_size(json_object_get(data, "supported")), 5, "both eras are listed");
    cr_assert_eq(c.flags[0], MF_MSGF_MALFORMED);

    send_text(&c, "{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"tools/list\",\"params\":{\"_meta\":{\"io.modelcontextprotocol/protocolVersion\":\"2026-07-28\"}}}");
    send_text(&c, "{\"jsonrpc\":\"2.0\",\"id\":3,\"method\":\"server/discover\"}");
    send_text(&c, "{\"jsonrpc\":\"2.0\",\"id\":4,\"method\":\"ping\",\"params\":{" ENVELOPE "}}");
    send_text(&c, "{\"jsonrpc\":\"2.0\",\"id\":5,\"method\":\"initialize\",\"params\":{\"protocolVersion\":\"2025-06-18\"," ENVELOPE "}}");
    wait_n(&c, 5, 1000);
    cr_assert_eq(code_of(&c, 1), MF_RPC_INVALID_PARAMS);
    cr_assert_not_null(strstr(json_string_value(json_object_get(json_object_get(c.seen[1], "error"), "message")), "clientCapabilities"));
    cr_assert_eq(c.flags[1], MF_MSGF_MALFORMED);
    cr_assert_eq(code_of(&c, 2), MF_RPC_INVALID_PARAMS, "discover is only ever modern: it needs the envelope");
    cr_assert_eq(c.flags[2], MF_MSGF_MALFORMED);
    cr_assert_eq(code_of(&c, 3), MF_RPC_METHOD_NOT_FOUND, "no ping in 2026-07-28");
    cr_assert_eq(c.flags[3], 0);
    cr_assert_eq(code_of(&c, 4), MF_RPC_METHOD_NOT_FOUND, "no initialize in 2026-07-28");
    client_close(&c);
}
