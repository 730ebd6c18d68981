/* Child processes: spawning, pipes, stopping, reaping. Their supervisor (supervisor.c)
 * decides when they start again.
 *
 * Each spawn is a `proc`: the process handle and its three pipes, freed when all four
 * handles have closed. The child leads a process group of its own (setsid), so stopping
 * it signals the whole group and leaves no descendant behind; when the leader exits, what
 * is left of its group is killed, and the exit is reported only once stdout is drained (or
 * a short bound passed), so a response written just before exiting is still delivered. A
 * child that closes its stdout but keeps running can answer nothing: it is killed.
 *
 * mcpfed is a child subreaper: descendants whose parents died are reparented to it, and
 * reaped here when they exit, so no zombie outlives its family. */
#include "build-config.h"
#include "supervision.h"

#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>

#define DRAIN_AFTER_EXIT_MS 500
#define EOF_GRACE_MS 300        /* time to exit on end of input before SIGTERM */
#define STDOUT_GRACE_MS 200     /* stdout closed: time for the exit to show before killing */

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
    mf_sup *sup;
    child_state state;
    proc *p;
    uv_timer_t timer;        /* the start delay, or the steps of a stop */
    uv_timer_t drain_timer;  /* bounds draining output after exit */
    int timers_open;
    unsigned restarts, starts;
    unsigned consecutive;    /* failures in a row, for the backoff */
    bool terminating;        /* its supervisor is stopping it */
    bool term_sent;
    bool releasing;
    bool awaiting_start;     /* start_ack: spawned, mf_child_ready not called yet */
    size_t queued;
    uint64_t id;             /* its handle in a hot swap's state */
    char last_exit[600];
};


static void live_add(int pid)
{
    if (mf_supv.nlive == mf_supv.caplive) {
        size_t cap = mf_supv.caplive ? mf_supv.caplive * 2 : 32;
        mf_supv.live = mf_xrealloc(mf_supv.live, cap * sizeof *mf_supv.live);
        mf_supv.caplive = cap;
    }
    mf_supv.live[mf_supv.nlive++] = pid;
}

static void live_del(int pid)
{
    for (size_t i = 0; i < mf_supv.nlive; i++)
        if (mf_supv.live[i] == pid) {
            mf_supv.live[i] = mf_supv.live[--mf_supv.nlive];
            return;
        }
}

static bool is_live(int pid)
{
    for (size_t i = 0; i < mf_supv.nlive; i++)
        if (mf_supv.live[i] == pid)
            return true;
    return false;
}

/* Reap exited descendants that came to us as orphans; with kill_all, end the living ones
 * too (at shutdown). */
static bool reap_strays(bool kill_all)
{
    bool left = false;
    DIR *tasks = opendir("/proc/self/task");
    if (!tasks)
        return false;
    struct dirent *t;
    while ((t = readdir(tasks))) {
        if (t->d_name[0] == '.')
            continue;
        char path[64];
        snprintf(path, sizeof path, "/proc/self/task/%.20s/children", t->d_name);
        FILE *f = fopen(path, "r");
        if (!f)
            continue;
        int pid;
        while (fscanf(f, "%d", &pid) == 1) {
            if (is_live(pid))
                continue;
            if (kill_all)
                kill(pid, SIGKILL);
            int rc;
            while ((rc = waitpid(pid, NULL, WNOHANG | __WALL)) < 0 && errno == EINTR)
                ;
            if (rc == 0)
                left = true;
        }
        fclose(f);
    }
    closedir(tasks);
    return left;
}

static void on_sigchld(uv_signal_t *h, int sig)
{
    MF_UNUSED(h);
    MF_UNUSED(sig);
    reap_strays(false);
}

static void reaper_start(void)
{
    if (mf_supv.reaper_on)
        return;
    mf_supv.reaper_on = true;
    /* orphans of our children become ours to reap, whatever init does */
    prctl(PR_SET_CHILD_SUBREAPER, 1);
    uv_signal_init(mf_loop(), &mf_supv.sigchld);
    uv_signal_start(&mf_supv.sigchld, on_sigchld, SIGCHLD);
    uv_unref((uv_handle_t *)&mf_supv.sigchld);
}

void mf_child_kill_all(void)
{
    for (size_t i = 0; i < mf_supv.nlive; i++)
        kill(-mf_supv.live[i], SIGKILL);
    reap_strays(true);
}

