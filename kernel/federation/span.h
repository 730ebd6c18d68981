/* A span as it is recorded (trace.c) and read by its encoders (otlp_encode.c): fixed
 * fields, and attributes as typed entries whose keys are the caller's literals and whose
 * text values are copied into the span's own room, so that recording one is a few stores
 * and no allocation; the wire format is written only when a batch leaves. */
#ifndef MF_SPAN_H
#define MF_SPAN_H

#include "trace.h"

enum { MF_SPAN_ATTRS = 12, MF_SPAN_ROOM = 256, MF_SPAN_NAME = 96 };
enum { MF_ATTR_STR, MF_ATTR_INT, MF_ATTR_BOOL };

typedef struct mf_span_attr {
    const char *key;          /* a literal, never freed */
    const char *str;          /* MF_ATTR_STR: in the span's room, or allocated (owned) */
    int64_t num;              /* MF_ATTR_INT, MF_ATTR_BOOL; MF_ATTR_STR: str's length */
    uint8_t type;
    uint8_t klen;             /* strlen(key): keys are short */
    bool owned;
} mf_span_attr;

struct mf_span {
    mf_trace_ctx ctx;         /* the trace, this span's id, sampled */
    uint8_t parent[8];
    bool has_parent;
    uint8_t kind;
    uint8_t status;           /* 0 unset, 2 error */
    uint8_t nattrs;
    uint16_t used;            /* of room */
    uint16_t name_len;
    uint32_t dropped;         /* attributes past MF_SPAN_ATTRS */
    const char *status_msg;   /* in room, or allocated (status_owned) */
    size_t status_len;
    bool status_owned;
    char *tracestate;
    uint64_t start_ns, end_ns;
    struct mf_span *next;     /* in the free list */
    mf_span_attr attrs[MF_SPAN_ATTRS];
    char name[MF_SPAN_NAME];
    char room[MF_SPAN_ROOM];
};

/* The OTLP encodings (otlp_encode.c), appended to *data (len, cap as mf_buf_append's): a
 * span as it will sit among a request's spans, and a request (ExportTraceServiceRequest)
 * of the resource named service and the scope mcpfed around spans[0..n) written so. */
void mf_otlp_span_protobuf(const mf_span *s, char **data, size_t *len, size_t *cap);
void mf_otlp_request_protobuf(const char *service, const char *spans, size_t n, char **data, size_t *len,
                              size_t *cap);
void mf_otlp_span_json(const mf_span *s, char **data, size_t *len, size_t *cap);
void mf_otlp_request_json(const char *service, const char *spans, size_t n, char **data, size_t *len, size_t *cap);

#endif
