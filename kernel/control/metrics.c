/* The metrics endpoint: a small HTTP/1.1 listener of its own (never an MCP listener's)
 * serving the Prometheus text exposition format at the configured path, /healthz (alive)
 * and /readyz (every provider not marked optional has a ready target), and the status page
 * (/status, and the /status.json it polls: status.h). Each connection
 * sends one request and gets one answer, then is closed; a head that is not whole in
 * 10 s, or any other method than GET and HEAD, gets an error status.
 *
 * The figures are those the admin commands show, read at each scrape: the federation's
 * counters (stats.h), the policy's, the cache's, the supervision tree's, the reloads', and
 * the process's own (process_*). Nothing is counted twice. */
#include "build-config.h"
#include "metrics.h"
#include "control.h"
#include "http_head.h"
#include "url.h"
#include "stats.h"
#include "call.h"
#include "cache_hook.h"
#include "supervisor.h"
#include "swap.h"
#include "status.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>
#include <utlist.h>

#define MAX_CONNS 32
#define HEAD_TIMEOUT_MS 10000
#define LINGER_MS 2000   /* after the answer, what the client still sends is read and dropped */

typedef struct mconn {
    uv_tcp_t tcp;
    uv_timer_t timer;
    uv_shutdown_t shut;
    char buf[MF_HTTP_HEAD_MAX + 1];
    size_t len;
    bool answered;
    int handles;   /* open: tcp and timer */
    struct mconn *prev, *next;
} mconn;

static struct {
    uv_tcp_t server;
    bool listening;
    mf_url url;
    unsigned nconns;
    mconn *conns;
} M;

/* --- the figures ------------------------------------------------------------------- */

static void head(FILE *out, const char *name, const char *type, const char *help)
{
    fprintf(out, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void write_process(FILE *out)
{
    long tick = sysconf(_SC_CLK_TCK), page = sysconf(_SC_PAGESIZE);
    unsigned long long utime = 0, stime = 0, start = 0, vsize = 0;
    long long rss = 0;
    char buf[1024];
    FILE *f = fopen("/proc/self/stat", "r");
    size_t n = f ? fread(buf, 1, sizeof buf - 1, f) : 0;
    if (f)
        fclose(f);
    buf[n] = '\0';
    /* after the command's closing parenthesis: state is field 3, utime 14, stime 15,
     * starttime 22, vsize 23, rss 24 */
    const char *p = strrchr(buf, ')');
    bool stat_ok = p && sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu %*d %*d %*d %*d %*d %*d %llu %llu %lld",
                               &utime, &stime, &start, &vsize, &rss) == 5;
    unsigned long long btime = 0;
    f = fopen("/proc/stat", "r");
    while (f && fgets(buf, sizeof buf, f))
        if (sscanf(buf, "btime %llu", &btime) == 1)
            break;
    if (f)
        fclose(f);
    unsigned fds = 0;
    DIR *d = opendir("/proc/self/fd");
    for (struct dirent *e; d && (e = readdir(d));)
        fds += e->d_name[0] != '.';
    if (d)
        closedir(d);
    struct rlimit rl;
    if (stat_ok && tick > 0) {
        head(out, "process_cpu_seconds_total", "counter", "Total user and system CPU time spent in seconds.");
        fprintf(out, "process_cpu_seconds_total %.2f\n", (double)(utime + stime) / (double)tick);
        head(out, "process_resident_memory_bytes", "gauge", "Resident memory size in bytes.");
        fprintf(out, "process_resident_memory_bytes %lld\n", rss * page);
        head(out, "process_virtual_memory_bytes", "gauge", "Virtual memory size in bytes.");
        fprintf(out, "process_virtual_memory_bytes %llu\n", vsize);
        if (btime) {
            head(out, "process_start_time_seconds", "gauge", "Start time of the process since unix epoch in seconds.");
            fprintf(out, "process_start_time_seconds %.2f\n", (double)btime + (double)start / (double)tick);
        }
    }
    if (d) {
        head(out, "process_open_fds", "gauge", "Number of open file descriptors.");
        fprintf(out, "process_open_fds %u\n", fds - 1);   /* not the one that listed them */
    }
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
        head(out, "process_max_fds", "gauge", "Maximum number of open file descriptors.");
        fprintf(out, "process_max_fds %llu\n", (unsigned long long)rl.rlim_cur);
    }
}

static unsigned long long num(const json_t *o, const char *key)
{
    json_int_t v = json_integer_value(json_object_get(o, key));
    return v > 0 ? (unsigned long long)v : 0;
}

