/* The OTLP/HTTP exporter: finished spans wait, encoded, in a bounded queue and leave in
 * batches, as an ExportTraceServiceRequest (protobuf, or its JSON mapping) POSTed to
 * <endpoint>/v1/traces.
 *
 * Nothing on a request's path waits for it: ending a span appends its encoding to the
 * bytes waiting (otlp_encode.c; or, when max_queue_spans wait, counts it dropped) and the
 * span is reused at once, so that what waits is a few hundred bytes a span, not the span.
 * A batch is those bytes with their request written around them, sent from the loop's
 * timer, or as soon as a batch is full, over a connection kept to the collector
 * (otlp_post.c: libcurl connects, driven by the loop; no thread, no blocking call). One
 * export is in flight at a time; while it is, spans keep queuing in the other buffer, and
 * a collector that is slow or down costs a full queue and the spans dropped, never a
 * call's time. A failed export drops its batch (counted): retrying would only compete
 * with newer spans for the same queue. */
#include "build-config.h"
#include "span.h"
#include "federation.h"
#include "otlp_post.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct mf_tracer {
    char *url;                /* where spans go: <endpoint>/v1/traces */
    mf_post *post;
    char *service;            /* the resource's service.name */
    bool json;                /* the JSON mapping rather than protobuf */
    double ratio;
    size_t max_queue, batch;
    uint64_t flush_ms;
    char *waiting;            /* the spans waiting, encoded, one after another after head room */
    size_t wlen, wcap;
    size_t room;              /* kept before them for their request's head (mf_otlp_request) */
    size_t *ends;             /* where each waiting span's bytes end */
    size_t len;               /* spans waiting */
    uv_timer_t flush_timer;
    bool exporting;           /* within export_next: a post that ends at once starts no other */
    size_t in_flight;         /* spans in the export under way */
    char *sent;               /* the buffer of the export under way; the next waiting one */
    size_t sent_cap;
    uint64_t queued, exported, dropped, failed, batches;
    uint64_t export_cpu_ns;   /* the loop thread's CPU in starting exports (the post's own is mf_post_cpu_ns) */
    char last_error[320];        /* the last failure's, kept until another */
} mf_tracer;

#define TR (mf_fed.tracer)

bool mf_trace_on(void) { return TR != NULL; }
double mf_trace_ratio(void) { return TR ? TR->ratio : 0; }

static void export_next(mf_tracer *tr);

/* An export ended (mf_post's done). */
static void post_done(void *ud, const char *error)
{
    mf_tracer *tr = ud;
    size_t n = tr->in_flight;
    if (!error) {
        tr->exported += n;
    } else {
        tr->failed++;
        tr->dropped += n;
        snprintf(tr->last_error, sizeof tr->last_error, "%s", error);
    }
    if (!tr->exporting && tr->len >= tr->batch)   /* not from within export_next */
        export_next(tr);
}

/* --- batches ------------------------------------------------------------------------------ */


static void export_next(mf_tracer *tr)
{
    if (mf_post_busy(tr->post) || !tr->len)
        return;
    size_t n = tr->len < tr->batch ? tr->len : tr->batch, end = tr->ends[n - 1], left = tr->wlen - end;
    if (tr->wcap < tr->wlen + 8)   /* JSON's tail */
        tr->waiting = mf_xrealloc(tr->waiting, tr->wcap = tr->wlen + 8);
    /* the two buffers change places: this batch leaves from where it was written, and what
     * came after it (only when more than a batch waited) moves to the other one */
    char *data = tr->waiting;
    tr->waiting = tr->sent;
    tr->sent = data;
    size_t cap = tr->wcap;
    tr->wcap = tr->sent_cap;
    tr->sent_cap = cap;
    tr->wlen = 0;
    if (left) {
        tr->wlen = tr->room;
        if (tr->wcap < tr->room + left + 1)
            tr->waiting = mf_xrealloc(tr->waiting, tr->wcap = tr->room + left + 1);
        memcpy(tr->waiting + tr->room, data + end, left);
        tr->wlen += left;
    }
    for (size_t i = n; i < tr->len; i++)
        tr->ends[i - n] = tr->ends[i] - end + tr->room;
    tr->len -= n;
    tr->in_flight = n;
    size_t len;
    char *body = mf_otlp_request(tr->service, tr->json, data, tr->room, end, &len);
    tr->exporting = true;
    tr->batches++;
    mf_post_send(tr->post, body, len);
    tr->exporting = false;
}

static void export_measured(mf_tracer *tr)
{
    uint64_t cpu = mf_thread_cpu_ns();
    export_next(tr);
    tr->export_cpu_ns += mf_thread_cpu_ns() - cpu;
}

static void on_flush(uv_timer_t *t)
{
    mf_tracer *tr = t->data;
    if (!mf_post_busy(tr->post) && tr->len)
        export_measured(tr);
}

void mf_otlp_enqueue(mf_span *s)
{
    mf_tracer *tr = TR;
    if (!tr || tr->len == tr->max_queue) {
        if (tr)
            tr->dropped++;
        mf_span_free(s);
        return;
    }
    if (!tr->len)
        tr->wlen = tr->room;
    if (tr->json)
        mf_otlp_span_json(s, &tr->waiting, &tr->wlen, &tr->wcap);
    else
        mf_otlp_span_protobuf(s, &tr->waiting, &tr->wlen, &tr->wcap);
    mf_span_free(s);
    tr->ends[tr->len++] = tr->wlen;
    tr->queued++;
    if (tr->len >= tr->batch && !mf_post_busy(tr->post))
        export_measured(tr);
}

/* --- configuration -------------------------------------------------------------------------- */

