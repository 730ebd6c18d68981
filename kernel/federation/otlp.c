/* The OTLP/HTTP exporter: finished spans wait, encoded, in a bounded queue and leave in
 * batches, as an ExportTraceServiceRequest (protobuf, or its JSON mapping) POSTed to
 * <endpoint>/v1/traces.
 *
 * Nothing on a request's path waits for it: ending a span appends its encoding to the
 * bytes waiting (otlp_encode.c; or, when max_queue_spans wait, counts it dropped) and the
 * span is reused at once, so that what waits is a few hundred bytes a span, not the span.
 * A batch is those bytes wrapped in their request, built on the loop from its timer or as
 * soon as a batch is full, and handed to the exporter's thread, which posts it with
 * libcurl: what a transfer costs (libcurl's work, the socket's system calls, the
 * collector's pace) is off the loop. One export is in flight at a time, over one
 * connection that is kept; while it is, spans keep queuing, and a collector that is slow
 * or down costs a full queue and the spans dropped, never a call's time. A failed export
 * drops its batch (counted): retrying would only compete with newer spans for the same
 * queue.
 *
 * The loop and the thread share the batch in flight, the settings of the next transfer and
 * the counters, under one mutex held only for a few stores; the thread waits in
 * curl_multi_poll, which curl_multi_wakeup interrupts at once when the tracer stops. */
#include "build-config.h"
#include "span.h"
#include "federation.h"

#include <curl/curl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

typedef struct mf_tracer {
    /* the loop's own */
    char *service;            /* the resource's service.name */
    bool json;                /* the JSON mapping rather than protobuf */
    double ratio;
    size_t max_queue, batch;
    uint64_t flush_ms;
    char *waiting;            /* the spans waiting, encoded, one after another */
    size_t wlen, wcap;
    size_t *ends;             /* where each waiting span's bytes end */
    size_t len;               /* spans waiting */
    uint64_t queued, dropped_queue;
    char *url;                /* as the admin shows it */
    uv_timer_t flush_timer;
    uv_async_t done;          /* the thread ended a transfer */
    unsigned open_handles;    /* the timer and the async still to close, at stop */

    /* shared with the thread, under mu */
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool stop;
    bool sending;             /* a batch is the thread's, from handing over to its end */
    bool ready;               /* handed over, not yet taken */
    char *body;               /* the batch in flight (written by the loop only while !sending) */
    size_t body_len, body_cap, in_flight;
    char *next_url;           /* settings the next transfer takes over, when they changed */
    struct curl_slist *next_headers;
    uint64_t exported, dropped_export, failed, batches;
    char last_error[CURL_ERROR_SIZE];

    /* the thread's own */
    pthread_t thread;
    CURLM *multi;             /* its wakeup is how the loop interrupts a transfer */
    CURL *easy;
    char *url_in_use;
    struct curl_slist *headers_in_use;
    char errbuf[CURL_ERROR_SIZE];
} mf_tracer;

#define TR (mf_fed.tracer)

bool mf_trace_on(void) { return TR != NULL; }
double mf_trace_ratio(void) { return TR ? TR->ratio : 0; }

/* --- the exporter's thread ------------------------------------------------------------------ */

static size_t discard(char *p, size_t size, size_t n, void *ud)
{
    (void)p;
    (void)ud;
    return size * n;
}

