/* JSON-RPC parsing and classification. */
#include "harness.h"

#include <string.h>

static mf_rpc_kind kind_of(const char *text, json_t **reply)
{
    json_t *v = mf_rpc_parse(text, strlen(text), reply);
    cr_assert_not_null(v, "%s should parse", text);
    mf_rpc_kind k = mf_rpc_classify(v, reply);
    json_decref(v);
    return k;
}

static int error_code(json_t *reply)
{
    return (int)json_integer_value(json_object_get(json_object_get(reply, "error"), "code"));
}

Test(rpc, parse_error_is_answered_with_null_id)
{
    json_t *reply = NULL;
    cr_assert_null(mf_rpc_parse("{nope", 5, &reply));
    cr_assert_eq(error_code(reply), MF_RPC_PARSE_ERROR);
    cr_assert(json_is_null(json_object_get(reply, "id")));
    json_decref(reply);
}

Test(rpc, kinds)
{
    json_t *r = NULL;
    cr_assert_eq(kind_of("{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"ping\"}", &r), MF_RPC_REQUEST);
    cr_assert_eq(kind_of("{\"jsonrpc\":\"2.0\",\"id\":\"a\",\"method\":\"x\",\"params\":{}}", &r), MF_RPC_REQUEST);
    cr_assert_eq(kind_of("{\"jsonrpc\":\"2.0\",\"method\":\"notifications/x\"}", &r), MF_RPC_NOTIFICATION);
    cr_assert_eq(kind_of("{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{}}", &r), MF_RPC_RESPONSE);
    cr_assert_eq(kind_of("{\"jsonrpc\":\"2.0\",\"id\":1,\"error\":{\"code\":1,\"message\":\"m\"}}", &r), MF_RPC_RESPONSE);
    cr_assert_eq(kind_of("{\"jsonrpc\":\"2.0\",\"error\":{\"code\":-32000,\"message\":\"no id\"}}", &r), MF_RPC_RESPONSE,
                 "an error about a request whose id could not be read");
}

Test(rpc, invalid_requests_get_minus_32600_with_their_id)
{
    static const char *const bad[] = {
        "[]", "[1,2]", "3", "\"s\"", "{}", "{\"jsonrpc\":\"1.0\",\"id\":1,\"method\":\"x\"}",
        "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":5}", "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"\"}",
        "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"x\",\"params\":3}",
        "{\"jsonrpc\":\"2.0\",\"id\":{},\"method\":\"x\"}", "{\"jsonrpc\":\"2.0\",\"id\":null,\"method\":\"x\"}",
        "{\"jsonrpc\":\"2.0\",\"id\":1}", "{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":1,\"error\":{}}",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        json_t *reply = NULL;
        cr_assert_eq(kind_of(bad[i], &reply), MF_RPC_BAD, "%s", bad[i]);
        cr_assert_not_null(reply, "%s gets an answer", bad[i]);
        cr_assert_eq(error_code(reply), MF_RPC_INVALID_REQUEST, "%s", bad[i]);
        json_decref(reply);
    }
    json_t *reply = NULL;
    kind_of("{\"jsonrpc\":\"1.0\",\"id\":\"k\",\"method\":\"x\"}", &reply);
    cr_assert_str_eq(json_string_value(json_object_get(reply, "id")), "k", "the id is echoed");
    json_decref(reply);
    kind_of("{\"jsonrpc\":\"2.0\",\"id\":[1],\"method\":\"x\"}", &reply);
    cr_assert(json_is_null(json_object_get(reply, "id")), "an invalid id is not echoed");
    json_decref(reply);
}

Test(rpc, dump_is_one_line)
{
    json_t *v = json_pack("{s:s}", "text", "a\nb\r\nc");
    size_t len;
    char *s = mf_rpc_dump(v, &len);
    cr_assert_null(memchr(s, '\n', len));
    cr_assert_eq(strlen(s), len);
    free(s);
    json_decref(v);
}

/* The writer copies a string in runs up to the next byte that needs a look: each such
 * byte, at every place in a string, is written as jansson writes it (or refused with it,
 * when it is not UTF-8). */
