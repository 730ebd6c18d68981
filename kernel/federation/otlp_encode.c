/* The two OTLP/HTTP encodings of an ExportTraceServiceRequest: protobuf
 * (opentelemetry/proto/collector/trace/v1), and the JSON mapping of the same messages (ids
 * in hex, 64-bit integers as strings).
 *
 * A span's attributes are written in protobuf's wire form as they are set (span.h). A span
 * is encoded when it ends, appended to the bytes waiting for export (a protobuf `spans`
 * field of ScopeSpans: its fixed fields and the attributes as they are; or a JSON object
 * after a comma, the attributes read back), so that the span itself is reused at once; a
 * batch is those bytes wrapped in the request around them when it leaves. No intermediate
 * text, no printf. */
#include "build-config.h"
#include "span.h"

#include <endian.h>
#if defined(__SSE2__)
#include <emmintrin.h>
#endif
#include <string.h>

typedef struct out {
    char **data;
    size_t *len, *cap;
} out;

/* Room for n more bytes at the end of the buffer; where they go. Each span is written into
 * room reserved for it at once, through a cursor, with no check per field. */
static char *room(out *o, size_t n)
{
    if (*o->len + n + 1 > *o->cap) {
        size_t cap = *o->cap ? *o->cap : 4096;
        while (cap < *o->len + n + 1)
            cap *= 2;
        *o->data = mf_xrealloc(*o->data, cap);
        *o->cap = cap;
    }
    return *o->data + *o->len;
}

/* The cursor p moved past what was written there. */
static void wrote(out *o, const char *p)
{
    *o->len = (size_t)(p - *o->data);
    (*o->data)[*o->len] = '\0';
}

static char *w(char *p, const void *src, size_t n)
{
    memcpy(p, src, n);
    return p + n;
}

#define w_lit(p, lit) w(p, lit, sizeof lit - 1)

/* --- JSON -------------------------------------------------------------------------------- */

/* Two digits a byte: the ids of every traced call's spans and its traceparent are written
 * so. Eight bytes at a time in SSE2 (every x86-64 has it): the nibbles spread apart, and
 * each made a digit, '0' + n or 'a' + n - 10, without a branch or a table; the rest, and
 * other processors, from a table made once. */
char *mf_otlp_hex(char *p, const uint8_t *in, size_t n)
{
    size_t i = 0;
#if defined(__SSE2__)
    const __m128i low = _mm_set1_epi8(0x0f), nine = _mm_set1_epi8(9), zero = _mm_set1_epi8('0'),
                  letters = _mm_set1_epi8('a' - '0' - 10);
    for (; i + 8 <= n; i += 8) {
        __m128i b = _mm_loadl_epi64((const __m128i *)(in + i));
        __m128i hi = _mm_and_si128(_mm_srli_epi16(b, 4), low), lo = _mm_and_si128(b, low);
        __m128i d = _mm_unpacklo_epi8(hi, lo);   /* hi0 lo0 hi1 lo1 ... */
        d = _mm_add_epi8(_mm_add_epi8(d, zero), _mm_and_si128(_mm_cmpgt_epi8(d, nine), letters));
        _mm_storeu_si128((__m128i *)(p + 2 * i), d);
    }
#endif
    static char pairs[256][2];
    if (i < n && !pairs[255][0]) {
        static const char digits[] = "0123456789abcdef";
        for (int k = 0; k < 256; k++) {
            pairs[k][0] = digits[k >> 4];
            pairs[k][1] = digits[k & 15];
        }
    }
    for (; i < n; i++)
        memcpy(p + 2 * i, pairs[in[i]], 2);
    return p + 2 * n;
}

static char *w_u64(char *p, uint64_t v)
{
    char buf[20];
    size_t i = sizeof buf;
    do {
        buf[--i] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    return w(p, buf + i, sizeof buf - i);
}

size_t mf_utf8_cut(const char *s, size_t len, size_t n)
{
    if (len <= n)
        return len;
    while (n && ((unsigned char)s[n] & 0xc0) == 0x80)
        n--;
    return n;
}

char *mf_otlp_decimal(char *p, int64_t v)
{
    if (v >= 0)
        return w_u64(p, (uint64_t)v);
    *p++ = '-';
    return w_u64(p, (uint64_t)0 - (uint64_t)v);
}

/* n bytes of text as the inside of a JSON string: at most 6n bytes. */
static char *w_text(char *p, const char *text, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        uint8_t c = (uint8_t)text[i];
        if (c >= 0x20 && c != '"' && c != '\\') {
            *p++ = (char)c;
        } else if (c >= 0x20) {
            *p++ = '\\';
            *p++ = (char)c;
        } else {
            p = mf_otlp_hex(w_lit(p, "\\u00"), &c, 1);
        }
    }
    return p;
}

