/* The declarative settings checker (mcpfed/settings.h): types, bounds, choices, unknown
 * and required keys, nested paths, defaults filled, and the description --help-config prints. */
#include "harness.h"
#include "config.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct conf {
    const char *mode;
    int level;
    int64_t timeout_ms, size, count;
    double rate;
    bool on;
    const json_t *names, *codes, *env, *restart, *items, *extra;
    int64_t restart_min_ms;
    const char *restart_type;
} conf;

static const char *const levels[] = {"low", "mid", "high", NULL};

static const mf_setting restart_keys[] = {
    {"min_ms", MF_SET_DURATION, .def = "100", .min = 1, .max = 3600000, .at = MF_AT(conf, restart_min_ms),
     .doc = "first delay"},
    {"type", MF_SET_STRING, .def = "permanent", .choices = (const char *const[]){"permanent", "temporary", NULL},
     .at = MF_AT(conf, restart_type), .doc = "when"},
    {0},
};

static const mf_setting item_keys[] = {
    {"name", MF_SET_STRING, MF_SET_REQUIRED, .doc = "its name"},
    {"timeout_ms", MF_SET_DURATION, .min = 1, .max = 600000, .doc = "its deadline"},
    {0},
};

static const mf_setting table[] = {
    {"mode", MF_SET_STRING, .def = "auto", .at = MF_AT(conf, mode), .doc = "a string"},
    {"level", MF_SET_ENUM, .def = "mid", .choices = levels, .at = MF_AT(conf, level), .doc = "an enum"},
    {"timeout_ms", MF_SET_DURATION, .def = "5000", .min = 1, .max = 600000, .at = MF_AT(conf, timeout_ms),
     .doc = "a duration"},
    {"size", MF_SET_BYTES, .def = "4096", .min = 1024, .max = INT64_C(1) << 32, .at = MF_AT(conf, size),
     .doc = "bytes"},
    {"count", MF_SET_INT, .min = 0, .max = 10, .at = MF_AT(conf, count), .doc = "no default"},
    {"rate", MF_SET_NUMBER, MF_SET_ABOVE_MIN, .def = "50", .nmin = 0, .nmax = 100, .at = MF_AT(conf, rate),
     .doc = "a percentage"},
    {"on", MF_SET_BOOL, .def = "true", .at = MF_AT(conf, on), .doc = "a switch"},
    {"names", MF_SET_STRINGS, MF_SET_NONEMPTY, .max = 3, .at = MF_AT(conf, names), .doc = "strings"},
    {"codes", MF_SET_INTS, .def = "{ -32603 }", .at = MF_AT(conf, codes), .doc = "integers"},
    {"env", MF_SET_MAP, .def = "{}", .at = MF_AT(conf, env), .doc = "a map"},
    {"restart", MF_SET_TABLE, MF_SET_OR_FALSE, .def = "{}", .sub = restart_keys, .at = MF_AT(conf, restart),
     .doc = "a nested table"},
    {"items", MF_SET_LIST, .def = "{}", .sub = item_keys, .at = MF_AT(conf, items), .doc = "a list of tables"},
    {"extra", MF_SET_VALUE, .def_doc = "the mode", .at = MF_AT(conf, extra), .doc = "anything"},
    {0},
};

/* Check the JSON text; return the error message ("" for none). */
static const char *run(const char *text, conf *c)
{
    static mf_error err;
    memset(&err, 0, sizeof err);
    json_error_t jerr;
    json_t *obj = json_loads(text, 0, &jerr);
    cr_assert_not_null(obj, "%s: %s", text, jerr.text);
    memset(c, 0, sizeof *c);
    c->count = 77;   /* no default: left as it was */
    int rc = mf_settings_check(obj, "p[2]", table, c, &err);
    cr_assert_eq(rc, err.msg[0] ? -1 : 0, "rc %d with message \"%s\"", rc, err.msg);
    json_decref(obj);   /* the strings stored are the object's: only rc and the message are used after */
    return err.msg;
}

static void expect(const char *text, const char *want)
{
    conf c;
    const char *got = run(text, &c);
    cr_assert_str_eq(got, want, "for %s", text);
}

