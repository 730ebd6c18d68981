/* One HTTP/1.1 POST at a time over a kept connection: libcurl makes the connection
 * (CURLOPT_CONNECT_ONLY: the name looked up, TLS, a proxy's tunnel) driven by the loop
 * through its multi interface, and the request is written with curl_easy_send straight
 * from the caller's buffer; the answer is read with curl_easy_recv and parsed by
 * http_parser.
 *
 * Why not libcurl's own POST: it copies every body into an upload buffer of its own
 * before the kernel copies it again, and each transfer runs its state machine, parses the
 * URL, and starts and stops watching the socket. For a trace export of a few hundred kB
 * that was about a third of exporting's CPU, and the buffer (grown to hold a batch, up to
 * 2 MB) pushed the gateway's own data out of the caches.
 *
 * The connection is kept between posts. A collector may close it while idle: that is
 * noticed (the socket reads as ended) and the next post connects again; a post that found
 * it closed before any answer came is sent once more on a new one. */
#include "build-config.h"
#include "otlp_post.h"
#include "federation.h"

#include <curl/curl.h>
#include <http_parser.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <utlist.h>

enum { ANSWER_MS = 10000, CONNECT_MS = 2000 };
enum link { LINK_DOWN, LINK_CONNECTING, LINK_UP };

typedef struct watch {
    uv_poll_t poll;
    curl_socket_t fd;
    int events;
    struct mf_post *p;
    struct watch *prev, *next;
} watch;

struct mf_post {
    mf_post_done done;
    void *ud;
    CURLM *multi;
    CURL *easy;
    uv_timer_t curl_timer, answer_timer;
    watch *watches;           /* libcurl's sockets, while it connects */
    watch *conn;              /* the connection's, once made: ours */
    enum link link;
    char *url;                /* the collector's, of the connection */
    char *tls[3];             /* its TLS files (mf_post_tls's, in order), of the connection */
    char *next_url, *next_headers, *next_tls[3];   /* mf_post_target's, taken at the next post */
    char *fixed;              /* the request's line, Host and the headers: all but its length */
    size_t fixed_len;
    char *head;               /* the post's head: fixed, then Content-Length */
    size_t head_len, head_cap;
    const char *body;
    size_t body_len;
    size_t sent;              /* of head then body */
    bool busy;
    bool answered;            /* some of an answer came */
    bool retried;
    bool complete;            /* the whole answer came: */
    bool keep_alive;
    int status;
    unsigned answers;         /* answers read on this connection */
    http_parser parser;
    unsigned open;            /* handles still to close */
    bool freeing;
    uint64_t cpu_ns;
    char curl_error[CURL_ERROR_SIZE];
    char error[CURL_ERROR_SIZE + 64];
};

static void closed_one(mf_post *p)
{
    if (--p->open || !p->freeing)
        return;
    free(p->url);
    free(p->next_url);
    free(p->next_headers);
    for (int i = 0; i < 3; i++) {
        free(p->tls[i]);
        free(p->next_tls[i]);
    }
    free(p->fixed);
    free(p->head);
    free(p);
}

static void timer_closed(uv_handle_t *h) { closed_one(h->data); }

static void watch_closed(uv_handle_t *h)
{
    watch *w = h->data;
    mf_post *p = w->p;
    DL_DELETE(p->watches, w);
    free(w);
    closed_one(p);
}

static watch *watch_new(mf_post *p, curl_socket_t fd)
{
    watch *w = mf_xcalloc(1, sizeof *w);
    w->fd = fd;
    w->p = p;
    if (uv_poll_init_socket(mf_loop(), &w->poll, fd) != 0) {
        free(w);
        return NULL;
    }
    w->poll.data = w;
    p->open++;
    DL_APPEND(p->watches, w);
    return w;
}

static void watch_close(watch *w)
{
    if (!uv_is_closing((uv_handle_t *)&w->poll))
        uv_close((uv_handle_t *)&w->poll, watch_closed);
}

/* --- the post's end ----------------------------------------------------------------------- */

/* The connection is closed: ours, then libcurl's (a connect-only connection is never kept
 * by libcurl, so removing its transfer closes it). */
