/* The http transport's instances: one listening socket and its MCP endpoint each. */
#include "listener.h"
#include "auth.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define LISTEN_BACKLOG 4096

static int check(const json_t *conf, const char *path, mf_error *err)
{
    http_server_conf c;
    if (http_server_conf_parse(conf, path, &c, err))
        return -1;
    /* the certificate and key are read now, so that a bad one refuses the configuration */
    SSL_CTX *ctx = c.tls.on ? http_tls_ctx_new(&c.tls, path, err) : NULL;
    int rc = c.tls.on && !ctx ? -1 : 0;
    if (ctx)
        SSL_CTX_free(ctx);
    http_server_conf_free(&c);
    return rc;
}

static void on_connection(uv_stream_t *server, int status)
{
    listener *l = server->data;
    if (status < 0) {
        mf_warn("http", "accept failed", "url=%s error=%s", l->conf.url, uv_strerror(status));
        return;
    }
    /* while handing over too: the connection waits, unread, for the successor */
    http_conns_accept(l->conns, server);
}

static void on_sweep(uv_timer_t *t)
{
    listener *l = t->data;
    hs_sweep(l);
    uint64_t now = mf_now();
    if (l->conf.keepalive_ms && now - l->last_keepalive >= l->conf.keepalive_ms) {
        /* a comment on every open session stream keeps proxies from timing it out */
        l->last_keepalive = now;
        hsession *hs, *tmp;
        HASH_ITER(hh_id, l->by_id, hs, tmp) {
            if (hs->get && hs->get->c)
                http_stream_write(hs->get->c, ": keepalive\n\n", 13);
        }
        /* and on every 2026-07-28 stream: a subscriptions/listen may be quiet for long */
        hreq *h;
        DL_FOREACH(l->reqs, h) {
            if (h->modern && h->streaming && h->c)
                http_stream_write(h->c, ": keepalive\n\n", 13);
        }
    }
}

static void release(listener *l)
{
    if (--l->open_handles > 0)
        return;
    mf_instance *inst = l->inst;
    http_conns_free(l->conns);
    http_server_conf_free(&l->conf);
    free(l->dups);
    free(l);
    if (inst)
        mf_instance_stopped(inst);
}

void listener_handle_closed(uv_handle_t *h) { release(h->data); }

static void auth_released(void *ud) { release(ud); }

/* The connections are closed: nothing asks the authentication any more; what it runs on
 * the loop (a JWKS fetch) goes next, and the listener once it has. */
void listener_conns_closed(void *ud)
{
    listener *l = ud;
    struct http_auth *a = l->conf.auth;
    l->conf.auth = NULL;
    http_auth_free(a, auth_released, l);
}

listener *listener_new(mf_instance *inst, const json_t *conf, mf_error *err)
{
    listener *l = calloc(1, sizeof *l);
    if (!l) {
        mf_error_set(err, -1, "out of memory");
        return NULL;
    }
    if (http_server_conf_parse(conf, mf_instance_name(inst), &l->conf, err)) {
        free(l);
        return NULL;
    }
    SSL_CTX *ctx = NULL;
    if (http_auth_start(l->conf.auth, err) ||
        (l->conf.tls.on && !(ctx = http_tls_ctx_new(&l->conf.tls, mf_instance_name(inst), err)))) {
        http_server_conf_free(&l->conf);
        free(l);
        return NULL;
    }
    static const http_app app = {ep_on_request, ep_on_close, ep_ws_message};
    l->conns = http_conns_new(&l->conf.limits, &app, l);
    http_conns_set_tls(l->conns, ctx);
    uv_tcp_init(mf_loop(), &l->tcp);
    uv_timer_init(mf_loop(), &l->sweep);
    uv_timer_init(mf_loop(), &l->swap_timer);
    l->tcp.data = l->sweep.data = l->swap_timer.data = l;
    l->open_handles = 4;   /* three handles, and the connections: released when all are closed */
    l->inst = inst;
    return l;
}

void listener_discard(listener *l)
{
    l->inst = NULL;   /* the instance is not ours to report */
    uv_close((uv_handle_t *)&l->tcp, listener_handle_closed);
    uv_close((uv_handle_t *)&l->sweep, listener_handle_closed);
    uv_close((uv_handle_t *)&l->swap_timer, listener_handle_closed);
    http_conns_detach_all(l->conns, listener_conns_closed, l);
}

static const char *scheme(const listener *l)
{
    return l->conf.ws_only ? (l->conf.tls.on ? "wss" : "ws") : (l->conf.tls.on ? "https" : "http");
}

void listener_running(listener *l, const char *how)
{
    /* with port 0 the system chose: say which, so the URL can be found */
    struct sockaddr_storage bound;
    int blen = sizeof bound;
    char ip[64] = "", url[128];
    int port = l->conf.port;
    bool v6 = strchr(l->conf.host, ':') != NULL;
    if (uv_tcp_getsockname(&l->tcp, (struct sockaddr *)&bound, &blen) == 0) {
        if (bound.ss_family == AF_INET6) {
            uv_ip6_name((struct sockaddr_in6 *)&bound, ip, sizeof ip);
            port = ntohs(((struct sockaddr_in6 *)&bound)->sin6_port);
        } else {
            uv_ip4_name((struct sockaddr_in *)&bound, ip, sizeof ip);
            port = ntohs(((struct sockaddr_in *)&bound)->sin_port);
        }
    }
    snprintf(url, sizeof url, v6 ? "%s://[%s]:%d%s" : "%s://%s:%d%s", scheme(l), ip, port,
             l->conf.path);
    mf_info("http", how, "url=%s connections=%zu sessions=%u", url, http_conns_count(l->conns),
            HASH_CNT(hh_id, l->by_id));
    uint64_t every = l->conf.keepalive_ms && l->conf.keepalive_ms < 1000 ? l->conf.keepalive_ms : 1000;
    if (l->conf.session_idle_ms < every)
        every = l->conf.session_idle_ms;
    l->sweep_every = every;
    listener_sweep_start(l);
}