/* One transfer of the batch in flight; false when the tracer stopped meanwhile. */
static bool transfer(mf_tracer *tr, const char *body, size_t len, CURLcode *rc, long *status)
{
    curl_easy_setopt(tr->easy, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(tr->easy, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
    tr->errbuf[0] = '\0';
    *rc = CURLE_OK;
    *status = 0;
    if (curl_multi_add_handle(tr->multi, tr->easy) != CURLM_OK) {
        *rc = CURLE_FAILED_INIT;
        return true;
    }
    int running = 1;
    bool stopped = false;
    while (running) {
        if (curl_multi_perform(tr->multi, &running) != CURLM_OK)
            break;
        if (!running)
            break;
        pthread_mutex_lock(&tr->mu);
        stopped = tr->stop;
        pthread_mutex_unlock(&tr->mu);
        if (stopped)
            break;
        curl_multi_poll(tr->multi, NULL, 0, 1000, NULL);
    }
    CURLMsg *msg;
    int left;
    while ((msg = curl_multi_info_read(tr->multi, &left)))
        if (msg->msg == CURLMSG_DONE)
            *rc = msg->data.result;
    curl_easy_getinfo(tr->easy, CURLINFO_RESPONSE_CODE, status);
    curl_multi_remove_handle(tr->multi, tr->easy);
    return !stopped;
}

static void *exporter(void *arg)
{
    mf_tracer *tr = arg;
    pthread_mutex_lock(&tr->mu);
    for (;;) {
        while (!tr->ready && !tr->stop)
            pthread_cond_wait(&tr->cv, &tr->mu);
        if (tr->stop)
            break;
        tr->ready = false;
        if (tr->next_url) {   /* a reload changed where and how: from this transfer on */
            free(tr->url_in_use);
            curl_slist_free_all(tr->headers_in_use);
            tr->url_in_use = tr->next_url;
            tr->headers_in_use = tr->next_headers;
            tr->next_url = NULL;
            tr->next_headers = NULL;
            curl_easy_setopt(tr->easy, CURLOPT_URL, tr->url_in_use);
            curl_easy_setopt(tr->easy, CURLOPT_HTTPHEADER, tr->headers_in_use);
        }
        const char *body = tr->body;
        size_t len = tr->body_len, n = tr->in_flight;
        pthread_mutex_unlock(&tr->mu);

        CURLcode rc;
        long status;
        bool done = transfer(tr, body, len, &rc, &status);

        pthread_mutex_lock(&tr->mu);
        if (done && rc == CURLE_OK && status >= 200 && status < 300) {
            tr->exported += n;
        } else {
            tr->failed++;
            tr->dropped_export += n;
            if (!done)
                snprintf(tr->last_error, sizeof tr->last_error, "stopped during an export");
            else if (rc != CURLE_OK)
                snprintf(tr->last_error, sizeof tr->last_error, "%s", tr->errbuf[0] ? tr->errbuf : curl_easy_strerror(rc));
            else
                snprintf(tr->last_error, sizeof tr->last_error, "HTTP status %ld", status);
        }
        tr->sending = false;
        if (!tr->stop)
            uv_async_send(&tr->done);   /* what waited may leave now */
    }
    pthread_mutex_unlock(&tr->mu);
    return NULL;
}

/* --- batches, on the loop ---------------------------------------------------------------------- */

static void export_next(mf_tracer *tr)
{
    pthread_mutex_lock(&tr->mu);
    bool busy = tr->sending;
    pthread_mutex_unlock(&tr->mu);
    if (busy || !tr->len)
        return;
    /* the thread has no batch: the body is the loop's until it is handed over */
    size_t n = tr->len < tr->batch ? tr->len : tr->batch, bytes = tr->ends[n - 1], len = 0;
    if (tr->json)
        mf_otlp_request_json(tr->service, tr->waiting, bytes, &tr->body, &len, &tr->body_cap);
    else
        mf_otlp_request_protobuf(tr->service, tr->waiting, bytes, &tr->body, &len, &tr->body_cap);
    /* what is left moves up: only when more than a batch waited */
    memmove(tr->waiting, tr->waiting + bytes, tr->wlen - bytes);
    tr->wlen -= bytes;
    for (size_t i = n; i < tr->len; i++)
        tr->ends[i - n] = tr->ends[i] - bytes;
    tr->len -= n;
    pthread_mutex_lock(&tr->mu);
    tr->body_len = len;
    tr->in_flight = n;
    tr->sending = tr->ready = true;
    tr->batches++;
    pthread_cond_signal(&tr->cv);
    pthread_mutex_unlock(&tr->mu);
}

static void on_flush(uv_timer_t *t) { export_next(t->data); }

static void on_done(uv_async_t *a)
{
    mf_tracer *tr = a->data;
    if (tr->len >= tr->batch)
        export_next(tr);
}

void mf_otlp_enqueue(mf_span *s)
{
    mf_tracer *tr = TR;
    if (!tr || tr->len == tr->max_queue) {
        if (tr)
            tr->dropped_queue++;
        mf_span_free(s);
        return;
    }
    if (tr->json)
        mf_otlp_span_json(s, &tr->waiting, &tr->wlen, &tr->wcap);
    else
        mf_otlp_span_protobuf(s, &tr->waiting, &tr->wlen, &tr->wcap);
    mf_span_free(s);
    tr->ends[tr->len++] = tr->wlen;
    tr->queued++;
    if (tr->len >= tr->batch)
        export_next(tr);
}

/* What waits is dropped (and counted): the queue changes size, or its encoding. */
static void queue_drop(mf_tracer *tr)
{
    tr->dropped_queue += tr->len;
    tr->len = tr->wlen = 0;
}

/* --- configuration -------------------------------------------------------------------------- */

/* The settings of cfg->tracing into tr (a new tracer or the one running). */
static void apply(mf_tracer *tr, const mf_config *cfg)
{
    const mf_tracing_conf *c = &cfg->tracing;
    size_t n = strlen(c->endpoint);
    while (n && c->endpoint[n - 1] == '/')
        n--;
    char *url = mf_xmalloc(n + 12);
    snprintf(url, n + 12, "%.*s/v1/traces", (int)n, c->endpoint);
    struct curl_slist *headers = curl_slist_append(NULL, c->protocol == MF_OTLP_JSON
                                                             ? "Content-Type: application/json"
                                                             : "Content-Type: application/x-protobuf");
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)c->headers, k, v) {
        char line[1024];
        snprintf(line, sizeof line, "%s: %s", k, json_string_value(v));
        headers = curl_slist_append(headers, line);
    }
    free(tr->url);
    tr->url = mf_xstrdup(url);
    pthread_mutex_lock(&tr->mu);   /* the thread takes them over before its next transfer */
    free(tr->next_url);
    curl_slist_free_all(tr->next_headers);
    tr->next_url = url;
    tr->next_headers = headers;
    pthread_mutex_unlock(&tr->mu);
    free(tr->service);
    tr->service = mf_xstrdup(c->service_name);
    if (tr->json != (c->protocol == MF_OTLP_JSON))
        queue_drop(tr);
    tr->json = c->protocol == MF_OTLP_JSON;
    tr->ratio = c->sample_ratio;
    tr->batch = (size_t)c->batch_spans;
    tr->flush_ms = (uint64_t)c->flush_ms;
    if ((size_t)c->max_queue_spans != tr->max_queue) {
        queue_drop(tr);
        tr->max_queue = (size_t)c->max_queue_spans;
        tr->ends = mf_xrealloc(tr->ends, tr->max_queue * sizeof *tr->ends);
    }
    uv_timer_start(&tr->flush_timer, on_flush, tr->flush_ms, tr->flush_ms);
}

