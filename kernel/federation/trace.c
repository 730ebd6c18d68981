/* Spans and W3C trace context.
 *
 * A request's span is the server span of what a client asked; its children are the
 * policy's decision, the cache lookup and each upstream attempt, the attempt being the
 * parent the upstream sees in the traceparent it is sent. Ids come from xoshiro256**
 * seeded by getrandom: unpredictable enough for ids that are no secret, and a few
 * nanoseconds each. A span records its attributes (span.h) only when it is sampled (an
 * unsampled span is ids and a time, so that the context still travels on); spans are
 * reused, so that recording one allocates nothing. */
#include "build-config.h"
#include "span.h"
#include "names.h"

#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

static struct {
    uint64_t s[4];
    bool seeded;
    mf_span *current;         /* the request on_request is dispatching */
} T;

static uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

static void seed(void)
{
    if (getrandom(T.s, sizeof T.s, 0) != (ssize_t)sizeof T.s) {
        /* no entropy source: the clock is still a different start per process */
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        T.s[0] = (uint64_t)ts.tv_nsec ^ 0x9e3779b97f4a7c15u;
        T.s[1] = (uint64_t)ts.tv_sec;
        T.s[2] = (uint64_t)getpid();
        T.s[3] = 0xbf58476d1ce4e5b9u;
    }
    T.seeded = true;
}

/* xoshiro256**: one draw */
#define XOSHIRO_STEP(r, s0, s1, s2, s3)                                                                                 \
    do {                                                                                                                \
        uint64_t t_ = (s1) << 17;                                                                                       \
        (r) = rotl((s1) * 5, 7) * 9;                                                                                    \
        (s2) ^= (s0), (s3) ^= (s1), (s1) ^= (s2), (s0) ^= (s3), (s2) ^= t_, (s3) = rotl((s3), 45);                      \
    } while (0)

/* n bytes (8 or 16) of id; all zero is invalid, and comes once in 2^64 draws. The state
 * is read and written once an id. */
static void random_id(uint8_t *out, size_t n)
{
    if (__builtin_expect(!T.seeded, 0))
        seed();
    uint64_t s0 = T.s[0], s1 = T.s[1], s2 = T.s[2], s3 = T.s[3], r0, r1 = 0;
    do {
        XOSHIRO_STEP(r0, s0, s1, s2, s3);
        if (n > 8)
            XOSHIRO_STEP(r1, s0, s1, s2, s3);
    } while (!(r0 | r1));
    T.s[0] = s0, T.s[1] = s1, T.s[2] = s2, T.s[3] = s3;
    memcpy(out, &r0, 8);
    if (n > 8)
        memcpy(out + 8, &r1, 8);
}

/* --- traceparent ---------------------------------------------------------------------- */

