/* Configuration loading and its error messages. */
#include "harness.h"
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char dir[] = "/tmp/mcpfed-config-test-XXXXXX";

static void setup(void) { cr_assert_not_null(mkdtemp(dir)); }

static void teardown(void)
{
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    cr_assert_eq(system(cmd), 0);
}

static const char *write_file(const char *name, const char *text)
{
    static char path[256];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    cr_assert_not_null(f);
    fputs(text, f);
    fclose(f);
    return path;
}

/* Load text; expect an error that contains want. */
static void expect_error(const char *text, const char *want)
{
    mf_error err = {0};
    mf_config *c = mf_config_load(write_file("c.lua", text), false, &err);
    cr_assert_null(c, "should fail: %s", text);
    cr_assert_not_null(strstr(err.msg, want), "error \"%s\" should contain \"%s\"", err.msg, want);
    cr_assert_not_null(strstr(err.msg, "c.lua"), "error \"%s\" names the file", err.msg);
}

TestSuite(config, .init = setup, .fini = teardown);

Test(config, defaults_and_values)
{
    mf_error err = {0};
    mf_config *c = mf_config_load(write_file("ok.lua",
        "return { log_level = 'debug', request_timeout_ms = 1500, providers = {\n"
        " { name = 'a', transport = 'stdio', command = { 'x' } },\n"
        " { name = 'b', transport = 'stdio', command = { 'y' }, prefix = false, timeout_ms = 9 },\n"
        " { name = 'c', transport = 'stdio', command = { 'z' }, prefix = 'zz' } } }"), false, &err);
    cr_assert_not_null(c, "%s", err.msg);
    cr_assert_eq(c->log_level, MF_LOG_DEBUG);
    cr_assert_eq(c->max_message_bytes, 4 * 1024 * 1024);
    cr_assert_eq(c->nproviders, 3);
    cr_assert_str_eq(c->providers[0].prefix, "a", "the prefix defaults to the name");
    cr_assert_eq(c->providers[0].timeout_ms, 1500, "the timeout defaults to request_timeout_ms");
    cr_assert_null(c->providers[1].prefix);
    cr_assert_eq(c->providers[1].timeout_ms, 9);
    cr_assert_str_eq(c->providers[2].prefix, "zz");
    cr_assert_null(json_object_get(c->providers[0].plugin_conf, "name"),
                   "the plugin sees only its own keys");
    cr_assert_not_null(json_object_get(c->providers[0].plugin_conf, "command"));
    mf_config_unref(c);
}

Test(config, unset_settings_take_their_documented_defaults)
{
    mf_error err = {0};
    mf_config *c = mf_config_load(
        write_file("d.lua", "return { providers = { { name = 'a', transport = 'stdio', command = { 'x' } } } }"),
        false, &err);
    cr_assert_not_null(c, "%s", err.msg);
    cr_assert_eq(c->request_timeout_ms, 60000, "a call may take a minute");
    cr_assert_eq(c->providers[0].timeout_ms, 60000, "a provider's deadline is the request timeout");
    cr_assert_eq(c->catalog_wait_ms, 10000);
    cr_assert_eq(c->max_message_bytes, 4194304);
    cr_assert_eq(c->page_size, 500);
    cr_assert_eq(c->max_processes, 1024);
    cr_assert_eq(c->shutdown_ms, 5000);
    cr_assert_eq(c->handover_timeout_ms, 5000);
    cr_assert_eq(c->drain_timeout_ms, 30000);
    cr_assert_eq(c->policy_instructions, 1000000);
    cr_assert_eq(c->policy_time_ms, 100);
    cr_assert_eq(c->policy_memory_bytes, 8388608);
    cr_assert(!c->watch_plugins);
    cr_assert_eq(c->log_level, MF_LOG_INFO);
    cr_assert_not_null(c->breaker, "breakers are on, with their own defaults");
    cr_assert_eq(c->providers[0].attempt_timeout_ms, 0);
    cr_assert(c->providers[0].weight == 1);
    cr_assert_eq(c->providers[0].health_interval_ms, 10000, "the health table's defaults, with no table");
    cr_assert_eq(c->providers[0].health_timeout_ms, 5000);
    cr_assert_eq(c->providers[0].health_failures, 3);
    cr_assert_eq(c->providers[0].health_successes, 1);
    mf_config_unref(c);
    c = mf_config_load(write_file("e.lua", "return { providers = { { name = 'a', transport = 'stdio', command = { 'x' },"
                                           " health = { failures = 5 } }, { name = 'b', transport = 'stdio',"
                                           " command = { 'x' }, health = false, weight = 2.5 } } }"), false, &err);
    cr_assert_not_null(c, "%s", err.msg);
    cr_assert_eq(c->providers[0].health_failures, 5);
    cr_assert_eq(c->providers[0].health_interval_ms, 10000, "unset keys of a table given keep their defaults");
    cr_assert_eq(c->providers[1].health_interval_ms, 0, "health = false turns the checks off");
    cr_assert(c->providers[1].weight == 2.5);
    mf_config_unref(c);
}

