/* SEP-2243: the arguments a tool mirrors in Mcp-Param-<Name> headers. */
#include "harness.h"
#include "param_headers.h"

#include <string.h>

static json_t *tool(const char *schema)
{
    json_t *s = json_loads(schema, 0, NULL);
    cr_assert_not_null(s, "schema parses");
    return json_pack("{s:s,s:o}", "name", "t", "inputSchema", s);
}

static const char *const schema =
    "{\"type\":\"object\",\"properties\":{"
    "\"region\":{\"type\":\"string\",\"x-mcp-header\":\"Region\"},"
    "\"n\":{\"type\":\"integer\",\"x-mcp-header\":\"N\"},"
    "\"on\":{\"type\":\"boolean\",\"x-mcp-header\":\"On\"},"
    "\"where\":{\"type\":\"object\",\"properties\":{\"zone\":{\"type\":\"string\",\"x-mcp-header\":\"Zone\"}}},"
    "\"list\":{\"type\":\"array\",\"items\":{\"type\":\"string\",\"x-mcp-header\":\"Item\"}},"
    "\"bad\":{\"type\":\"string\",\"x-mcp-header\":\"X\\r\\nInjected: 1\"},"
    "\"plain\":{\"type\":\"string\"}}}";

/* not under items, and not under a name that is no header name */
Test(param_headers, values_as_text_through_properties_only)
{
    json_t *t = tool(schema);
    json_t *args = json_loads("{\"region\":\"eu\",\"n\":42,\"on\":false,\"where\":{\"zone\":\"b\"},"
                              "\"list\":[\"x\"],\"bad\":\"b\",\"plain\":\"p\"}", 0, NULL);
    json_t *h = mf_param_headers(t, args);
    json_t *want = json_loads("{\"Region\":\"eu\",\"N\":\"42\",\"On\":\"false\",\"Zone\":\"b\"}", 0, NULL);
    cr_assert(json_equal(h, want), "%s", json_dumps(h, JSON_COMPACT));
    json_decref(h);
    json_decref(want);
    json_decref(args);
    /* absent and null arguments are not mirrored; no declaration, no headers */
    args = json_loads("{\"region\":null}", 0, NULL);
    cr_assert_null(mf_param_headers(t, args));
    json_decref(args);
    json_t *bare = tool("{\"type\":\"object\",\"properties\":{\"a\":{\"type\":\"string\"}}}");
    json_t *none = json_object();
    cr_assert_null(mf_param_headers(bare, none));
    json_decref(none);
    json_decref(bare);
    json_decref(t);
}

static bool agree(const json_t *t, const char *args, const char *given, char *why)
{
    json_t *a = json_loads(args, 0, NULL), *g = json_loads(given, 0, NULL);
    bool ok = mf_param_headers_agree(t, a, g, why, 200);
    json_decref(a);
    json_decref(g);
    return ok;
}

Test(param_headers, headers_must_mirror_the_arguments)
{
    json_t *t = tool(schema);
    char why[200];
    cr_assert(agree(t, "{\"region\":\"eu\",\"n\":42}", "{\"region\":\"eu\",\"n\":\"42.0\"}", why),
              "integers compare as numbers");
    cr_assert(agree(t, "{\"plain\":\"p\"}", "{\"other\":\"x\"}", why), "nothing declared is sent: nothing to check");
    cr_assert(agree(t, "{\"where\":{\"zone\":\"b\"}}", "{\"zone\":\"b\"}", why), "nested");
    cr_assert_not(agree(t, "{\"region\":\"eu\"}", "{}", why));
    cr_assert(strstr(why, "Mcp-Param-Region") && strstr(why, "absent"), "%s", why);
    cr_assert_not(agree(t, "{\"region\":\"eu\"}", "{\"region\":null}", why));
    cr_assert(strstr(why, "malformed"), "%s", why);
    cr_assert_not(agree(t, "{\"region\":\"eu\"}", "{\"region\":\"EU\"}", why), "values are case-sensitive");
    cr_assert_not(agree(t, "{\"on\":true}", "{\"on\":\"1\"}", why), "booleans are true or false");
    cr_assert_not(agree(t, "{\"n\":42}", "{\"n\":\"0x2a\"}", why), "a number in another notation");
    json_decref(t);
}