static void link_down(mf_post *p)
{
    if (p->conn) {
        watch_close(p->conn);   /* before the socket closes: the loop forgets it first */
        p->conn = NULL;
    }
    if (p->link != LINK_DOWN)
        curl_multi_remove_handle(p->multi, p->easy);
    p->link = LINK_DOWN;
    p->answers = 0;
}

static void post_end(mf_post *p, const char *error)
{
    uv_timer_stop(&p->answer_timer);
    p->busy = false;
    p->done(p->ud, error);   /* may post again */
}

static void post_failed(mf_post *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void post_failed(mf_post *p, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(p->error, sizeof p->error, fmt, ap);
    va_end(ap);
    post_end(p, p->error);
}

static const char *curl_why(mf_post *p, CURLcode rc)
{
    return p->curl_error[0] ? p->curl_error : curl_easy_strerror(rc);
}

static void exchange_begin(mf_post *p);

/* The connection failed: a post under way that had no answer yet, on a connection that
 * had carried one before (the collector closed it while idle, as it may), is sent once
 * more on a new connection; otherwise it failed. */
static void broken(mf_post *p, const char *why)
{
    bool again = p->busy && !p->answered && p->answers > 0 && !p->retried;
    link_down(p);
    if (!p->busy)
        return;
    if (again) {
        p->retried = true;
        exchange_begin(p);
        return;
    }
    post_failed(p, "%s", why);
}

static void on_answer_timeout(uv_timer_t *t)
{
    mf_post *p = t->data;
    link_down(p);
    post_failed(p, "no answer from the collector within %d s", ANSWER_MS / 1000);
}

/* --- the exchange -------------------------------------------------------------------------- */

static void watch_events(mf_post *p, int events, uv_poll_cb cb)
{
    watch *w = p->conn;
    if (w->events == events)   /* no system call when nothing changes */
        return;
    w->events = events;
    uv_poll_start(&w->poll, events, cb);
}

static void on_conn(uv_poll_t *h, int status, int events);

static void exchange_write(mf_post *p)
{
    size_t total = p->head_len + p->body_len;
    while (p->sent < total) {
        const char *at = p->sent < p->head_len ? p->head + p->sent : p->body + (p->sent - p->head_len);
        size_t n = p->sent < p->head_len ? p->head_len - p->sent : total - p->sent, wrote = 0;
        p->curl_error[0] = '\0';
        CURLcode rc = curl_easy_send(p->easy, at, n, &wrote);
        if (rc == CURLE_AGAIN) {
            watch_events(p, UV_READABLE | UV_WRITABLE, on_conn);
            return;
        }
        if (rc != CURLE_OK) {
            broken(p, curl_why(p, rc));
            return;
        }
        p->sent += wrote;
    }
    watch_events(p, UV_READABLE, on_conn);
}

static int on_message_complete(http_parser *hp)
{
    mf_post *p = hp->data;
    if (hp->status_code < 200)   /* an interim answer (100 Continue): the final one follows */
        return 0;
    p->complete = true;
    p->status = hp->status_code;
    p->keep_alive = http_should_keep_alive(hp);
    http_parser_pause(hp, 1);
    return 0;
}

static const http_parser_settings answer_settings = {.on_message_complete = on_message_complete};

static void answer_read(mf_post *p)
{
    int status = p->status;
    p->answers++;
    /* an answer before the whole request was sent leaves the connection out of step */
    if (!p->keep_alive || p->sent < p->head_len + p->body_len)
        link_down(p);
    if (status >= 200 && status < 300)
        post_end(p, NULL);
    else
        post_failed(p, "HTTP status %d", status);
}

/* The connection ended (read as 0 bytes): an answer without a length ends with it. */
static void conn_ended(mf_post *p)
{
    if (p->busy && p->answered && !p->complete) {
        http_parser_execute(&p->parser, &answer_settings, NULL, 0);
        if (p->complete) {
            p->keep_alive = false;
            answer_read(p);
            return;
        }
    }
    broken(p, "the collector closed the connection");
}

static void read_answer(mf_post *p)
{
    char buf[4096];   /* an export's answer is a few bytes: an empty message, or a partial success */
    for (;;) {
        size_t n = 0;
        p->curl_error[0] = '\0';
        CURLcode rc = curl_easy_recv(p->easy, buf, sizeof buf, &n);
        if (rc == CURLE_AGAIN)
            return;
        if (rc != CURLE_OK) {
            broken(p, curl_why(p, rc));
            return;
        }
        if (n == 0) {
            conn_ended(p);
            return;
        }
        if (!p->busy) {   /* bytes nobody asked for: a collector out of step */
            link_down(p);
            return;
        }
        p->answered = true;
        size_t used = http_parser_execute(&p->parser, &answer_settings, buf, n);
        if (p->complete) {
            answer_read(p);
            return;
        }
        if (HTTP_PARSER_ERRNO(&p->parser) != HPE_OK || used != n) {
            link_down(p);
            post_failed(p, "the collector's answer is not HTTP: %s",
                        http_errno_description(HTTP_PARSER_ERRNO(&p->parser)));
            return;
        }
    }
}

static void on_conn(uv_poll_t *h, int status, int events)
{
    mf_post *p = ((watch *)h->data)->p;
    uint64_t cpu = mf_thread_cpu_ns();
    if (status < 0)
        broken(p, uv_strerror(status));
    else if (events & UV_READABLE)   /* an answer, or the end: before writing more */
        read_answer(p);
    else if (p->busy)
        exchange_write(p);
    p->cpu_ns += mf_thread_cpu_ns() - cpu;
}

static void link_up(mf_post *p)
{
    curl_socket_t fd = CURL_SOCKET_BAD;
    curl_easy_getinfo(p->easy, CURLINFO_ACTIVESOCKET, &fd);
    /* libcurl's watch of the socket, if it still has one, goes first: one poll a socket */
    for (watch *w = p->watches; w; w = w->next)
        if (w->fd == fd) {
            curl_multi_assign(p->multi, fd, NULL);
            watch_close(w);
        }
    p->link = LINK_UP;
    if (fd == CURL_SOCKET_BAD || !(p->conn = watch_new(p, fd))) {
        link_down(p);
        post_failed(p, "the connection to the collector could not be watched");
        return;
    }
    exchange_write(p);
}

static void exchange_begin(mf_post *p)
{
    p->sent = 0;
    p->answered = p->complete = false;
    http_parser_init(&p->parser, HTTP_RESPONSE);
    p->parser.data = p;
    if (p->link == LINK_UP) {
        exchange_write(p);
        return;
    }
    p->link = LINK_CONNECTING;
    p->curl_error[0] = '\0';
    if (curl_multi_add_handle(p->multi, p->easy) != CURLM_OK) {
        p->link = LINK_DOWN;
        post_failed(p, "libcurl could not start a connection");
    }
}

/* --- libcurl's connecting, on the loop --------------------------------------------------- */

static void connect_done(mf_post *p)
{
    CURLMsg *msg;
    int left;
    while ((msg = curl_multi_info_read(p->multi, &left))) {
        if (msg->msg != CURLMSG_DONE || p->link != LINK_CONNECTING)
            continue;
        if (msg->data.result == CURLE_OK) {
            link_up(p);
        } else {
            CURLcode rc = msg->data.result;
            char why[sizeof p->error];
            snprintf(why, sizeof why, "%s", curl_why(p, rc));
            link_down(p);
            post_failed(p, "%s", why);
        }
        return;   /* the message list is libcurl's: link_up may have changed it */
    }
}

static void drive(mf_post *p, curl_socket_t fd, int flags)
{
    int running;
    uint64_t cpu = mf_thread_cpu_ns();
    curl_multi_socket_action(p->multi, fd, flags, &running);
    connect_done(p);
    p->cpu_ns += mf_thread_cpu_ns() - cpu;
}

static void on_poll(uv_poll_t *h, int status, int events)
{
    watch *w = h->data;
    int flags = status < 0 ? CURL_CSELECT_ERR
                           : ((events & UV_READABLE) ? CURL_CSELECT_IN : 0) | ((events & UV_WRITABLE) ? CURL_CSELECT_OUT : 0);
    drive(w->p, w->fd, flags);
}

static void on_curl_timer(uv_timer_t *t) { drive(t->data, CURL_SOCKET_TIMEOUT, 0); }

static int curl_timer_cb(CURLM *m, long ms, void *ud)
{
    (void)m;
    mf_post *p = ud;
    if (ms < 0)
        uv_timer_stop(&p->curl_timer);
    else
        uv_timer_start(&p->curl_timer, on_curl_timer, (uint64_t)ms, 0);
    return 0;
}

static int socket_cb(CURL *e, curl_socket_t fd, int action, void *ud, void *sockp)
{
    (void)e;
    mf_post *p = ud;
    watch *w = sockp;
    if (action == CURL_POLL_REMOVE) {
        if (w) {
            curl_multi_assign(p->multi, fd, NULL);
            watch_close(w);
        }
        return 0;
    }
    if (!w) {
        if (!(w = watch_new(p, fd)))
            return -1;
        curl_multi_assign(p->multi, fd, w);
    }
    int ev = (action == CURL_POLL_IN || action == CURL_POLL_INOUT ? UV_READABLE : 0) |
             (action == CURL_POLL_OUT || action == CURL_POLL_INOUT ? UV_WRITABLE : 0);
    uv_poll_start(&w->poll, ev, on_poll);
    return 0;
}

/* --- the API ------------------------------------------------------------------------------ */

mf_post *mf_post_new(mf_post_done done, void *ud)
{
    mf_post *p = mf_xcalloc(1, sizeof *p);
    p->done = done;
    p->ud = ud;
    p->multi = curl_multi_init();
    p->easy = curl_easy_init();
    curl_multi_setopt(p->multi, CURLMOPT_SOCKETFUNCTION, socket_cb);
    curl_multi_setopt(p->multi, CURLMOPT_SOCKETDATA, p);
    curl_multi_setopt(p->multi, CURLMOPT_TIMERFUNCTION, curl_timer_cb);
    curl_multi_setopt(p->multi, CURLMOPT_TIMERDATA, p);
    curl_easy_setopt(p->easy, CURLOPT_ERRORBUFFER, p->curl_error);
    curl_easy_setopt(p->easy, CURLOPT_CONNECT_ONLY, 1L);
    /* through a proxy (http_proxy and the like), a tunnel: the request is ours, as to the
     * collector itself */
    curl_easy_setopt(p->easy, CURLOPT_HTTPPROXYTUNNEL, 1L);
    curl_easy_setopt(p->easy, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(p->easy, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(p->easy, CURLOPT_CONNECTTIMEOUT_MS, (long)CONNECT_MS);
    uv_timer_init(mf_loop(), &p->curl_timer);
    uv_timer_init(mf_loop(), &p->answer_timer);
    p->curl_timer.data = p->answer_timer.data = p;
    uv_unref((uv_handle_t *)&p->curl_timer);
    uv_unref((uv_handle_t *)&p->answer_timer);
    p->open = 2;
    return p;
}

int mf_post_target(mf_post *p, const char *url, const mf_post_tls *tls, const char *headers, char *err, size_t errlen)
{
    CURLU *u = curl_url();
    char *host = NULL, *port = NULL, *path = NULL, *query = NULL;
    CURLUcode rc = curl_url_set(u, CURLUPART_URL, url, 0);
    if (rc == CURLUE_OK)
        rc = curl_url_get(u, CURLUPART_HOST, &host, 0);
    if (rc == CURLUE_OK)
        rc = curl_url_get(u, CURLUPART_PATH, &path, 0);
    if (rc != CURLUE_OK) {
        snprintf(err, errlen, "%s", curl_url_strerror(rc));
        curl_free(host);
        curl_free(path);
        curl_url_cleanup(u);
        return -1;
    }
    char *user = NULL;
    if (curl_url_get(u, CURLUPART_USER, &user, 0) == CURLUE_OK) {
        /* the request is written here, not by libcurl: nothing would send them */
        snprintf(err, errlen, "credentials in the URL are not sent (give an Authorization header in tracing.headers)");
        curl_free(user);
        curl_free(host);
        curl_free(path);
        curl_url_cleanup(u);
        return -1;
    }
    curl_url_get(u, CURLUPART_PORT, &port, 0);   /* absent: the scheme's, and Host says none */
    curl_url_get(u, CURLUPART_QUERY, &query, 0);
    size_t n = strlen(path) + strlen(host) + strlen(headers) + (port ? strlen(port) : 0) + (query ? strlen(query) : 0) + 64;
    char *fixed = mf_xmalloc(n);
    snprintf(fixed, n, "POST %s%s%s HTTP/1.1\r\nHost: %s%s%s\r\n%s", path, query ? "?" : "", query ? query : "", host,
             port ? ":" : "", port ? port : "", headers);
    curl_free(host);
    curl_free(port);
    curl_free(path);
    curl_free(query);
    curl_url_cleanup(u);
    free(p->next_url);
    free(p->next_headers);
    p->next_url = mf_xstrdup(url);
    p->next_headers = fixed;
    const char *files[3] = {tls->ca_file, tls->cert_file, tls->key_file};
    for (int i = 0; i < 3; i++) {
        free(p->next_tls[i]);
        p->next_tls[i] = files[i] ? mf_xstrdup(files[i]) : NULL;
    }
    return 0;
}

/* The settings given since the last post: a new collector is connected to afresh. */
static void take_target(mf_post *p)
{
    if (!p->next_url)
        return;
    /* the same collector, with the same TLS files, keeps its connection */
    bool same = p->url && strcmp(p->url, p->next_url) == 0;
    for (int i = 0; i < 3; i++)
        same = same && (p->tls[i] && p->next_tls[i] ? strcmp(p->tls[i], p->next_tls[i]) == 0 : p->tls[i] == p->next_tls[i]);
    if (!same) {
        link_down(p);
        curl_easy_setopt(p->easy, CURLOPT_URL, p->next_url);
        /* NULL: libcurl's default again */
        curl_easy_setopt(p->easy, CURLOPT_CAINFO, p->next_tls[0]);
        curl_easy_setopt(p->easy, CURLOPT_SSLCERT, p->next_tls[1]);
        curl_easy_setopt(p->easy, CURLOPT_SSLKEY, p->next_tls[2]);
        curl_easy_setopt(p->easy, CURLOPT_KEYPASSWD, "");   /* else OpenSSL asks the terminal */
    }
    free(p->url);
    p->url = p->next_url;
    p->next_url = NULL;
    for (int i = 0; i < 3; i++) {
        free(p->tls[i]);
        p->tls[i] = p->next_tls[i];
        p->next_tls[i] = NULL;
    }
    free(p->fixed);
    p->fixed = p->next_headers;
    p->fixed_len = strlen(p->fixed);
    p->next_headers = NULL;
}

void mf_post_send(mf_post *p, const char *body, size_t len)
{
    take_target(p);
    if (p->head_cap < p->fixed_len + 48)
        p->head = mf_xrealloc(p->head, p->head_cap = p->fixed_len + 48);
    memcpy(p->head, p->fixed, p->fixed_len);
    p->head_len = p->fixed_len + (size_t)snprintf(p->head + p->fixed_len, 48, "Content-Length: %zu\r\n\r\n", len);
    p->body = body;
    p->body_len = len;
    p->busy = true;
    p->retried = false;
    uv_timer_start(&p->answer_timer, on_answer_timeout, ANSWER_MS, 0);
    exchange_begin(p);
}

bool mf_post_busy(const mf_post *p) { return p->busy; }

uint64_t mf_post_cpu_ns(const mf_post *p) { return p->cpu_ns; }

void mf_post_free(mf_post *p)
{
    if (!p)
        return;
    p->freeing = true;
    p->busy = false;
    link_down(p);
    curl_easy_cleanup(p->easy);
    curl_multi_cleanup(p->multi);   /* its sockets are gone: their polls close below */
    for (watch *w = p->watches; w; w = w->next)
        watch_close(w);
    uv_close((uv_handle_t *)&p->curl_timer, timer_closed);
    uv_close((uv_handle_t *)&p->answer_timer, timer_closed);
}
