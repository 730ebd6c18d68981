/* Child processes and their supervision.
 *
 * Each spawn is a `proc`: the process handle and its three pipes, freed when all four
 * handles have closed. The `mf_child` outlives its procs and carries the restart policy:
 * restart type, backoff per consecutive failure, intensity within a period, cool-down
 * after giving up.
 *
 * The child leads a process group of its own (setsid), so stopping it signals the whole
 * group and leaves no descendant behind. When the leader exits, what is left of its group
 * is killed, and the exit is reported only once stdout is drained (or a short bound
 * passed), so a response written just before exiting is still delivered. */
#include "build-config.h"
#include "kernel.h"

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#define DRAIN_AFTER_EXIT_MS 500
#define STABLE_AFTER_MS 10000   /* a run this long resets the backoff */
#define EOF_GRACE_MS 300        /* time to exit on end of input before SIGTERM */

typedef enum child_state {
    CH_RUNNING,     /* a proc is alive */
    CH_EXITING,     /* the proc exited; draining its output */
    CH_WAITING,     /* waiting for the backoff delay before a restart */
    CH_FAILED,      /* given up; waiting for the cool-down */
    CH_DONE,        /* temporary/transient child that will not restart */
    CH_STOPPING,    /* mf_child_stop: waiting for the proc to go */
} child_state;

typedef struct proc {
    uv_process_t process;
    uv_pipe_t in, out, err;
    int open_handles;
    bool exited, out_eof, err_eof, in_open;
    int64_t exit_status;
    int term_signal;
    uint64_t started_at;
    mf_lines errlines;
    struct mf_child *owner;   /* NULL once the child no longer cares */
} proc;

typedef struct write_req {
    uv_write_t req;
    struct mf_child *owner;
    size_t len;
    char data[];
} write_req;

struct mf_child {
    mf_child_spec spec;
    char **argv, **env, *name, *cwd;
    mf_child_ops ops;
    void *ud;
    child_state state;
    proc *p;
    uv_timer_t timer;        /* backoff, cool-down, or kill after SIGTERM */
    uv_timer_t drain_timer;  /* bounds draining output after exit */
    int timers_open;
    unsigned restarts;       /* total, for status */
    unsigned consecutive;    /* failures in a row, for the backoff */
    uint64_t *history;       /* restart times in the current period (ring of intensity) */
    unsigned hist_len, hist_pos;
    size_t queued;
    bool stop_requested;
    bool term_sent;
};

static void child_spawn(mf_child *c);
static void child_maybe_free(mf_child *c);

static char **dup_list(const char *const *l)
{
    size_t n = 0;
    while (l && l[n])
        n++;
    char **out = calloc(n + 1, sizeof *out);
    for (size_t i = 0; out && i < n; i++)
        out[i] = strdup(l[i]);
    return out;
}

static void free_list(char **l)
{
    for (char **p = l; p && *p; p++)
        free(*p);
    free(l);
}

/* The gateway's environment with the spec's entries added or replaced. */
static char **merged_env(char **extra)
{
    extern char **environ;
    size_t n = 0, m = 0;
    while (environ[n])
        n++;
    while (extra && extra[m])
        m++;
    char **out = calloc(n + m + 1, sizeof *out);
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        const char *eq = strchr(environ[i], '=');
        size_t kl = eq ? (size_t)(eq - environ[i]) : strlen(environ[i]);
        bool replaced = false;
        for (size_t j = 0; j < m && !replaced; j++)
            replaced = strncmp(extra[j], environ[i], kl) == 0 && extra[j][kl] == '=';
        if (!replaced)
            out[k++] = environ[i];
    }
    for (size_t j = 0; j < m; j++)
        out[k++] = extra[j];
    out[k] = NULL;
    return out;
}

static void proc_handle_closed(uv_handle_t *h)
{
    proc *p = h->data;
    if (--p->open_handles > 0)
        return;
    mf_child *c = p->owner;
    mf_lines_free(&p->errlines);
    free(p);
    if (c && c->p == p) {
        c->p = NULL;
        child_maybe_free(c);
    }
}