static char *w_str_value(char *p, const char *key, size_t klen, const char *value, size_t n)
{
    p = w_lit(p, "{\"key\":\"");
    p = w_text(p, key, klen);
    p = w_lit(p, "\",\"value\":{\"stringValue\":\"");
    p = w_text(p, value, n);
    return w_lit(p, "\"}}");
}

/* The attributes as recorded read back (protobuf, as mf_otlp_attr_* wrote them). */
typedef struct attr_reader {
    const uint8_t *p, *end;
} attr_reader;

static uint64_t r_varint(const uint8_t **p)
{
    uint64_t v = 0;
    for (unsigned shift = 0;; shift += 7) {
        uint8_t b = *(*p)++;
        v |= (uint64_t)(b & 0x7f) << shift;
        if (!(b & 0x80))
            return v;
    }
}

typedef struct attr {
    const char *key, *str;
    size_t klen, n;
    unsigned type;            /* AnyValue's field: 1 string, 2 bool, 3 int */
    uint64_t num;
} attr;

/* The next attribute into a; false at the end. */
static bool next_attr(attr_reader *r, attr *a)
{
    if (r->p >= r->end)
        return false;
    const uint8_t *p = r->p + 1;   /* Span.attributes */
    size_t kv = r_varint(&p);
    r->p = p + kv;
    p++;                           /* KeyValue.key */
    a->klen = r_varint(&p);
    a->key = (const char *)p;
    p += a->klen + 1;              /* KeyValue.value */
    r_varint(&p);
    a->type = *p++ >> 3;
    if (a->type == 1) {
        a->n = r_varint(&p);
        a->str = (const char *)p;
    } else {
        a->num = r_varint(&p);
    }
    return true;
}

/* The most a span's JSON can take: its text escaped six times over, and the rest. An
 * attribute is at least 8 bytes recorded and at most 50 more of JSON around its text. */
static size_t json_bound(const mf_span *s)
{
    size_t text = s->name_len + (s->tracestate ? strlen(s->tracestate) : 0) + (s->status_msg ? s->status_len : 0);
    return 6 * text + 400 + 13 * (size_t)s->alen;
}

static char *json_span(char *p, const mf_span *s)
{
    p = w_lit(p, "{\"traceId\":\"");
    p = mf_otlp_hex(p, s->ctx.trace_id, 16);
    p = w_lit(p, "\",\"spanId\":\"");
    p = mf_otlp_hex(p, s->ctx.span_id, 8);
    if (s->has_parent) {
        p = w_lit(p, "\",\"parentSpanId\":\"");
        p = mf_otlp_hex(p, s->parent, 8);
    }
    if (s->tracestate) {
        p = w_lit(p, "\",\"traceState\":\"");
        p = w_text(p, s->tracestate, strlen(s->tracestate));
    }
    p = w_lit(p, "\",\"name\":\"");
    p = w_text(p, s->name, s->name_len);
    p = w_lit(p, "\",\"kind\":");
    p = w_u64(p, s->kind);
    p = w_lit(p, ",\"startTimeUnixNano\":\"");
    p = w_u64(p, s->start_ns);
    p = w_lit(p, "\",\"endTimeUnixNano\":\"");
    p = w_u64(p, s->end_ns);
    p = w_lit(p, "\",\"attributes\":[");
    attr_reader r = {s->attrs, s->attrs + s->alen};
    attr a;
    for (bool first = true; next_attr(&r, &a); first = false) {
        if (!first)
            *p++ = ',';
        if (a.type == 1) {
            p = w_str_value(p, a.key, a.klen, a.str, a.n);
            continue;
        }
        p = w_lit(p, "{\"key\":\"");
        p = w_text(p, a.key, a.klen);
        if (a.type == 3) {   /* 64-bit integers are strings in OTLP JSON */
            p = w_lit(p, "\",\"value\":{\"intValue\":\"");
            p = mf_otlp_decimal(p, (int64_t)a.num);
            p = w_lit(p, "\"}}");
        } else if (a.num) {
            p = w_lit(p, "\",\"value\":{\"boolValue\":true}}");
        } else {
            p = w_lit(p, "\",\"value\":{\"boolValue\":false}}");
        }
    }
    *p++ = ']';
    if (s->status) {
        p = w_lit(p, ",\"status\":{\"code\":");
        p = w_u64(p, s->status);
        if (s->status_msg) {
            p = w_lit(p, ",\"message\":\"");
            p = w_text(p, s->status_msg, s->status_len);
            *p++ = '"';
        }
        *p++ = '}';
    }
    *p++ = '}';
    return p;
}