static void write_supervision(FILE *out)
{
    json_t *tree = mf_supervision_tree(), *sup;
    size_t i, j;
    head(out, "mcpfed_processes", "gauge", "Child processes running, all providers together.");
    fprintf(out, "mcpfed_processes %llu\n", num(tree, "processes"));
    head(out, "mcpfed_supervisor_restarts_total", "counter", "Restarts of a supervisor's children.");
    json_array_foreach(json_object_get(tree, "supervisors"), i, sup) {
        unsigned long long restarts = 0;
        json_t *kid;
        json_array_foreach(json_object_get(sup, "children"), j, kid) restarts += num(kid, "restarts");
        fprintf(out, "mcpfed_supervisor_restarts_total{supervisor=\"");
        mf_stats_label(out, json_string_value(json_object_get(sup, "name")));
        fprintf(out, "\"} %llu\n", restarts);
    }
    head(out, "mcpfed_supervisor_give_ups_total", "counter",
         "Times a supervisor gave up, its restart intensity exceeded.");
    json_array_foreach(json_object_get(tree, "supervisors"), i, sup) {
        fprintf(out, "mcpfed_supervisor_give_ups_total{supervisor=\"");
        mf_stats_label(out, json_string_value(json_object_get(sup, "name")));
        fprintf(out, "\"} %llu\n", num(sup, "gave_up"));
    }
    json_decref(tree);
}

static void write_cache(FILE *out)
{
    json_t *st = mf_cache_status();
    if (json_is_true(json_object_get(st, "enabled"))) {
        static const char *const counters[][2] = {
            {"hits", "Calls answered from the result cache."},
            {"misses", "Cacheable calls the result cache could not answer."},
            {"evictions", "Entries evicted for room."},
            {"expired", "Entries dropped as their time ran out."},
            {"coalesced", "Calls that joined an identical call in flight."},
        };
        char name[64];
        for (size_t i = 0; i < sizeof counters / sizeof counters[0]; i++) {
            snprintf(name, sizeof name, "mcpfed_cache_%s_total", counters[i][0]);
            head(out, name, "counter", counters[i][1]);
            fprintf(out, "%s %llu\n", name, num(st, counters[i][0]));
        }
        head(out, "mcpfed_cache_entries", "gauge", "Entries in the result cache.");
        fprintf(out, "mcpfed_cache_entries %llu\n", num(st, "entries"));
        head(out, "mcpfed_cache_bytes", "gauge", "Bytes the result cache holds.");
        fprintf(out, "mcpfed_cache_bytes %llu\n", num(st, "bytes"));
    }
    json_decref(st);
}

static char *render(size_t *len)
{
    char *text = NULL;
    FILE *out = open_memstream(&text, len);
    if (!out)
        abort();   /* out of memory, as mf_xmalloc does */
    head(out, "mcpfed_build_info", "gauge", "The running version (always 1).");
    fprintf(out, "mcpfed_build_info{version=\"%s\"} 1\n", PACKAGE_VERSION);
    write_process(out);
    mf_stats_write(out);
    head(out, "mcpfed_client_connections", "gauge", "Client connections open, all listeners together.");
    fprintf(out, "mcpfed_client_connections %zu\n", mf_ctrl.fds.taken);
    write_supervision(out);
    write_cache(out);
    head(out, "mcpfed_config_reloads_total", "counter", "Configuration reloads (reload config, SIGHUP), by outcome.");
    fprintf(out, "mcpfed_config_reloads_total{outcome=\"ok\"} %llu\n", (unsigned long long)mf_ctrl.reconfig.ok);
    fprintf(out, "mcpfed_config_reloads_total{outcome=\"refused\"} %llu\n", (unsigned long long)mf_ctrl.reconfig.refused);
    uint64_t swaps[3];
    mf_swap_counts(swaps);
    head(out, "mcpfed_plugin_swaps_total", "counter", "Plugin reloads while serving (hot swaps), by outcome.");
    fprintf(out, "mcpfed_plugin_swaps_total{outcome=\"ok\"} %llu\n", (unsigned long long)swaps[0]);
    fprintf(out, "mcpfed_plugin_swaps_total{outcome=\"partly_refused\"} %llu\n", (unsigned long long)swaps[1]);
    fprintf(out, "mcpfed_plugin_swaps_total{outcome=\"refused\"} %llu\n", (unsigned long long)swaps[2]);
    fclose(out);
    return text;
}