void listener_sweep_start(listener *l)
{
    uv_timer_start(&l->sweep, on_sweep, l->sweep_every, l->sweep_every);
}

int listener_listen(listener *l, mf_error *err)
{
    int rc = uv_listen((uv_stream_t *)&l->tcp, LISTEN_BACKLOG, on_connection);
    if (rc != 0)
        mf_error_set(err, -1, "cannot listen on %s: %s", l->conf.url, uv_strerror(rc));
    return rc ? -1 : 0;
}

static int start(mf_instance *inst, const json_t *conf, void **self, mf_error *err)
{
    listener *l = listener_new(inst, conf, err);
    if (!l)
        return -1;
    struct sockaddr_storage sa;
    bool v6 = strchr(l->conf.host, ':') != NULL;
    if (v6)
        uv_ip6_addr(l->conf.host, l->conf.port, (struct sockaddr_in6 *)&sa);
    else
        uv_ip4_addr(l->conf.host, l->conf.port, (struct sockaddr_in *)&sa);
    int rc = uv_tcp_bind(&l->tcp, (struct sockaddr *)&sa, v6 ? UV_TCP_IPV6ONLY : 0);
    if (rc != 0) {
        mf_error_set(err, -1, "cannot listen on %s: %s", l->conf.url, uv_strerror(rc));
        listener_discard(l);
        return -1;
    }
    if (listener_listen(l, err)) {
        listener_discard(l);
        return -1;
    }
    listener_running(l, "listening");
    l->last_keepalive = mf_now();
    *self = l;
    return 0;
}

static void receive(void *self, mf_msg *m)
{
    listener *l = self;
    if (l->handed_over) {
        /* replaced: whatever still comes here is its successor's */
        mf_instance_forward(l->inst, m);
        return;
    }
    ep_from_kernel(l, m);
}

static void stop(void *self)
{
    listener *l = self;
    if (l->handed_over || l->stopping)
        return;   /* already closing: its handles' callbacks report it stopped */
    l->stopping = true;
    uv_close((uv_handle_t *)&l->tcp, listener_handle_closed);
    uv_close((uv_handle_t *)&l->sweep, listener_handle_closed);
    uv_close((uv_handle_t *)&l->swap_timer, listener_handle_closed);
    ep_shutdown(l);
    http_conns_close_all(l->conns, listener_conns_closed, l);
}

/* `reload config`: the certificate and key are read again; new connections get them, those
 * open keep what they began with. */
static void reload(void *self, void (*done)(void *ud, int code, json_t *report), void *ud)
{
    listener *l = self;
    json_t *report = json_pack("{s:s}", "url", l->conf.url);
    if (l->conf.tls.on) {
        mf_error err = {0};
        SSL_CTX *ctx = http_tls_ctx_new(&l->conf.tls, l->conf.url, &err);
        if (!ctx) {
            mf_warn("http", "tls certificate not reloaded; the one loaded stays", "url=%s reason=\"%s\"", l->conf.url,
                    mf_log_esc(err.msg, (size_t)-1));
            json_object_set_new(report, "error", json_string(err.msg));
            done(ud, 409, report);
            return;
        }
        http_conns_set_tls(l->conns, ctx);
    }
    json_t *tls = listener_tls_status(l);
    if (tls) {
        mf_info("http", "tls certificate loaded", "url=%s sha256=%s", l->conf.url,
                json_string_value(json_object_get(tls, "sha256")));
        json_object_set_new(report, "tls", tls);
    }
    done(ud, 200, report);
}

json_t *listener_tls_status(listener *l)
{
    if (!l->conf.tls.on)
        return NULL;
    char fp[100];
    http_tls_fingerprint(http_conns_tls_ctx(l->conns), fp);
    uint64_t ok, failed;
    http_conns_tls_counts(l->conns, &ok, &failed);
    return json_pack("{s:s,s:I,s:I}", "sha256", fp, "handshakes", (json_int_t)ok, "handshake_failures",
                     (json_int_t)failed);
}

static json_t *status(void *self)
{
    listener *l = self;
    json_t *o = http_auth_figures(l->conf.auth);
    json_object_set_new(o, "url", json_string(l->conf.url));
    json_object_set_new(o, "connections", json_integer((json_int_t)http_conns_count(l->conns)));
    json_object_set_new(o, "sessions", json_integer((json_int_t)HASH_CNT(hh_id, l->by_id)));
    json_t *tls = listener_tls_status(l);
    if (tls)
        json_object_set_new(o, "tls", tls);
    return o;
}

const mf_role_ops http_transport_ops = {
    .status = status,
    .check = check,
    .start = start,
    .receive = receive,
    .stop = stop,
    .save = srv_save,
    .resume = srv_resume,
    .adopt = srv_adopt,
    .drain = srv_drain,
    .reload = reload,
};
