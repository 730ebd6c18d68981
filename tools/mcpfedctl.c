/* mcpfedctl: talk to a running mcpfed over its admin socket.
 *
 *   mcpfedctl [--socket PATH] [--json] [--timeout SECONDS] COMMAND [ARGS...]
 *
 * Sends the command as one line, reads one reply (status line, then a JSON body), and
 * prints it for a person (default) or as the JSON itself (--json). Exits 0 for a 2xx
 * reply, 1 for any other, 2 when the gateway cannot be reached or does not answer in time. */
#include "build-config.h"
#include "rundir.h"

#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <jansson.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

static void usage(FILE *out)
{
    fprintf(out, "Usage: mcpfedctl [--socket PATH] [--json] [--timeout SECONDS] COMMAND [ARGS...]\n"
                 "\n"
                 "Talks to a running mcpfed over its admin socket (the configuration's admin key).\n"
                 "Default: $MCPFED_SOCKET, else the first of $RUNTIME_DIRECTORY/admin.sock,\n"
                 "$XDG_RUNTIME_DIR/mcpfed/admin.sock and /run/mcpfed/admin.sock that exists, where\n"
                 "the embedded default configuration opens it. 'mcpfedctl help' lists the commands.\n"
                 "\n"
                 "  -s, --socket PATH  the admin socket\n"
                 "  -j, --json         print the reply's JSON as it came\n"
                 "  -t, --timeout SEC  how long to wait for the reply (default 120)\n"
                 "  -h, --help         print this help\n");
}

/* A person's view of a JSON value: objects as "key: value" lines, lists of objects as
 * blocks, indented. */
static void show(const json_t *v, int indent, const char *key)
{
    const char *k;
    json_t *x;
    size_t i;
    if (json_is_object(v)) {
        if (key)
            printf("%*s%s:\n", indent, "", key);
        json_object_foreach((json_t *)v, k, x) show(x, key ? indent + 2 : indent, k);
    } else if (json_is_array(v)) {
        if (key)
            printf("%*s%s:%s\n", indent, "", key, json_array_size(v) ? "" : " (none)");
        json_array_foreach(v, i, x) {
            if (json_is_object(x)) {
                show(x, indent + 2, NULL);
                if (i + 1 < json_array_size(v))
                    printf("\n");
            } else {
                char *s = json_dumps(x, JSON_ENCODE_ANY);
                printf("%*s- %s\n", indent + 2, "", json_is_string(x) ? json_string_value(x) : s);
                free(s);
            }
        }
    } else {
        char *s = json_is_string(v) ? NULL : json_dumps(v, JSON_ENCODE_ANY);
        printf("%*s%s%s%s\n", indent, "", key ? key : "", key ? ": " : "", s ? s : json_string_value(v));
        free(s);
    }
}

/* The first default place where a socket exists; else the first default place. */
static const char *default_socket(char *buf, size_t n)
{
    struct stat st;
    for (int i = 0; mf_admin_socket_default(i, true, buf, n); i++)
        if (stat(buf, &st) == 0 && S_ISSOCK(st.st_mode))
            return buf;
    return mf_admin_socket_default(0, true, buf, n);
}

int main(int argc, char **argv)
{
    const char *sock = getenv("MCPFED_SOCKET");
    bool raw = false;
    double timeout = 120;
    char *end;
    static const struct option opts[] = {{"socket", required_argument, NULL, 's'},
                                         {"json", no_argument, NULL, 'j'},
                                         {"timeout", required_argument, NULL, 't'},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    int c;
    while ((c = getopt_long(argc, argv, "+s:jt:h", opts, NULL)) != -1) {
        switch (c) {
        case 's': sock = optarg; break;
        case 'j': raw = true; break;
        case 't':
            timeout = strtod(optarg, &end);
            if (*end || !(timeout > 0)) {
                fprintf(stderr, "mcpfedctl: --timeout wants a positive number of seconds, not %s\n", optarg);
                return 2;
            }
            break;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
    }
    if (optind >= argc) {
        usage(stderr);
        return 2;
    }
    char place[PATH_MAX];
    if (!sock)
        sock = default_socket(place, sizeof place);
    char line[4096];
    size_t n = 0;
    for (int i = optind; i < argc; i++) {
        int w = snprintf(line + n, sizeof line - n, "%s%s", i > optind ? " " : "", argv[i]);
        if (w < 0 || (size_t)w >= sizeof line - n - 1) {
            fprintf(stderr, "mcpfedctl: command too long\n");
            return 2;
        }
        n += (size_t)w;
    }
    line[n++] = '\n';
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    if (strlen(sock) >= sizeof sa.sun_path) {
        fprintf(stderr, "mcpfedctl: socket path too long: %s\n", sock);
        return 2;
    }
    strcpy(sa.sun_path, sock);
    if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0) {
        fprintf(stderr, "mcpfedctl: cannot reach mcpfed at %s: %s\n", sock, strerror(errno));
        return 2;
    }
    /* a reload waits on handovers; a gateway that never answers must not hold us forever */
    struct timeval tv = {.tv_sec = (time_t)timeout, .tv_usec = (suseconds_t)((timeout - (time_t)timeout) * 1e6)};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    /* a gateway that refuses us says why, then closes: read that rather than die of SIGPIPE */
    signal(SIGPIPE, SIG_IGN);
    if (write(fd, line, n) != (ssize_t)n && errno != EPIPE && errno != ECONNRESET) {
        fprintf(stderr, "mcpfedctl: cannot send: %s\n", strerror(errno));
        return 2;
    }
    /* the status line, then exactly its length of body */
    char head[128];
    size_t hl = 0;
    ssize_t r = 0;
    while (hl < sizeof head - 1 && (r = read(fd, head + hl, 1)) == 1 && head[hl] != '\n')
        hl++;
    head[hl] = '\0';
    if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
        fprintf(stderr, "mcpfedctl: no reply from %s in %g s\n", sock, timeout);
        return 2;
    }
    int code = 0;
    size_t len = 0;
    char reason[64] = "";
    if (sscanf(head, "%d %zu %63[^\n]", &code, &len, reason) < 2) {
        fprintf(stderr, "mcpfedctl: unexpected reply: %s\n", head);
        return 2;
    }
    char *body = len < ((size_t)1 << 30) ? malloc(len + 1) : NULL;
    if (!body) {
        fprintf(stderr, "mcpfedctl: a reply of %zu bytes is more than can be held\n", len);
        return 2;
    }
    size_t got = 0;
    while (got < len && (r = read(fd, body + got, len - got)) > 0)
        got += (size_t)r;
    body[got] = '\0';
    close(fd);
    if (got < len) {
        fprintf(stderr, "mcpfedctl: the reply ended after %zu of its %zu bytes%s\n", got, len,
                r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK) ? " (timed out)" : "");
        free(body);
        return 2;
    }
    if (raw) {
        printf("%s\n", body);
    } else {
        json_t *v = json_loads(body, 0, NULL);
        if (code >= 300)
            fprintf(stderr, "mcpfedctl: %d %s\n", code, reason);
        if (v)
            show(v, 0, NULL);
        else
            printf("%s\n", body);
        json_decref(v);
    }
    free(body);
    return code >= 200 && code < 300 ? 0 : 1;
}