static int hexval(char c)
{
    return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

static bool unhex(const char *s, uint8_t *out, size_t n)
{
    bool nonzero = false;
    for (size_t i = 0; i < n; i++) {
        int hi = hexval(s[2 * i]), lo = hexval(s[2 * i + 1]);
        if (hi < 0 || lo < 0)
            return false;
        out[i] = (uint8_t)(hi << 4 | lo);
        nonzero = nonzero || out[i];
    }
    return nonzero;
}

bool mf_traceparent_parse(const char *s, size_t len, mf_trace_ctx *out)
{
    /* 00-<32 hex>-<16 hex>-<2 hex>; a later version may add fields after a dash */
    if (!s || len < MF_TRACEPARENT_LEN)
        return false;
    int v0 = hexval(s[0]), v1 = hexval(s[1]);
    if (v0 < 0 || v1 < 0 || (v0 == 15 && v1 == 15))   /* version ff is invalid */
        return false;
    int version = v0 << 4 | v1;
    if (s[2] != '-' || s[35] != '-' || s[52] != '-')
        return false;
    if (len != MF_TRACEPARENT_LEN && (version == 0 || s[MF_TRACEPARENT_LEN] != '-'))
        return false;
    if (!unhex(s + 3, out->trace_id, 16) || !unhex(s + 36, out->span_id, 8))
        return false;
    if (hexval(s[53]) < 0 || hexval(s[54]) < 0)
        return false;
    out->flags = (uint8_t)(hexval(s[54]) & 1);
    return true;
}

void mf_traceparent_format(const mf_trace_ctx *c, char *out)
{
    memcpy(out, "00-", 3);
    mf_otlp_hex(out + 3, c->trace_id, 16);
    out[35] = '-';
    mf_otlp_hex(out + 36, c->span_id, 8);
    out[52] = '-';
    out[53] = '0';
    out[54] = (c->flags & 1) ? '1' : '0';
    out[55] = '\0';
}

bool mf_tracestate_ok(const char *s)
{
    size_t n = 0;
    for (; s && s[n]; n++)
        if (s[n] < 0x20 || s[n] > 0x7e || n >= 512)
            return false;
    return s && n > 0;
}

/* --- spans ---------------------------------------------------------------------------- */

/* Ended spans come back here rather than to malloc: a request makes three or four, and
 * the span encoded at its end is the next one made. */
static mf_spare spare_spans;

static mf_span *span_new(int kind)
{
    mf_span *s = mf_spare_take(&spare_spans, sizeof *s);
    memset(s, 0, offsetof(mf_span, attrs));
    s->attrs = s->room;
    s->alen = 0;
    s->acap = sizeof s->room;
    s->kind = (uint8_t)kind;
    random_id(s->ctx.span_id, 8);
    return s;
}

/* A recorded span starts: named "a" or "a b" (a method and what it names), cut to fit.
 * An unrecorded one needs neither a name nor a time. */
static void span_start(mf_span *s, const char *a, const char *b)
{
    if (!mf_span_sampled(s))
        return;
    size_t n = mf_utf8_cut(a, strlen(a), sizeof s->name);
    mf_span_copy(s->name, a, n);
    if (b && n + 1 < sizeof s->name) {
        s->name[n++] = ' ';
        size_t m = mf_utf8_cut(b, strlen(b), sizeof s->name - n);
        mf_span_copy(s->name + n, b, m);
        n += m;
    }
    s->name_len = (uint16_t)n;
    s->start_ns = mf_span_clock_ns();
}

/* Sampled by ratio, deterministically from the trace id as OpenTelemetry's
 * TraceIdRatioBased does, so that every span of a trace agrees. */
static bool ratio_says(const uint8_t *trace_id)
{
    double ratio = mf_trace_ratio();
    if (ratio >= 1)
        return true;
    if (ratio <= 0)
        return false;
    uint64_t low;
    memcpy(&low, trace_id + 8, 8);
    return (double)(low >> 11) < ratio * (double)(UINT64_C(1) << 53);
}

mf_span *mf_span_request(const json_t *meta)
{
    if (!mf_trace_on())
        return NULL;
    mf_span *s = span_new(MF_SPAN_SERVER);
    const char *tp = json_string_value(json_object_get(meta, "traceparent"));
    mf_trace_ctx parent;
    if (tp && mf_traceparent_parse(tp, strlen(tp), &parent)) {
        memcpy(s->ctx.trace_id, parent.trace_id, 16);
        memcpy(s->parent, parent.span_id, 8);
        s->has_parent = true;
        const char *ts = json_string_value(json_object_get(meta, "tracestate"));
        if (mf_tracestate_ok(ts))
            s->tracestate = mf_xstrdup(ts);
        /* a client that does not record the trace is not overruled */
        s->ctx.flags = (parent.flags & 1) && ratio_says(s->ctx.trace_id);
    } else {
        random_id(s->ctx.trace_id, 16);
        s->ctx.flags = ratio_says(s->ctx.trace_id);
    }
    return s;
}

void mf_span_start(mf_span *s, const char *name, const char *detail)
{
    if (s)
        span_start(s, name, detail);
}

mf_span *mf_span_child(mf_span *parent, const char *name, const char *detail, int kind)
{
    /* an unrecorded span is made only to be the parent an upstream is told of */
    if (!parent || (!mf_span_sampled(parent) && kind != MF_SPAN_CLIENT))
        return NULL;
    mf_span *s = span_new(kind);
    memcpy(s->ctx.trace_id, parent->ctx.trace_id, 16);
    memcpy(s->parent, parent->ctx.span_id, 8);
    s->has_parent = true;
    s->ctx.flags = parent->ctx.flags;
    if (parent->tracestate)
        s->tracestate = mf_xstrdup(parent->tracestate);
    span_start(s, name, detail);
    return s;
}

bool mf_span_sampled(const mf_span *s) { return s && (s->ctx.flags & 1); }

void mf_span_error(mf_span *s, int code, const char *message)
{
    if (!mf_span_sampled(s))
        return;
    s->status = 2;
    free(s->status_msg);
    s->status_msg = NULL;
    if (message) {
        s->status_len = mf_utf8_cut(message, strlen(message), MF_SPAN_VALUE);
        s->status_msg = mf_xstrndup(message, s->status_len);
    }
    if (code) {
        char buf[24];
        *mf_otlp_decimal(buf, code) = '\0';
        mf_span_int(s, "rpc.jsonrpc.error_code", code);
        mf_span_str(s, "error.type", buf);
    }
}

void mf_span_traceparent(const mf_span *s, char *out) { mf_traceparent_format(&s->ctx, out); }

const char *mf_span_tracestate(const mf_span *s) { return s ? s->tracestate : NULL; }

void mf_span_free(mf_span *s)
{
    if (!s)
        return;
    /* each free tested first: a free of NULL costs as much as one of a block */
    if (s->attrs != s->room)
        free(s->attrs);
    if (s->status_msg)
        free(s->status_msg);
    if (s->tracestate)
        free(s->tracestate);
    mf_spare_give(&spare_spans, s);
}

void mf_span_pool_clear(void) { mf_spare_clear(&spare_spans); }

void mf_span_end(mf_span *s)
{
    if (!s)
        return;
    if (!mf_span_sampled(s) || !mf_trace_on()) {
        mf_span_free(s);
        return;
    }
    s->end_ns = mf_span_clock_ns();
    if (s->end_ns < s->start_ns)   /* a new anchor of the span clock, a few ns behind */
        s->end_ns = s->start_ns;
    mf_otlp_enqueue(s);
}

/* --- the request being dispatched ------------------------------------------------------ */

void mf_trace_request_begin(const json_t *id, const char *method, const json_t *params, const json_t *name_in,
                            const json_t *meta, const char *mcp_session)
{
    mf_span_end(T.current);   /* never left over, but never leaked either */
    T.current = NULL;
    if (!mf_trace_on())
        return;
    mf_span *s = T.current = mf_span_request(meta);
    if (!mf_span_sampled(s))
        return;
    /* what it names: params.name (looked up by the caller), or its uri */
    const json_t *named = json_is_string(name_in) ? name_in : json_object_get(params, "uri");
    const char *name = json_string_value(named);
    size_t name_len = json_string_length(named);
    mf_span_start(s, method ? method : "?", name);
    mf_span_str(s, "mcp.method.name", method);
    mf_span_str(s, "mcp.session.id", mcp_session);
    char buf[24];
    if (json_is_string(id)) {
        mf_span_strn(s, "jsonrpc.request.id", json_string_value(id), json_string_length(id));
    } else if (json_is_integer(id)) {
        *mf_otlp_decimal(buf, json_integer_value(id)) = '\0';
        mf_span_str(s, "jsonrpc.request.id", buf);
    }
    if (method && strcmp(method, "tools/call") == 0) {
        mf_span_strn(s, "gen_ai.tool.name", name, name_len);
        mf_span_str(s, "gen_ai.operation.name", "execute_tool");
    } else if (method && strcmp(method, "prompts/get") == 0) {
        mf_span_strn(s, "gen_ai.prompt.name", name, name_len);
    } else if (method && strcmp(method, "resources/read") == 0) {
        mf_span_strn(s, "mcp.resource.uri", name, name_len);
    }
}

mf_span *mf_trace_request_take(void)
{
    mf_span *s = T.current;
    T.current = NULL;
    return s;
}

void mf_trace_request_error(int code, const char *message)
{
    mf_span_error(T.current, code, message);
}

void mf_trace_request_end(void)
{
    mf_span_end(T.current);
    T.current = NULL;
}
