/* The result cache plugin's parts: canonical keys (plugins/cache/canon.c) and the entries
 * with their time to live, LRU order and byte cap (plugins/cache/store.c), on a fake clock;
 * and the state a hot swap hands over, read back, and read robustly when it is not what it
 * should be. */
#include <criterion/criterion.h>
#include "../../plugins/cache/canon.h"
#include "../../plugins/cache/store.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The key of tool with the arguments given as JSON text. */
static char *key_of(const char *tool, const char *args, size_t *len)
{
    json_error_t e;
    json_t *a = args ? json_loads(args, JSON_DECODE_ANY, &e) : NULL;
    cr_assert(!args || a, "bad test JSON %s: %s", args, e.text);
    char *k = cache_canon_key(tool, a, len);
    json_decref(a);
    return k;
}

static void same_key(const char *x, const char *y)
{
    size_t lx, ly;
    char *kx = key_of("t", x, &lx), *ky = key_of("t", y, &ly);
    cr_assert(kx && ky);
    cr_expect(lx == ly && memcmp(kx, ky, lx) == 0, "%s and %s: keys %s and %s", x, y, kx + 2, ky + 2);
    free(kx);
    free(ky);
}

static void other_key(const char *x, const char *y)
{
    size_t lx, ly;
    char *kx = key_of("t", x, &lx), *ky = key_of("t", y, &ly);
    cr_assert(kx && ky);
    cr_expect(lx != ly || memcmp(kx, ky, lx) != 0, "%s and %s share key %s", x, y, kx + 2);
    free(kx);
    free(ky);
}

Test(canon, key_order_and_whitespace_do_not_matter)
{
    same_key("{\"a\":1,\"b\":2}", "{ \"b\" : 2 ,\n\t\"a\" : 1 }");
    same_key("{\"o\":{\"z\":[1,{\"y\":1,\"x\":2}],\"a\":null}}", "{\"o\":{\"a\":null,\"z\":[1,{\"x\":2,\"y\":1}]}}");
}

Test(canon, number_spelling_does_not_matter)
{
    same_key("{\"n\":1}", "{\"n\":1.0}");
    same_key("{\"n\":1}", "{\"n\":1e0}");
    same_key("{\"n\":100}", "{\"n\":1E2}");
    same_key("{\"n\":1.5}", "{\"n\":15e-1}");
    same_key("{\"n\":0.1}", "{\"n\":1e-1}");
    same_key("{\"n\":[2.50,3]}", "{\"n\":[25e-1,3.000]}");
    same_key("{\"n\":-7}", "{\"n\":-7.0}");
    /* JSON does not tell -0 from 0; neither does the key */
    same_key("{\"n\":0}", "{\"n\":-0}");
    same_key("{\"n\":0}", "{\"n\":-0.0}");
    /* reals too large for an integer keep one spelling per double */
    same_key("{\"n\":1e300}", "{\"n\":10e299}");
}

Test(canon, different_values_are_different_keys)
{
    other_key("{\"n\":1}", "{\"n\":\"1\"}");
    other_key("{\"n\":1}", "{\"n\":1.5}");
    other_key("{\"n\":1}", "{\"n\":true}");
    other_key("{\"n\":[1,2]}", "{\"n\":[2,1]}");
    other_key("{\"n\":null}", "{}");
    other_key("{\"n\":0.1}", "{\"n\":0.10000000000000002}");
    size_t l1, l2;
    char *a = key_of("a", "{}", &l1), *b = key_of("b", "{}", &l2);
    cr_expect(l1 == l2 && memcmp(a, b, l1) != 0, "the tool is part of the key");
    free(a);
    free(b);
}

Test(canon, no_arguments_are_an_empty_object_and_others_are_refused)
{
    size_t l1, l2;
    char *a = key_of("t", NULL, &l1), *b = key_of("t", "{}", &l2);
    cr_assert(a && b);
    cr_expect(l1 == l2 && memcmp(a, b, l1) == 0);
    cr_expect_str_eq(a, "t");
    cr_expect_str_eq(a + 2, "{}");
    free(a);
    free(b);
    size_t l;
    cr_expect_null(key_of("t", "[1]", &l));
    cr_expect_null(key_of("t", "\"s\"", &l));
}

/* --- entries ----------------------------------------------------------------------------- */

static json_t *result_of(size_t bytes)
{
    char *text = malloc(bytes + 1);
    memset(text, 'x', bytes);
    text[bytes] = 0;
    json_t *r = json_pack("{s:[{s:s,s:s}]}", "content", "type", "text", "text", text);
    free(text);
    return r;
}

