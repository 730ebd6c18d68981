/* libcurl's multi interface on the kernel's libuv loop. */
#include "hclient.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <utlist.h>

typedef struct sock_ctx {
    uv_poll_t poll;
    curl_socket_t fd;
    struct sock_ctx *prev, *next;
} sock_ctx;

struct hc_req {
    CURL *easy;
    struct curl_slist *headers;
    char *body;
    const hc_ops *ops;
    void *ud;
    bool head_seen;
    bool cancelled;
    bool in_callback;        /* curl forbids removing a handle from its own callback */
    char **resp_headers;     /* "name: value" lines of the last response */
    size_t nresp;
    char error[CURL_ERROR_SIZE];
};

static CURLM *multi;
static uv_timer_t timer;
static size_t active;
static int refs;
static sock_ctx *socks;          /* every poll handle not yet closed */
static bool timer_open;
static void (*shut_cb)(void *);  /* shutting down: runs once every handle is closed */
static void *shut_ud;

size_t hc_active(void) { return active; }

void hc_headers_free(struct curl_slist *h)
{
    for (struct curl_slist *c = h; c; c = c->next)
        explicit_bzero(c->data, strlen(c->data));
    curl_slist_free_all(h);
}

static void req_free(hc_req *r)
{
    curl_easy_cleanup(r->easy);
    hc_headers_free(r->headers);
    for (size_t i = 0; i < r->nresp; i++)
        free(r->resp_headers[i]);
    free(r->resp_headers);
    free(r->body);
    free(r);
}

static void check_done(void)
{
    CURLMsg *msg;
    int left;
    while ((msg = curl_multi_info_read(multi, &left))) {
        if (msg->msg != CURLMSG_DONE)
            continue;
        hc_req *r = NULL;
        curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&r);
        CURLcode rc = msg->data.result;
        long status = 0;
        curl_easy_getinfo(r->easy, CURLINFO_RESPONSE_CODE, &status);
        curl_multi_remove_handle(multi, r->easy);
        active--;
        if (!r->cancelled) {
            if (!r->head_seen && rc == CURLE_OK && r->ops->on_head) {
                r->head_seen = true;
                r->ops->on_head(r, status, r->ud);
            }
            const char *err = r->error[0] ? r->error : curl_easy_strerror(rc);
            r->ops->on_done(r, rc, status, err, r->ud);
        }
        req_free(r);
    }
}

static void on_poll(uv_poll_t *p, int status, int events)
{
    sock_ctx *s = p->data;
    int flags = status < 0 ? CURL_CSELECT_ERR
                           : ((events & UV_READABLE) ? CURL_CSELECT_IN : 0) |
                                 ((events & UV_WRITABLE) ? CURL_CSELECT_OUT : 0);
    int running;
    curl_multi_socket_action(multi, s->fd, flags, &running);
    check_done();
}

static void on_timeout(uv_timer_t *t)
{
    (void)t;
    int running;
    curl_multi_socket_action(multi, CURL_SOCKET_TIMEOUT, 0, &running);
    check_done();
}

static int timer_cb(CURLM *m, long timeout_ms, void *userp)
{
    (void)m;
    (void)userp;
    if (timeout_ms < 0)
        uv_timer_stop(&timer);
    else
        uv_timer_start(&timer, on_timeout, (uint64_t)timeout_ms, 0);
    return 0;
}

static void shut_if_closed(void)
{
    if (timer_open || socks || !shut_cb)
        return;
    void (*cb)(void *) = shut_cb;
    shut_cb = NULL;
    cb(shut_ud);
}

static void poll_closed(uv_handle_t *h)
{
    sock_ctx *s = h->data;
    DL_DELETE(socks, s);
    free(s);
    shut_if_closed();
}

static void timer_closed(uv_handle_t *h)
{
    (void)h;
    timer_open = false;
    shut_if_closed();
}