void mf_otlp_span_json(const mf_span *s, char **data, size_t *len, size_t *cap)
{
    out o = {data, len, cap};
    char *p = room(&o, json_bound(s) + 1);
    *p++ = ',';
    wrote(&o, json_span(p, s));
}

static size_t json_head(const char *service, char *start)
{
    char *p = w_lit(start, "{\"resourceSpans\":[{\"resource\":{\"attributes\":[");
    p = w_str_value(p, "service.name", 12, service, strlen(service));
    *p++ = ',';
    p = w_str_value(p, "service.version", 15, PACKAGE_VERSION, sizeof PACKAGE_VERSION - 1);
    p = w_lit(p, "]},\"scopeSpans\":[{\"scope\":{\"name\":\"mcpfed\",\"version\":\"" PACKAGE_VERSION "\"},\"spans\":[");
    return (size_t)(p - start);
}

/* --- protobuf ------------------------------------------------------------------------------ */

enum { VARINT = 0, I64 = 1, LEN = 2 };

/* Seven bits a byte: 1 to 10 bytes. */
static size_t varint_size(uint64_t v) { return (size_t)(70 - __builtin_clzll(v | 1)) / 7; }

static char *w_varint(char *p, uint64_t v)
{
    while (v >= 0x80) {
        *p++ = (char)(v | 0x80);
        v >>= 7;
    }
    *p++ = (char)v;
    return p;
}

/* Field numbers here are all below 16: one byte of tag. */
static char *w_tag(char *p, unsigned field, unsigned wire)
{
    *p++ = (char)(field << 3 | wire);
    return p;
}

static char *w_fixed64(char *p, unsigned field, uint64_t v)
{
    p = w_tag(p, field, I64);
    v = htole64(v);
    memcpy(p, &v, 8);
    return p + 8;
}

/* The head of a length-delimited field of n bytes; the field with its bytes. */
static char *w_len(char *p, unsigned field, size_t n)
{
    return w_varint(w_tag(p, field, LEN), n);
}

static char *w_bytes(char *p, unsigned field, const void *src, size_t n)
{
    return w(w_len(p, field, n), src, n);
}

static char *w_uint(char *p, unsigned field, uint64_t v)
{
    return w_varint(w_tag(p, field, VARINT), v);
}

/* The size of a length-delimited field of n bytes in its message. */
static size_t field_size(size_t n) { return 1 + varint_size(n) + n; }

/* Room for n more bytes of attributes in s: its own room, then an allocation. */
static uint8_t *attr_room(mf_span *s, size_t n)
{
    if (s->alen + n > s->acap) {
        size_t cap = (size_t)s->acap * 2;
        while (cap < s->alen + n)
            cap *= 2;
        if (s->attrs == s->room) {
            s->attrs = mf_xmalloc(cap);
            memcpy(s->attrs, s->room, s->alen);
        } else {
            s->attrs = mf_xrealloc(s->attrs, cap);
        }
        s->acap = (uint32_t)cap;
    }
    return s->attrs + s->alen;
}

/* Span.attributes 9, a KeyValue: key 1, value 2 (AnyValue: string_value 1, bool_value 2,
 * int_value 3) of `value` bytes, whose head is written here. */
static char *w_kv_head(char *p, unsigned field, const char *key, size_t klen, size_t value)
{
    p = w_len(p, field, field_size(klen) + field_size(value));
    p = w_bytes(p, 1, key, klen);
    return w_len(p, 2, value);
}

/* The general case of span.h's mf_span_put_str: long keys or values, a full room. The
 * value is cut as span.h says. */
void mf_otlp_attr_str(mf_span *s, const char *key, size_t klen, const char *value, size_t n)
{
    n = mf_utf8_cut(value, n, MF_SPAN_VALUE);
    size_t any = field_size(n), kv = field_size(klen) + field_size(any);
    char *p = (char *)attr_room(s, field_size(kv));
    p = w_bytes(w_kv_head(p, 9, key, klen, any), 1, value, n);
    s->alen = (uint32_t)(p - (char *)s->attrs);
}

