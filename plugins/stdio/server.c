/* Downstream stdio: one MCP client on the gateway's own stdin and stdout.
 *
 * Nothing but JSON-RPC messages, one per line, is ever written to stdout. When stdin
 * ends, what the client still has in flight is answered before the gateway is asked to
 * shut down, so a script that writes its requests and closes its end gets every answer. */
#include "server.h"

#include <pwd.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef struct wreq {
    uv_write_t req;
    server *s;
    char *text;
} wreq;

void server_maybe_finish(server *s)
{
    if (s->eof && s->npending == 0 && !s->shutdown_asked && !s->stopping && !s->handed_over) {
        s->shutdown_asked = true;
        mf_request_shutdown("the client closed stdin");
    }
}

/* One of the handles (or the fs read in flight) is done; the last one frees s. */
void server_release(server *s)
{
    if (--s->open_handles > 0)
        return;
    /* a regular file a predecessor handed over has no handle to close it */
    if (!s->in_stream && s->in_fd > STDERR_FILENO)
        close(s->in_fd);
    if (!s->out_stream && s->out_fd > STDERR_FILENO)
        close(s->out_fd);
    mf_instance *inst = s->inst;
    mf_lines_free(&s->lines);
    free(s);
    if (inst)
        mf_instance_stopped(inst);
}

void server_handle_closed(uv_handle_t *h) { server_release(h->data); }

static void on_written(uv_write_t *req, int status)
{
    wreq *w = (wreq *)req;
    server *s = w->s;
    free(w->text);
    free(w);
    s->writes--;
    if (status < 0 && status != UV_ECANCELED && !s->stopping)
        mf_warn("stdio", "write to stdout failed", "error=%s", uv_strerror(status));
    if (s->saving) {
        server_swap_progress(s);   /* may hand over: s must not be touched after it */
        return;
    }
    if (!s->reading && uv_stream_get_write_queue_size((uv_stream_t *)&s->out) < LOW_WATER)
        server_start_reading(s);
}

static void write_message(server *s, const json_t *msg)
{
    size_t len;
    char *text = mf_rpc_dump(msg, &len);
    if (!text)
        return;
    if (!s->out_stream) {
        /* a regular file never blocks for long: write it through */
        uv_buf_t b[2] = {uv_buf_init(text, (unsigned)len), uv_buf_init("\n", 1)};
        uv_fs_t req;
        uv_fs_write(mf_loop(), &req, s->out_fd, b, 2, -1, NULL);
        uv_fs_req_cleanup(&req);
        free(text);
        return;
    }
    wreq *w = malloc(sizeof *w);
    w->s = s;
    w->text = text;
    uv_buf_t b[2] = {uv_buf_init(text, (unsigned)len), uv_buf_init("\n", 1)};
    if (uv_write(&w->req, (uv_stream_t *)&s->out, b, 2, on_written) != 0) {
        free(text);
        free(w);
        return;
    }
    s->writes++;
    if (s->reading && s->in_stream &&
        uv_stream_get_write_queue_size((uv_stream_t *)&s->out) > HIGH_WATER) {
        /* the client is not reading its answers: stop taking requests until it does */
        uv_read_stop((uv_stream_t *)&s->in);
        s->reading = false;
    }
}

static void write_error(server *s, json_t *reply)
{
    write_message(s, reply);
    json_decref(reply);
}

void server_track(server *s, uint64_t corr, json_t *id, bool listen)
{
    outstanding *o = malloc(sizeof *o);
    o->corr = corr;
    o->id = json_incref(id);
    o->listen = listen;
    o->next = s->pending;
    s->pending = o;
    if (!listen)
        s->npending++;
}

static bool untrack(server *s, uint64_t corr, const json_t *id)
{
    for (outstanding **pp = &s->pending; *pp; pp = &(*pp)->next) {
        outstanding *o = *pp;
        if ((corr && o->corr == corr) || (!corr && id && json_equal(o->id, id))) {
            *pp = o->next;
            if (!o->listen)
                s->npending--;
            json_decref(o->id);
            free(o);
            return true;
        }
    }
    return false;
}

static void on_line(void *ud, const char *line, size_t len)
{
    server *s = ud;
    json_t *reply = NULL;
    json_t *msg = mf_rpc_parse(line, len, &reply);
    if (!msg) {
        write_error(s, reply);
        return;
    }
    mf_rpc_kind kind = mf_rpc_classify(msg, &reply);
    if (kind == MF_RPC_BAD) {
        if (reply)
            write_error(s, reply);
        json_decref(msg);
        return;
    }
    mf_msg_kind mk = kind == MF_RPC_REQUEST        ? MF_MSG_REQUEST
                     : kind == MF_RPC_NOTIFICATION ? MF_MSG_NOTIFY
                                                   : MF_MSG_RESPONSE;
    if (kind == MF_RPC_NOTIFICATION && strcmp(mf_rpc_method(msg), "notifications/cancelled") == 0)
        untrack(s, 0, json_object_get(json_object_get(msg, "params"), "requestId"));
    mf_msg *m = mf_msg_new(mk, mf_instance_ep(s->inst), mf_kernel_ep(), msg);
    m->session = s->sid;
    if (kind == MF_RPC_REQUEST) {
        m->corr = ++s->next_corr;
        /* a listen stays open until cancelled: the end of input does not wait for it (the
         * shutdown that follows ends it with its result) */
        server_track(s, m->corr, json_object_get(msg, "id"),
                     strcmp(mf_rpc_method(msg), "subscriptions/listen") == 0);
    }
    mf_send(m);
}