Test(config, embedded_default_loads)
{
    mf_error err = {0};
    mf_config *c = mf_config_load(NULL, false, &err);
    cr_assert_not_null(c, "%s", err.msg);
    mf_config_unref(c);
}

Test(config, configs_extend_each_other_with_dofile)
{
    write_file("base.lua", "return { log_level = 'warn', providers = { { name = 'a', transport = 'stdio', command = {'x'} } } }");
    mf_error err = {0};
    mf_config *c = mf_config_load(write_file("c.lua",
        "local base = dofile(mcpfed.config_dir .. '/base.lua')\n"
        "base.request_timeout_ms = 5\n"
        "table.insert(base.providers, { name = 'b', transport = 'stdio', command = {'y'} })\n"
        "return base"), false, &err);
    cr_assert_not_null(c, "%s", err.msg);
    cr_assert_eq(c->log_level, MF_LOG_WARN);
    cr_assert_eq(c->request_timeout_ms, 5);
    cr_assert_eq(c->nproviders, 2);
    mf_config_unref(c);
}

Test(config, the_lua_helpers_merge_configurations)
{
    write_file("base.lua", "return { log_level = 'warn', providers = { { name = 'a', transport = 'stdio', command = {'x'} } } }");
    mf_error err = {0};
    mf_config *c = mf_config_load(write_file("c.lua",
        "local config = require 'mcpfed.config'\n"
        "local base = dofile(mcpfed.config_dir .. '/base.lua')\n"
        "local out = config.extend(base, { request_timeout_ms = 7 })\n"
        "config.provider(out.providers, 'a').timeout_ms = 3\n"
        "return out"), false, &err);
    cr_assert_not_null(c, "%s", err.msg);
    cr_assert_eq(c->log_level, MF_LOG_WARN);
    cr_assert_eq(c->request_timeout_ms, 7);
    cr_assert_eq(c->providers[0].timeout_ms, 3);
    mf_config_unref(c);
}