static void close_handle(uv_handle_t *h)
{
    if (!uv_is_closing(h))
        uv_close(h, proc_handle_closed);
}

static void proc_close(proc *p)
{
    close_handle((uv_handle_t *)&p->in);
    close_handle((uv_handle_t *)&p->out);
    close_handle((uv_handle_t *)&p->err);
    close_handle((uv_handle_t *)&p->process);
}

static void kill_group(proc *p, int sig)
{
    if (p->process.pid > 0)
        kill(-p->process.pid, sig);
}

static uint64_t backoff_delay(mf_child *c)
{
    uint64_t d = c->spec.backoff_min_ms;
    for (unsigned i = 1; i < c->consecutive && d < c->spec.backoff_max_ms; i++)
        d *= 2;
    return d < c->spec.backoff_max_ms ? d : c->spec.backoff_max_ms;
}

static void on_timer(uv_timer_t *t);

/* Count a restart; false when the intensity is exceeded within the period. */
static bool intensity_allows(mf_child *c)
{
    uint64_t now = mf_now();
    unsigned kept = 0;
    /* keep only the restarts still inside the period */
    uint64_t *h = c->history;
    for (unsigned i = 0; i < c->hist_len; i++)
        if (now - h[i] < c->spec.period_ms)
            h[kept++] = h[i];
    c->hist_len = kept;
    if (c->hist_len >= c->spec.intensity)
        return false;
    h[c->hist_len++] = now;
    return true;
}

static void give_up(mf_child *c, const char *reason)
{
    c->state = CH_FAILED;
    c->hist_len = 0;
    mf_warn("supervisor", "child failed; cooling down", "child=%s reason=\"%s\" cooldown_ms=%u",
            c->name, mf_log_esc(reason, (size_t)-1), c->spec.cooldown_ms);
    uv_timer_start(&c->timer, on_timer, c->spec.cooldown_ms, 0);
    if (c->ops.failed)
        c->ops.failed(c, reason, c->ud);
}

/* After a proc is gone (or could not spawn): decide what comes next. */
static void after_exit(mf_child *c, bool abnormal, const char *reason)
{
    if (c->stop_requested)
        return;
    if (c->spec.restart == MF_RESTART_TEMPORARY ||
        (c->spec.restart == MF_RESTART_TRANSIENT && !abnormal)) {
        c->state = CH_DONE;
        if (c->ops.failed)
            c->ops.failed(c, abnormal ? reason : "exited normally; not restarted", c->ud);
        return;
    }
    if (!intensity_allows(c)) {
        char why[600];
        snprintf(why, sizeof why, "more than %u restarts in %u ms; last: %s", c->spec.intensity,
                 c->spec.period_ms, reason);
        give_up(c, why);
        return;
    }
    c->consecutive++;
    uint64_t delay = backoff_delay(c);
    c->state = CH_WAITING;
    mf_info("supervisor", "restarting child", "child=%s in_ms=%llu reason=\"%s\"", c->name,
            (unsigned long long)delay, reason);
    uv_timer_start(&c->timer, on_timer, delay, 0);
}

/* The exit is final once output is drained. */
static void finish_exit(mf_child *c)
{
    proc *p = c->p;
    if (!p || c->state != CH_EXITING)
        return;
    uv_timer_stop(&c->drain_timer);
    c->state = CH_WAITING;
    int64_t status = p->exit_status;
    int sig = p->term_signal;
    proc_close(p);
    if (mf_now() - p->started_at >= STABLE_AFTER_MS)
        c->consecutive = 0;
    if (c->ops.exited)
        c->ops.exited(c, status, sig, c->ud);
    if (c->stop_requested) {
        c->state = CH_STOPPING;
        return;
    }
    char reason[128];
    if (sig)
        snprintf(reason, sizeof reason, "killed by signal %d", sig);
    else
        snprintf(reason, sizeof reason, "exited with status %lld", (long long)status);
    after_exit(c, sig != 0 || status != 0, reason);
}