Test(settings, defaults_are_filled_also_in_nested_tables)
{
    conf c;
    json_t *empty = json_object();
    cr_assert_eq(mf_settings_check(empty, "", table, &c, NULL), 0);
    memset(&c, 0, sizeof c);
    c.count = 77;
    cr_assert_eq(mf_settings_check(empty, "", table, &c, NULL), 0);
    cr_assert_str_eq(c.mode, "auto");
    cr_assert_eq(c.level, 1);
    cr_assert_eq(c.timeout_ms, 5000);
    cr_assert_eq(c.size, 4096);
    cr_assert_eq(c.count, 77, "a key without default leaves the field alone");
    cr_assert(fabs(c.rate - 50) < 1e-9);
    cr_assert(c.on);
    cr_assert_null(c.names);
    cr_assert_null(c.restart);
    cr_assert_eq(c.restart_min_ms, 100, "a nested table's default, with the table absent");
    cr_assert_str_eq(c.restart_type, "permanent");
    /* NULL, or Lua's empty table (an empty list), count as an empty table */
    json_t *lua_empty = json_array();
    memset(&c, 0, sizeof c);
    cr_assert_eq(mf_settings_check(lua_empty, "", table, &c, NULL), 0);
    cr_assert_eq(c.timeout_ms, 5000);
    memset(&c, 0, sizeof c);
    cr_assert_eq(mf_settings_check(NULL, "", table, &c, NULL), 0);
    cr_assert_eq(c.size, 4096);
    json_decref(empty);
    json_decref(lua_empty);
}

Test(settings, values_are_stored)
{
    json_t *obj = json_loads("{\"mode\":\"x\",\"level\":\"high\",\"timeout_ms\":7,\"size\":2048,\"count\":0,"
                             "\"rate\":12.5,\"on\":false,\"names\":[\"a\"],\"codes\":[1,2],\"env\":{\"A\":\"1\"},"
                             "\"restart\":{\"min_ms\":9,\"type\":\"temporary\"},\"items\":[{\"name\":\"i\"}],"
                             "\"extra\":[1]}", 0, NULL);
    cr_assert_not_null(obj);
    conf c = {0};
    mf_error err = {0};
    cr_assert_eq(mf_settings_check(obj, "", table, &c, &err), 0, "%s", err.msg);
    cr_assert_str_eq(c.mode, "x");
    cr_assert_eq(c.level, 2);
    cr_assert_eq(c.timeout_ms, 7);
    cr_assert_eq(c.size, 2048);
    cr_assert_eq(c.count, 0);
    cr_assert(fabs(c.rate - 12.5) < 1e-9);
    cr_assert(!c.on);
    cr_assert_eq(c.names, json_object_get(obj, "names"));
    cr_assert_eq(json_array_size(c.codes), 2);
    cr_assert_str_eq(json_string_value(json_object_get(c.env, "A")), "1");
    cr_assert_eq(c.restart, json_object_get(obj, "restart"));
    cr_assert_eq(c.restart_min_ms, 9);
    cr_assert_str_eq(c.restart_type, "temporary");
    cr_assert_eq(json_array_size(c.items), 1);
    cr_assert(json_is_array(c.extra));
    json_decref(obj);
}

Test(settings, types_are_checked)
{
    expect("{\"mode\":1}", "p[2].mode: expected a string");
    expect("{\"level\":\"top\"}", "p[2].level: \"top\" is not one of low, mid, high");
    expect("{\"timeout_ms\":\"soon\"}", "p[2].timeout_ms: expected an integer from 1 to 600000");
    expect("{\"timeout_ms\":1.5}", "p[2].timeout_ms: expected an integer from 1 to 600000");
    expect("{\"rate\":\"x\"}", "p[2].rate: expected a number above 0, at most 100");
    expect("{\"on\":1}", "p[2].on: expected true or false");
    expect("{\"names\":\"a\"}", "p[2].names: expected a non-empty list of strings (at most 3)");
    expect("{\"names\":[\"a\",2]}", "p[2].names[2]: expected a string");
    expect("{\"codes\":[\"x\"]}", "p[2].codes[1]: expected an integer");
    expect("{\"codes\":{\"a\":1}}", "p[2].codes: expected a list of integers");
    expect("{\"env\":[\"A=1\"]}", "p[2].env: expected a map of names to strings");
    expect("{\"env\":{\"A\":1}}", "p[2].env.A: expected a string");
    expect("{\"restart\":\"x\"}", "p[2].restart: expected a table of settings, or false");
    expect("{\"items\":{\"name\":\"x\"}}", "p[2].items: expected a list of tables");
    expect("{\"items\":[3]}", "p[2].items[1]: expected a table");
    expect("{\"extra\":null,\"mode\":\"m\"}", "");
}