/* NULL when ready; else why not, for the 503's body. */
static char *not_ready(void)
{
    if (!mf_registry_settled())
        return mf_xstrdup("the providers have not all listed what they offer yet\n");
    size_t n;
    mf_provider **ps = mf_registry_providers(&n);
    char *why = NULL;
    size_t len = 0;
    FILE *out = NULL;
    for (size_t i = 0; i < n; i++) {
        if (ps[i]->conf->optional)
            continue;
        bool ready = false;
        for (int k = 0; k < ps[i]->ntargets && !ready; k++)
            ready = ps[i]->targets[k].up && ps[i]->targets[k].healthy && !ps[i]->targets[k].draining;
        if (ready && ps[i]->state == MF_PROVIDER_UP)
            continue;
        if (!out && !(out = open_memstream(&why, &len)))
            abort();
        fprintf(out, "provider %s has no ready target%s%s\n", ps[i]->conf->name, ps[i]->reason ? ": " : "",
                ps[i]->reason ? ps[i]->reason : "");
    }
    if (out)
        fclose(out);
    return why;
}

/* --- the connections ----------------------------------------------------------------- */

static void conn_closed(uv_handle_t *h)
{
    mconn *c = h->data;
    if (--c->handles == 0) {
        free(c);
        M.nconns--;
    }
}

static void conn_close(mconn *c)
{
    if (uv_is_closing((uv_handle_t *)&c->tcp))
        return;
    DL_DELETE(M.conns, c);
    uv_close((uv_handle_t *)&c->tcp, conn_closed);
    uv_close((uv_handle_t *)&c->timer, conn_closed);
}

typedef struct wreq {
    uv_write_t req;
    mconn *c;
    char *data;
} wreq;

static void after_shutdown(uv_shutdown_t *req, int status)
{
    (void)req;
    (void)status;
}

static void on_linger_over(uv_timer_t *t)
{
    conn_close(t->data);
}

/* The answer is out: end our side, and read (and drop) what the client still sends until it
 * closes or LINGER_MS pass, so that closing with its bytes unread does not reset the
 * connection before it has read the answer. */
static void after_write(uv_write_t *req, int status)
{
    wreq *w = (wreq *)req;
    mconn *c = w->c;
    free(w->data);
    free(w);
    if (status != 0 || uv_shutdown(&c->shut, (uv_stream_t *)&c->tcp, after_shutdown) != 0) {
        conn_close(c);
        return;
    }
    uv_timer_start(&c->timer, on_linger_over, LINGER_MS, 0);
}

/* Answer with status and body (taken), then close. */
static void answer(mconn *c, int status, const char *type, char *body, size_t blen, bool head_only, const char *extra)
{
    static const struct { int code; const char *reason; } reasons[] = {
        {200, "OK"}, {400, "Bad Request"}, {404, "Not Found"}, {405, "Method Not Allowed"}, {408, "Request Timeout"},
        {414, "URI Too Long"}, {431, "Request Header Fields Too Large"}, {503, "Service Unavailable"},
        {505, "HTTP Version Not Supported"},
    };
    const char *reason = "Error";
    for (size_t i = 0; i < sizeof reasons / sizeof reasons[0]; i++)
        if (reasons[i].code == status)
            reason = reasons[i].reason;
    c->answered = true;
    uv_timer_stop(&c->timer);
    wreq *w = mf_xcalloc(1, sizeof *w);
    w->c = c;
    size_t len = 0;
    FILE *out = open_memstream(&w->data, &len);
    if (!out)
        abort();   /* out of memory, as mf_xmalloc does */
    fprintf(out, "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\nCache-Control: no-store\r\n%s"
                 "Connection: close\r\n\r\n", status, reason, type, blen, extra ? extra : "");
    if (!head_only && blen)
        fwrite(body, 1, blen, out);
    fclose(out);
    free(body);
    uv_buf_t b = uv_buf_init(w->data, (unsigned)len);
    if (uv_write(&w->req, (uv_stream_t *)&c->tcp, &b, 1, after_write) != 0) {
        free(w->data);
        free(w);
        conn_close(c);
    }
}

static void answer_text(mconn *c, int status, const char *text, bool head_only, const char *extra)
{
    answer(c, status, "text/plain; charset=utf-8", mf_xstrdup(text), strlen(text), head_only, extra);
}

static void serve(mconn *c, const mf_http_head *h)
{
    bool head_only = strcmp(h->method, "HEAD") == 0;
    if (!head_only && strcmp(h->method, "GET") != 0) {
        answer_text(c, 405, "only GET and HEAD\n", false, "Allow: GET, HEAD\r\n");
        return;
    }
    if (strcmp(h->path, M.url.path) == 0) {
        size_t len;
        char *text = render(&len);
        answer(c, 200, "text/plain; version=0.0.4; charset=utf-8", text, len, head_only, NULL);
    } else if (strcmp(h->path, "/status") == 0) {
        answer(c, 200, "text/html; charset=utf-8", mf_xstrndup(mf_status_page, mf_status_page_len), mf_status_page_len,
               head_only, "Content-Security-Policy: default-src 'none'; script-src 'unsafe-inline'; "
                          "style-src 'unsafe-inline'; connect-src 'self'; img-src data:\r\n");
    } else if (strcmp(h->path, "/status.json") == 0) {
        size_t len;
        char *text = mf_status_json(&len);
        answer(c, 200, "application/json", text, len, head_only, NULL);
    } else if (strcmp(h->path, "/healthz") == 0) {
        answer_text(c, 200, "alive\n", head_only, NULL);
    } else if (strcmp(h->path, "/readyz") == 0) {
        char *why = not_ready();
        if (why)
            answer(c, 503, "text/plain; charset=utf-8", why, strlen(why), head_only, NULL);
        else
            answer_text(c, 200, "ready\n", head_only, NULL);
    } else {
        answer_text(c, 404, "not found: the metrics endpoint serves its metrics path, /healthz, /readyz, /status and /status.json\n", head_only,
                    NULL);
    }
}