static void maybe_finish_exit(proc *p)
{
    mf_child *c = p->owner;
    if (c && c->p == p && p->exited && p->out_eof && p->err_eof)
        finish_exit(c);
}

static void on_drain_timeout(uv_timer_t *t)
{
    mf_child *c = t->data;
    finish_exit(c);
}

static void on_exit_cb(uv_process_t *h, int64_t status, int sig)
{
    proc *p = h->data;
    p->exited = true;
    p->exit_status = status;
    p->term_signal = sig;
    /* descendants must not outlive the leader; they also hold our pipes open */
    kill_group(p, SIGKILL);
    if (p->in_open) {
        p->in_open = false;
        close_handle((uv_handle_t *)&p->in);
    }
    mf_child *c = p->owner;
    if (!c || c->p != p)
        return;
    mf_info("supervisor", "child exited", "child=%s pid=%d status=%lld signal=%d", c->name,
            p->process.pid, (long long)status, sig);
    c->state = CH_EXITING;
    uv_timer_start(&c->drain_timer, on_drain_timeout, DRAIN_AFTER_EXIT_MS, 0);
    maybe_finish_exit(p);
}

static void alloc_cb(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    MF_UNUSED(h);
    static char slab[65536];   /* single loop: one read is handled before the next */
    MF_UNUSED(suggested);
    buf->base = slab;
    buf->len = sizeof slab;
}

static void on_stdout(uv_stream_t *s, ssize_t n, const uv_buf_t *buf)
{
    proc *p = s->data;
    mf_child *c = p->owner;
    if (n > 0) {
        if (c && c->p == p && c->ops.output)
            c->ops.output(c, buf->base, (size_t)n, c->ud);
        return;
    }
    if (n < 0) {
        uv_read_stop(s);
        p->out_eof = true;
        maybe_finish_exit(p);
    }
}

static void on_err_line(void *ud, const char *line, size_t len)
{
    proc *p = ud;
    mf_info("upstream", "stderr", "child=%s line=\"%s\"", p->owner ? p->owner->name : "?",
            mf_log_esc(line, len));
}

static void on_err_overflow(void *ud, size_t bytes)
{
    proc *p = ud;
    mf_warn("upstream", "stderr line too long; dropped", "child=%s bytes=%zu",
            p->owner ? p->owner->name : "?", bytes);
}

static void on_stderr(uv_stream_t *s, ssize_t n, const uv_buf_t *buf)
{
    proc *p = s->data;
    if (n > 0) {
        mf_lines_feed(&p->errlines, buf->base, (size_t)n, on_err_line, on_err_overflow, p);
        return;
    }
    if (n < 0) {
        uv_read_stop(s);
        p->err_eof = true;
        maybe_finish_exit(p);
    }
}

