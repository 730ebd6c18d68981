/* A bounded load client for MCP over WebSocket, in C so that the client is not what is
 * measured: N connections, each with one tools/call in flight at a time (a closed loop, as
 * wrk keeps one request per connection), for S seconds, on one thread with poll(). Frames
 * are wslay's. Prints requests/s and latency percentiles; exits 1 on any error answer or a
 * connection that fails.
 *
 *   t/bench/ws-load HOST PORT PATH TOOL CONNECTIONS SECONDS */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <wslay/wslay.h>

typedef struct lconn {
    int fd;
    wslay_event_context_ptr ctx;
    long id;             /* of the call in flight */
    double sent;
    int initialized;
} lconn;

static const char *tool;
static double stop_at;
static double *lat;
static size_t nlat, caplat;
static long errors;
static uint32_t rnd = 2463534242u;

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static ssize_t recv_cb(wslay_event_context_ptr ctx, uint8_t *buf, size_t len, int flags, void *ud)
{
    (void)flags;
    lconn *c = ud;
    ssize_t n = recv(c->fd, buf, len, 0);
    if (n <= 0) {
        bool again = n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK);
        wslay_event_set_error(ctx, again ? WSLAY_ERR_WOULDBLOCK : WSLAY_ERR_CALLBACK_FAILURE);
        return -1;
    }
    return n;
}

static ssize_t send_cb(wslay_event_context_ptr ctx, const uint8_t *data, size_t len, int flags, void *ud)
{
    (void)flags;
    lconn *c = ud;
    ssize_t n = send(c->fd, data, len, MSG_NOSIGNAL);
    if (n < 0) {
        bool again = errno == EAGAIN || errno == EWOULDBLOCK;
        wslay_event_set_error(ctx, again ? WSLAY_ERR_WOULDBLOCK : WSLAY_ERR_CALLBACK_FAILURE);
        return -1;
    }
    return n;
}

static int genmask_cb(wslay_event_context_ptr ctx, uint8_t *buf, size_t len, void *ud)
{
    (void)ctx;
    (void)ud;
    for (size_t i = 0; i < len; i++) {   /* a mask needs no strength in a load client */
        rnd ^= rnd << 13;
        rnd ^= rnd >> 17;
        rnd ^= rnd << 5;
        buf[i] = (uint8_t)rnd;
    }
    return 0;
}

static void send_text(lconn *c, const char *text)
{
    struct wslay_event_msg m = {WSLAY_TEXT_FRAME, (const uint8_t *)text, strlen(text)};
    wslay_event_queue_msg(c->ctx, &m);
}

static void next_call(lconn *c)
{
    char buf[256];
    c->id++;
    snprintf(buf, sizeof buf, "{\"jsonrpc\":\"2.0\",\"id\":%ld,\"method\":\"tools/call\",\"params\":{\"name\":\"%s\","
             "\"arguments\":{\"n\":%ld}}}", c->id, tool, c->id);
    c->sent = now();
    send_text(c, buf);
}

static void on_msg(wslay_event_context_ptr ctx, const struct wslay_event_on_msg_recv_arg *a, void *ud)
{
    (void)ctx;
    lconn *c = ud;
    if (a->opcode != WSLAY_TEXT_FRAME)
        return;
    char *t = strndup((const char *)a->msg, a->msg_length);
    char want[48];
    snprintf(want, sizeof want, "\"id\":%ld,", c->id);
    if (!strstr(t, want) || strstr(t, "\"method\"")) {
        free(t);
        return;   /* a notification, or not the answer awaited */
    }
    if (!c->initialized) {
        c->initialized = 1;
        send_text(c, "{\"jsonrpc\":\"2.0\",\"method\":\"notifications/initialized\"}");
    } else {
        if (!strstr(t, "\"result\""))
            errors++;
        if (nlat == caplat) {
            caplat = caplat ? caplat * 2 : 65536;
            lat = realloc(lat, caplat * sizeof *lat);
        }
        lat[nlat++] = now() - c->sent;
    }
    free(t);
    if (stop_at > 0 && now() < stop_at)
        next_call(c);
}

