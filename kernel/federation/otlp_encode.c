/* The two OTLP/HTTP encodings of an ExportTraceServiceRequest, written from the recorded
 * spans (span.h) when a batch leaves: protobuf (opentelemetry/proto/collector/trace/v1),
 * and the JSON mapping of the same messages (ids in hex, 64-bit integers as strings).
 *
 * A span is encoded when it ends, appended to the bytes waiting for export (a protobuf
 * `spans` field of ScopeSpans, or a JSON object after a comma), so that the span itself is
 * reused at once; a batch is those bytes wrapped in the request around them when it
 * leaves. No intermediate text, no printf; the protobuf writer sizes a span first, since
 * a message's length precedes it. */
#include "build-config.h"
#include "span.h"

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

static char *w_hex(char *p, const uint8_t *in, size_t n)
{
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        *p++ = digits[in[i] >> 4];
        *p++ = digits[in[i] & 15];
    }
    return p;
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

static char *w_i64(char *p, int64_t v)
{
    if (v >= 0)
        return w_u64(p, (uint64_t)v);
    *p++ = '-';
    return w_u64(p, (uint64_t)0 - (uint64_t)v);
}

/* n bytes of text as the inside of a JSON string: at most 6n bytes. */
static char *w_text(char *p, const char *text, size_t n)
{
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)text[i];
        if (c >= 0x20 && c != '"' && c != '\\') {
            *p++ = (char)c;
        } else if (c >= 0x20) {
            *p++ = '\\';
            *p++ = (char)c;
        } else {
            p = w_lit(p, "\\u00");
            *p++ = digits[c >> 4];
            *p++ = digits[c & 15];
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

/* The most a span's JSON can take: its text escaped six times over, and the rest. */
static size_t json_bound(const mf_span *s)
{
    size_t text = s->name_len + (s->tracestate ? strlen(s->tracestate) : 0) + (s->status_msg ? s->status_len : 0);
    for (unsigned i = 0; i < s->nattrs; i++)
        text += s->attrs[i].klen + (s->attrs[i].type == MF_ATTR_STR ? (size_t)s->attrs[i].num : 0);
    return 6 * text + 400 + 80 * (size_t)s->nattrs;
}

static char *json_span(char *p, const mf_span *s)
{
    p = w_lit(p, "{\"traceId\":\"");
    p = w_hex(p, s->ctx.trace_id, 16);
    p = w_lit(p, "\",\"spanId\":\"");
    p = w_hex(p, s->ctx.span_id, 8);
    if (s->has_parent) {
        p = w_lit(p, "\",\"parentSpanId\":\"");
        p = w_hex(p, s->parent, 8);
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
    for (unsigned i = 0; i < s->nattrs; i++) {
        const mf_span_attr *a = &s->attrs[i];
        if (i)
            *p++ = ',';
        if (a->type == MF_ATTR_STR) {
            p = w_str_value(p, a->key, a->klen, a->str, (size_t)a->num);
            continue;
        }
        p = w_lit(p, "{\"key\":\"");
        p = w_text(p, a->key, a->klen);
        if (a->type == MF_ATTR_INT) {   /* 64-bit integers are strings in OTLP JSON */
            p = w_lit(p, "\",\"value\":{\"intValue\":\"");
            p = w_i64(p, a->num);
            p = w_lit(p, "\"}}");
        } else if (a->num) {
            p = w_lit(p, "\",\"value\":{\"boolValue\":true}}");
        } else {
            p = w_lit(p, "\",\"value\":{\"boolValue\":false}}");
        }
    }
    *p++ = ']';
    if (s->dropped) {
        p = w_lit(p, ",\"droppedAttributesCount\":");
        p = w_u64(p, s->dropped);
    }
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

void mf_otlp_request_json(const char *service, const char *spans, size_t n, char **data, size_t *len, size_t *cap)
{
    out o = {data, len, cap};
    size_t sl = strlen(service);
    char *p = room(&o, 6 * sl + 400 + n);
    p = w_lit(p, "{\"resourceSpans\":[{\"resource\":{\"attributes\":[");
    p = w_str_value(p, "service.name", 12, service, sl);
    *p++ = ',';
    p = w_str_value(p, "service.version", 15, PACKAGE_VERSION, sizeof PACKAGE_VERSION - 1);
    p = w_lit(p, "]},\"scopeSpans\":[{\"scope\":{\"name\":\"mcpfed\",\"version\":\"" PACKAGE_VERSION "\"},\"spans\":[");
    if (n)
        p = w(p, spans + 1, n - 1);   /* each span came with a comma before it */
    wrote(&o, w_lit(p, "]}]}]}"));
}

/* --- protobuf ------------------------------------------------------------------------------ */

enum { VARINT = 0, I64 = 1, LEN = 2 };

static size_t varint_size(uint64_t v)
{
    size_t n = 1;
    while (v >= 0x80) {
        v >>= 7;
        n++;
    }
    return n;
}

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
    for (int i = 0; i < 8; i++)
        *p++ = (char)(v >> (8 * i));
    return p;
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

/* AnyValue: string_value 1, bool_value 2, int_value 3. */
static uint64_t scalar(const mf_span_attr *a) { return a->type == MF_ATTR_INT ? (uint64_t)a->num : a->num != 0; }

static size_t any_size(const mf_span_attr *a)
{
    return a->type == MF_ATTR_STR ? field_size((size_t)a->num) : 1 + varint_size(scalar(a));
}

/* KeyValue: key 1, value 2. */
static size_t kv_size(const mf_span_attr *a) { return field_size(a->klen) + field_size(any_size(a)); }

static char *w_kv(char *p, unsigned field, const mf_span_attr *a)
{
    p = w_len(p, field, kv_size(a));
    p = w_bytes(p, 1, a->key, a->klen);
    p = w_len(p, 2, any_size(a));
    if (a->type == MF_ATTR_STR)
        return w_bytes(p, 1, a->str, (size_t)a->num);
    return w_uint(p, a->type == MF_ATTR_INT ? 3 : 2, scalar(a));
}

/* Status: message 2, code 3. */
static size_t status_size(const mf_span *s) { return (s->status_msg ? field_size(s->status_len) : 0) + 2; }

/* Span: trace_id 1, span_id 2, trace_state 3, parent_span_id 4, name 5, kind 6,
 * start_time_unix_nano 7, end_time_unix_nano 8, attributes 9, dropped_attributes_count 10,
 * status 15. */
static size_t span_size(const mf_span *s)
{
    size_t n = field_size(16) + field_size(8) + field_size(s->name_len) + 2 + 9 + 9;
    if (s->tracestate)
        n += field_size(strlen(s->tracestate));
    if (s->has_parent)
        n += field_size(8);
    for (unsigned i = 0; i < s->nattrs; i++)
        n += field_size(kv_size(&s->attrs[i]));
    if (s->dropped)
        n += 1 + varint_size(s->dropped);
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
    for (unsigned i = 0; i < s->nattrs; i++)
        p = w_kv(p, 9, &s->attrs[i]);
    if (s->dropped)
        p = w_uint(p, 10, s->dropped);
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

void mf_otlp_request_protobuf(const char *service, const char *spans, size_t n, char **data, size_t *len,
                              size_t *cap)
{
    out o = {data, len, cap};
    /* InstrumentationScope: name 1, version 2 */
    static const char scope_name[] = "mcpfed", version[] = PACKAGE_VERSION;
    size_t scope = field_size(sizeof scope_name - 1) + field_size(sizeof version - 1);
    size_t scope_spans = field_size(scope) + n;   /* ScopeSpans: scope 1, spans 2 (each a field already) */
    /* Resource: attributes 1 */
    mf_span_attr svc = {.key = "service.name", .klen = 12, .str = service, .num = (int64_t)strlen(service)};
    mf_span_attr ver = {.key = "service.version", .klen = 15, .str = version, .num = sizeof version - 1};
    size_t resource = field_size(kv_size(&svc)) + field_size(kv_size(&ver));
    size_t resource_spans = field_size(resource) + field_size(scope_spans);   /* resource 1, scope_spans 2 */

    char *p = room(&o, field_size(resource_spans));
    p = w_len(p, 1, resource_spans);   /* ExportTraceServiceRequest.resource_spans */
    p = w_len(p, 1, resource);
    p = w_kv(p, 1, &svc);
    p = w_kv(p, 1, &ver);
    p = w_len(p, 2, scope_spans);
    p = w_len(p, 1, scope);
    p = w_bytes(p, 1, scope_name, sizeof scope_name - 1);
    p = w_bytes(p, 2, version, sizeof version - 1);
    wrote(&o, w(p, spans, n));
}