void mf_child_reaper_stop(void)
{
    if (!mf_supv.reaper_on)
        return;
    /* what is left is killed, and waited for (a bounded while) so none becomes a zombie */
    for (int i = 0; i < 100 && reap_strays(true); i++)
        uv_sleep(10);
    uv_close((uv_handle_t *)&mf_supv.sigchld, NULL);
    mf_supv.reaper_on = false;
    free(mf_supv.live);
    mf_supv.live = NULL;
    mf_supv.nlive = mf_supv.caplive = 0;
}

static char **dup_list(const char *const *l)
{
    size_t n = 0;
    while (l && l[n])
        n++;
    char **out = mf_xcalloc(n + 1, sizeof *out);
    for (size_t i = 0; i < n; i++)
        out[i] = mf_xstrdup(l[i]);
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
    char **out = mf_xcalloc(n + m + 1, sizeof *out);
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

/* --- procs ----------------------------------------------------------------------------- */

static void proc_handle_closed(uv_handle_t *h)
{
    proc *p = h->data;
    if (--p->open_handles > 0)
        return;
    mf_lines_free(&p->errlines);
    free(p);
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

/* The exit is final once output is drained. */
static void finish_exit(mf_child *c)
{
    proc *p = c->p;
    if (!p || c->state != CH_EXITING)
        return;
    uv_timer_stop(&c->drain_timer);
    uv_timer_stop(&c->timer);
    c->p = NULL;
    p->owner = NULL;
    c->state = CH_IDLE;
    int64_t status = p->exit_status;
    int sig = p->term_signal;
    if (mf_now() - p->started_at >= c->spec.backoff_reset_ms)
        c->consecutive = 0;   /* a stable run: the next restart comes after backoff_min_ms */
    proc_close(p);
    mf_supervision_note_spawn(-1);
    if (sig)
        snprintf(c->last_exit, sizeof c->last_exit, "killed by signal %d", sig);
    else
        snprintf(c->last_exit, sizeof c->last_exit, "exited with status %lld", (long long)status);
    if (c->ops.exited)
        c->ops.exited(c, status, sig, c->ud);
    if (c->awaiting_start) {
        /* a start that ends in an exit is complete too: the next sibling goes on */
        c->awaiting_start = false;
        mf_sup_on_started(c->sup, c);
    }
    if (c->terminating) {
        c->terminating = false;
        mf_sup_on_stopped(c->sup, c);
        return;
    }
    mf_sup_on_exit(c->sup, c, mf_sup_exit_abnormal(status, sig), c->last_exit);
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
    if (c->state == CH_EXITING) {
        finish_exit(c);
    } else if (c->state == CH_RUNNING && c->p && c->p->out_eof && !c->p->exited) {
        /* still running without its stdout: it can no longer answer anything */
        mf_warn("supervisor", "child closed its stdout; killing it", "child=%s pid=%d", c->name,
                c->p->process.pid);
        kill_group(c->p, SIGKILL);
    }
}

static void on_exit_cb(uv_process_t *h, int64_t status, int sig)
{
    proc *p = h->data;
    p->exited = true;
    p->exit_status = status;
    p->term_signal = sig;
    live_del(h->pid);
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
        if (!p->exited && c && c->p == p && c->state == CH_RUNNING)
            /* an exit usually follows at once; if none does, it closed stdout and lives on */
            uv_timer_start(&c->drain_timer, on_drain_timeout, STDOUT_GRACE_MS, 0);
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

/* Spawn now. Returns NULL on success, else why not. */
static const char *spawn(mf_child *c, char *why, size_t cap)
{
    if (!mf_supervision_room(NULL)) {
        snprintf(why, cap, "cannot start %s: the limit of max_processes is reached", c->argv[0]);
        return why;
    }
    proc *p = mf_xcalloc(1, sizeof *p);
    p->owner = c;
    mf_lines_init(&p->errlines, 8192);
    uv_loop_t *loop = mf_loop();
    uv_pipe_init(loop, &p->in, 0);
    uv_pipe_init(loop, &p->out, 0);
    uv_pipe_init(loop, &p->err, 0);
    p->in.data = p->out.data = p->err.data = p->process.data = p;
    p->open_handles = 4;   /* the process handle too, even when the spawn fails */
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
    if (rc != 0) {
        p->owner = NULL;
        proc_close(p);
        snprintf(why, cap, "cannot start %s: %s", c->argv[0], uv_strerror(rc));
        return why;
    }
    live_add(p->process.pid);
    mf_supervision_note_spawn(1);
    p->in_open = true;
    p->started_at = mf_now();
    c->p = p;
    c->state = CH_RUNNING;
    uv_read_start((uv_stream_t *)&p->out, alloc_cb, on_stdout);
    uv_read_start((uv_stream_t *)&p->err, alloc_cb, on_stderr);
    return NULL;
}

/* --- what the supervisor asks ----------------------------------------------------------- */

static void on_timer(uv_timer_t *t);

void mf_sup_child_start_after(mf_child *c, uint64_t delay_ms)
{
    c->state = CH_PENDING;
    c->terminating = false;
    if (c->starts)
        mf_info("supervisor", "restarting child", "child=%s in_ms=%llu reason=\"%s\"", c->name,
                (unsigned long long)delay_ms, mf_log_esc(c->last_exit, (size_t)-1));
    uv_timer_start(&c->timer, on_timer, delay_ms, 0);
}

static void start_now(mf_child *c)
{
    char why[512];
    const char *failed = spawn(c, why, sizeof why);
    if (c->starts++)
        c->restarts++;
    if (failed) {
        c->state = CH_IDLE;
        snprintf(c->last_exit, sizeof c->last_exit, "%s", failed);
        mf_warn("supervisor", "spawn failed", "child=%s reason=\"%s\"", c->name, mf_log_esc(failed, (size_t)-1));
        /* whoever waits for this start hears why it will not come now */
        mf_sup_child_failed(c, c->last_exit);
        mf_sup_on_started(c->sup, c);
        mf_sup_on_exit(c->sup, c, true, c->last_exit);
        return;
    }
    mf_info("supervisor", "child started", "child=%s pid=%d", c->name, c->p->process.pid);
    c->awaiting_start = c->spec.start_ack;
    if (c->ops.started)
        c->ops.started(c, c->ud);
    if (!c->spec.start_ack)
        mf_sup_on_started(c->sup, c);
}

void mf_child_ready(mf_child *c)
{
    if (!c->awaiting_start || c->state != CH_RUNNING)
        return;
    c->awaiting_start = false;
    mf_sup_on_started(c->sup, c);
}

void mf_sup_child_terminate(mf_child *c)
{
    if (c->state == CH_IDLE || c->state == CH_PENDING) {
        uv_timer_stop(&c->timer);
        c->state = CH_IDLE;
        mf_sup_on_stopped(c->sup, c);
        return;
    }
    c->terminating = true;
    if (c->state == CH_EXITING)
        return;   /* on its way out already: finish_exit tells the supervisor */
    proc *p = c->p;
    c->state = CH_STOPPING;
    /* polite first, as MCP's stdio transport asks: end of input, a moment to exit on its
     * own, then SIGTERM, and SIGKILL when shutdown_ms runs out */
    if (p->in_open) {
        p->in_open = false;
        close_handle((uv_handle_t *)&p->in);
    }
    c->term_sent = false;
    uv_timer_start(&c->timer, on_timer,
                   c->spec.shutdown_ms < 2 * EOF_GRACE_MS ? c->spec.shutdown_ms / 2 : EOF_GRACE_MS, 0);
}

static void on_timer(uv_timer_t *t)
{
    mf_child *c = t->data;
    if (c->state == CH_PENDING) {
        start_now(c);
        return;
    }
    if (c->state != CH_STOPPING || !c->p || c->p->exited)
        return;
    if (!c->term_sent) {
        /* it did not leave when its input ended */
        c->term_sent = true;
        kill_group(c->p, SIGTERM);
        uv_timer_start(&c->timer, on_timer, c->spec.shutdown_ms, 0);
        return;
    }
    mf_warn("supervisor", "child ignored SIGTERM; killing its group", "child=%s pid=%d", c->name,
            c->p->process.pid);
    kill_group(c->p, SIGKILL);
}

uint64_t mf_sup_child_backoff(mf_child *c)
{
    c->consecutive++;
    uint64_t d = c->spec.backoff_min_ms;
    for (unsigned i = 1; i < c->consecutive && d < c->spec.backoff_max_ms; i++)
        d *= 2;
    return d < c->spec.backoff_max_ms ? d : c->spec.backoff_max_ms;
}

void mf_sup_child_failed(mf_child *c, const char *reason)
{
    if (c->ops.failed)
        c->ops.failed(c, reason, c->ud);
}

static void timer_closed(uv_handle_t *h)
{
    mf_child *c = h->data;
    if (--c->timers_open == 0) {
        free_list(c->argv);
        free_list(c->env);
        free(c->name);
        free(c->cwd);
        free(c);
    }
}

void mf_sup_child_release(mf_child *c)
{
    if (c->releasing)
        return;
    c->releasing = true;
    mf_child_ops ops = c->ops;
    void *ud = c->ud;
    uv_close((uv_handle_t *)&c->timer, timer_closed);
    uv_close((uv_handle_t *)&c->drain_timer, timer_closed);
    if (ops.stopped)
        ops.stopped(c, ud);
}

uint64_t mf_child_id(const mf_child *c) { return c->id; }

int mf_sup_child_rebind(mf_child *c, const mf_child_ops *ops, void *ud)
{
    if (c->releasing)
        return -1;
    c->ops = *ops;
    c->ud = ud;
    return 0;
}

child_state mf_sup_child_state_of(const mf_child *c) { return c->state; }
unsigned mf_sup_child_starts(const mf_child *c) { return c->starts; }
const char *mf_sup_child_name(const mf_child *c) { return c->name; }
mf_restart mf_sup_child_restart_type(const mf_child *c) { return c->spec.restart; }

json_t *mf_sup_child_status(const mf_child *c)
{
    static const char *const states[] = {"stopped", "starting", "running", "exiting", "stopping"};
    static const char *const types[] = {"permanent", "transient", "temporary"};
    return json_pack("{s:s,s:i,s:s,s:s,s:i,s:s}", "name", c->name, "pid", mf_child_pid(c), "state",
                     c->state == CH_PENDING && c->starts ? "restarting"
                     : c->state == CH_IDLE && !c->starts ? "starting"   /* its turn to start has not come */
                                                          : states[c->state], "restart",
                     types[c->spec.restart], "restarts", (int)c->restarts, "last_exit", c->last_exit);
}

/* --- the plugin's API ------------------------------------------------------------------- */

mf_child *mf_child_start(const mf_child_spec *spec, const mf_child_ops *ops, void *ud,
                         mf_error *err)
{
    if (!spec->argv || !spec->argv[0]) {
        mf_error_set(err, -1, "a child needs a command");
        return NULL;
    }
    reaper_start();
    mf_child *c = mf_xcalloc(1, sizeof *c);
    c->spec = *spec;
    if (!c->spec.shutdown_ms)
        c->spec.shutdown_ms = 5000;
    if (!c->spec.backoff_min_ms)
        c->spec.backoff_min_ms = 100;
    if (!c->spec.backoff_max_ms)
        c->spec.backoff_max_ms = 30000;
    if (!c->spec.backoff_reset_ms)
        c->spec.backoff_reset_ms = 10000;
    c->argv = dup_list(spec->argv);
    c->env = dup_list(spec->env);
    c->name = mf_xstrdup(spec->name ? spec->name : spec->argv[0]);
    c->cwd = spec->cwd ? mf_xstrdup(spec->cwd) : NULL;
    c->spec.argv = NULL;
    c->spec.env = NULL;
    c->spec.name = c->spec.cwd = NULL;
    c->ops = *ops;
    c->ud = ud;
    c->id = mf_supv.next_child_id++;
    uv_timer_init(mf_loop(), &c->timer);
    uv_timer_init(mf_loop(), &c->drain_timer);
    c->timer.data = c->drain_timer.data = c;
    c->timers_open = 2;
    c->state = CH_IDLE;
    c->sup = spec->sup ? spec->sup : mf_sup_private(spec, err);
    if (!c->sup || mf_sup_adopt(c->sup, c, err) != 0) {
        mf_sup *priv = spec->sup ? NULL : c->sup;
        c->ops.stopped = NULL;
        c->releasing = true;
        uv_close((uv_handle_t *)&c->timer, timer_closed);
        uv_close((uv_handle_t *)&c->drain_timer, timer_closed);
        if (priv)
            mf_sup_stop(priv, NULL, NULL);
        return NULL;
    }
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
    write_req *w = mf_xmalloc(sizeof *w + len);
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
                c->p->process.pid, mf_log_esc(reason, (size_t)-1));
        kill_group(c->p, SIGKILL);
    }
}

void mf_child_stop(mf_child *c)
{
    if (c->releasing)
        return;
    mf_sup_remove_child(c->sup, c);
}