static void on_overflow(void *ud, size_t bytes)
{
    server *s = ud;
    mf_warn("stdio", "message too large; dropped", "bytes=%zu max=%zu", bytes, s->lines.max);
    write_error(s, mf_rpc_errorf(NULL, MF_RPC_INVALID_REQUEST,
                                 "Invalid Request: message of %zu bytes exceeds max_message_bytes (%zu)",
                                 bytes, s->lines.max));
}

static void on_eof(server *s)
{
    s->eof = true;
    s->reading = false;
    mf_info("stdio", "client closed stdin", "in_flight=%zu", s->npending);
    server_maybe_finish(s);
}

static void alloc_cb(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    server *s = h->data;
    (void)suggested;
    buf->base = s->fsbuf;
    buf->len = sizeof s->fsbuf;
}

static void on_read(uv_stream_t *st, ssize_t n, const uv_buf_t *buf)
{
    server *s = st->data;
    if (n > 0) {
        mf_lines_feed(&s->lines, buf->base, (size_t)n, on_line, on_overflow, s);
    } else if (n < 0) {
        uv_read_stop(st);
        if (n != UV_EOF)
            mf_warn("stdio", "reading stdin failed", "error=%s", uv_strerror((int)n));
        on_eof(s);
    }
}

static void on_fs_read(uv_fs_t *req)
{
    server *s = req->data;
    ssize_t n = req->result;
    uv_fs_req_cleanup(req);
    s->reading = false;
    if (s->stopping) {
        server_release(s);
        return;
    }
    if (s->saving) {
        /* not fed: the successor reads these bytes again, from in_off */
        server_swap_progress(s);
        return;
    }
    if (n > 0) {
        s->in_off += n;
        mf_lines_feed(&s->lines, s->fsbuf, (size_t)n, on_line, on_overflow, s);
        server_start_reading(s);
    } else {
        on_eof(s);
    }
}

void server_start_reading(server *s)
{
    if (s->reading || s->eof || s->stopping || s->saving || s->handed_over)
        return;
    s->reading = true;
    if (s->in_stream) {
        uv_read_start((uv_stream_t *)&s->in, alloc_cb, on_read);
    } else {
        uv_buf_t b = uv_buf_init(s->fsbuf, sizeof s->fsbuf);
        s->fsreq.data = s;
        uv_fs_read(mf_loop(), &s->fsreq, s->in_fd, &b, 1, s->in_off, on_fs_read);
    }
}

/* 1: fd is a stream, now wrapped in h; 0: a regular file, read or written with uv_fs. */
static int open_stream(server *s, int fd, void *h, bool readable, mf_error *err)
{
    uv_handle_type t = uv_guess_handle(fd);
    int rc;
    if (t == UV_FILE)
        return 0;
    if (t == UV_TTY) {
        rc = uv_tty_init(mf_loop(), h, fd, readable);
    } else {
        rc = uv_pipe_init(mf_loop(), h, 0);
        if (rc == 0 && (rc = uv_pipe_open(h, fd)) != 0) {
            ((uv_handle_t *)h)->data = s;
            s->open_handles++;
            uv_close(h, server_handle_closed);
        }
    }
    if (rc) {
        mf_error_set(err, -1, "cannot use fd %d: %s", fd, uv_strerror(rc));
        return -1;
    }
    ((uv_handle_t *)h)->data = s;
    s->open_handles++;
    return 1;
}

typedef struct settings {
    int64_t max_message_bytes;
    const char *subject;
    const json_t *scopes;
} settings;

static const mf_setting identity_settings[] = {
    {"subject", MF_SET_STRING, .def_doc = "the user's name", .at = MF_AT(settings, subject),
     .doc = "the client's name, as the routing policy sees it"},
    {"scopes", MF_SET_STRINGS, .def = "{}", .at = MF_AT(settings, scopes), .doc = "the client's scopes"},
    {0},
};

/* The kernel makes this table from its own top-level max_message_bytes and identity. */
const mf_setting stdio_transport_settings[] = {
    {"max_message_bytes", MF_SET_BYTES, .def = "4194304", .min = 1024, .max = INT64_C(1) << 32,
     .at = MF_AT(settings, max_message_bytes), .doc = "the longest message the client may send"},
    {"identity", MF_SET_TABLE, .def = "{}", .sub = identity_settings,
     .doc = "who the client is: the local user, {subject, method = \"local\", scopes}"},
    {0},
};