void mf_otlp_attr_int(mf_span *s, const char *key, size_t klen, int64_t v, bool boolean)
{
    size_t any = 1 + varint_size((uint64_t)v);
    char *p = (char *)attr_room(s, field_size(field_size(klen) + field_size(any)));
    p = w_uint(w_kv_head(p, 9, key, klen, any), boolean ? 2 : 3, (uint64_t)v);
    s->alen = (uint32_t)(p - (char *)s->attrs);
}

/* Status: message 2, code 3. */
static size_t status_size(const mf_span *s) { return (s->status_msg ? field_size(s->status_len) : 0) + 2; }

/* Span: trace_id 1, span_id 2, trace_state 3, parent_span_id 4, name 5, kind 6,
 * start_time_unix_nano 7, end_time_unix_nano 8, attributes 9 (as recorded), status 15. */
static size_t span_size(const mf_span *s)
{
    size_t n = field_size(16) + field_size(8) + field_size(s->name_len) + 2 + 9 + 9 + s->alen;
    if (s->tracestate)
        n += field_size(strlen(s->tracestate));
    if (s->has_parent)
        n += field_size(8);
    if (s->status)
        n += field_size(status_size(s));
    return n;
}

static char *pb_span(char *p, const mf_span *s, size_t size)
{
    p = w_len(p, 2, size);   /* ScopeSpans.spans */
    p = w_bytes(p, 1, s->ctx.trace_id, 16);
    p = w_bytes(p, 2, s->ctx.span_id, 8);
    if (s->tracestate)
        p = w_bytes(p, 3, s->tracestate, strlen(s->tracestate));
    if (s->has_parent)
        p = w_bytes(p, 4, s->parent, 8);
    p = w_bytes(p, 5, s->name, s->name_len);
    p = w_uint(p, 6, s->kind);
    p = w_fixed64(p, 7, s->start_ns);
    p = w_fixed64(p, 8, s->end_ns);
    p = w(p, s->attrs, s->alen);
    if (s->status) {
        p = w_len(p, 15, status_size(s));
        if (s->status_msg)
            p = w_bytes(p, 2, s->status_msg, s->status_len);
        p = w_uint(p, 3, s->status);
    }
    return p;
}

void mf_otlp_span_protobuf(const mf_span *s, char **data, size_t *len, size_t *cap)
{
    out o = {data, len, cap};
    size_t size = span_size(s);
    wrote(&o, pb_span(room(&o, field_size(size)), s, size));
}

static size_t protobuf_head(const char *service, size_t n, char *start)
{
    /* InstrumentationScope: name 1, version 2 */
    static const char scope_name[] = "mcpfed", version[] = PACKAGE_VERSION;
    size_t scope = field_size(sizeof scope_name - 1) + field_size(sizeof version - 1);
    size_t scope_spans = field_size(scope) + n;   /* ScopeSpans: scope 1, spans 2 (each a field already) */
    /* Resource: attributes 1 (KeyValue) */
    size_t sl = strlen(service), svc = field_size(sl), ver = field_size(sizeof version - 1);
    size_t resource = field_size(field_size(12) + field_size(svc)) + field_size(field_size(15) + field_size(ver));
    size_t resource_spans = field_size(resource) + field_size(scope_spans);   /* resource 1, scope_spans 2 */

    char *p = w_len(start, 1, resource_spans);   /* ExportTraceServiceRequest.resource_spans */
    p = w_len(p, 1, resource);
    p = w_bytes(w_kv_head(p, 1, "service.name", 12, svc), 1, service, sl);
    p = w_bytes(w_kv_head(p, 1, "service.version", 15, ver), 1, version, sizeof version - 1);
    p = w_len(p, 2, scope_spans);
    p = w_len(p, 1, scope);
    p = w_bytes(p, 1, scope_name, sizeof scope_name - 1);
    return (size_t)(w_bytes(p, 2, version, sizeof version - 1) - start);
}

/* --- a request around the spans waiting --------------------------------------------------- */

size_t mf_otlp_head_room(const char *service, bool json)
{
    size_t sl = strlen(service);
    return json ? 6 * sl + 400 : sl + 200;
}

char *mf_otlp_request(const char *service, bool json, char *data, size_t room, size_t end, size_t *len)
{
    char *spans = data + room, *head;
    size_t h;
    if (json) {
        h = json_head(service, data);
        head = spans + 1 - h;   /* over the comma the first span came with */
        memmove(head, data, h);
        memcpy(data + end, "]}]}]}", 6);
        *len = end + 6 - (size_t)(head - data);
    } else {
        h = protobuf_head(service, end - room, data);
        head = spans - h;
        memmove(head, data, h);
        *len = end - (size_t)(head - data);
    }
    return head;
}
