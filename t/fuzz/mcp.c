/* Fuzz target: the MCP endpoint of the http transport (plugins/http/endpoint.c,
 * hsession.c, conn.c) with the whole kernel answering, fed sequences of HTTP requests
 * over real connections: POST, GET and DELETE, both protocol eras (sessions of 2025, and
 * the stateless requests of 2026-07-28), batches, notifications/cancelled, streams,
 * resumption, Connection: close, HTTP/1.0, pipelining.
 *
 * Input: one steering byte, then segments separated by "\n~~\n", each sent in turn and
 * its answers read before the next. A segment starting with '!' goes on a new connection
 * (the others closed); one starting with '+' on a new connection too, while the others
 * stay open (a GET stream, say), up to four.
 * In a segment, @SID@ stands for the last Mcp-Session-Id the gateway gave, @EID@ for the
 * last event id it sent, @PORT@ for its port, and @LEN@ for the length of what follows
 * the segment's blank line (so that Content-Length can stay right while the body changes).
 * Steering bits: 0 the client shuts its side after the last segment, 1 it leaves without
 * reading the last answers.
 * Properties: every POST ends (answered, or failed by the provider's deadline) even while
 * its session lives, but for a single request's stream (a subscriptions/listen lasts); after the client is gone and its sessions are deleted, the transport
 * holds no connection, no request and no session. */
#define _GNU_SOURCE 1   /* memmem */
#include "build-config.h"
#include "kernel.h"
#include "instance.h"
#include "../../plugins/http/conn_int.h"
#include "../../plugins/http/listener.h"
#include "fuzz.h"
#include "gateway.h"
#include "net.h"

#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#define SEP "\n~~\n"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    fuzz_gateway_start();
    return 0;
}

typedef struct state {
    char sid[64];
    char eid[64];
} state;

/* The value of the last "name: value" line of out (case-insensitive name). */
static void last_value(const fuzz_out *out, const char *name, char *v, size_t cap)
{
    size_t nl = strlen(name);
    for (const char *p = out->buf; p && p < out->buf + out->len; p = strchr(p, '\n')) {
        if (*p == '\n')
            p++;
        if (strncasecmp(p, name, nl) == 0) {
            const char *s = p + nl;
            while (*s == ' ')
                s++;
            size_t n = strcspn(s, "\r\n");
            if (n < cap) {
                memcpy(v, s, n);
                v[n] = '\0';
            }
        }
    }
}

static void put(char **buf, size_t *len, size_t *cap, const char *s, size_t n)
{
    if (*len + n + 1 > *cap) {
        *cap = (*len + n + 1) * 2;
        *buf = realloc(*buf, *cap);
    }
    memcpy(*buf + *len, s, n);
    *len += n;
    (*buf)[*len] = '\0';
}

/* The segment with its placeholders filled in (malloc'd). */
static char *expand(const state *st, const char *seg, size_t n, size_t *out_len)
{
    char *buf = NULL, port[16];
    size_t len = 0, cap = 0;
    snprintf(port, sizeof port, "%d", fuzz_gateway_port());
    put(&buf, &len, &cap, "", 0);
    for (size_t i = 0; i < n;) {
        const char *at = seg + i;
        if (n - i >= 5 && memcmp(at, "@SID@", 5) == 0) {
            put(&buf, &len, &cap, st->sid, strlen(st->sid));
            i += 5;
        } else if (n - i >= 5 && memcmp(at, "@EID@", 5) == 0) {
            put(&buf, &len, &cap, st->eid, strlen(st->eid));
            i += 5;
        } else if (n - i >= 6 && memcmp(at, "@PORT@", 6) == 0) {
            put(&buf, &len, &cap, port, strlen(port));
            i += 6;
        } else {
            put(&buf, &len, &cap, at, 1);
            i++;
        }
    }
    /* @LEN@: the length of the body after the blank line */
    char *mark = strstr(buf, "@LEN@");
    if (mark) {
        char *blank = strstr(mark, "\r\n\r\n");
        size_t body = blank ? len - (size_t)(blank + 4 - buf) : 0;
        char num[24];
        int k = snprintf(num, sizeof num, "%zu", body);
        char *out = NULL;
        size_t olen = 0, ocap = 0;
        put(&out, &olen, &ocap, buf, (size_t)(mark - buf));
        put(&out, &olen, &ocap, num, (size_t)k);
        put(&out, &olen, &ocap, mark + 5, len - (size_t)(mark + 5 - buf));
        free(buf);
        buf = out;
        len = olen;
    }
    *out_len = len;
    return buf;
}