static int socket_cb(CURL *e, curl_socket_t fd, int action, void *userp, void *socketp)
{
    (void)e;
    (void)userp;
    sock_ctx *s = socketp;
    if (action == CURL_POLL_REMOVE) {
        if (s) {
            uv_poll_stop(&s->poll);
            uv_close((uv_handle_t *)&s->poll, poll_closed);
            curl_multi_assign(multi, fd, NULL);
        }
        return 0;
    }
    if (!s) {
        s = calloc(1, sizeof *s);
        if (!s)
            return -1;
        s->fd = fd;
        if (uv_poll_init_socket(mf_loop(), &s->poll, fd) != 0) {
            free(s);
            return -1;
        }
        s->poll.data = s;
        DL_APPEND(socks, s);
        curl_multi_assign(multi, fd, s);
    }
    int events = (action == CURL_POLL_IN || action == CURL_POLL_INOUT ? UV_READABLE : 0) |
                 (action == CURL_POLL_OUT || action == CURL_POLL_INOUT ? UV_WRITABLE : 0);
    uv_poll_start(&s->poll, events, on_poll);
    return 0;
}

int hc_init(mf_error *err)
{
    if (refs++)
        return 0;
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        mf_error_set(err, -1, "libcurl initialisation failed");
        refs--;
        return -1;
    }
    multi = curl_multi_init();
    curl_multi_setopt(multi, CURLMOPT_SOCKETFUNCTION, socket_cb);
    curl_multi_setopt(multi, CURLMOPT_TIMERFUNCTION, timer_cb);
    /* several streams to one server share a connection where HTTP/2 allows it */
    curl_multi_setopt(multi, CURLMOPT_PIPELINING, CURLPIPE_MULTIPLEX);
    uv_timer_init(mf_loop(), &timer);
    timer_open = true;
    return 0;
}

void hc_shutdown(void (*done)(void *ud), void *ud)
{
    if (--refs > 0) {
        if (done)
            done(ud);
        return;
    }
    curl_multi_cleanup(multi);
    multi = NULL;
    /* sockets libcurl did not give back: their handles must not outlive this code */
    for (sock_ctx *s = socks; s; s = s->next) {
        if (!uv_is_closing((uv_handle_t *)&s->poll))
            uv_close((uv_handle_t *)&s->poll, poll_closed);
    }
    shut_cb = done;
    shut_ud = ud;
    uv_close((uv_handle_t *)&timer, timer_closed);
    curl_global_cleanup();
}

static size_t on_write(char *ptr, size_t size, size_t n, void *ud)
{
    hc_req *r = ud;
    size_t len = size * n;
    if (r->cancelled)
        return 0;   /* aborts the transfer; check_done frees it without callbacks */
    r->in_callback = true;
    if (!r->head_seen) {
        r->head_seen = true;
        long status = 0;
        curl_easy_getinfo(r->easy, CURLINFO_RESPONSE_CODE, &status);
        if (r->ops->on_head)
            r->ops->on_head(r, status, r->ud);
    }
    if (!r->cancelled && r->ops->on_data)
        r->ops->on_data(r, ptr, len, r->ud);
    r->in_callback = false;
    return r->cancelled ? 0 : len;
}

static size_t on_header(char *ptr, size_t size, size_t n, void *ud)
{
    hc_req *r = ud;
    size_t len = size * n;
    if (len >= 5 && strncmp(ptr, "HTTP/", 5) == 0) {
        /* a new response (after a redirect or 100 Continue): forget the last one's headers */
        for (size_t i = 0; i < r->nresp; i++)
            free(r->resp_headers[i]);
        r->nresp = 0;
        return len;
    }
    while (len && (ptr[len - 1] == '\n' || ptr[len - 1] == '\r'))
        len--;
    if (!len || !memchr(ptr, ':', len))
        return size * n;
    char **h = realloc(r->resp_headers, (r->nresp + 1) * sizeof *h);
    if (!h)
        return 0;
    r->resp_headers = h;
    r->resp_headers[r->nresp++] = strndup(ptr, len);
    return size * n;
}

const char *hc_header(const hc_req *r, const char *name)
{
    size_t nl = strlen(name);
    for (size_t i = 0; i < r->nresp; i++) {
        const char *h = r->resp_headers[i];
        if (strncasecmp(h, name, nl) == 0 && h[nl] == ':') {
            const char *v = h + nl + 1;
            while (*v == ' ' || *v == '\t')
                v++;
            return v;
        }
    }
    return NULL;
}

