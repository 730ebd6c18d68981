/* The set-up the connection layer's fuzz targets share (conns.h). */
#include "build-config.h"
#include "kernel.h"
#include "conns.h"
#include "fuzz.h"

#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static http_conns *conns;
static uv_tcp_t server;

static void on_connection(uv_stream_t *s, int status)
{
    if (status == 0)
        http_conns_accept(conns, s);
}

static void all_closed(void *ud) { *(bool *)ud = true; }
static bool is_true(void *ud) { return *(bool *)ud; }

static void teardown(void)
{
    bool done = false;
    http_conns_close_all(conns, all_closed, &done);
    fuzz_run_until(is_true, &done, 2000);
    http_conns_free(conns);
    uv_close((uv_handle_t *)&server, NULL);
    mf_endpoints_close();
    mf_loop_close();
}

http_conns *fuzz_conns_start(const http_limits *limits, const http_app *app, int *port)
{
    mf_log_set_level(MF_LOG_ERROR);
    if (mf_loop_init() || mf_endpoints_init())
        abort();
    conns = http_conns_new(limits, app, NULL);
    struct sockaddr_in sa;
    uv_ip4_addr("127.0.0.1", 0, &sa);
    uv_tcp_init(mf_loop(), &server);
    if (uv_tcp_bind(&server, (struct sockaddr *)&sa, 0) ||
        uv_listen((uv_stream_t *)&server, 64, on_connection) || (*port = fuzz_port_of(&server)) <= 0) {
        fprintf(stderr, "fuzz: cannot listen\n");
        exit(1);
    }
    atexit(teardown);
    return conns;
}

static bool none_left(void *ud) { return http_conns_count(ud) == 0; }

bool fuzz_conns_client(http_conns *cs, int port, const char *prefix, const uint8_t *data, size_t size)
{
    uint8_t steer = fuzz_take_byte(&data, &size);
    int fd = fuzz_connect_tcp(port);
    FUZZ_ASSERT(fd >= 0);
    fuzz_out out = {0};
    if (fuzz_write_all(fd, prefix, strlen(prefix)) == 0) {
        size_t step = (steer & 2) ? (size_t)1 << ((steer >> 2) & 7) : size;
        for (size_t off = 0; off < size; off += step) {
            size_t n = size - off < step ? size - off : step;
            if (fuzz_write_all(fd, (const char *)data + off, n))
                break;
            if (step < size)
                fuzz_settle(fd, &out);
        }
    }
    if (steer & 1)
        shutdown(fd, SHUT_WR);
    /* leaving at once (bit 5) the answers are left unread, but the server has run */
    fuzz_settle((steer & 0x20) ? -1 : fd, &out);
    close(fd);
    fuzz_out_free(&out);
    /* the server notices the client left, or its timeouts end the connection */
    return fuzz_run_until(none_left, cs, 3000);
}