Test(config, errors_name_the_key)
{
    expect_error("return { lisen = 1 }", "lisen: unknown key");
    expect_error("return { request_timeout_ms = 'soon' }", "request_timeout_ms: expected an integer");
    expect_error("return { request_timeout_ms = 0 }", "request_timeout_ms: expected an integer from 1 to 86400000, not 0");
    expect_error("return { max_message_bytes = 10 }", "max_message_bytes: expected an integer from 1024 to 4294967296, not 10");
    expect_error("return { log_level = 'loud' }", "log_level: \"loud\" is not one of");
    expect_error("return { plugin_dirs = 'x' }", "plugin_dirs: expected a list of strings");
    expect_error("return { providers = { name = 'x' } }", "providers: expected a list");
    expect_error("return { providers = { 3 } }", "providers[1]: expected a table");
    expect_error("return { providers = { { transport = 'stdio' } } }", "providers[1].name: missing");
    expect_error("return { providers = { { name = 'a' } } }", "providers[1].transport: missing");
    expect_error("return { providers = { { name = 'a b', transport = 'stdio' } } }", "providers[1].name:");
    expect_error("return { providers = { { name = 'a', transport = 'stdio' }, { name = 'a', transport = 'stdio' } } }",
                 "providers[2].name: \"a\" is already the name of providers[1]");
    expect_error("return { providers = { { name = 'a', transport = 'stdio', prefix = true } } }", "providers[1].prefix:");
    expect_error("return { providers = { { name = 'a', transport = 'stdio', timeout_ms = -1 } } }", "providers[1].timeout_ms:");
    expect_error("return { watch_plugins = 1 }", "watch_plugins: expected true or false");
    expect_error("return { http = 3 }", "http: expected a table of settings");
    expect_error("return { breaker = 'on' }", "breaker: expected a table of settings, or false");
    expect_error("return { providers = { { name = 'a', transport = 'stdio', weight = 0 } } }",
                 "providers[1].weight: expected a number above 0");
    expect_error("return { providers = { { name = 'a', transport = 'stdio' }, { name = 'b', transport = 'stdio',"
                 " health = { interval_ms = 5 } } } }",
                 "providers[2].health.interval_ms: expected an integer from 10 to 86400000, not 5");
    expect_error("return { providers = { { name = 'a', transport = 'stdio', health = { intervalms = 5 } } } }",
                 "providers[1].health.intervalms: unknown key");
    expect_error("return { providers = { { name = 'a', transport = 'stdio', health = 'on' } } }",
                 "providers[1].health: expected a table of settings, or false");
}

Test(config, lua_errors_and_shapes)
{
    expect_error("return {", "c.lua:1:");
    expect_error("error('custom failure')", "custom failure");
    expect_error("return 42", "must return a table");
    expect_error("return { log_level = print }", "log_level: a function is not a configuration value");
    expect_error("return { providers = { { name = 'a', transport = 'stdio', command = { 'x', y = 1 } } } }",
                 "providers[1].command: a table is either a list or a set of named keys");
    expect_error("local t = {}; t.self = t; return { plugins = t }", "nested too deeply");
}

Test(config, missing_file)
{
    mf_error err = {0};
    cr_assert_null(mf_config_load("/nonexistent/mcpfed.lua", false, &err));
    cr_assert_not_null(strstr(err.msg, "/nonexistent/mcpfed.lua: cannot open"), "%s", err.msg);
}

/* What a reload compares: providers by their table and breaker settings, whatever their
 * position; top-level keys by value; the settings only a restart changes stay as they run. */
Test(config, a_reload_compares_what_changed)
{
    mf_error err = {0};
    mf_config *a = mf_config_load(write_file("a.lua",
        "return { shutdown_ms = 100, page_size = 10, breaker = { minimum_calls = 5 }, providers = {\n"
        " { name = 'x', transport = 'stdio', command = { 'x' } },\n"
        " { name = 'y', transport = 'stdio', command = { 'y' } } } }"), false, &err);
    cr_assert_not_null(a, "%s", err.msg);
    mf_config *b = mf_config_load(write_file("b.lua",
        "return { shutdown_ms = 200, page_size = 20, breaker = { minimum_calls = 6 }, providers = {\n"
        " { name = 'y', transport = 'stdio', command = { 'y' }, breaker = { minimum_calls = 5 } },\n"
        " { name = 'x', transport = 'stdio', command = { 'x' }, env = { K = 'v' } } } }"), false, &err);
    cr_assert_not_null(b, "%s", err.msg);
    cr_assert(!mf_provider_conf_same(mf_config_provider(a, "x"), mf_config_provider(b, "x")), "its table differs");
    cr_assert(!mf_provider_conf_same(mf_config_provider(a, "y"), mf_config_provider(b, "y")),
              "its table differs, though its breaker settings add up the same");
    cr_assert(mf_provider_conf_same(mf_config_provider(a, "x"), mf_config_provider(a, "x")));
    cr_assert(!mf_config_key_same(a, b, "page_size"));
    cr_assert(mf_config_key_same(a, b, "listen"), "absent in both");

    mf_config_keep_fixed(b, a);
    cr_assert_eq(b->shutdown_ms, 100, "the running value stays");
    cr_assert_eq(b->page_size, 20, "what applies live is not touched");
    cr_assert(mf_config_key_same(a, b, "shutdown_ms"), "the table says what runs");

    cr_assert_eq(mf_config_ref(a), a);
    mf_config_unref(a);
    cr_assert_eq(a->refs, 1, "a reference dropped, the configuration stays");
    mf_config_unref(a);
    mf_config_unref(b);
}