Test(settings, bounds_are_checked)
{
    expect("{\"timeout_ms\":0}", "p[2].timeout_ms: expected an integer from 1 to 600000, not 0");
    expect("{\"timeout_ms\":600001}", "p[2].timeout_ms: expected an integer from 1 to 600000, not 600001");
    expect("{\"timeout_ms\":600000}", "");
    expect("{\"size\":1023}", "p[2].size: expected an integer from 1024 to 4294967296, not 1023");
    expect("{\"rate\":0}", "p[2].rate: expected a number above 0, at most 100");
    expect("{\"rate\":100.5}", "p[2].rate: expected a number above 0, at most 100");
    expect("{\"rate\":100}", "");
    expect("{\"names\":[]}", "p[2].names: expected a non-empty list of strings (at most 3)");
    expect("{\"names\":[\"a\",\"b\",\"c\",\"d\"]}", "p[2].names: expected a non-empty list of strings (at most 3)");
}

Test(settings, unknown_and_required_keys_are_named_with_their_path)
{
    expect("{\"mdoe\":\"x\"}", "p[2].mdoe: unknown key");
    expect("{\"restart\":{\"typ\":\"x\"}}", "p[2].restart.typ: unknown key");
    expect("{\"restart\":{\"min_ms\":0}}", "p[2].restart.min_ms: expected an integer from 1 to 3600000, not 0");
    expect("{\"restart\":{\"type\":\"always\"}}", "p[2].restart.type: \"always\" is not one of permanent, temporary");
    expect("{\"items\":[{\"name\":\"a\"},{\"timeout_ms\":3}]}", "p[2].items[2].name: missing (a string is required)");
    expect("{\"items\":[{\"name\":\"a\",\"timeout_ms\":0}]}",
           "p[2].items[1].timeout_ms: expected an integer from 1 to 600000, not 0");
    expect("{\"items\":[{\"name\":\"a\",\"x\":0}]}", "p[2].items[1].x: unknown key");
    /* at the top, a key is named alone */
    mf_error err = {0};
    json_t *obj = json_pack("{s:i}", "lisen", 1);
    cr_assert_eq(mf_settings_check(obj, "", table, NULL, &err), -1);
    cr_assert_str_eq(err.msg, "lisen: unknown key");
    json_decref(obj);
    obj = json_pack("[i]", 1);
    cr_assert_eq(mf_settings_check(obj, "p[2]", table, NULL, &err), -1);
    cr_assert_str_eq(err.msg, "p[2]: expected a table of settings");
    json_decref(obj);
}

Test(settings, false_turns_a_table_off_and_keeps_its_defaults)
{
    conf c;
    cr_assert_str_eq(run("{\"restart\":false}", &c), "");
    cr_assert(json_is_false(c.restart));
    cr_assert_eq(c.restart_min_ms, 100);
}

Test(settings, a_table_may_leave_other_keys_to_another)
{
    static const mf_setting open_table[] = {
        {"name", MF_SET_STRING, MF_SET_REQUIRED, .doc = "n"},
        {.type = MF_SET_OTHERS, .doc = "the plugin's"},
        {0},
    };
    json_t *obj = json_pack("{s:s,s:i}", "name", "a", "command", 1);
    mf_error err = {0};
    cr_assert_eq(mf_settings_check(obj, "p", open_table, NULL, &err), 0, "%s", err.msg);
    json_decref(obj);
    cr_assert_not_null(mf_settings_find(open_table, "name"));
    cr_assert_null(mf_settings_find(open_table, "command"));
}

Test(settings, the_description_lists_every_key_with_its_default_and_bounds)
{
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    mf_settings_describe(f, "test", table);
    fclose(f);
    cr_assert_not_null(strstr(text, "[test]\n"), "%s", text);
    cr_assert_not_null(strstr(text, "\nmode\tstring\t\"auto\"\t-\ta string\n"), "%s", text);
    cr_assert_not_null(strstr(text, "\nlevel\tstring\t\"mid\"\tone of low, mid, high\tan enum\n"), "%s", text);
    cr_assert_not_null(strstr(text, "\ntimeout_ms\tduration (ms)\t5000\t1..600000\ta duration\n"), "%s", text);
    cr_assert_not_null(strstr(text, "\ncount\tinteger\tnone\t0..10\tno default\n"), "%s", text);
    cr_assert_not_null(strstr(text, "\nrate\tnumber\t50\t>0..100\ta percentage\n"), "%s", text);
    cr_assert_not_null(strstr(text, "\nrestart\ttable\t{}\tor false\ta nested table\n"), "%s", text);
    cr_assert_not_null(strstr(text, "\nrestart.min_ms\tduration (ms)\t100\t1..3600000\tfirst delay\n"), "%s", text);
    cr_assert_not_null(strstr(text, "\nextra\tvalue\tthe mode\t-\tanything\n"), "%s", text);
    free(text);
}
