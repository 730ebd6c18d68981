/* The compact JSON text of a jansson value, byte for byte what
 * json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY) writes, in a fraction of its time
 * (mf_rpc_dump, sdk/mcpfed/rpc.h).
 *
 * Every message the gateway sends is written so (mf_rpc_dump), and jansson's writer
 * decodes each character of each string and hands every piece to a callback: a 90-byte
 * message took 1.5 us, and the 55 characters of a traceparent 0.7 us more. Here a string
 * is copied in runs up to the next byte that needs a look (a quote, a backslash, a control
 * character, or a byte of a multi-byte character, whose run is checked as UTF-8 whole).
 * Reals, rare in MCP, are left to jansson, whose spelling of them is kept. */
#include "build-config.h"
#include "kernel.h"

#include <stdlib.h>
#include <string.h>

/* Deeper than jansson parses (2048): only a value that contains itself comes here, which
 * json_dumps refuses too. */
#define MAX_DEPTH 4096

typedef struct text {
    char *p;
    size_t len, cap;
} text;

/* Room for n more bytes (and the NUL): where they go. */
static char *room(text *t, size_t n)
{
    if (t->len + n + 1 > t->cap) {
        size_t cap = t->cap;
        while (cap < t->len + n + 1)
            cap *= 2;
        t->p = mf_xrealloc(t->p, cap);
        t->cap = cap;
    }
    return t->p + t->len;
}

static void put(text *t, const void *s, size_t n)
{
    memcpy(room(t, n), s, n);
    t->len += n;
}

static void put_char(text *t, char c)
{
    *room(t, 1) = c;
    t->len++;
}

/* 0: copied as it is; 1: escaped; 2: the start of a multi-byte character. */
static const uint8_t kind[256] = {
    [0 ... 0x1f] = 1, ['"'] = 1, ['\\'] = 1, [0x80 ... 0xff] = 2,
};

/* A string's text, quoted and escaped; false when it is not UTF-8 (jansson then writes
 * nothing either). */
static bool put_string(text *t, const char *s, size_t n)
{
    const uint8_t *p = (const uint8_t *)s, *end = p + n;
    put_char(t, '"');
    while (p < end) {
        const uint8_t *run = p;
        while (p < end && !kind[*p])
            p++;
        put(t, run, (size_t)(p - run));
        if (p == end)
            break;
        if (kind[*p] == 2) {
            run = p;
            while (p < end && *p >= 0x80)
                p++;
            /* between two ASCII bytes: whole characters or not UTF-8 */
            if (!mf_utf8_valid(run, (size_t)(p - run)))
                return false;
            put(t, run, (size_t)(p - run));
            continue;
        }
        static const char hex[] = "0123456789ABCDEF";
        char esc[6] = {'\\', 0};
        size_t len = 2;
        switch (*p) {
        case '"': esc[1] = '"'; break;
        case '\\': esc[1] = '\\'; break;
        case '\b': esc[1] = 'b'; break;
        case '\f': esc[1] = 'f'; break;
        case '\n': esc[1] = 'n'; break;
        case '\r': esc[1] = 'r'; break;
        case '\t': esc[1] = 't'; break;
        default:
            memcpy(esc + 1, "u00", 3);
            esc[4] = hex[*p >> 4];
            esc[5] = hex[*p & 15];
            len = 6;
        }
        put(t, esc, len);
        p++;
    }
    put_char(t, '"');
    return true;
}

static void put_integer(text *t, json_int_t v)
{
    char buf[24];
    size_t i = sizeof buf;
    unsigned long long u = v < 0 ? 0ull - (unsigned long long)v : (unsigned long long)v;
    do {
        buf[--i] = (char)('0' + u % 10);
        u /= 10;
    } while (u);
    if (v < 0)
        buf[--i] = '-';
    put(t, buf + i, sizeof buf - i);
}

static bool put_value(text *t, const json_t *v, int depth)
{
    if (depth > MAX_DEPTH)
        return false;
    switch (json_typeof(v)) {
    case JSON_OBJECT: {
        put_char(t, '{');
        bool first = true;
        for (void *it = json_object_iter((json_t *)v); it; it = json_object_iter_next((json_t *)v, it)) {
            if (!first)
                put_char(t, ',');
            first = false;
            if (!put_string(t, json_object_iter_key(it), json_object_iter_key_len(it)))
                return false;
            put_char(t, ':');
            if (!put_value(t, json_object_iter_value(it), depth + 1))
                return false;
        }
        put_char(t, '}');
        return true;
    }
    case JSON_ARRAY: {
        put_char(t, '[');
        size_t n = json_array_size(v);
        for (size_t i = 0; i < n; i++) {
            if (i)
                put_char(t, ',');
            if (!put_value(t, json_array_get(v, i), depth + 1))
                return false;
        }
        put_char(t, ']');
        return true;
    }
    case JSON_STRING:
        return put_string(t, json_string_value(v), json_string_length(v));
    case JSON_INTEGER:
        put_integer(t, json_integer_value(v));
        return true;
    case JSON_REAL: {
        char *r = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
        if (!r)
            return false;
        put(t, r, strlen(r));
        free(r);
        return true;
    }
    case JSON_TRUE:
        put(t, "true", 4);
        return true;
    case JSON_FALSE:
        put(t, "false", 5);
        return true;
    case JSON_NULL:
        put(t, "null", 4);
        return true;
    }
    return false;
}

char *mf_rpc_dump(const json_t *v, size_t *len)
{
    if (len)
        *len = 0;
    if (!v)
        return NULL;
    text t = {.p = mf_xmalloc(256), .cap = 256};
    if (!put_value(&t, v, 0)) {
        free(t.p);
        return NULL;
    }
    t.p[t.len] = '\0';
    if (len)
        *len = t.len;
    return t.p;
}

size_t mf_json_size(const json_t *v)
{
    size_t len = 0;
    free(mf_rpc_dump(v, &len));
    return len;
}
