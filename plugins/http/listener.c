/* The http transport's instances: one listening socket and its MCP endpoint each. */
#include "listener.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define LISTEN_BACKLOG 4096

static int check(const json_t *conf, const char *path, mf_error *err)
{
    http_server_conf c;
    if (http_server_conf_parse(conf, path, &c, err))
        return -1;
    http_server_conf_free(&c);
    return 0;
}

static void on_connection(uv_stream_t *server, int status)
{
    listener *l = server->data;
    if (status < 0) {
        mf_warn("http", "accept failed", "url=%s error=%s", l->conf.url, uv_strerror(status));
        return;
    }
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
    }
}

static void release(listener *l)
{
    if (--l->open_handles > 0)
        return;
    mf_instance *inst = l->inst;
    http_conns_free(l->conns);
    http_server_conf_free(&l->conf);
    free(l);
    if (inst)
        mf_instance_stopped(inst);
}

static void handle_closed(uv_handle_t *h) { release(h->data); }
static void conns_closed(void *ud) { release(ud); }

static int start(mf_instance *inst, const json_t *conf, void **self, mf_error *err)
{
    listener *l = calloc(1, sizeof *l);
    if (http_server_conf_parse(conf, mf_instance_name(inst), &l->conf, err)) {
        free(l);
        return -1;
    }
    static const http_app app = {ep_on_request, ep_on_close};
    l->conns = http_conns_new(&l->conf.limits, &app, l);
    uv_tcp_init(mf_loop(), &l->tcp);
    uv_timer_init(mf_loop(), &l->sweep);
    l->tcp.data = l->sweep.data = l;
    l->open_handles = 2;
    struct sockaddr_storage sa;
    bool v6 = strchr(l->conf.host, ':') != NULL;
    if (v6)
        uv_ip6_addr(l->conf.host, l->conf.port, (struct sockaddr_in6 *)&sa);
    else
        uv_ip4_addr(l->conf.host, l->conf.port, (struct sockaddr_in *)&sa);
    int rc = uv_tcp_bind(&l->tcp, (struct sockaddr *)&sa, v6 ? UV_TCP_IPV6ONLY : 0);
    if (rc == 0)
        rc = uv_listen((uv_stream_t *)&l->tcp, LISTEN_BACKLOG, on_connection);
    if (rc != 0) {
        mf_error_set(err, -1, "cannot listen on %s: %s", l->conf.url, uv_strerror(rc));
        /* the instance is not ours to report: free once the handles are closed */
        l->open_handles++;   /* the connections' share, never opened */
        uv_close((uv_handle_t *)&l->tcp, handle_closed);
        uv_close((uv_handle_t *)&l->sweep, handle_closed);
        release(l);
        return -1;
    }
    l->inst = inst;
    l->open_handles++;   /* the connections: released when all are closed */
    /* with port 0 the system chose: say which, so the URL can be found */
    struct sockaddr_storage bound;
    int blen = sizeof bound;
    char ip[64] = "", url[128];
    int port = l->conf.port;
    if (uv_tcp_getsockname(&l->tcp, (struct sockaddr *)&bound, &blen) == 0) {
        if (bound.ss_family == AF_INET6) {
            uv_ip6_name((struct sockaddr_in6 *)&bound, ip, sizeof ip);
            port = ntohs(((struct sockaddr_in6 *)&bound)->sin6_port);
        } else {
            uv_ip4_name((struct sockaddr_in *)&bound, ip, sizeof ip);
            port = ntohs(((struct sockaddr_in *)&bound)->sin_port);
        }
    }
    snprintf(url, sizeof url, v6 ? "http://[%s]:%d%s" : "http://%s:%d%s", ip, port, l->conf.path);
    mf_info("http", "listening", "url=%s", url);
    uint64_t every = l->conf.keepalive_ms && l->conf.keepalive_ms < 1000 ? l->conf.keepalive_ms : 1000;
    if (l->conf.session_idle_ms < every)
        every = l->conf.session_idle_ms;
    uv_timer_start(&l->sweep, on_sweep, every, every);
    l->last_keepalive = mf_now();
    *self = l;
    return 0;
}

static void receive(void *self, mf_msg *m)
{
    ep_from_kernel(self, m);
}

static void stop(void *self)
{
    listener *l = self;
    l->stopping = true;
    uv_close((uv_handle_t *)&l->tcp, handle_closed);
    uv_close((uv_handle_t *)&l->sweep, handle_closed);
    ep_shutdown(l);
    http_conns_close_all(l->conns, conns_closed, l);
}

const mf_role_ops http_transport_ops = {
    .check = check,
    .start = start,
    .receive = receive,
    .stop = stop,
};