/* What waits is dropped (and counted): the queue changes size, or its encoding, or the
 * service it is exported as (whose name its head room was kept for). */
static void queue_drop(mf_tracer *tr)
{
    tr->dropped += tr->len;
    tr->len = tr->wlen = 0;
}

static void queue_free(mf_tracer *tr)
{
    free(tr->waiting);
    free(tr->sent);
    free(tr->ends);
    tr->waiting = tr->sent = NULL;
    tr->ends = NULL;
    tr->len = tr->wlen = tr->wcap = tr->sent_cap = 0;
}

/* The settings of cfg->tracing into tr (a new tracer or the one running). */
static int apply(mf_tracer *tr, const mf_config *cfg, mf_error *err)
{
    const mf_tracing_conf *c = &cfg->tracing;
    size_t n = strlen(c->endpoint);
    while (n && c->endpoint[n - 1] == '/')
        n--;
    char *url = mf_xmalloc(n + 12);
    snprintf(url, n + 12, "%.*s/v1/traces", (int)n, c->endpoint);
    /* the header lines (names and values without line breaks: config.c checked) */
    char *headers = NULL;
    size_t hlen = 0, hcap = 0;
    const char *type = c->protocol == MF_OTLP_JSON ? "Content-Type: application/json\r\n"
                                                   : "Content-Type: application/x-protobuf\r\n";
    mf_buf_append(&headers, &hlen, &hcap, type, strlen(type));
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)c->headers, k, v) {
        mf_buf_append(&headers, &hlen, &hcap, k, strlen(k));
        mf_buf_append(&headers, &hlen, &hcap, ": ", 2);
        mf_buf_append(&headers, &hlen, &hcap, json_string_value(v), json_string_length(v));
        mf_buf_append(&headers, &hlen, &hcap, "\r\n", 2);
    }
    char why[256];
    mf_post_tls tls = {.ca_file = c->ca_file, .cert_file = c->cert_file, .key_file = c->key_file};
    int rc = mf_post_target(tr->post, url, &tls, headers, why, sizeof why);
    free(headers);
    if (rc != 0) {
        mf_error_set(err, -1, "tracing.endpoint: %s", why);   /* not the URL: it may hold a password */
        free(url);
        return -1;
    }
    free(tr->url);
    tr->url = url;
    if (tr->json != (c->protocol == MF_OTLP_JSON) || !tr->service || strcmp(tr->service, c->service_name) != 0)
        queue_drop(tr);
    free(tr->service);
    tr->service = mf_xstrdup(c->service_name);
    tr->json = c->protocol == MF_OTLP_JSON;
    tr->room = mf_otlp_head_room(tr->service, tr->json);
    tr->ratio = c->sample_ratio;
    tr->batch = (size_t)c->batch_spans;
    tr->flush_ms = (uint64_t)c->flush_ms;
    if ((size_t)c->max_queue_spans != tr->max_queue) {
        queue_drop(tr);
        tr->max_queue = (size_t)c->max_queue_spans;
        tr->ends = mf_xrealloc(tr->ends, tr->max_queue * sizeof *tr->ends);
    }
    uv_timer_start(&tr->flush_timer, on_flush, tr->flush_ms, tr->flush_ms);
    return 0;
}

static void tracer_closed(uv_handle_t *h)
{
    mf_tracer *tr = h->data;
    free(tr->service);
    free(tr->url);
    free(tr);
}

static mf_tracer *tracer_new(void)
{
    mf_span_clock_check();
    mf_tracer *tr = mf_xcalloc(1, sizeof *tr);
    tr->post = mf_post_new(post_done, tr);
    uv_timer_init(mf_loop(), &tr->flush_timer);
    tr->flush_timer.data = tr;
    uv_unref((uv_handle_t *)&tr->flush_timer);   /* the loop ends without waiting for a flush */
    return tr;
}

static void tracer_free(mf_tracer *tr)
{
    mf_post_free(tr->post);
    queue_free(tr);
    uv_close((uv_handle_t *)&tr->flush_timer, tracer_closed);
}

int mf_trace_configure(const mf_config *cfg, mf_error *err)
{
    if (!cfg->tracing.endpoint) {
        mf_trace_stop();
        return 0;
    }
    bool fresh = !TR;
    mf_tracer *tr = fresh ? tracer_new() : TR;
    if (apply(tr, cfg, err) != 0) {
        if (fresh)
            tracer_free(tr);
        return -1;
    }
    TR = tr;
    return 0;
}

void mf_trace_stop(void)
{
    mf_tracer *tr = TR;
    if (!tr)
        return;
    TR = NULL;
    mf_span_end(mf_trace_request_take());
    mf_span_pool_clear();
    tracer_free(tr);
}

json_t *mf_trace_status(void)
{
    mf_tracer *tr = TR;
    if (!tr)
        return json_pack("{s:b}", "enabled", false);
    return json_pack("{s:b,s:s,s:s,s:f,s:I,s:I,s:I,s:I,s:I,s:I,s:f,s:s?}", "enabled", true, "url", tr->url, "protocol",
                     tr->json ? "http/json" : "http/protobuf", "sample_ratio",
                     tr->ratio, "spans_queued", (json_int_t)tr->len, "spans_ended", (json_int_t)tr->queued,
                     "spans_exported", (json_int_t)tr->exported, "spans_dropped", (json_int_t)tr->dropped,
                     "exports", (json_int_t)tr->batches, "exports_failed", (json_int_t)tr->failed,
                     "export_cpu_ms", (double)(tr->export_cpu_ns + mf_post_cpu_ns(tr->post)) / 1e6, "last_error", tr->last_error[0] ? tr->last_error : NULL);
}
