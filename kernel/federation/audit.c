/* The audit log: one JSON line per tool call, prompt get and resource read.
 *
 * A record is appended to a buffer in memory; the buffer goes to the file with uv_fs_write
 * (libuv's thread pool), one write at a time, and what comes meanwhile waits for the next
 * one, so a burst of calls costs one write and a slow or full disk never holds a call. The
 * buffer is bounded (max_buffer_bytes): a record that does not fit is dropped and counted,
 * and so is a write that fails. Reopening (admin `audit reopen`, a configuration reload)
 * opens the file by its name again, after logrotate renamed it, once the write under way
 * is done; records keep queuing meanwhile. */
#include "build-config.h"
#include "observe.h"
#include "federation.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

typedef struct mf_auditor {
    char *path;               /* "-": stderr */
    int fd;
    bool arguments, results;
    size_t max_field, cap;
    char *buf;                /* records waiting */
    size_t len, bufcap;
    char *wbuf;               /* the write under way (the two buffers take turns) */
    size_t wbufcap;
    uv_buf_t wb;
    uv_fs_t req;
    bool busy;                /* a write or an open under way */
    bool reopen;              /* open again once the write under way is done */
    bool stopping;            /* stopped while busy: freed when it is done */
    uint64_t records, dropped, write_errors, reopens;
    char last_error[128];
} mf_auditor;

#define AU (mf_fed.auditor)

bool mf_audit_on(void) { return AU != NULL; }

bool mf_audit_arguments(const mf_provider_conf *p)
{
    return AU && (p && p->audit_arguments >= 0 ? p->audit_arguments : AU->arguments);
}

bool mf_audit_results(const mf_provider_conf *p)
{
    return AU && (p && p->audit_results >= 0 ? p->audit_results : AU->results);
}

static int open_file(const char *path, int *fd, char *why, size_t len)
{
    if (strcmp(path, "-") == 0) {
        *fd = STDERR_FILENO;
        return 0;
    }
    *fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
    if (*fd < 0) {
        snprintf(why, len, "%s: cannot open: %s", path, strerror(errno));
        return -1;
    }
    return 0;
}

static void close_fd(int fd)
{
    if (fd > STDERR_FILENO)
        close(fd);
}

static void auditor_free(mf_auditor *a)
{
    close_fd(a->fd);
    free(a->path);
    free(a->buf);
    free(a->wbuf);
    free(a);
}

static void start_write(mf_auditor *a);

/* Stopped while a write or an open was under way: what waits is written now, and it goes. */
static void finish(mf_auditor *a)
{
    size_t off = 0;
    while (off < a->len) {
        ssize_t w = write(a->fd, a->buf + off, a->len - off);
        if (w <= 0)
            break;
        off += (size_t)w;
    }
    auditor_free(a);
}

static void on_open(uv_fs_t *req)
{
    mf_auditor *a = req->data;
    ssize_t fd = req->result;
    uv_fs_req_cleanup(req);
    a->busy = false;
    if (fd < 0) {   /* the old file stays in use */
        snprintf(a->last_error, sizeof a->last_error, "reopen: %s", uv_strerror((int)fd));
        mf_warn("audit", "cannot open the audit log again; writing on to the old file", "file=\"%s\" reason=\"%s\"",
                mf_log_esc(a->path, (size_t)-1), uv_strerror((int)fd));
    } else {
        close_fd(a->fd);
        a->fd = (int)fd;
        a->reopens++;
    }
    if (a->stopping)
        finish(a);
    else
        start_write(a);
}

static void on_write(uv_fs_t *req);

/* Write a->wb (libuv copies the buffer's description, not its bytes). */
static void write_buf(mf_auditor *a)
{
    uv_buf_t b = a->wb;
    a->busy = true;
    a->req.data = a;
    uv_fs_write(mf_loop(), &a->req, (uv_file)a->fd, &b, 1, -1, on_write);
}

static void on_write(uv_fs_t *req)
{
    mf_auditor *a = req->data;
    ssize_t n = req->result;
    uv_fs_req_cleanup(req);
    a->busy = false;
    if (n >= 0 && (size_t)n < a->wb.len) {   /* a short write: the rest goes next */
        a->wb.base += n;
        a->wb.len -= (size_t)n;
        write_buf(a);
        return;
    }
    if (n < 0) {
        a->write_errors++;
        snprintf(a->last_error, sizeof a->last_error, "write: %s", uv_strerror((int)n));
    }
    if (a->stopping)
        finish(a);
    else
        start_write(a);
}

/* The next thing to do, if nothing is under way: open again, or write what waits. */
static void start_write(mf_auditor *a)
{
    if (a->busy)
        return;
    a->req.data = a;
    if (a->reopen && strcmp(a->path, "-") != 0) {
        a->reopen = false;
        a->busy = true;
        uv_fs_open(mf_loop(), &a->req, a->path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640, on_open);
        return;
    }
    a->reopen = false;
    if (!a->len)
        return;
    /* the waiting records become the write; the other buffer takes the next ones */
    char *b = a->wbuf;
    size_t bc = a->wbufcap;
    a->wbuf = a->buf;
    a->wbufcap = a->bufcap;
    a->wb = uv_buf_init(a->wbuf, (unsigned)a->len);
    a->buf = b;
    a->bufcap = bc;
    a->len = 0;
    write_buf(a);
}

