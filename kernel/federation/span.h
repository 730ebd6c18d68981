/* A span as it is recorded (trace.c) and read by its encoders (otlp_encode.c): fixed
 * fields, and attributes written once, as they are set, in their protobuf wire form into
 * the span's own room, so that recording one is a few stores and no allocation, and
 * encoding it is a copy. */
#ifndef MF_SPAN_H
#define MF_SPAN_H

#include "trace.h"

#include <stdint.h>
#include <string.h>

/* A string attribute's value is cut to MF_SPAN_VALUE bytes (at a character's start), as
 * OpenTelemetry's attribute value length limit does: a client's 1 MB request id is not a
 * 1 MB span. Attributes fill the span's room, then an allocation. */
enum { MF_SPAN_ROOM = 448, MF_SPAN_NAME = 96, MF_SPAN_VALUE = 1024 };

struct mf_span {
    mf_trace_ctx ctx;         /* the trace, this span's id, sampled */
    uint8_t parent[8];
    bool has_parent;
    uint8_t kind;
    uint8_t status;           /* 0 unset, 2 error */
    uint16_t name_len;
    char *status_msg;         /* allocated */
    size_t status_len;
    char *tracestate;
    uint64_t start_ns, end_ns;
    /* the attributes, already in the wire form of Span.attributes fields (protobuf): set
     * once, copied as they are into a protobuf export and read back for a JSON one */
    uint8_t *attrs;           /* room, or allocated when more came */
    uint32_t alen, acap;
    char name[MF_SPAN_NAME];
    uint8_t room[MF_SPAN_ROOM];
};

/* n bytes from src to dst, in line for the short copies a span is made of (names,
 * attribute values: a few to a few tens of bytes), where a call to memcpy costs more than
 * the copy: two loads and two stores that overlap, of the widest size that fits. */
static inline __attribute__((always_inline)) void mf_span_copy(void *dst, const void *src, size_t n)
{
    uint8_t *d = dst;
    const uint8_t *p = src;
    uint64_t a, b, c, e;
    uint32_t x, y;
    if (n >= 16 && n <= 32) {
        memcpy(&a, p, 8), memcpy(&b, p + 8, 8), memcpy(&c, p + n - 16, 8), memcpy(&e, p + n - 8, 8);
        memcpy(d, &a, 8), memcpy(d + 8, &b, 8), memcpy(d + n - 16, &c, 8), memcpy(d + n - 8, &e, 8);
    } else if (n >= 8 && n < 16) {
        memcpy(&a, p, 8), memcpy(&b, p + n - 8, 8);
        memcpy(d, &a, 8), memcpy(d + n - 8, &b, 8);
    } else if (n >= 4 && n < 8) {
        memcpy(&x, p, 4), memcpy(&y, p + n - 4, 4);
        memcpy(d, &x, 4), memcpy(d + n - 4, &y, 4);
    } else if (n < 4) {
        for (size_t i = 0; i < n; i++)
            d[i] = p[i];
    } else {
        memcpy(d, p, n);
    }
}

/* Attributes of a recorded span (others' are dropped): keys are string literals, their
 * length known when compiled; values are copied. mf_span_strn takes a value's length
 * (jansson knows it). */
#define mf_span_str(s, key, value) mf_span_put_str(s, "" key, sizeof key - 1, value, SIZE_MAX)
#define mf_span_strn(s, key, value, n) mf_span_put_str(s, "" key, sizeof key - 1, value, n)
#define mf_span_int(s, key, value) mf_span_put_int(s, "" key, sizeof key - 1, value, false)
#define mf_span_bool(s, key, value) mf_span_put_int(s, "" key, sizeof key - 1, value, true)

/* Any attribute (otlp_encode.c): a string (its first n bytes, cut as above), or an integer
 * or a boolean. */
void mf_otlp_attr_str(mf_span *s, const char *key, size_t klen, const char *value, size_t n);
void mf_otlp_attr_int(mf_span *s, const char *key, size_t klen, int64_t v, bool boolean);