/* The key of tool "tool" with arguments k, as canon.c makes them: "tool", NUL, k. */
static size_t key(char *buf, const char *k)
{
    memcpy(buf, "tool", 5);
    snprintf(buf + 5, 64, "%s", k);
    return 5 + strlen(k);
}

static void put(cstore *c, const char *k, size_t bytes, uint64_t ttl, uint64_t now)
{
    char buf[80];
    json_t *r = result_of(bytes);
    cs_put(c, buf, key(buf, k), "tool", r, ttl, now);
    json_decref(r);
}

static bool has(cstore *c, const char *k, uint64_t now)
{
    char buf[80];
    json_t *r = cs_get(c, buf, key(buf, k), now);
    json_decref(r);
    return r != NULL;
}

static json_int_t fig(cstore *c, const char *name, uint64_t now)
{
    json_t *st = cs_status(c, now);
    json_int_t v = json_integer_value(json_object_get(st, name));
    json_decref(st);
    return v;
}

Test(store, hit_miss_and_expiry)
{
    cstore *c = cs_new(1 << 20);
    cr_expect_not(has(c, "a", 0));
    put(c, "a", 10, 100, 0);
    cr_expect(has(c, "a", 99));
    cr_expect_not(has(c, "a", 100), "expired at its time to live");
    cr_expect_eq(cs_entries(c), 0);
    cr_expect_eq(fig(c, "hits", 100), 1);
    cr_expect_eq(fig(c, "misses", 100), 2);
    cr_expect_eq(fig(c, "expired", 100), 1);
    put(c, "b", 10, 0, 0);
    cr_expect_eq(cs_entries(c), 0, "no time to live: not kept");
    cs_free(c);
}

Test(store, lru_under_the_byte_cap)
{
    cstore *c = cs_new(1 << 20);
    put(c, "a", 200, 1000, 0);
    uint64_t one = cs_bytes(c);
    cr_assert(one > 200 && one < 400, "an entry costs its key, its result and a little (%llu)", (unsigned long long)one);
    cs_set_cap(c, 3 * one + 10);   /* room for three */
    put(c, "b", 200, 1000, 0);
    put(c, "c", 200, 1000, 0);
    cr_expect_eq(cs_entries(c), 3);
    cr_expect(has(c, "a", 1));        /* a is now the most recently used: b is the least */
    put(c, "d", 200, 1000, 2);
    cr_expect_leq(cs_bytes(c), 3 * one + 10);
    cr_expect_not(has(c, "b", 3), "the least recently used went");
    cr_expect(has(c, "a", 3));
    cr_expect(has(c, "c", 3));
    cr_expect(has(c, "d", 3));
    cr_expect_eq(fig(c, "evictions", 3), 1);
    /* a result larger than the cap is not kept, and evicts nothing */
    put(c, "huge", 5000, 1000, 4);
    cr_expect_eq(cs_entries(c), 3);
    /* a lower cap evicts at once, least recently used first (a, then c, then d were read) */
    cs_set_cap(c, 2 * one + 10);
    cr_expect_eq(cs_entries(c), 2);
    cr_expect_not(has(c, "a", 5));
    cr_expect(has(c, "d", 5));
    cs_free(c);
}

Test(store, replacing_a_key_keeps_the_count_right)
{
    cstore *c = cs_new(1 << 20);
    put(c, "a", 100, 1000, 0);
    uint64_t b1 = cs_bytes(c);
    put(c, "a", 300, 1000, 0);
    cr_expect_eq(cs_entries(c), 1);
    cr_expect_eq(cs_bytes(c), b1 + 200);
    cr_expect_eq(cs_clear(c, "other"), 0);
    cr_expect_eq(cs_clear(c, "tool"), 1);
    cr_expect_eq(cs_bytes(c), 0);
    cs_free(c);
}

Test(store, clear_by_tool_and_per_tool_figures)
{
    cstore *c = cs_new(1 << 20);
    json_t *r = result_of(5);
    cs_put(c, "x\0{}", 4, "x", r, 1000, 0);
    cs_put(c, "x\0{\"a\":1}", 10, "x", r, 1000, 0);
    cs_put(c, "y\0{}", 4, "y", r, 1000, 0);
    json_decref(r);
    json_decref(cs_get(c, "x\0{}", 4, 1));
    json_decref(cs_get(c, "y\0{\"b\":1}", 10, 1));   /* a miss of y */
    cs_coalesced(c, "y");
    json_t *st = cs_status(c, 1);
    json_t *x = json_object_get(json_object_get(st, "tools"), "x"), *y = json_object_get(json_object_get(st, "tools"), "y");
    cr_expect_eq(json_integer_value(json_object_get(x, "entries")), 2);
    cr_expect_eq(json_integer_value(json_object_get(x, "hits")), 1);
    cr_expect_eq(json_integer_value(json_object_get(y, "misses")), 1);
    cr_expect_eq(json_integer_value(json_object_get(y, "coalesced")), 1);
    cr_expect_eq(json_integer_value(json_object_get(st, "coalesced")), 1);
    json_decref(st);
    cr_expect_eq(cs_clear(c, "x"), 2);
    cr_expect_eq(cs_entries(c), 1);
    cr_expect_eq(cs_clear(c, NULL), 1);
    cs_free(c);
}