static listener *the_listener(void)
{
    /* the transport's instance is the only one on the http plugin */
    for (mf_instance *i = mf_instances(); i; i = i->next)
        if (i->role == MF_ROLE_TRANSPORT && i->self)
            return i->self;
    return NULL;
}

static bool posts_done(void *ud)
{
    (void)ud;
    listener *l = the_listener();
    for (hreq *h = l ? l->reqs : NULL; h; h = h->next)
        if (h->kind == HR_POST && (!h->streaming || h->batch))
            return false;   /* a stream of one request may be a listen, which lasts */
    return true;
}

static bool transport_idle(void *ud)
{
    (void)ud;
    listener *l = the_listener();
    return l && l->conns->count == 0 && l->reqs == NULL && l->by_id == NULL;
}

/* Delete every session the transport holds, as a client would. */
static void delete_sessions(void)
{
    listener *l = the_listener();
    if (!l)
        return;
    char ids[64][33];
    size_t n = 0;
    for (hsession *hs = l->by_id; hs && n < 64; hs = hs->hh_id.next)
        memcpy(ids[n++], hs->id, sizeof hs->id);
    for (size_t i = 0; i < n; i++) {
        int fd = fuzz_connect_tcp(fuzz_gateway_port());
        FUZZ_ASSERT(fd >= 0);
        char req[256];
        int k = snprintf(req, sizeof req,
                         "DELETE /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\nMcp-Session-Id: %s\r\n"
                         "Connection: close\r\n\r\n", ids[i]);
        fuzz_write_all(fd, req, (size_t)k);
        fuzz_settle(fd, NULL);
        close(fd);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint8_t steer = fuzz_take_byte(&data, &size);
    state st = {"none", "0"};
    int fds[4], nfds = 0;
    fuzz_out out = {0};
    const char *p = (const char *)data, *end = p + size;
    while (p < end) {
        const char *sep = memmem(p, (size_t)(end - p), SEP, strlen(SEP));
        const char *segend = sep ? sep : end;
        char mode = segend > p && (*p == '!' || *p == '+') ? *p++ : 0;
        if (mode == '!')
            while (nfds)
                close(fds[--nfds]);
        if (nfds == 0 || (mode == '+' && nfds < 4)) {
            fds[nfds] = fuzz_connect_tcp(fuzz_gateway_port());
            FUZZ_ASSERT(fds[nfds] >= 0);
            nfds++;
        }
        int fd = fds[nfds - 1];
        size_t n;
        char *seg = expand(&st, p, (size_t)(segend - p), &n);
        bool last = !sep;
        fuzz_out_free(&out);
        if (fuzz_write_all(fd, seg, n) == 0) {
            if (last && (steer & 1))
                shutdown(fd, SHUT_WR);
            if (!last || !(steer & 2))
                fuzz_settle(fd, &out);
            else
                fuzz_settle(-1, NULL);
        }
        free(seg);
        if (getenv("FUZZ_VERBOSE"))   /* for writing seeds: what the gateway answered */
            fprintf(stderr, "--- answer ---\n%.*s\n", (int)out.len, out.buf ? out.buf : "");
        if (out.len) {
            last_value(&out, "mcp-session-id:", st.sid, sizeof st.sid);
            last_value(&out, "id:", st.eid, sizeof st.eid);
        }
        p = sep ? sep + strlen(SEP) : end;
    }
    fuzz_out_free(&out);
    /* the provider's deadline is 300 ms: by then every call has its answer or its error,
     * while the client waits for it */
    FUZZ_ASSERT(fuzz_run_until(posts_done, NULL, 2000));
    while (nfds)
        close(fds[--nfds]);
    fuzz_settle(-1, NULL);
    delete_sessions();
    /* what is still under way ends by the provider's deadline (300 ms) at the latest */
    FUZZ_ASSERT(fuzz_run_until(transport_idle, NULL, 2000));
    return 0;
}
