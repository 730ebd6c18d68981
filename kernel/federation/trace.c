/* Spans and W3C trace context.
 *
 * A request's span is the server span of what a client asked; its children are the
 * policy's decision, the cache lookup and each upstream attempt, the attempt being the
 * parent the upstream sees in the traceparent it is sent. Ids come from xoshiro256**
 * seeded by getrandom: unpredictable enough for ids that are no secret, and a few
 * nanoseconds each. A span's attributes are written as OTLP JSON text as they are set, and
 * only when it is sampled (an unsampled span is ids and a time, so that the context still
 * travels on): a span is one allocation and a buffer, and its export text a copy. */
#include "build-config.h"
#include "trace.h"

#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

struct mf_span {
    mf_trace_ctx ctx;         /* the trace, this span's id, sampled */
    uint8_t parent[8];
    bool has_parent;
    uint8_t kind;
    int status;               /* 0 unset, 2 error */
    char *status_msg;
    char *tracestate;
    uint64_t start_ns, end_ns;
    char *attrs;              /* OTLP JSON: {"key":...,"value":{...}},... */
    size_t alen, acap;
    char name[96];
};

static struct {
    uint64_t s[4];
    bool seeded;
    mf_span *current;         /* the request on_request is dispatching */
} T;

static uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

static uint64_t next_random(void)
{
    if (!T.seeded) {
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
    uint64_t *s = T.s;
    uint64_t r = rotl(s[1] * 5, 7) * 9, t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return r;
}

static void random_id(uint8_t *out, size_t n)
{
    do {
        for (size_t i = 0; i < n; i += 8) {
            uint64_t r = next_random();
            memcpy(out + i, &r, n - i < 8 ? n - i : 8);
        }
    } while (!memcmp(out, "\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0", n));   /* all zero is invalid */
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

static void hex(const uint8_t *in, size_t n, char *out)
{
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = digits[in[i] >> 4];
        out[2 * i + 1] = digits[in[i] & 15];
    }
}

void mf_traceparent_format(const mf_trace_ctx *c, char *out)
{
    memcpy(out, "00-", 3);
    hex(c->trace_id, 16, out + 3);
    out[35] = '-';
    hex(c->span_id, 8, out + 36);
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

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static mf_span *span_new(const char *name, int kind)
{
    mf_span *s = mf_xcalloc(1, sizeof *s);
    /* a long name is cut where a character starts: a span that is not UTF-8 would cost
     * its whole batch at the collector */
    size_t n = strlen(name);
    if (n >= sizeof s->name) {
        n = sizeof s->name - 1;
        while (n && ((unsigned char)name[n] & 0xc0) == 0x80)
            n--;
    }
    memcpy(s->name, name, n);
    s->kind = (uint8_t)kind;
    random_id(s->ctx.span_id, 8);
    s->start_ns = now_ns();
    return s;
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

mf_span *mf_span_request(const json_t *meta, const char *name)
{
    if (!mf_trace_on())
        return NULL;
    mf_span *s = span_new(name, MF_SPAN_SERVER);
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

mf_span *mf_span_child(mf_span *parent, const char *name, int kind)
{
    if (!parent)
        return NULL;
    mf_span *s = span_new(name, kind);
    memcpy(s->ctx.trace_id, parent->ctx.trace_id, 16);
    memcpy(s->parent, parent->ctx.span_id, 8);
    s->has_parent = true;
    s->ctx.flags = parent->ctx.flags;
    if (parent->tracestate)
        s->tracestate = mf_xstrdup(parent->tracestate);
    return s;
}

bool mf_span_sampled(const mf_span *s) { return s && (s->ctx.flags & 1); }

/* Append a string literal. */
#define append_lit(out, len, cap, lit) mf_buf_append(out, len, cap, lit, sizeof lit - 1)

/* Append text to out as the inside of a JSON string. */
static void json_text(char **out, size_t *len, size_t *cap, const char *text)
{
    static const char digits[] = "0123456789abcdef";
    const char *run = text;
    for (const char *p = text;; p++) {
        unsigned char c = (unsigned char)*p;
        if (c && c >= 0x20 && c != '"' && c != '\\')
            continue;
        mf_buf_append(out, len, cap, run, (size_t)(p - run));
        if (!c)
            return;
        char esc[6] = {'\\', (char)c, 0, 0, 0, 0};
        size_t n = 2;
        if (c < 0x20) {
            memcpy(esc + 1, "u00", 3);
            esc[4] = digits[c >> 4];
            esc[5] = digits[c & 15];
            n = 6;
        }
        mf_buf_append(out, len, cap, esc, n);
        run = p + 1;
    }
}

/* One attribute: {"key":"<key>","value":{"<type>":<value>}}, value quoted when it is text. */
static void add_attr(mf_span *s, const char *key, const char *type, const char *value, bool text)
{
    if (!mf_span_sampled(s))
        return;
    if (s->alen)
        append_lit(&s->attrs, &s->alen, &s->acap, ",");
    append_lit(&s->attrs, &s->alen, &s->acap, "{\"key\":\"");
    json_text(&s->attrs, &s->alen, &s->acap, key);
    append_lit(&s->attrs, &s->alen, &s->acap, "\",\"value\":{\"");
    mf_buf_append(&s->attrs, &s->alen, &s->acap, type, strlen(type));
    if (text) {
        append_lit(&s->attrs, &s->alen, &s->acap, "\":\"");
        json_text(&s->attrs, &s->alen, &s->acap, value);
        append_lit(&s->attrs, &s->alen, &s->acap, "\"}}");
    } else {
        append_lit(&s->attrs, &s->alen, &s->acap, "\":");
        mf_buf_append(&s->attrs, &s->alen, &s->acap, value, strlen(value));
        append_lit(&s->attrs, &s->alen, &s->acap, "}}");
    }
}

void mf_span_str(mf_span *s, const char *key, const char *value)
{
    if (value)
        add_attr(s, key, "stringValue", value, true);
}

void mf_span_int(mf_span *s, const char *key, int64_t value)
{
    char n[24];
    snprintf(n, sizeof n, "%lld", (long long)value);
    add_attr(s, key, "intValue", n, true);   /* 64-bit integers are strings in OTLP JSON */
}

void mf_span_bool(mf_span *s, const char *key, bool value)
{
    add_attr(s, key, "boolValue", value ? "true" : "false", false);
}

void mf_span_error(mf_span *s, int code, const char *message)
{
    if (!mf_span_sampled(s))
        return;
    s->status = 2;
    free(s->status_msg);
    s->status_msg = message ? mf_xstrdup(message) : NULL;
    if (code) {
        char type[16];
        snprintf(type, sizeof type, "%d", code);
        mf_span_int(s, "rpc.jsonrpc.error_code", code);
        mf_span_str(s, "error.type", type);
    }
}

void mf_span_traceparent(const mf_span *s, char *out) { mf_traceparent_format(&s->ctx, out); }

const char *mf_span_tracestate(const mf_span *s) { return s ? s->tracestate : NULL; }

void mf_span_free(mf_span *s)
{
    if (!s)
        return;
    free(s->attrs);
    free(s->status_msg);
    free(s->tracestate);
    free(s);
}

void mf_span_end(mf_span *s)
{
    if (!s)
        return;
    if (!mf_span_sampled(s) || !mf_trace_on()) {
        mf_span_free(s);
        return;
    }
    s->end_ns = now_ns();
    mf_otlp_enqueue(s);
}

/* --- the request being dispatched ------------------------------------------------------ */

void mf_trace_request_begin(const json_t *msg, uint64_t session)
{
    mf_span_end(T.current);   /* never left over, but never leaked either */
    T.current = NULL;
    if (!mf_trace_on())
        return;
    const char *method = mf_rpc_method(msg);
    json_t *params = json_object_get(msg, "params");
    const char *name = json_string_value(json_object_get(params, "name"));
    if (!name)
        name = json_string_value(json_object_get(params, "uri"));
    char title[256];   /* longer than a span's name, which is cut at a character */
    snprintf(title, sizeof title, "%s%s%s", method ? method : "?", name ? " " : "", name ? name : "");
    mf_span *s = mf_span_request(json_object_get(params, "_meta"), title);
    T.current = s;
    if (!mf_span_sampled(s))
        return;
    mf_span_str(s, "mcp.method.name", method);
    mf_span_int(s, "mcp.session.id", (int64_t)session);
    json_t *id = json_object_get(msg, "id");
    if (json_is_string(id))
        mf_span_str(s, "jsonrpc.request.id", json_string_value(id));
    else if (json_is_integer(id))
        mf_span_str(s, "jsonrpc.request.id", (snprintf(title, sizeof title, "%lld", (long long)json_integer_value(id)), title));
    if (method && strcmp(method, "tools/call") == 0) {
        mf_span_str(s, "gen_ai.tool.name", name);
        mf_span_str(s, "gen_ai.operation.name", "execute_tool");
    } else if (method && strcmp(method, "prompts/get") == 0) {
        mf_span_str(s, "gen_ai.prompt.name", name);
    } else if (method && strcmp(method, "resources/read") == 0) {
        mf_span_str(s, "mcp.resource.uri", name);
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

/* --- OTLP JSON -------------------------------------------------------------------------- */

char *mf_span_text(const mf_span *s, size_t *len)
{
    char tid[33], sid[17], pid[17];
    hex(s->ctx.trace_id, 16, tid);
    tid[32] = '\0';
    hex(s->ctx.span_id, 8, sid);
    sid[16] = '\0';
    char *out = NULL;
    size_t cap = 0;
    *len = 0;
    char head[256];
    int n = snprintf(head, sizeof head, "{\"traceId\":\"%s\",\"spanId\":\"%s\",\"kind\":%d,\"startTimeUnixNano\":\"%llu\","
                     "\"endTimeUnixNano\":\"%llu\"", tid, sid, s->kind, (unsigned long long)s->start_ns,
                     (unsigned long long)s->end_ns);
    mf_buf_append(&out, len, &cap, head, (size_t)n);
    if (s->has_parent) {
        hex(s->parent, 8, pid);
        pid[16] = '\0';
        n = snprintf(head, sizeof head, ",\"parentSpanId\":\"%s\"", pid);
        mf_buf_append(&out, len, &cap, head, (size_t)n);
    }
    append_lit(&out, len, &cap, ",\"name\":\"");
    json_text(&out, len, &cap, s->name);
    append_lit(&out, len, &cap, "\",\"attributes\":[");
    if (s->alen)
        mf_buf_append(&out, len, &cap, s->attrs, s->alen);
    append_lit(&out, len, &cap, "]");
    if (s->tracestate) {
        append_lit(&out, len, &cap, ",\"traceState\":\"");
        json_text(&out, len, &cap, s->tracestate);
        append_lit(&out, len, &cap, "\"");
    }
    if (s->status) {
        n = snprintf(head, sizeof head, ",\"status\":{\"code\":%d", s->status);
        mf_buf_append(&out, len, &cap, head, (size_t)n);
        if (s->status_msg) {
            append_lit(&out, len, &cap, ",\"message\":\"");
            json_text(&out, len, &cap, s->status_msg);
            append_lit(&out, len, &cap, "\"");
        }
        append_lit(&out, len, &cap, "}");
    }
    append_lit(&out, len, &cap, "}");
    return out;
}
