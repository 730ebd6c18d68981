/* Tracing: W3C trace context and OpenTelemetry spans of the requests the gateway serves
 * (trace.c), exported in batches over OTLP/HTTP (otlp.c). */
#ifndef MF_TRACE_H
#define MF_TRACE_H

#include "config.h"

/* A W3C trace context (traceparent; tracestate kept as the client sent it). */
typedef struct mf_trace_ctx {
    uint8_t trace_id[16];
    uint8_t span_id[8];       /* the parent's, as read; ours, as written */
    uint8_t flags;            /* bit 0: sampled */
} mf_trace_ctx;

#define MF_TRACEPARENT_LEN 55

/* Parse a traceparent header value (version 00, or a later version's first four fields);
 * false for anything invalid (all-zero ids, version ff, bad hex, wrong length). */
bool mf_traceparent_parse(const char *s, size_t len, mf_trace_ctx *out);
/* "00-<trace>-<span>-<flags>" into out (MF_TRACEPARENT_LEN + 1 bytes). */
void mf_traceparent_format(const mf_trace_ctx *c, char *out);
/* A tracestate value worth passing on: printable ASCII, at most 512 bytes. */
bool mf_tracestate_ok(const char *s);

enum { MF_SPAN_INTERNAL = 1, MF_SPAN_SERVER = 2, MF_SPAN_CLIENT = 3 };

typedef struct mf_span mf_span;

/* Is tracing configured (otlp.c)? Its sampling ratio. */
bool mf_trace_on(void);
double mf_trace_ratio(void);
/* A request's span: its parent from meta's traceparent (a client's _meta; invalid ones
 * are ignored and a trace starts here), sampled by the configured ratio unless the parent
 * said not to. NULL when tracing is off. When it is sampled, mf_span_start names it and
 * starts its clock. */
mf_span *mf_span_request(const json_t *meta);
/* Name s "name detail" (detail may be NULL), and start it, if it is recorded. */
void mf_span_start(mf_span *s, const char *name, const char *detail);
/* A child of parent, started with its name as above. NULL when parent is, and when parent
 * is not recorded unless the child is a client span (whose id an upstream is told). */
mf_span *mf_span_child(mf_span *parent, const char *name, const char *detail, int kind);
/* Is it recorded (and exported)? Attributes of an unsampled span are dropped anyway;
 * this spares building them. */
bool mf_span_sampled(const mf_span *s);
/* Attributes are recorded with span.h's mf_span_str and the others. */
/* Status error, with a JSON-RPC code (0: none) as rpc.jsonrpc.error_code and error.type. */
void mf_span_error(mf_span *s, int code, const char *message);
/* The traceparent the next hop sees with s as its parent, and the client's tracestate. */
void mf_span_traceparent(const mf_span *s, char *out);
const char *mf_span_tracestate(const mf_span *s);
/* End (NULL is fine): queued for export when sampled, else freed. */
void mf_span_end(mf_span *s);

/* The request span on_request is serving, for the answers sent without a forward: set
 * around the dispatch, taken by a forwarded request. The caller has looked up the
 * request's id, method, params, params.name and params._meta; mcp_session is the
 * session's id as its client knows it (mcp.session.id), or NULL where it has none. */
void mf_trace_request_begin(const json_t *id, const char *method, const json_t *params, const json_t *name,
                            const json_t *meta, const char *mcp_session);
mf_span *mf_trace_request_take(void);
void mf_trace_request_end(void);
/* The current request got an error answer (session.c). */
void mf_trace_request_error(int code, const char *message);

/* otlp.c: the exporter. Start or reconfigure from cfg (tracing off when it names no
 * endpoint); stop sends nothing more and frees what is queued. */
int mf_trace_configure(const mf_config *cfg, mf_error *err);
void mf_trace_stop(void);
/* A finished, sampled span for export (taken over): dropped and counted when the queue is
 * full. */
void mf_otlp_enqueue(mf_span *s);
void mf_span_free(mf_span *s);
/* Free the spans kept for reuse (at stop). */
void mf_span_pool_clear(void);
/* For the admin: queued, exported, dropped, failed exports. */
json_t *mf_trace_status(void);

#endif
