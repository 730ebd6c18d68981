/* The OTLP/HTTP exporter: finished spans wait, encoded, in a bounded queue and leave in
 * batches, as an ExportTraceServiceRequest (protobuf, or its JSON mapping) POSTed to
 * <endpoint>/v1/traces.
 *
 * Nothing on a request's path waits for it: ending a span appends its encoding to the
 * bytes waiting (otlp_encode.c; or, when max_queue_spans wait, counts it dropped) and the
 * span is reused at once, so that what waits is a few hundred bytes a span, not the span.
 * A batch is those bytes with their request written around them, sent from the loop's
 * timer, or as soon as a batch is full, by libcurl's multi interface driven by the loop
 * (curl says which sockets to watch and when its timer is due; no thread, no blocking
 * call). One export is in flight at a time, over one easy handle, so the connection to
 * the collector is kept; while it is, spans keep queuing in the other buffer, and a
 * collector that is slow or down costs a full queue and the spans dropped, never a call's
 * time. A failed export drops its batch (counted): retrying would only compete with newer
 * spans for the same queue. */
#include "build-config.h"
#include "span.h"
#include "federation.h"

#include <curl/curl.h>
#include <stdlib.h>
#include <string.h>
#include <utlist.h>

typedef struct watch {
    uv_poll_t poll;
    curl_socket_t fd;
    struct mf_tracer *tr;
    struct watch *prev, *next;
} watch;

typedef struct mf_tracer {
    char *url;
    struct curl_slist *headers;
    char *next_url;           /* a reload's, taken over when no transfer uses the handle */
    struct curl_slist *next_headers;
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
    uv_timer_t flush_timer, curl_timer;
    CURLM *multi;
    CURL *easy;
    bool sending;
    size_t in_flight;         /* spans in the export under way */
    long upload_buffer;       /* libcurl's upload buffer, grown to hold a batch (0: its default) */
    char *sent;               /* the buffer of the export under way; the next waiting one */
    size_t sent_cap;
    watch *watches;
    unsigned open_handles;    /* the timers and polls still to close, at stop */
    uint64_t queued, exported, dropped, failed, batches;
    uint64_t export_cpu_ns;   /* the loop thread's CPU in exporting: libcurl's work, the sends */
    char curl_error[CURL_ERROR_SIZE];   /* libcurl's, cleared by each transfer it starts */
    char last_error[CURL_ERROR_SIZE];   /* the last failure's, kept until another */
} mf_tracer;

#define TR (mf_fed.tracer)

bool mf_trace_on(void) { return TR != NULL; }
double mf_trace_ratio(void) { return TR ? TR->ratio : 0; }

/* --- libcurl on the loop ----------------------------------------------------------------- */

static void export_next(mf_tracer *tr);

static void transfer_done(mf_tracer *tr)
{
    CURLMsg *msg;
    int left;
    while ((msg = curl_multi_info_read(tr->multi, &left))) {
        if (msg->msg != CURLMSG_DONE)
            continue;
        long status = 0;
        curl_easy_getinfo(tr->easy, CURLINFO_RESPONSE_CODE, &status);
        curl_multi_remove_handle(tr->multi, tr->easy);
        size_t n = tr->in_flight;
        if (msg->data.result == CURLE_OK && status >= 200 && status < 300) {
            tr->exported += n;
        } else {
            tr->failed++;
            tr->dropped += n;
            if (msg->data.result != CURLE_OK)
                snprintf(tr->last_error, sizeof tr->last_error, "%s",
                         tr->curl_error[0] ? tr->curl_error : curl_easy_strerror(msg->data.result));
            else
                snprintf(tr->last_error, sizeof tr->last_error, "HTTP status %ld", status);
        }
        tr->sending = false;
    }
    if (!tr->sending && tr->len >= tr->batch)
        export_next(tr);
}

/* libcurl's work on fd (or its timer's, CURL_SOCKET_TIMEOUT). What exporting costs is
 * measured here and where a batch starts, where the loop enters the exporter (a few times
 * an export, each a system call: not per span), and told in the tracing status. */
static void drive(mf_tracer *tr, curl_socket_t fd, int flags)
{
    int running;
    uint64_t cpu = mf_thread_cpu_ns();
    curl_multi_socket_action(tr->multi, fd, flags, &running);
    transfer_done(tr);
    tr->export_cpu_ns += mf_thread_cpu_ns() - cpu;
}