static int open_conn(lconn *c, const char *host, int port, const char *path)
{
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    inet_pton(AF_INET, host, &sa.sin_addr);
    c->fd = socket(AF_INET, SOCK_STREAM, 0);
    int one = 1;
    setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    struct timeval tv = {10, 0};
    setsockopt(c->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    if (connect(c->fd, (struct sockaddr *)&sa, sizeof sa) != 0)
        return -1;
    char req[512];
    int n = snprintf(req, sizeof req, "GET %s HTTP/1.1\r\nHost: %s:%d\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                     "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
                     "Sec-WebSocket-Protocol: mcp\r\n\r\n", path, host, port);
    if (send(c->fd, req, (size_t)n, 0) != n)
        return -1;
    /* the answer, byte by byte up to its end: nothing of the frames after it is taken */
    char head[2048];
    size_t len = 0;
    while (len < sizeof head - 1 && (len < 4 || memcmp(head + len - 4, "\r\n\r\n", 4) != 0))
        if (recv(c->fd, head + len++, 1, 0) != 1)
            return -1;
    head[len] = '\0';
    if (strncmp(head, "HTTP/1.1 101", 12) != 0)
        return -1;
    fcntl(c->fd, F_SETFL, fcntl(c->fd, F_GETFL) | O_NONBLOCK);
    struct wslay_event_callbacks cb = {.recv_callback = recv_cb, .send_callback = send_cb,
                                       .genmask_callback = genmask_cb, .on_msg_recv_callback = on_msg};
    wslay_event_context_client_init(&c->ctx, &cb, c);
    c->id = 0;
    send_text(c, "{\"jsonrpc\":\"2.0\",\"id\":0,\"method\":\"initialize\",\"params\":{\"protocolVersion\":\"2025-11-25\","
                 "\"capabilities\":{},\"clientInfo\":{\"name\":\"ws-load\",\"version\":\"1\"}}}");
    return 0;
}

static int cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
    if (argc != 7) {
        fprintf(stderr, "usage: ws-load HOST PORT PATH TOOL CONNECTIONS SECONDS\n");
        return 2;
    }
    tool = argv[4];
    int n = atoi(argv[5]);
    double secs = atof(argv[6]);
    lconn *cs = calloc((size_t)n, sizeof *cs);
    struct pollfd *pfd = calloc((size_t)n, sizeof *pfd);
    for (int i = 0; i < n; i++)
        if (open_conn(&cs[i], argv[1], atoi(argv[2]), argv[3]) != 0) {
            fprintf(stderr, "ws-load: connection %d failed\n", i);
            return 1;
        }
    double start = 0, hard = now() + secs + 30;
    for (;;) {
        int ready = 0;
        for (int i = 0; i < n; i++)
            ready += cs[i].initialized;
        if (ready == n && start == 0) {
            start = now();
            stop_at = start + secs;
            for (int i = 0; i < n; i++)
                next_call(&cs[i]);
        }
        for (int i = 0; i < n; i++) {
            wslay_event_send(cs[i].ctx);
            pfd[i].fd = cs[i].fd;
            pfd[i].events = (short)(POLLIN | (wslay_event_want_write(cs[i].ctx) ? POLLOUT : 0));
        }
        if (start > 0 && now() >= stop_at)
            break;
        if (now() > hard) {
            fprintf(stderr, "ws-load: did not finish in time\n");
            return 1;
        }
        if (poll(pfd, (nfds_t)n, 1000) < 0)
            return 1;
        for (int i = 0; i < n; i++) {
            if (pfd[i].revents & (POLLIN | POLLERR | POLLHUP)) {
                if (wslay_event_recv(cs[i].ctx) != 0) {
                    fprintf(stderr, "ws-load: connection %d broke\n", i);
                    return 1;
                }
            }
            if (pfd[i].revents & POLLOUT)
                wslay_event_send(cs[i].ctx);
        }
    }
    double elapsed = now() - start;
    qsort(lat, nlat, sizeof *lat, cmp);
#define Q(p) (nlat ? lat[(size_t)((p) * (double)(nlat - 1))] * 1000 : 0)
    printf("websocket connections=%d requests=%zu seconds=%.1f req/s=%.0f latency_ms p50=%.3f p90=%.3f p99=%.3f "
           "max=%.3f errors=%ld\n", n, nlat, elapsed, (double)nlat / elapsed, Q(0.5), Q(0.9), Q(0.99), Q(1.0), errors);
    for (int i = 0; i < n; i++) {
        wslay_event_context_free(cs[i].ctx);
        close(cs[i].fd);
    }
    free(cs);
    free(pfd);
    free(lat);
    return errors ? 1 : 0;
}