/* The usual attribute (a short key and value, where all its lengths take a byte and it
 * fits the room left) is written here, in line: a traced call records about twenty, and
 * a call apiece to the general writer cost more than the rest of each. Its bytes:
 * Span.attributes (9) KeyValue{key (1), value (2) AnyValue{string (1) | bool (2) | int (3)}}. */
static inline __attribute__((always_inline)) uint8_t *mf_span_put_key(uint8_t *p, const char *key, size_t klen, size_t value)
{
    p[0] = 9 << 3 | 2;
    p[1] = (uint8_t)(klen + value + 4);
    p[2] = 1 << 3 | 2;
    p[3] = (uint8_t)klen;
    memcpy(p + 4, key, klen);
    p += 4 + klen;
    p[0] = 2 << 3 | 2;
    p[1] = (uint8_t)value;
    return p + 2;
}

static inline __attribute__((always_inline)) void mf_span_put_str(mf_span *s, const char *key, size_t klen, const char *value, size_t n)
{
    if (!s || !(s->ctx.flags & 1) || !value)
        return;
    if (n == SIZE_MAX)
        n = strlen(value);
    if (klen + n + 6 < 128 && s->alen + klen + n + 8 <= s->acap) {
        uint8_t *p = mf_span_put_key(s->attrs + s->alen, key, klen, n + 2);
        p[0] = 1 << 3 | 2;
        p[1] = (uint8_t)n;
        mf_span_copy(p + 2, value, n);
        s->alen += (uint32_t)(klen + n + 8);
    } else {
        mf_otlp_attr_str(s, key, klen, value, n);
    }
}

static inline __attribute__((always_inline)) void mf_span_put_int(mf_span *s, const char *key, size_t klen, int64_t v, bool boolean)
{
    if (!s || !(s->ctx.flags & 1))
        return;
    uint64_t u = (uint64_t)v;
    size_t n = 1;   /* the varint's bytes: 1 to 10 */
    while (n < 10 && u >> (7 * n))
        n++;
    if (klen < 110 && s->alen + klen + n + 7 <= s->acap) {
        uint8_t *p = mf_span_put_key(s->attrs + s->alen, key, klen, n + 1);
        *p++ = boolean ? 2 << 3 : 3 << 3;
        for (; u >= 0x80; u >>= 7)
            *p++ = (uint8_t)(u | 0x80);
        *p = (uint8_t)u;
        s->alen += (uint32_t)(klen + n + 7);
    } else {
        mf_otlp_attr_int(s, key, klen, v, boolean);
    }
}
/* The wall clock spans are stamped with, in ns (span_clock.c); mf_span_clock_check looks
 * again at how the kernel keeps time (when tracing starts). */
uint64_t mf_span_clock_ns(void);
void mf_span_clock_check(void);

/* The first n bytes of s (len bytes), or fewer, so as not to cut a character: a span that
 * is not UTF-8 would cost its whole batch at the collector. */
size_t mf_utf8_cut(const char *s, size_t len, size_t n);
/* The decimal text of v (at most 20 digits and a sign), and the hex of in[0..n) (2n
 * digits), at p; where they end. */
char *mf_otlp_decimal(char *p, int64_t v);
char *mf_otlp_hex(char *p, const uint8_t *in, size_t n);

/* The OTLP encodings (otlp_encode.c), appended to *data (len, cap as mf_buf_append's): a
 * span as it will sit among a request's spans. */
void mf_otlp_span_protobuf(const mf_span *s, char **data, size_t *len, size_t *cap);
void mf_otlp_span_json(const mf_span *s, char **data, size_t *len, size_t *cap);
/* A request (ExportTraceServiceRequest) of the resource named service and the scope mcpfed
 * around the spans written so in data[room..end), without moving them: its head goes into
 * the room left before them (at least mf_otlp_head_room bytes), and JSON's tail after
 * them (data has 7 bytes more past end). Where the request starts, and its length. */
size_t mf_otlp_head_room(const char *service, bool json);
char *mf_otlp_request(const char *service, bool json, char *data, size_t room, size_t end, size_t *len);

#endif