static void child_spawn(mf_child *c)
{
    proc *p = calloc(1, sizeof *p);
    if (!p) {
        after_exit(c, true, "out of memory");
        return;
    }
    p->owner = c;
    mf_lines_init(&p->errlines, 8192);
    uv_loop_t *loop = mf_loop();
    uv_pipe_init(loop, &p->in, 0);
    uv_pipe_init(loop, &p->out, 0);
    uv_pipe_init(loop, &p->err, 0);
    p->in.data = p->out.data = p->err.data = p->process.data = p;
    p->open_handles = 3;

    uv_stdio_container_t stdio[3] = {
        {.flags = UV_CREATE_PIPE | UV_READABLE_PIPE, .data.stream = (uv_stream_t *)&p->in},
        {.flags = UV_CREATE_PIPE | UV_WRITABLE_PIPE, .data.stream = (uv_stream_t *)&p->out},
        {.flags = UV_CREATE_PIPE | UV_WRITABLE_PIPE, .data.stream = (uv_stream_t *)&p->err},
    };
    char **env = merged_env(c->env);
    uv_process_options_t opt = {
        .exit_cb = on_exit_cb,
        .file = c->argv[0],
        .args = c->argv,
        .env = env,
        .cwd = c->cwd,
        .flags = UV_PROCESS_DETACHED,   /* setsid: a process group of its own */
        .stdio_count = 3,
        .stdio = stdio,
    };
    int rc = uv_spawn(loop, &p->process, &opt);
    free(env);
    c->p = p;
    if (rc != 0) {
        /* the process handle is initialised even on failure and must be closed too */
        p->open_handles++;
        p->exited = p->out_eof = p->err_eof = true;
        proc_close(p);
        char reason[512];
        snprintf(reason, sizeof reason, "cannot start %s: %s", c->argv[0], uv_strerror(rc));
        mf_warn("supervisor", "spawn failed", "child=%s reason=\"%s\"", c->name, reason);
        c->state = CH_WAITING;
        after_exit(c, true, reason);
        return;
    }
    p->open_handles++;
    p->in_open = true;
    p->started_at = mf_now();
    c->state = CH_RUNNING;
    uv_read_start((uv_stream_t *)&p->out, alloc_cb, on_stdout);
    uv_read_start((uv_stream_t *)&p->err, alloc_cb, on_stderr);
    mf_info("supervisor", "child started", "child=%s pid=%d", c->name, p->process.pid);
    if (c->ops.started)
        c->ops.started(c, c->ud);
}

static void on_timer(uv_timer_t *t)
{
    mf_child *c = t->data;
    switch (c->state) {
    case CH_WAITING:
        if (c->p) {
            /* the previous proc is still closing: try again shortly */
            uv_timer_start(&c->timer, on_timer, 10, 0);
            return;
        }
        c->restarts++;
        child_spawn(c);
        break;
    case CH_FAILED:
        c->consecutive = 0;
        c->state = CH_WAITING;
        child_spawn(c);
        break;
    case CH_STOPPING:
        if (c->p && !c->p->exited && !c->term_sent) {
            /* it did not leave when its input ended */
            c->term_sent = true;
            kill_group(c->p, SIGTERM);
            uv_timer_start(&c->timer, on_timer, c->spec.shutdown_ms, 0);
            break;
        }
        /* SIGTERM was not enough */
        if (c->p && !c->p->exited) {
            mf_warn("supervisor", "child ignored SIGTERM; killing its group", "child=%s pid=%d",
                    c->name, c->p->process.pid);
            kill_group(c->p, SIGKILL);
        }
        break;
    default:
        break;
    }
}

static void timer_closed(uv_handle_t *h)
{
    mf_child *c = h->data;
    if (--c->timers_open == 0) {
        free_list(c->argv);
        free_list(c->env);
        free(c->name);
        free(c->cwd);
        free(c->history);
        free(c);
    }
}

/* Once stopping and the last proc is gone: report and free. */
static void child_maybe_free(mf_child *c)
{
    if (!c->stop_requested || c->p)
        return;
    if (c->state == CH_STOPPING || c->state == CH_WAITING || c->state == CH_FAILED ||
        c->state == CH_DONE) {
        c->state = CH_DONE;
        c->stop_requested = false;   /* report once */
        mf_child_ops ops = c->ops;
        void *ud = c->ud;
        uv_close((uv_handle_t *)&c->timer, timer_closed);
        uv_close((uv_handle_t *)&c->drain_timer, timer_closed);
        if (ops.stopped)
            ops.stopped(c, ud);
    }
}