Test(config, curation_filters_and_endpoint_keys)
{
    mf_error err = {0};
    mf_config *c = mf_config_load(write_file("cur.lua",
        "return { listen = { { url = 'http://127.0.0.1:0/ops', providers = { 'a' }, tools = { exclude = { '*x*' } },\n"
        "                      max_sessions = 5 }, 'http://127.0.0.1:0/mcp' },\n"
        " providers = { { name = 'a', transport = 'stdio', command = { 'x' },\n"
        "   tools = { include = { 'read_*', 'search' }, exclude = { 'read_secret*' } },\n"
        "   resources = { include = { 'file:///docs/*' } }, rename = { search = 'find' },\n"
        "   annotations = { search = { readOnlyHint = true } } } } }"), false, &err);
    cr_assert_not_null(c, "%s", err.msg);
    const mf_provider_conf *p = &c->providers[0];
    const mf_filter *t = &p->filter[MF_FILTER_TOOLS];
    cr_assert(mf_filter_admits(t, "read_file"));
    cr_assert(mf_filter_admits(t, "search"));
    cr_assert_not(mf_filter_admits(t, "searches"), "a glob matches the whole name");
    cr_assert_not(mf_filter_admits(t, "read_secret_key"), "exclude wins over include");
    cr_assert_not(mf_filter_admits(t, "delete"), "with include, what matches none is out");
    cr_assert(mf_filter_admits(&p->filter[MF_FILTER_PROMPTS], "anything"), "no filter: everything");
    cr_assert(mf_filter_admits(&p->filter[MF_FILTER_RESOURCES], "file:///docs/a/b.md"), "* matches / too");
    cr_assert_str_eq(json_string_value(json_object_get(p->rename, "search")), "find");
    cr_assert_null(json_object_get(p->plugin_conf, "tools"), "curation keys are the kernel's");
    cr_assert_null(json_object_get(p->plugin_conf, "rename"));
    const mf_listener_conf *l = &c->listeners[0];
    cr_assert(l->curated);
    cr_assert_str_eq(l->providers[0], "a");
    cr_assert_null(l->providers[1]);
    cr_assert_not(mf_filter_admits(&l->filter[MF_FILTER_TOOLS], "a__fix"));
    cr_assert_null(json_object_get(l->plugin_conf, "providers"), "the transport gets its own keys");
    cr_assert_null(json_object_get(l->plugin_conf, "tools"));
    cr_assert_not_null(json_object_get(l->plugin_conf, "max_sessions"));
    cr_assert_not(c->listeners[1].curated);
    mf_config_unref(c);

    expect_error("return { providers = { { name = 'a', transport = 'stdio', annotations = { x = 3 } } } }",
                 "providers[1].annotations.x: expected a table of annotations");
    expect_error("return { providers = { { name = 'a', transport = 'stdio', rename = { x = '' } } } }",
                 "providers[1].rename.x: the new name must not be empty");
    expect_error("return { providers = { { name = 'a', transport = 'stdio', tools = { only = { 'x' } } } } }",
                 "providers[1].tools.only");
    expect_error("return { listen = { { url = 'http://127.0.0.1:1/a', providers = { 'nope' } } } }",
                 "listen[1].providers: no provider is named \"nope\"");
}
