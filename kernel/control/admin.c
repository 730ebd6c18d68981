/* The admin socket.
 *
 * A request is one line: a command and its words. A reply is a status line, then a body:
 *
 *     <code> <length> <reason>\n<length bytes of JSON>\n
 *
 * so a program reads exactly one reply whatever it holds, and a person with socat sees
 * what it says. The socket is created with mode 0600, and a peer whose uid is neither
 * ours nor root's is refused (SO_PEERCRED). Commands come from the kernel parts they
 * concern (mf_admin_command). */
#define _GNU_SOURCE
#include "build-config.h"
#include "admin.h"
#include "control.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>
#include <utlist.h>

/* the control layer's state, which the admin socket's file defines */
mf_control mf_ctrl = {.fds = {.slots = SIZE_MAX}};
#define ADM (mf_ctrl.admin)

#define MAX_LINE 4096
#define MAX_ARGS 16
#define MAX_CLIENTS 64

/* A reply to come, in its client's order: text once ready. */
typedef struct slot {
    struct client *c;     /* NULL once the client has gone */
    bool ready;
    char *text;
    size_t len;
    struct slot *next;
} slot;

struct mf_admin_later {
    slot *s;
};

typedef struct client {
    uv_pipe_t pipe;
    mf_lines lines;
    slot *head, *tail;    /* replies not written yet, in order */
    struct client *prev, *next;
} client;

void mf_admin_command(const char *name, const char *usage, const char *help, mf_admin_fn fn)
{
    for (size_t i = 0; i < ADM.ncommands; i++)
        if (strcmp(ADM.commands[i].name, name) == 0) {
            ADM.commands[i] = (mf_admin_entry){name, usage, help, fn};
            return;
        }
    if (ADM.ncommands < sizeof ADM.commands / sizeof ADM.commands[0])
        ADM.commands[ADM.ncommands++] = (mf_admin_entry){name, usage, help, fn};
}

json_t *mf_admin_query(const char *name)
{
    for (size_t i = 0; i < ADM.ncommands; i++)
        if (strcmp(ADM.commands[i].name, name) == 0) {
            char *argv[] = {(char *)name, NULL};
            mf_admin_reply r = {200, NULL};
            ADM.commands[i].fn(1, argv, &r);
            if (r.code == 200)
                return r.body;
            json_decref(r.body);
            return NULL;
        }
    return NULL;
}

static const char *reason_of(int code)
{
    switch (code) {
    case 200: return "OK";
    case 400: return "Bad Request";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 409: return "Conflict";
    default: return "Error";
    }
}

static void after_write(uv_write_t *req, int status)
{
    (void)status;
    free(req->data);
    free(req);
}

static void format_reply(slot *s, int code, json_t *body)
{
    char *text = json_dumps(body, JSON_INDENT(2) | JSON_ENCODE_ANY);
    json_decref(body);
    size_t blen = text ? strlen(text) : 0;
    char head[64];
    int hl = snprintf(head, sizeof head, "%d %zu %s\n", code, blen, reason_of(code));
    s->text = mf_xmalloc((size_t)hl + blen + 1);
    memcpy(s->text, head, (size_t)hl);
    if (text)
        memcpy(s->text + hl, text, blen);
    s->text[(size_t)hl + blen] = '\n';
    s->len = (size_t)hl + blen + 1;
    s->ready = true;
    free(text);
}

/* Write the replies that are ready, in order, up to the first still to come. */
static void flush(client *c)
{
    while (c->head && c->head->ready) {
        slot *s = c->head;
        c->head = s->next;
        if (!c->head)
            c->tail = NULL;
        uv_write_t *req = mf_xmalloc(sizeof *req);
        req->data = s->text;
        uv_buf_t b = uv_buf_init(s->text, (unsigned)s->len);
        if (uv_write(req, (uv_stream_t *)&c->pipe, &b, 1, after_write) != 0) {
            free(s->text);
            free(req);
        }
        free(s);
    }
}

