/* A span as it is recorded (trace.c) and read by its encoders (otlp_encode.c): fixed
 * fields, and attributes written once, as they are set, in their protobuf wire form into
 * the span's own room, so that recording one is a few stores and no allocation, and
 * encoding it is a copy. */
#ifndef MF_SPAN_H
#define MF_SPAN_H

#include "trace.h"

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
    struct mf_span *next;     /* in the free list */
    /* the attributes, already in the wire form of Span.attributes fields (protobuf): set
     * once, copied as they are into a protobuf export and read back for a JSON one */
    uint8_t *attrs;           /* room, or allocated when more came */
    uint32_t alen, acap;
    char name[MF_SPAN_NAME];
    uint8_t room[MF_SPAN_ROOM];
};

/* Record an attribute of s (otlp_encode.c): a string (its first n bytes, cut as above), or
 * an integer or a boolean. Keys are short literals of klen bytes. */
void mf_otlp_attr_str(mf_span *s, const char *key, size_t klen, const char *value, size_t n);
void mf_otlp_attr_int(mf_span *s, const char *key, size_t klen, int64_t v, bool boolean);
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