static void on_poll(uv_poll_t *p, int status, int events)
{
    watch *w = p->data;
    int flags = status < 0 ? CURL_CSELECT_ERR
                           : ((events & UV_READABLE) ? CURL_CSELECT_IN : 0) | ((events & UV_WRITABLE) ? CURL_CSELECT_OUT : 0);
    drive(w->tr, w->fd, flags);
}

static void on_curl_timer(uv_timer_t *t)
{
    drive(t->data, CURL_SOCKET_TIMEOUT, 0);
}

static int curl_timer_cb(CURLM *m, long ms, void *ud)
{
    (void)m;
    mf_tracer *tr = ud;
    if (ms < 0)
        uv_timer_stop(&tr->curl_timer);
    else
        uv_timer_start(&tr->curl_timer, on_curl_timer, (uint64_t)ms, 0);
    return 0;
}

static void handle_closed(uv_handle_t *h);

static void watch_closed(uv_handle_t *h)
{
    watch *w = h->data;
    mf_tracer *tr = w->tr;
    DL_DELETE(tr->watches, w);
    free(w);
    handle_closed((uv_handle_t *)&tr->flush_timer);
}

static int socket_cb(CURL *e, curl_socket_t fd, int action, void *ud, void *sockp)
{
    (void)e;
    mf_tracer *tr = ud;
    watch *w = sockp;
    if (action == CURL_POLL_REMOVE) {
        if (w) {
            curl_multi_assign(tr->multi, fd, NULL);
            uv_close((uv_handle_t *)&w->poll, watch_closed);
        }
        return 0;
    }
    if (!w) {
        w = mf_xcalloc(1, sizeof *w);
        w->fd = fd;
        w->tr = tr;
        if (uv_poll_init_socket(mf_loop(), &w->poll, fd) != 0) {
            free(w);
            return -1;
        }
        w->poll.data = w;
        tr->open_handles++;
        DL_APPEND(tr->watches, w);
        curl_multi_assign(tr->multi, fd, w);
    }
    int ev = (action == CURL_POLL_IN || action == CURL_POLL_INOUT ? UV_READABLE : 0) |
             (action == CURL_POLL_OUT || action == CURL_POLL_INOUT ? UV_WRITABLE : 0);
    uv_poll_start(&w->poll, ev, on_poll);
    return 0;
}

static size_t discard(char *p, size_t size, size_t n, void *ud)
{
    (void)p;
    (void)ud;
    return size * n;
}

/* --- batches ------------------------------------------------------------------------------ */

static void take_settings(mf_tracer *tr);

/* libcurl copies a body through its upload buffer, 64 kB by default: a batch of 2,048 spans
 * (about 480 kB) was then eight sends, each a loop turn, a curl state machine's run and a
 * wake-up of the collector. A buffer that holds the batch makes it one send; it grows (to
 * libcurl's most, 2 MB) but never shrinks, as changing it frees it. */
static void upload_buffer_fit(mf_tracer *tr, size_t len)
{
    enum { UPLOAD_MAX = 2 * 1024 * 1024, UPLOAD_STEP = 64 * 1024 };
    if ((size_t)tr->upload_buffer >= len || tr->upload_buffer == UPLOAD_MAX)
        return;
    size_t want = (len + UPLOAD_STEP - 1) / UPLOAD_STEP * UPLOAD_STEP;
    tr->upload_buffer = want > UPLOAD_MAX ? UPLOAD_MAX : (long)want;
    curl_easy_setopt(tr->easy, CURLOPT_UPLOAD_BUFFERSIZE, tr->upload_buffer);
}

static void export_next(mf_tracer *tr)
{
    if (tr->sending || !tr->len)
        return;
    take_settings(tr);
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
    upload_buffer_fit(tr, len);
    curl_easy_setopt(tr->easy, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(tr->easy, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
    if (curl_multi_add_handle(tr->multi, tr->easy) != CURLM_OK) {
        tr->failed++;
        tr->dropped += n;
        return;
    }
    tr->sending = true;
    tr->batches++;
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
    if (!tr->sending && tr->len)
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
    if (tr->len >= tr->batch && !tr->sending)
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

/* A reload's URL and headers, for the next transfer: a transfer under way still reads
 * the ones it started with. */
static void take_settings(mf_tracer *tr)
{
    if (!tr->next_url)
        return;
    free(tr->url);
    curl_slist_free_all(tr->headers);
    tr->url = tr->next_url;
    tr->headers = tr->next_headers;
    tr->next_url = NULL;
    tr->next_headers = NULL;
    curl_easy_setopt(tr->easy, CURLOPT_URL, tr->url);
    curl_easy_setopt(tr->easy, CURLOPT_HTTPHEADER, tr->headers);
}

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
    /* libcurl asks a body over 1 MB to be let in (Expect: 100-continue): a round trip
     * more, and a second's wait where the collector does not answer that */
    headers = curl_slist_append(headers, "Expect:");
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)c->headers, k, v) {
        char line[1024];
        snprintf(line, sizeof line, "%s: %s", k, json_string_value(v));
        headers = curl_slist_append(headers, line);
    }
    free(tr->next_url);
    curl_slist_free_all(tr->next_headers);
    tr->next_url = url;
    tr->next_headers = headers;
    if (!tr->sending)
        take_settings(tr);
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
}