static slot *slot_new(client *c)
{
    slot *s = mf_xcalloc(1, sizeof *s);
    s->c = c;
    if (c->tail)
        c->tail->next = s;
    else
        c->head = s;
    c->tail = s;
    return s;
}

static void send_reply(client *c, int code, json_t *body)
{
    format_reply(slot_new(c), code, body);
    flush(c);
}

mf_admin_later *mf_admin_defer(mf_admin_reply *out)
{
    mf_admin_later *l = mf_xcalloc(1, sizeof *l);
    l->s = ADM.running;
    out->code = -1;
    out->body = NULL;
    return l;
}

void mf_admin_answer(mf_admin_later *l, int code, json_t *body)
{
    slot *s = l->s;
    free(l);
    if (!s) {
        json_decref(body);
        return;
    }
    if (!s->c) {   /* the client has gone */
        json_decref(body);
        free(s);
        return;
    }
    format_reply(s, code, body);
    flush(s->c);
}

static void cmd_help(int argc, char **argv, mf_admin_reply *out)
{
    (void)argc;
    (void)argv;
    json_t *list = json_array();
    for (size_t i = 0; i < ADM.ncommands; i++)
        json_array_append_new(list, json_pack("{s:s,s:s}", "usage", ADM.commands[i].usage, "help",
                                              ADM.commands[i].help));
    out->body = json_pack("{s:o}", "commands", list);
}

static void on_line(void *ud, const char *line, size_t len)
{
    client *c = ud;
    if (memchr(line, '\0', len)) {
        send_reply(c, 400, json_pack("{s:s}", "error", "a command is text: the line holds a NUL byte"));
        return;
    }
    char buf[MAX_LINE + 1];
    memcpy(buf, line, len);
    buf[len] = '\0';
    char *argv[MAX_ARGS];
    int argc = 0;
    char *save = NULL;
    for (char *tok = strtok_r(buf, " \t", &save); tok && argc < MAX_ARGS; tok = strtok_r(NULL, " \t", &save))
        argv[argc++] = tok;
    if (argc == 0)
        return;
    for (size_t i = 0; i < ADM.ncommands; i++) {
        if (strcmp(ADM.commands[i].name, argv[0]) == 0) {
            mf_admin_reply r = {200, NULL};
            slot *s = slot_new(c);
            ADM.running = s;
            ADM.commands[i].fn(argc, argv, &r);
            ADM.running = NULL;
            if (r.code == -1)   /* deferred: the answer comes (or came) through the handle */
                return;
            format_reply(s, r.code, r.body ? r.body : json_object());
            flush(c);
            return;
        }
    }
    send_reply(c, 404, json_pack("{s:s}", "error", "unknown command: try help"));
}

static void on_overflow(void *ud, size_t bytes)
{
    (void)bytes;
    send_reply(ud, 400, json_pack("{s:s}", "error", "line too long"));
}

static void client_closed(uv_handle_t *h)
{
    client *c = h->data;
    mf_lines_free(&c->lines);
    /* replies still to come are answered into the void */
    for (slot *s = c->head, *next; s; s = next) {
        next = s->next;
        if (s->ready) {
            free(s->text);
            free(s);
        } else {
            s->c = NULL;
        }
    }
    free(c);
}

static void client_close(client *c)
{
    if (uv_is_closing((uv_handle_t *)&c->pipe))
        return;
    DL_DELETE(ADM.clients, c);
    ADM.nclients--;
    uv_close((uv_handle_t *)&c->pipe, client_closed);
}

static void alloc_cb(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    (void)h;
    (void)suggested;
    buf->base = ADM.slab;
    buf->len = sizeof ADM.slab;
}

static void on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf)
{
    client *c = s->data;
    if (n < 0) {
        client_close(c);
        return;
    }
    mf_lines_feed(&c->lines, buf->base, (size_t)n, on_line, on_overflow, c);
}

