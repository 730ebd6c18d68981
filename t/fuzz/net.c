/* Sockets and loop running for the fuzz targets (net.h). */
#include "build-config.h"
#include "net.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

static int finish_socket(int fd)
{
    /* the server may close first: a write then fails, instead of killing the process */
    signal(SIGPIPE, SIG_IGN);
    struct linger lg = {1, 0};
    setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
    return fd;
}

/* A connect a signal interrupted (the gateway in process has its own, SIGCHLD among them)
 * goes on in the background: wait for it to finish, then for its outcome. */
static int connect_done(int fd, int rc)
{
    if (rc == 0 || errno != EINTR)
        return rc;
    struct pollfd pfd = {.fd = fd, .events = POLLOUT};
    int n;
    do
        n = poll(&pfd, 1, 10000);
    while (n < 0 && errno == EINTR);
    if (n <= 0)
        return -1;
    int err = 0;
    socklen_t len = sizeof err;
    if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0)
        return -1;
    errno = err;
    return err ? -1 : 0;
}

int fuzz_connect_tcp(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port),
                             .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    if (fd < 0 || connect_done(fd, connect(fd, (struct sockaddr *)&sa, sizeof sa)) != 0) {
        fprintf(stderr, "fuzz: cannot connect to 127.0.0.1:%d: %s\n", port, strerror(errno));
        if (fd >= 0)
            close(fd);
        return -1;
    }
    return finish_socket(fd);
}

int fuzz_connect_unix(const char *path)
{
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    snprintf(sa.sun_path, sizeof sa.sun_path, "%s", path);
    if (fd < 0 || connect_done(fd, connect(fd, (struct sockaddr *)&sa, sizeof sa)) != 0) {
        if (fd >= 0)
            close(fd);
        return -1;
    }
    return finish_socket(fd);
}

int fuzz_port_of(const uv_tcp_t *t)
{
    struct sockaddr_storage sa;
    int len = sizeof sa;
    if (uv_tcp_getsockname(t, (struct sockaddr *)&sa, &len) != 0)
        return -1;
    return ntohs(((struct sockaddr_in *)&sa)->sin_port);
}

static void take(int fd, fuzz_out *out, bool *any)
{
    char buf[65536];
    ssize_t n;
    while ((n = read(fd, buf, sizeof buf)) > 0) {
        *any = true;
        if (!out)
            continue;
        if (out->len + (size_t)n + 1 > out->cap) {
            size_t cap = out->cap ? out->cap : 65536;
            while (cap < out->len + (size_t)n + 1)
                cap *= 2;
            out->buf = realloc(out->buf, cap);
            out->cap = cap;
        }
        memcpy(out->buf + out->len, buf, (size_t)n);
        out->len += (size_t)n;
        out->buf[out->len] = '\0';
    }
    if (n == 0 && out && !out->eof) {
        out->eof = true;
        *any = true;
    }
}

int fuzz_write_all(int fd, const char *data, size_t len)
{
    while (len) {
        ssize_t n = write(fd, data, len);
        if (n > 0) {
            data += n;
            len -= (size_t)n;
        } else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            /* the server reads on this loop: let it, and drain what it answers meanwhile */
            bool any = false;
            uv_run(mf_loop(), UV_RUN_NOWAIT);
            take(fd, NULL, &any);
            struct pollfd p = {fd, POLLOUT, 0};
            poll(&p, 1, 1);
        } else if (n < 0 && errno == EINTR) {
            continue;
        } else {
            return -1;
        }
    }
    return 0;
}

void fuzz_settle(int fd, fuzz_out *out)
{
    /* quiet: a few turns in a row where nothing was read and nothing was ready to run;
     * bounded, should something keep the loop busy for ever */
    int quiet = 0;
    for (int round = 0; round < 200000 && quiet < 3; round++) {
        uv_run(mf_loop(), UV_RUN_NOWAIT);
        bool any = false;
        if (fd >= 0)
            take(fd, out, &any);
        if (any || uv_backend_timeout(mf_loop()) == 0)
            quiet = 0;
        else
            quiet++;
    }
}

bool fuzz_run_until(bool (*done)(void *), void *ud, uint64_t ms)
{
    uint64_t end = uv_hrtime() / 1000000 + ms;
    while (!done(ud)) {
        if (uv_hrtime() / 1000000 > end)
            return false;
        uv_run(mf_loop(), UV_RUN_NOWAIT);
        if (!done(ud)) {
            int t = uv_backend_timeout(mf_loop());
            if (t != 0)
                uv_sleep(1);
        }
    }
    return true;
}

void fuzz_out_free(fuzz_out *out)
{
    free(out->buf);
    memset(out, 0, sizeof *out);
}