static mf_tracer *tracer_new(void)
{
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
        return NULL;
    mf_span_clock_check();
    mf_tracer *tr = mf_xcalloc(1, sizeof *tr);
    tr->multi = curl_multi_init();
    tr->easy = curl_easy_init();
    curl_multi_setopt(tr->multi, CURLMOPT_SOCKETFUNCTION, socket_cb);
    curl_multi_setopt(tr->multi, CURLMOPT_SOCKETDATA, tr);
    curl_multi_setopt(tr->multi, CURLMOPT_TIMERFUNCTION, curl_timer_cb);
    curl_multi_setopt(tr->multi, CURLMOPT_TIMERDATA, tr);
    curl_easy_setopt(tr->easy, CURLOPT_ERRORBUFFER, tr->curl_error);
    curl_easy_setopt(tr->easy, CURLOPT_WRITEFUNCTION, discard);
    curl_easy_setopt(tr->easy, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(tr->easy, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(tr->easy, CURLOPT_POST, 1L);
    /* a collector that does not answer in time loses the batch, not the next ones */
    curl_easy_setopt(tr->easy, CURLOPT_TIMEOUT_MS, 10000L);
    curl_easy_setopt(tr->easy, CURLOPT_CONNECTTIMEOUT_MS, 2000L);
    uv_timer_init(mf_loop(), &tr->flush_timer);
    uv_timer_init(mf_loop(), &tr->curl_timer);
    tr->flush_timer.data = tr->curl_timer.data = tr;
    uv_unref((uv_handle_t *)&tr->flush_timer);   /* the loop ends without waiting for a flush */
    uv_unref((uv_handle_t *)&tr->curl_timer);
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
        mf_error_set(err, -1, "tracing: libcurl initialisation failed");
        return -1;
    }
    apply(TR, cfg);
    return 0;
}

/* The tracer is freed once its timers and polls are closed. */
static void handle_closed(uv_handle_t *h)
{
    mf_tracer *tr = h->data;
    if (--tr->open_handles)
        return;
    curl_slist_free_all(tr->headers);
    curl_slist_free_all(tr->next_headers);
    free(tr->service);
    free(tr->url);
    free(tr->next_url);
    free(tr);
    curl_global_cleanup();
}

void mf_trace_stop(void)
{
    mf_tracer *tr = TR;
    if (!tr)
        return;
    TR = NULL;
    mf_span_end(mf_trace_request_take());
    if (tr->sending)
        curl_multi_remove_handle(tr->multi, tr->easy);
    curl_easy_cleanup(tr->easy);
    curl_multi_cleanup(tr->multi);   /* removes its sockets: their polls close below */
    for (watch *w = tr->watches; w; w = w->next)
        if (!uv_is_closing((uv_handle_t *)&w->poll))
            uv_close((uv_handle_t *)&w->poll, watch_closed);
    queue_free(tr);
    mf_span_pool_clear();
    uv_close((uv_handle_t *)&tr->flush_timer, handle_closed);
    uv_close((uv_handle_t *)&tr->curl_timer, handle_closed);
}

json_t *mf_trace_status(void)
{
    mf_tracer *tr = TR;
    if (!tr)
        return json_pack("{s:b}", "enabled", false);
    return json_pack("{s:b,s:s,s:s,s:f,s:I,s:I,s:I,s:I,s:I,s:I,s:f,s:s?}", "enabled", true, "url", tr->next_url ? tr->next_url : tr->url, "protocol",
                     tr->json ? "http/json" : "http/protobuf", "sample_ratio",
                     tr->ratio, "spans_queued", (json_int_t)tr->len, "spans_ended", (json_int_t)tr->queued,
                     "spans_exported", (json_int_t)tr->exported, "spans_dropped", (json_int_t)tr->dropped,
                     "exports", (json_int_t)tr->batches, "exports_failed", (json_int_t)tr->failed,
                     "export_cpu_ms", (double)tr->export_cpu_ns / 1e6, "last_error", tr->last_error[0] ? tr->last_error : NULL);
}