static void on_connection(uv_stream_t *srv, int status)
{
    if (status < 0)
        return;
    client *c = mf_xcalloc(1, sizeof *c);
    uv_pipe_init(mf_loop(), &c->pipe, 0);
    c->pipe.data = c;
    mf_lines_init(&c->lines, MAX_LINE);
    if (uv_accept(srv, (uv_stream_t *)&c->pipe) != 0) {
        uv_close((uv_handle_t *)&c->pipe, client_closed);
        return;
    }
    DL_APPEND(ADM.clients, c);
    ADM.nclients++;
    uv_os_fd_t fd;
    struct ucred cred;
    socklen_t len = sizeof cred;
    bool known = uv_fileno((uv_handle_t *)&c->pipe, &fd) == 0 &&
                 getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) == 0;
    bool allowed = known && (cred.uid == geteuid() || cred.uid == 0);
    if (!allowed || ADM.nclients > MAX_CLIENTS) {
        mf_warn("admin", "connection refused", "uid=%d reason=\"%s\"", known ? (int)cred.uid : -1,
                allowed ? "too many admin connections" : "another user");
        send_reply(c, 403, json_pack("{s:s}", "error", allowed ? "too many admin connections"
                                                              : "only the gateway's user or root may connect"));
        client_close(c);
        return;
    }
    uv_read_start((uv_stream_t *)&c->pipe, alloc_cb, on_read);
}

/* Whether something listens on the socket at p: a live gateway's socket is not ours to take. */
static bool socket_answers(const char *p)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    if (strlen(p) >= sizeof sa.sun_path)
        return false;
    strcpy(sa.sun_path, p);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return false;
    bool live = connect(fd, (struct sockaddr *)&sa, sizeof sa) == 0;
    close(fd);
    return live;
}

int mf_admin_start(const mf_config *cfg, mf_error *err)
{
    mf_admin_command("help", "help", "list the commands", cmd_help);
    if (!cfg->admin)
        return 0;
    ADM.path = mf_xstrdup(cfg->admin);
    /* its directory, private, if it is not there yet */
    char *dir = mf_xstrdup(ADM.path), *slash = strrchr(dir, '/');
    if (slash && slash != dir) {
        *slash = '\0';
        mkdir(dir, 0700);
    }
    free(dir);
    struct stat st;
    if (lstat(ADM.path, &st) == 0) {
        if (!S_ISSOCK(st.st_mode)) {
            mf_error_set(err, -1, "admin: %s exists and is not a socket", ADM.path);
            return -1;
        }
        if (socket_answers(ADM.path)) {
            mf_error_set(err, -1, "admin: %s is in use by a running gateway", ADM.path);
            return -1;
        }
        unlink(ADM.path);   /* a socket left by a gateway that did not stop in order */
    }
    uv_pipe_init(mf_loop(), &ADM.server, 0);
    mode_t old = umask(0177);   /* 0600 from the start: no window where others could connect */
    int rc = uv_pipe_bind(&ADM.server, ADM.path);
    umask(old);
    if (rc == 0)
        rc = uv_listen((uv_stream_t *)&ADM.server, SOMAXCONN, on_connection);
    if (rc != 0) {
        mf_error_set(err, -1, "admin: cannot listen on %s: %s", ADM.path, uv_strerror(rc));
        uv_close((uv_handle_t *)&ADM.server, NULL);
        return -1;
    }
    chmod(ADM.path, 0600);
    ADM.listening = true;
    mf_info("admin", "listening", "socket=%s", ADM.path);
    return 0;
}

void mf_admin_stop(void)
{
    while (ADM.clients)
        client_close(ADM.clients);
    if (ADM.listening) {
        uv_close((uv_handle_t *)&ADM.server, NULL);
        unlink(ADM.path);
        ADM.listening = false;
    }
    free(ADM.path);
    ADM.path = NULL;
}