Test(rpc, dump_escapes_every_special_byte_wherever_it_falls)
{
    static const char *const specials[] = {"\x01", "\x1f", "\"", "\\", "\n", "\x7f", "\xc3\xa9",
                                           "\xe2\x82\xac", "\xf0\x9f\x98\x80", "\xff", "\xc3", " ", "\x20\x21"};
    for (size_t k = 0; k < sizeof specials / sizeof *specials; k++) {
        for (size_t at = 0; at <= 24; at++) {
            char buf[64];
            size_t sl = strlen(specials[k]);
            memset(buf, 'a', at);
            memcpy(buf + at, specials[k], sl);
            memset(buf + at + sl, 'b', 24 - at);
            size_t n = at + sl + 24 - at;
            json_t *v = json_stringn_nocheck(buf, n);
            size_t len = 7;
            char *ours = mf_rpc_dump(v, &len), *theirs = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
            cr_assert_eq(ours == NULL, theirs == NULL, "special %zu at %zu", k, at);
            if (ours)
                cr_assert_str_eq(ours, theirs, "special %zu at %zu", k, at);
            cr_assert_eq(len, ours ? strlen(ours) : 0);
            free(ours);
            free(theirs);
            json_decref(v);
        }
    }
    /* a NUL inside, and the three escapes at once in one word */
    json_t *v = json_stringn_nocheck("abc\0def\"\\\x02ghijklmnop", 20);
    char *ours = mf_rpc_dump(v, NULL), *theirs = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
    cr_assert_str_eq(ours, theirs);
    free(ours);
    free(theirs);
    json_decref(v);
}

Test(rpc, results_keep_the_id_type)
{
    json_t *sid = json_string("7"), *nid = json_integer(7);
    json_t *a = mf_rpc_result(sid, NULL), *b = mf_rpc_errorf(nid, -1, "x%d", 1);
    cr_assert(json_is_string(json_object_get(a, "id")));
    cr_assert(json_is_integer(json_object_get(b, "id")));
    cr_assert_str_eq(json_string_value(json_object_get(json_object_get(b, "error"), "message")), "x1");
    json_decref(a);
    json_decref(b);
    json_decref(sid);
    json_decref(nid);
}

Test(rpc, an_id_map_is_saved_and_adopted_with_its_keys)
{
    mf_idmap m = {0};
    json_t *a = json_string("a"), *b = json_integer(7);
    uint64_t ka = mf_idmap_put(&m, a), kb = mf_idmap_put(&m, b);
    cr_assert(mf_idmap_has(&m, ka) && mf_idmap_has(&m, kb) && !mf_idmap_has(&m, kb + 1));
    json_t *saved = mf_idmap_save(&m);
    mf_idmap next = {0};
    cr_assert_eq(mf_idmap_adopt(&next, saved), 0);
    json_t *got = mf_idmap_take(&next, kb);
    cr_assert(json_equal(got, b), "the id comes back under its key");
    json_decref(got);
    cr_assert_gt(mf_idmap_put(&next, a), kb, "a new key comes after the adopted ones");
    json_t *bad = json_pack("[[s,s]]", "x", "y");
    mf_idmap scratch = {0};
    cr_assert_neq(mf_idmap_adopt(&scratch, bad), 0, "a key that is no number is refused");
    json_t *obj = json_object();
    cr_assert_neq(mf_idmap_adopt(&scratch, obj), 0);
    json_decref(obj);
    json_decref(bad);
    mf_idmap_clear(&scratch);
    mf_idmap_clear(&next);
    mf_idmap_clear(&m);
    json_decref(saved);
    json_decref(a);
    json_decref(b);
}

Test(rpc, a_growable_buffer_stays_terminated)
{
    char *data = NULL;
    size_t len = 0, cap = 0;
    mf_buf_append(&data, &len, &cap, "", 0);
    cr_assert_str_eq(data, "");
    for (int i = 0; i < 1000; i++)
        mf_buf_append(&data, &len, &cap, "abc", 3);
    cr_assert_eq(len, 3000);
    cr_assert_geq(cap, 3001);
    cr_assert_eq(data[2999], 'c');
    cr_assert_eq(data[3000], '\0');
    free(data);
}