static void tracer_free(mf_tracer *tr)
{
    curl_easy_cleanup(tr->easy);
    curl_multi_cleanup(tr->multi);
    curl_slist_free_all(tr->headers_in_use);
    curl_slist_free_all(tr->next_headers);
    free(tr->url_in_use);
    free(tr->next_url);
    pthread_mutex_destroy(&tr->mu);
    pthread_cond_destroy(&tr->cv);
    free(tr->waiting);
    free(tr->ends);
    free(tr->service);
    free(tr->url);
    free(tr->body);
    free(tr);
    curl_global_cleanup();
}

static mf_tracer *tracer_new(void)
{
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
        return NULL;
    mf_tracer *tr = mf_xcalloc(1, sizeof *tr);
    pthread_mutex_init(&tr->mu, NULL);
    pthread_cond_init(&tr->cv, NULL);
    tr->multi = curl_multi_init();
    tr->easy = curl_easy_init();
    curl_easy_setopt(tr->easy, CURLOPT_ERRORBUFFER, tr->errbuf);
    curl_easy_setopt(tr->easy, CURLOPT_WRITEFUNCTION, discard);
    curl_easy_setopt(tr->easy, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(tr->easy, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(tr->easy, CURLOPT_POST, 1L);
    /* a collector that does not answer in time loses the batch, not the next ones */
    curl_easy_setopt(tr->easy, CURLOPT_TIMEOUT_MS, 10000L);
    curl_easy_setopt(tr->easy, CURLOPT_CONNECTTIMEOUT_MS, 2000L);
    if (!tr->multi || !tr->easy || pthread_create(&tr->thread, NULL, exporter, tr) != 0) {
        tracer_free(tr);
        return NULL;
    }
    uv_timer_init(mf_loop(), &tr->flush_timer);
    uv_async_init(mf_loop(), &tr->done, on_done);
    tr->flush_timer.data = tr->done.data = tr;
    uv_unref((uv_handle_t *)&tr->flush_timer);   /* the loop ends without waiting for a flush */
    uv_unref((uv_handle_t *)&tr->done);
    tr->open_handles = 2;
    return tr;
}

int mf_trace_configure(const mf_config *cfg, mf_error *err)
{
    if (!cfg->tracing.endpoint) {
        mf_trace_stop();
        return 0;
    }
    if (!TR && !(TR = tracer_new())) {
        mf_error_set(err, -1, "tracing: libcurl or the exporter's thread could not start");
        return -1;
    }
    apply(TR, cfg);
    return 0;
}

/* The tracer is freed once its timer and async are closed. */
static void handle_closed(uv_handle_t *h)
{
    mf_tracer *tr = h->data;
    if (--tr->open_handles == 0)
        tracer_free(tr);
}

void mf_trace_stop(void)
{
    mf_tracer *tr = TR;
    if (!tr)
        return;
    TR = NULL;
    mf_span_end(mf_trace_request_take());
    pthread_mutex_lock(&tr->mu);
    tr->stop = true;
    pthread_cond_signal(&tr->cv);
    pthread_mutex_unlock(&tr->mu);
    curl_multi_wakeup(tr->multi);   /* a transfer under way ends at once */
    pthread_join(tr->thread, NULL);
    mf_span_pool_clear();
    uv_close((uv_handle_t *)&tr->flush_timer, handle_closed);
    uv_close((uv_handle_t *)&tr->done, handle_closed);
}

json_t *mf_trace_status(void)
{
    mf_tracer *tr = TR;
    if (!tr)
        return json_pack("{s:b}", "enabled", false);
    pthread_mutex_lock(&tr->mu);
    json_t *st = json_pack("{s:b,s:s,s:s,s:f,s:I,s:I,s:I,s:I,s:I,s:I,s:s?}", "enabled", true, "url", tr->url,
                           "protocol", tr->json ? "http/json" : "http/protobuf", "sample_ratio", tr->ratio,
                           "spans_queued", (json_int_t)tr->len, "spans_ended", (json_int_t)tr->queued,
                           "spans_exported", (json_int_t)tr->exported, "spans_dropped",
                           (json_int_t)(tr->dropped_queue + tr->dropped_export), "exports", (json_int_t)tr->batches,
                           "exports_failed", (json_int_t)tr->failed, "last_error",
                           tr->last_error[0] ? tr->last_error : NULL);
    pthread_mutex_unlock(&tr->mu);
    return st;
}
