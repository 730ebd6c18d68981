/* A span's attributes as written in line (span.h's mf_span_put_*) against the general
 * writer (otlp_encode.c), whose output the integration tests hold to the official
 * OpenTelemetry encoders: for keys and values around every length where the in-line path
 * gives way, integers of every varint size, and a room nearly full, the bytes must be the
 * same. */
#include "span.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void span_init(mf_span *s)
{
    memset(s, 0, sizeof *s);
    s->ctx.flags = 1;
    s->attrs = s->room;
    s->acap = sizeof s->room;
}

static void span_done(mf_span *s)
{
    if (s->attrs != s->room)
        free(s->attrs);
}

static void same_bytes(mf_span *a, mf_span *b, const char *what)
{
    cr_assert_eq(a->alen, b->alen, "%s: %u bytes in line, %u by the general writer", what, a->alen, b->alen);
    cr_assert(memcmp(a->attrs, b->attrs, a->alen) == 0, "%s: the bytes differ", what);
}

static const size_t lengths[] = {0, 1, 2, 60, 100, 110, 119, 120, 121, 122, 126, 127, 128, 200, 1023, 1024, 1025, 3000};
#define NLENGTHS (sizeof lengths / sizeof lengths[0])

Test(span, strings_in_line_as_the_general_writer_writes_them)
{
    char *text = malloc(4000);
    for (size_t i = 0; i < 4000; i++)
        text[i] = (char)('a' + i % 26);
    for (size_t k = 1; k < 120; k += 9)
        for (size_t v = 0; v < NLENGTHS; v++) {
            mf_span a, b;
            span_init(&a);
            span_init(&b);
            /* after a first attribute, as a span's later ones are */
            mf_span_put_str(&a, "first", 5, "x", 1);
            mf_otlp_attr_str(&b, "first", 5, "x", 1);
            mf_span_put_str(&a, text, k, text, lengths[v]);
            mf_otlp_attr_str(&b, text, k, text, lengths[v]);
            char what[64];
            snprintf(what, sizeof what, "key %zu bytes, value %zu", k, lengths[v]);
            same_bytes(&a, &b, what);
            span_done(&a);
            span_done(&b);
        }
    free(text);
}

Test(span, a_long_value_is_cut_where_a_character_starts)
{
    char value[MF_SPAN_VALUE + 8];
    memset(value, 'a', sizeof value);
    memcpy(value + MF_SPAN_VALUE - 1, "\xc3\xa9", 2);   /* é across the bound */
    mf_span s;
    span_init(&s);
    mf_span_put_str(&s, "k", 1, value, sizeof value);
    /* heads: KeyValue (tag, 2 bytes of length), key (tag, length, 1 byte), value and string
     * (tag, 2 bytes of length each) */
    size_t n = s.alen - (3 + 3 + 3 + 3);
    cr_assert_eq(n, MF_SPAN_VALUE - 1, "cut to %zu bytes", n);
    span_done(&s);
}

Test(span, integers_of_every_varint_size)
{
    const int64_t values[] = {0, 1, 127, 128, 16383, 16384, 2097151, 2097152, INT64_C(1) << 35, INT64_C(1) << 62,
                              INT64_MAX, -1, -32602, INT64_MIN};
    for (size_t i = 0; i < sizeof values / sizeof values[0]; i++)
        for (int boolean = 0; boolean < 2; boolean++) {
            mf_span a, b;
            span_init(&a);
            span_init(&b);
            int64_t v = boolean ? (values[i] != 0) : values[i];
            mf_span_put_int(&a, "mcp.session.id", 14, v, boolean);
            mf_otlp_attr_int(&b, "mcp.session.id", 14, v, boolean);
            char what[64];
            snprintf(what, sizeof what, "%s %lld", boolean ? "bool" : "int", (long long)v);
            same_bytes(&a, &b, what);
            span_done(&a);
            span_done(&b);
        }
}

Test(span, a_full_room_goes_on_in_an_allocation)
{
    mf_span a, b;
    span_init(&a);
    span_init(&b);
    /* enough attributes to fill the room several times over, each cut short of it by a
     * different amount */
    for (int i = 0; i < 200; i++) {
        char value[40];
        int n = snprintf(value, sizeof value, "value %d", i * 7919);
        mf_span_put_str(&a, "gen_ai.tool.name", 16, value, (size_t)n);
        mf_otlp_attr_str(&b, "gen_ai.tool.name", 16, value, (size_t)n);
        mf_span_put_int(&a, "mcpfed.attempt", 14, i * 1000, false);
        mf_otlp_attr_int(&b, "mcpfed.attempt", 14, i * 1000, false);
    }
    cr_assert(a.attrs != a.room, "the room overflowed into an allocation");
    same_bytes(&a, &b, "200 attributes of each kind");
    span_done(&a);
    span_done(&b);
}

Test(span, nothing_is_recorded_for_an_unsampled_span_or_no_value)
{
    mf_span s;
    span_init(&s);
    mf_span_put_str(&s, "k", 1, NULL, 0);
    mf_span_put_str(NULL, "k", 1, "v", 1);
    mf_span_put_int(NULL, "k", 1, 1, false);
    cr_assert_eq(s.alen, 0);
    s.ctx.flags = 0;
    mf_span_put_str(&s, "k", 1, "v", 1);
    mf_span_put_int(&s, "k", 1, 1, false);
    cr_assert_eq(s.alen, 0);
}

/* ids and traceparents: two lower-case digits a byte, eight bytes at a time where the
 * processor can, the rest one by one, never a byte written past them */
Test(span, hex_of_every_byte_and_every_length)
{
    uint8_t in[40];
    char out[2 * sizeof in + 1], want[2 * sizeof in + 1];
    srand(7);
    for (int t = 0; t < 20000; t++) {
        size_t n = t < 256 ? 1 : (size_t)rand() % (sizeof in + 1);
        for (size_t i = 0; i < n; i++)
            in[i] = t < 256 ? (uint8_t)t : (uint8_t)rand();
        memset(out, '#', sizeof out);
        char *end = mf_otlp_hex(out, in, n);
        for (size_t i = 0; i < n; i++)
            snprintf(want + 2 * i, 3, "%02x", in[i]);
        cr_assert_eq(end, out + 2 * n);
        cr_assert(memcmp(out, want, 2 * n) == 0, "%zu bytes: %.*s, not %.*s", n, (int)(2 * n), out, (int)(2 * n), want);
        cr_assert_eq(out[2 * n], '#', "nothing written past the digits");
    }
}