static void alloc_cb(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    (void)suggested;
    mconn *c = h->data;
    if (c->answered)   /* dropped */
        c->len = 0;
    /* one byte beyond the longest head, to tell it is too long */
    buf->base = c->buf + c->len;
    buf->len = sizeof c->buf - c->len;
}

static void on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf)
{
    (void)buf;
    mconn *c = s->data;
    if (n < 0) {
        conn_close(c);
        return;
    }
    if (c->answered)
        return;
    c->len += (size_t)n;
    mf_http_head h;
    int rc = mf_http_head_parse(c->buf, c->len, &h);
    if (rc == 1)
        serve(c, &h);
    else if (rc > 1)
        answer_text(c, rc, "malformed request\n", false, NULL);
    else if (c->len >= sizeof c->buf)
        answer_text(c, 431, "request head too long\n", false, NULL);
}

static void on_timeout(uv_timer_t *t)
{
    mconn *c = t->data;
    answer_text(c, 408, "no whole request in time\n", false, NULL);
}

static void on_connection(uv_stream_t *srv, int status)
{
    if (status < 0)
        return;
    mconn *c = mf_xcalloc(1, sizeof *c);
    uv_tcp_init(mf_loop(), &c->tcp);
    uv_timer_init(mf_loop(), &c->timer);
    c->tcp.data = c->timer.data = c;
    c->handles = 2;
    M.nconns++;
    DL_APPEND(M.conns, c);
    if (uv_accept(srv, (uv_stream_t *)&c->tcp) != 0 || M.nconns > MAX_CONNS) {
        conn_close(c);   /* a scraper tries again; the loop's own work comes first */
        return;
    }
    uv_timer_start(&c->timer, on_timeout, HEAD_TIMEOUT_MS, 0);
    uv_read_start((uv_stream_t *)&c->tcp, alloc_cb, on_read);
}

int mf_metrics_start(const mf_config *cfg, mf_error *err)
{
    if (!cfg->metrics)
        return 0;
    char why[160];
    if (mf_url_parse(cfg->metrics, &M.url, why, sizeof why) != 0) {   /* checked with the configuration */
        mf_error_set(err, -1, "metrics: %s: %s", cfg->metrics, why);
        return -1;
    }
    struct sockaddr_storage sa;
    int rc = strchr(M.url.host, ':') ? uv_ip6_addr(M.url.host, M.url.port, (struct sockaddr_in6 *)&sa)
                                     : uv_ip4_addr(M.url.host, M.url.port, (struct sockaddr_in *)&sa);
    uv_tcp_init(mf_loop(), &M.server);
    if (rc == 0)
        rc = uv_tcp_bind(&M.server, (struct sockaddr *)&sa, 0);
    if (rc == 0)
        rc = uv_listen((uv_stream_t *)&M.server, 64, on_connection);
    if (rc != 0) {
        mf_error_set(err, -1, "metrics: cannot listen on %s: %s", cfg->metrics, uv_strerror(rc));
        uv_close((uv_handle_t *)&M.server, NULL);
        return -1;
    }
    struct sockaddr_storage bound;
    int blen = sizeof bound;
    uv_tcp_getsockname(&M.server, (struct sockaddr *)&bound, &blen);
    int port = ntohs(bound.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&bound)->sin6_port
                                                 : ((struct sockaddr_in *)&bound)->sin_port);
    M.listening = true;
    mf_stats_enable();
    mf_info("metrics", "listening", "url=http://%s%s%s:%d%s", strchr(M.url.host, ':') ? "[" : "", M.url.host,
            strchr(M.url.host, ':') ? "]" : "", port, M.url.path);
    return 0;
}

void mf_metrics_stop(void)
{
    while (M.conns)
        conn_close(M.conns);
    if (!M.listening)
        return;
    uv_close((uv_handle_t *)&M.server, NULL);
    M.listening = false;
}