mf_child *mf_child_start(const mf_child_spec *spec, const mf_child_ops *ops, void *ud,
                         mf_error *err)
{
    if (!spec->argv || !spec->argv[0]) {
        mf_error_set(err, -1, "a child needs a command");
        return NULL;
    }
    mf_child *c = calloc(1, sizeof *c);
    if (!c) {
        mf_error_set(err, -1, "out of memory");
        return NULL;
    }
    c->spec = *spec;
    if (!c->spec.shutdown_ms)
        c->spec.shutdown_ms = 5000;
    if (!c->spec.backoff_min_ms)
        c->spec.backoff_min_ms = 100;
    if (!c->spec.backoff_max_ms)
        c->spec.backoff_max_ms = 30000;
    if (!c->spec.intensity)
        c->spec.intensity = 10;
    if (!c->spec.period_ms)
        c->spec.period_ms = 60000;
    if (!c->spec.cooldown_ms)
        c->spec.cooldown_ms = 60000;
    c->argv = dup_list(spec->argv);
    c->env = dup_list(spec->env);
    c->name = strdup(spec->name ? spec->name : spec->argv[0]);
    c->cwd = spec->cwd ? strdup(spec->cwd) : NULL;
    c->spec.argv = NULL;
    c->spec.env = NULL;
    c->spec.name = c->spec.cwd = NULL;
    c->history = calloc(c->spec.intensity, sizeof *c->history);
    c->ops = *ops;
    c->ud = ud;
    uv_timer_init(mf_loop(), &c->timer);
    uv_timer_init(mf_loop(), &c->drain_timer);
    c->timer.data = c->drain_timer.data = c;
    c->timers_open = 2;
    c->state = CH_WAITING;
    /* spawn on the next turn: no callback runs before the caller has the handle */
    c->restarts--;   /* the first start is no restart */
    uv_timer_start(&c->timer, on_timer, 0, 0);
    return c;
}

static void on_written(uv_write_t *req, int status)
{
    write_req *w = (write_req *)req;
    MF_UNUSED(status);
    if (w->owner)
        w->owner->queued -= w->len;
    free(w);
}

int mf_child_write(mf_child *c, const char *buf, size_t len)
{
    proc *p = c->p;
    if (!p || c->state != CH_RUNNING || !p->in_open)
        return -1;
    write_req *w = malloc(sizeof *w + len);
    if (!w)
        return -1;
    memcpy(w->data, buf, len);
    w->len = len;
    w->owner = c;
    uv_buf_t b = uv_buf_init(w->data, (unsigned)len);
    if (uv_write(&w->req, (uv_stream_t *)&p->in, &b, 1, on_written) != 0) {
        free(w);
        return -1;
    }
    c->queued += len;
    return 0;
}

size_t mf_child_write_queue(const mf_child *c) { return c->queued; }

int mf_child_pid(const mf_child *c)
{
    return c->p && c->state == CH_RUNNING ? c->p->process.pid : 0;
}

unsigned mf_child_restarts(const mf_child *c) { return c->restarts; }

void mf_child_kill(mf_child *c, const char *reason)
{
    if (c->p && c->state == CH_RUNNING) {
        mf_warn("supervisor", "killing child", "child=%s pid=%d reason=\"%s\"", c->name,
                c->p->process.pid, reason);
        kill_group(c->p, SIGKILL);
    }
}

void mf_child_stop(mf_child *c)
{
    if (c->stop_requested || c->state == CH_STOPPING)
        return;
    c->stop_requested = true;
    uv_timer_stop(&c->timer);
    proc *p = c->p;
    if (p && !p->exited) {
        c->state = CH_STOPPING;
        /* polite first, as MCP's stdio transport asks: end of input, a moment to exit on
         * its own, then SIGTERM, and SIGKILL when shutdown_ms runs out */
        if (p->in_open) {
            p->in_open = false;
            close_handle((uv_handle_t *)&p->in);
        }
        c->term_sent = false;
        uv_timer_start(&c->timer, on_timer, c->spec.shutdown_ms < 2 * EOF_GRACE_MS ?
                       c->spec.shutdown_ms / 2 : EOF_GRACE_MS, 0);
        return;
    }
    if (p)
        c->state = CH_STOPPING;   /* exiting or closing: wait for the handles */
    child_maybe_free(c);
}