/* --- the state of a hot swap ---------------------------------------------------------------- */

Test(state, entries_order_and_figures_read_back)
{
    cstore *c = cs_new(1 << 20);
    put(c, "a", 10, 1000, 0);
    put(c, "b", 10, 50, 0);
    put(c, "c", 10, 1000, 0);
    cr_expect(has(c, "a", 1));   /* order of use: a, c, b */
    json_t *st = cs_save(c);
    size_t len;
    char *packed = mf_state_pack(st, &len);
    cr_assert(packed);
    json_t *back = mf_state_unpack(packed, len, NULL);
    cr_assert(back);
    free(packed);
    cstore *d = cs_new(1 << 20);
    cs_load(d, back, 60);   /* b has expired meanwhile */
    cr_expect_eq(cs_entries(d), 2);
    cr_expect_eq(fig(d, "hits", 60), 1);
    cr_expect_eq(fig(d, "misses", 60), 0);
    /* the order of use came along: with room for one more, c is the least recently used */
    cs_set_cap(d, cs_bytes(d) - 1);
    cr_expect(has(d, "a", 61));
    cr_expect_not(has(d, "c", 61));
    json_decref(st);
    json_decref(back);
    cs_free(c);
    cs_free(d);
}

Test(state, malformed_states_are_read_as_far_as_they_make_sense)
{
    static const char *const bad[] = {
        "null", "[]", "{\"version\":2,\"entries\":[[\"t\\u0000{}\",\"t\",{},99999]]}",
        "{\"version\":1,\"entries\":{}}",
        "{\"version\":1,\"entries\":[1,[],[\"t\"],[\"t\\u0000{}\",\"t\",\"notanobject\",99999],"
        "[\"t\\u0000{}\",\"u\",{},99999],[\"t\",\"t\",{},99999],[\"\\u0000{}\",\"\",{},99999],"
        "[\"t\\u0000{}\",\"t\",{},-1],[\"t\\u0000{}\",\"t\",{},1.5]],"
        "\"tools\":{\"\":{\"hits\":1},\"t\":{\"hits\":-5,\"misses\":\"x\"},\"u\":7},\"hits\":-1}",
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        json_t *st = json_loads(bad[i], JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL);
        cr_assert(st, "test JSON %zu", i);
        cstore *c = cs_new(1 << 20);
        cs_load(c, st, 10);
        cr_expect_eq(cs_entries(c), 0, "state %zu", i);
        cr_expect_eq(fig(c, "hits", 10), 0, "state %zu", i);
        json_decref(cs_status(c, 10));
        cs_free(c);
        json_decref(st);
    }
    /* a key that is not UTF-8 came from no JSON: passed over (it could not be saved again) */
    json_t *odd = json_pack("{s:i,s:[[o,s,{},I]]}", "version", 1, "entries", json_stringn_nocheck("tool\0\xdd\x01", 7),
                            "tool", (json_int_t)99999);
    cr_assert(odd);
    cstore *o = cs_new(1 << 20);
    cs_load(o, odd, 10);
    cr_expect_eq(cs_entries(o), 0);
    cs_free(o);
    json_decref(odd);
    /* an expiry beyond the longest time to live is brought back to it */
    json_t *far = json_loads("{\"version\":1,\"entries\":[[\"tool\\u0000x\",\"tool\",{},9000000000000000]]}",
                             JSON_ALLOW_NUL, NULL);
    cr_assert(far);
    cstore *f = cs_new(1 << 20);
    cs_load(f, far, 10);
    cr_expect(has(f, "x", 10 + CS_MAX_TTL_MS - 1));
    cr_expect_not(has(f, "x", 10 + CS_MAX_TTL_MS));
    cs_free(f);
    json_decref(far);
    /* one good entry among bad ones is kept, with its tool */
    json_t *st = json_loads("{\"version\":1,\"entries\":[7,[\"t\\u0000{}\",\"t\",{\"content\":[]},99999]]}", JSON_ALLOW_NUL, NULL);
    cstore *c = cs_new(1 << 20);
    cs_load(c, st, 10);
    cr_expect_eq(cs_entries(c), 1);
    json_t *r = cs_get(c, "t\0{}", 4, 11);
    cr_expect_not_null(r);
    json_decref(r);
    json_decref(st);
    cs_free(c);
}