/* The client of stdio is whoever started the gateway: the local user. */
static json_t *local_identity(const json_t *conf)
{
    settings st = {0};
    mf_settings_check(conf, "stdio", stdio_transport_settings, &st, NULL);
    char name[64];
    const char *subject = st.subject;
    if (!subject) {
        struct passwd pw, *found = NULL;
        char buf[4096];
        if (getpwuid_r(getuid(), &pw, buf, sizeof buf, &found) == 0 && found)
            snprintf(name, sizeof name, "%s", found->pw_name);
        else
            snprintf(name, sizeof name, "uid %u", (unsigned)getuid());
        subject = name;
    }
    return json_pack("{s:s,s:s,s:o,s:{}}", "subject", subject, "method", "local", "scopes",
                     st.scopes ? json_deep_copy(st.scopes) : json_array(), "claims");
}

server *server_new(const json_t *conf)
{
    server *s = calloc(1, sizeof *s);
    if (!s)
        return NULL;
    settings st;
    mf_settings_check(conf, "stdio", stdio_transport_settings, &st, NULL);
    mf_lines_init(&s->lines, (size_t)st.max_message_bytes);
    s->in_fd = s->out_fd = s->dup_in = s->dup_out = -1;
    uv_timer_init(mf_loop(), &s->turn);
    s->turn.data = s;
    s->open_handles++;
    return s;
}

int server_open(server *s, int in_fd, int out_fd, mf_error *err)
{
    s->in_fd = in_fd;
    s->out_fd = out_fd;
    int in = open_stream(s, in_fd, &s->in, true, err);
    int out = in < 0 ? -1 : open_stream(s, out_fd, &s->out, false, err);
    s->in_stream = in > 0;
    s->out_stream = out > 0;
    if (in >= 0 && out >= 0)
        return 0;
    if (s->in_stream)
        uv_close((uv_handle_t *)&s->in, server_handle_closed);
    return -1;
}

void server_discard(server *s)
{
    /* the instance is not ours to report on */
    s->inst = NULL;
    s->stopping = true;
    uv_close((uv_handle_t *)&s->turn, server_handle_closed);
}

static int start(mf_instance *inst, const json_t *conf, void **self, mf_error *err)
{
    server *s = server_new(conf);
    if (!s) {
        mf_error_set(err, -1, "out of memory");
        return -1;
    }
    if (server_open(s, STDIN_FILENO, STDOUT_FILENO, err) != 0) {
        server_discard(s);
        return -1;
    }
    s->inst = inst;
    s->sid = mf_session_open(inst, "stdio");
    mf_session_set_identity(s->sid, local_identity(conf));
    *self = s;
    server_start_reading(s);
    return 0;
}

static void receive(void *self, mf_msg *m)
{
    server *s = self;
    if (s->handed_over) {
        mf_instance_forward(s->inst, m);   /* answers, notifications, requests: the successor's */
        return;
    }
    if (m->session == s->sid && m->json &&
        (m->kind == MF_MSG_RESPONSE || m->kind == MF_MSG_NOTIFY || m->kind == MF_MSG_REQUEST)) {
        write_message(s, m->json);
        if (m->kind == MF_MSG_RESPONSE && untrack(s, m->corr, NULL))
            server_maybe_finish(s);
    }
    mf_msg_free(m);
}

static void on_out_shutdown(uv_shutdown_t *req, int status)
{
    server *s = req->handle->data;
    (void)status;
    free(req);
    uv_close((uv_handle_t *)&s->out, server_handle_closed);
}

static void stop(void *self)
{
    server *s = self;
    if (s->handed_over)
        return;   /* draining: its handles are closing and stop it when closed */
    s->stopping = true;
    mf_session_close(s->sid);
    while (s->pending)
        untrack(s, s->pending->corr, NULL);
    s->open_handles++;   /* held until every close below is started */
    uv_close((uv_handle_t *)&s->turn, server_handle_closed);
    if (s->in_stream)
        uv_close((uv_handle_t *)&s->in, server_handle_closed);
    else if (s->reading)
        s->open_handles++;   /* the fs read in flight releases it when it returns */
    if (s->out_stream) {
        /* let what is queued reach the client, then close */
        uv_shutdown_t *req = malloc(sizeof *req);
        if (!req || uv_shutdown(req, (uv_stream_t *)&s->out, on_out_shutdown) != 0) {
            free(req);
            uv_close((uv_handle_t *)&s->out, server_handle_closed);
        }
    }
    server_release(s);
}

const mf_role_ops stdio_transport_ops = {
    .start = start,
    .receive = receive,
    .stop = stop,
    .save = server_save,
    .resume = server_resume,
    .adopt = server_adopt,
    .drain = server_drain,
};