const char *hc_header_at(const hc_req *r, size_t i)
{
    return i < r->nresp ? r->resp_headers[i] : NULL;
}

const char *hc_redirect(const hc_req *r)
{
    char *url = NULL;
    if (curl_easy_getinfo(r->easy, CURLINFO_REDIRECT_URL, &url) != CURLE_OK)
        return NULL;
    return url;
}

hc_req *hc_start(const hc_options *o, const hc_ops *ops, void *ud, mf_error *err)
{
    hc_req *r = calloc(1, sizeof *r);
    CURL *e = r ? curl_easy_init() : NULL;
    if (!e) {
        free(r);
        hc_headers_free(o->headers_taken);
        mf_error_set(err, -1, "out of memory");
        return NULL;
    }
    r->easy = e;
    r->ops = ops;
    r->ud = ud;
    r->headers = o->headers_taken;
    for (struct curl_slist *h = o->headers; h; h = h->next)
        r->headers = curl_slist_append(r->headers, h->data);
    /* libcurl asks a body over 1 MB to be let in (Expect: 100-continue): a round trip
     * more, and a second's wait where the server does not answer that */
    if (strcmp(o->method, "POST") == 0)
        r->headers = curl_slist_append(r->headers, "Expect:");
    curl_easy_setopt(e, CURLOPT_URL, o->url);
    curl_easy_setopt(e, CURLOPT_PRIVATE, r);
    curl_easy_setopt(e, CURLOPT_ERRORBUFFER, r->error);
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, r->headers);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_write);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, r);
    curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(e, CURLOPT_HEADERDATA, r);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(e, CURLOPT_HTTP_VERSION, CURL_HTTP_VERSION_2TLS);
    /* waiting to multiplex only makes sense where HTTP/2 may be spoken (over TLS): for plain
     * HTTP the server's answer would tell, and a GET stream's may take as long as it likes */
    if (strncasecmp(o->url, "https:", 6) == 0)
        curl_easy_setopt(e, CURLOPT_PIPEWAIT, 1L);
    curl_easy_setopt(e, CURLOPT_ACCEPT_ENCODING, "");
    curl_easy_setopt(e, CURLOPT_TCP_KEEPALIVE, 1L);
    if (o->timeout_ms)
        curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, o->timeout_ms);
    curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, o->connect_timeout_ms ? o->connect_timeout_ms : 10000L);
    if (o->insecure) {
        curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 0L);
        curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 0L);
    }
    if (o->ca_file)
        curl_easy_setopt(e, CURLOPT_CAINFO, o->ca_file);
    if (o->cert_file) {
        curl_easy_setopt(e, CURLOPT_SSLCERT, o->cert_file);
        curl_easy_setopt(e, CURLOPT_SSLKEY, o->key_file);
        curl_easy_setopt(e, CURLOPT_KEYPASSWD, "");   /* else OpenSSL asks the terminal */
    }
    if (strcmp(o->method, "POST") == 0) {
        r->body = malloc(o->body_len + 1);
        memcpy(r->body, o->body, o->body_len);
        curl_easy_setopt(e, CURLOPT_POST, 1L);
        curl_easy_setopt(e, CURLOPT_POSTFIELDS, r->body);
        curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)o->body_len);
    } else if (strcmp(o->method, "GET") != 0) {
        curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, o->method);
    }
    if (curl_multi_add_handle(multi, e) != CURLM_OK) {
        hc_headers_free(r->headers);
        free(r->body);
        curl_easy_cleanup(e);
        free(r);
        mf_error_set(err, -1, "cannot start the request");
        return NULL;
    }
    active++;
    return r;
}

void hc_cancel(hc_req *r)
{
    r->cancelled = true;
    if (r->in_callback)
        return;   /* the write callback aborts the transfer when it returns */
    /* removal from the multi handle happens here and now: no callback follows */
    curl_multi_remove_handle(multi, r->easy);
    active--;
    req_free(r);
}