static void append(mf_auditor *a, const char *line, size_t n)
{
    /* bounded: the buffer waiting plus the write under way */
    size_t used = a->len + (a->busy ? a->wb.len : 0);
    if (used + n > a->cap) {
        a->dropped++;
        return;
    }
    if (a->len + n > a->bufcap) {
        size_t c = a->bufcap ? a->bufcap : 65536;
        while (c < a->len + n)
            c *= 2;
        a->bufcap = c < a->cap ? c : a->cap;
        a->buf = mf_xrealloc(a->buf, a->bufcap);
    }
    memcpy(a->buf + a->len, line, n);
    a->len += n;
    a->records++;
    start_write(a);
}

/* v, or the first max bytes of its JSON text (at a character's start) when longer. */
static void put_field(json_t *rec, const char *key, const json_t *v, size_t max)
{
    if (!v)
        return;
    size_t n;
    char *text = mf_rpc_dump(v, &n);
    if (n <= max) {
        free(text);
        json_object_set(rec, key, (json_t *)v);
        return;
    }
    size_t cut = max;
    while (cut && ((unsigned char)text[cut] & 0xc0) == 0x80)
        cut--;
    json_object_set_new(rec, key, json_stringn(text, cut));
    free(text);
    char flag[64];
    snprintf(flag, sizeof flag, "%s_truncated", key);
    json_object_set_new(rec, flag, json_true());
}

void mf_audit_write(const mf_audit_record *r)
{
    mf_auditor *a = AU;
    if (!a)
        return;
    char when[40];
    time_t secs = (time_t)(r->started_ms / 1000);
    struct tm tm;
    gmtime_r(&secs, &tm);
    size_t k = strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(when + k, sizeof when - k, ".%03uZ", (unsigned)(r->started_ms % 1000));
    json_t *rec = json_pack("{s:s,s:O?,s:s?,s:I,s:s?,s:s?,s:s?,s:s?,s:s?,s:s,s:I,s:I,s:I}", "time", when, "identity",
                            r->identity, "client", r->client, "session", (json_int_t)r->session, "method", r->method,
                            "name", r->name, "upstream", r->upstream, "provider", r->provider, "target", r->target,
                            "outcome", r->outcome, "latency_ms", (json_int_t)r->latency_ms, "bytes_in",
                            (json_int_t)r->bytes_in, "bytes_out", (json_int_t)r->bytes_out);
    json_object_set_new(rec, "error_code", r->code ? json_integer(r->code) : json_null());
    if (r->trace_id)
        json_object_set_new(rec, "trace_id", json_string(r->trace_id));
    put_field(rec, "arguments", r->arguments, a->max_field);
    put_field(rec, "result", r->result, a->max_field);
    char *line = json_dumps(rec, JSON_COMPACT);
    json_decref(rec);
    if (!line)
        return;
    size_t n = strlen(line);
    line[n] = '\n';   /* over the NUL: the line is written by length */
    append(a, line, n + 1);
    free(line);
}

int mf_audit_configure(const mf_config *cfg, mf_error *err)
{
    const mf_audit_conf *c = &cfg->audit;
    if (!c->file) {
        mf_audit_stop();
        return 0;
    }
    mf_auditor *a = AU;
    if (!a || strcmp(a->path, c->file) != 0) {
        int fd;
        char why[512];
        if (open_file(c->file, &fd, why, sizeof why)) {
            mf_error_set(err, -1, "audit.file: %s", why);
            return -1;
        }
        mf_audit_stop();
        a = AU = mf_xcalloc(1, sizeof *a);
        a->path = mf_xstrdup(c->file);
        a->fd = fd;
    } else {
        a->reopen = true;   /* a reload reopens, as logrotate's postrotate may ask */
    }
    a->arguments = c->arguments;
    a->results = c->results;
    a->max_field = (size_t)c->max_field_bytes;
    a->cap = (size_t)c->max_buffer_bytes;   /* a smaller bound holds back only what comes next */
    start_write(a);
    return 0;
}

int mf_audit_reopen(void)
{
    if (!AU)
        return -1;
    AU->reopen = true;
    start_write(AU);
    return 0;
}

void mf_audit_stop(void)
{
    mf_auditor *a = AU;
    if (!a)
        return;
    AU = NULL;
    if (a->busy)   /* the write under way finishes first */
        a->stopping = true;
    else   /* at shutdown or when a reload turns it off: the rest, at once */
        finish(a);
}

json_t *mf_audit_status(void)
{
    mf_auditor *a = AU;
    if (!a)
        return json_pack("{s:b}", "enabled", false);
    return json_pack("{s:b,s:s,s:I,s:I,s:I,s:I,s:I,s:s?}", "enabled", true, "file", a->path, "records",
                     (json_int_t)a->records, "dropped", (json_int_t)a->dropped, "write_errors",
                     (json_int_t)a->write_errors, "reopens", (json_int_t)a->reopens, "buffered",
                     (json_int_t)a->len, "last_error", a->last_error[0] ? a->last_error : NULL);
}
