/* A pool of Python workers: the children of one supervisor, each importing the module and
 * saying hello with its tools before it takes a call (its start is acknowledged then, so
 * the supervisor's restart rules see a worker that cannot import as failing at start). */
#include "py.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void kill_worker(worker *w, const char *why)
{
    if (!w->child || !mf_child_pid(w->child))
        return;
    mf_warn("python", "killing a worker", "provider=%s worker=%d pid=%d reason=\"%s\"", py_name(w->pool->p),
            w->index, mf_child_pid(w->child), mf_log_esc(why, (size_t)-1));
    snprintf(w->kill_why, sizeof w->kill_why, "%s", why);
    w->killed = true;
    mf_child_kill(w->child, why);
}

void worker_kill(worker *w, const char *why) { kill_worker(w, why); }

int worker_send(worker *w, const json_t *frame)
{
    size_t len;
    char *buf = pyf_encode(frame, &len);
    int rc = buf && w->child ? mf_child_write(w->child, buf, len) : -1;
    free(buf);
    return rc;
}

bool pool_any_ready(const pool *pl)
{
    for (int i = 0; pl && i < pl->n; i++)
        if (pl->workers[i].state == W_READY && !pl->workers[i].killed)
            return true;
    return false;
}

static bool pool_all_ready(const pool *pl)
{
    for (int i = 0; i < pl->n; i++)
        if (pl->workers[i].state != W_READY)
            return false;
    return true;
}

/* The ready worker with the fewest jobs. */
worker *pool_pick(pool *pl)
{
    worker *best = NULL;
    for (int i = 0; pl && !pl->stopping && i < pl->n; i++) {
        worker *w = &pl->workers[i];
        if (w->state == W_READY && !w->killed && (!best || w->inflight < best->inflight))
            best = w;
    }
    return best;
}

/* --- hello, and the frames that are not about a call --- */

static int on_hello(worker *w, json_t *f)
{
    pool *pl = w->pool;
    json_t *list = json_object_get(f, "tools");
    if (!json_is_array(list))
        return -1;
    json_t *tools = json_array(), *flags = json_object();
    size_t i;
    json_t *t;
    json_array_foreach(list, i, t) {
        json_t *def = json_object_get(t, "def");
        const char *name = json_string_value(json_object_get(def, "name"));
        if (!json_is_object(def) || !name || !json_is_object(json_object_get(def, "inputSchema"))) {
            json_decref(tools);
            json_decref(flags);
            return -1;
        }
        json_array_append(tools, def);
        json_object_set_new(flags, name, json_pack("{s:b,s:b}", "idempotent",
                                                   json_is_true(json_object_get(t, "idempotent")), "batch",
                                                   json_is_true(json_object_get(t, "batch"))));
    }
    if (!pl->tools) {   /* the pool's tools are its first worker's */
        pl->tools = json_pack("{s:o}", "tools", tools);
        pl->flags = flags;
    } else {
        json_decref(tools);
        json_decref(flags);
    }
    w->state = W_READY;
    mf_child_ready(w->child);
    mf_info("python", "worker ready", "provider=%s generation=%u worker=%d pid=%d tools=%zu", py_name(pl->p),
            pl->gen, w->index, mf_child_pid(w->child), json_array_size(list));
    prov *p = pl->p;
    if (pl == p->next && pool_all_ready(pl))
        prov_reload_end(p, pl, NULL, NULL);
    else if (pl == p->cur) {
        prov_report(p);
        calls_flush_queue(p);
    }
    return 0;
}

static int on_frame(void *ud, json_t *f)
{
    worker *w = ud;
    const char *t = pyf_type(f);
    int rc;
    if (w->state == W_STARTING && strcmp(t, "hello") == 0) {
        rc = on_hello(w, f);
    } else if (strcmp(t, "error") == 0 && !json_object_get(f, "id")) {
        /* the module could not be imported: the worker exits next */
        pool *pl = w->pool;
        free(pl->error);
        free(pl->traceback);
        const char *msg = json_string_value(json_object_get(f, "message"));
        const char *tb = json_string_value(json_object_get(f, "traceback"));
        pl->error = mf_xstrdup(msg ? msg : "the module could not be imported");
        pl->traceback = tb ? mf_xstrdup(tb) : NULL;
        mf_warn("python", "worker could not import the module", "provider=%s worker=%d error=\"%s\"",
                py_name(pl->p), w->index, mf_log_esc(pl->error, (size_t)-1));
        rc = 0;
    } else if (w->state == W_READY) {
        rc = calls_frame(w, f);
    } else {
        rc = -1;
    }
    json_decref(f);
    if (rc != 0) {
        kill_worker(w, "it wrote a frame out of place or of the wrong shape");
        return -1;
    }
    return 0;
}

/* --- supervision --- */

static void on_started(mf_child *ch, void *ud)
{
    worker *w = ud;
    (void)ch;
    pyf_reader_free(&w->rd);
    pyf_reader_init(&w->rd, w->pool->p->cfg.max_message);
    w->state = W_STARTING;
    w->killed = false;
    w->started_at = mf_now();
    w->pool->failed = false;   /* back after the cool-down */
    prov_report(w->pool->p);
}

static void on_output(mf_child *ch, const char *buf, size_t len, void *ud)
{
    worker *w = ud;
    mf_error err = {0};
    (void)ch;
    if (w->rd.broken)
        return;   /* being killed */
    if (pyf_feed(&w->rd, buf, len, on_frame, w, &err) != 0 && err.code != 0) {
        char why[600];
        snprintf(why, sizeof why, "it wrote %s", err.msg);
        kill_worker(w, why);
    }
}

static void on_exited(mf_child *ch, int64_t status, int sig, void *ud)
{
    worker *w = ud;
    pool *pl = w->pool;
    prov *p = pl->p;
    (void)ch;
    bool was_starting = w->state == W_STARTING;
    char why[400];
    if (w->killed)
        snprintf(why, sizeof why, "provider %s: worker %d was killed: %s", py_name(p), w->index,
                 w->kill_why);
    else if (sig)
        snprintf(why, sizeof why, "provider %s: worker %d was killed by signal %d", py_name(p), w->index, sig);
    else
        snprintf(why, sizeof why, "provider %s: worker %d exited with status %lld", py_name(p), w->index,
                 (long long)status);
    w->state = W_DOWN;
    calls_worker_lost(p, w, why);
    if (p->stopping || pl->stopping)
        return;
    if (pl == p->next && was_starting) {
        prov_reload_end(p, pl, pl->error ? pl->error : why, pl->traceback);
        return;
    }
    prov_report(p);
    prov_retire_idle(p);
}

static void on_failed(mf_child *ch, const char *reason, void *ud)
{
    worker *w = ud;
    pool *pl = w->pool;
    (void)ch;
    w->state = W_FAILED;
    if (pl->p->stopping || pl->stopping)
        return;
    if (pl == pl->p->next) {   /* a reload's pool that cannot start */
        prov_reload_end(pl->p, pl, pl->error ? pl->error : reason, pl->traceback);
        return;
    }
    for (int i = 0; i < pl->n; i++)
        if (pl->workers[i].state != W_FAILED)
            return;   /* the others may still serve */
    pl->failed = true;
    free(pl->failed_reason);
    if (pl->error) {
        char why[1200];
        snprintf(why, sizeof why, "%s (the module: %s)", reason, pl->error);
        pl->failed_reason = mf_xstrdup(why);
    } else {
        pl->failed_reason = mf_xstrdup(reason);
    }
    prov_report(pl->p);
}

static void on_stopped(mf_child *ch, void *ud)
{
    worker *w = ud;
    (void)ch;
    w->child = NULL;
}

const mf_child_ops py_child_ops = {
    .started = on_started, .output = on_output, .exited = on_exited,
    .failed = on_failed, .stopped = on_stopped,
};

/* --- the pool --- */

pool *pool_new(prov *p, unsigned gen)
{
    pool *pl = mf_xcalloc(1, sizeof *pl);
    pl->p = p;
    pl->gen = gen;
    pl->n = p->cfg.workers;
    pl->workers = mf_xcalloc((size_t)pl->n, sizeof *pl->workers);
    for (int i = 0; i < pl->n; i++) {
        worker *w = &pl->workers[i];
        w->pool = pl;
        w->index = i;
        pyf_reader_init(&w->rd, p->cfg.max_message);
    }
    return pl;
}

pool *pool_start(prov *p, mf_error *err)
{
    pool *pl = pool_new(p, ++p->gens);
    char name[200];
    snprintf(name, sizeof name, pl->gen > 1 ? "%s@%u" : "%s", py_name(p), pl->gen);
    mf_sup_spec sup = p->cfg.sup_spec;
    sup.name = name;
    pl->sup = mf_sup_start(&sup, err);
    if (!pl->sup) {
        pool_free(pl);
        return NULL;
    }
    const char *argv[] = {p->cfg.python, p->cfg.worker, p->cfg.module, NULL};
    mf_child_spec spec = p->cfg.spec;
    spec.sup = pl->sup;
    spec.argv = argv;
    for (int i = 0; i < pl->n; i++) {
        char wname[240];
        snprintf(wname, sizeof wname, "%s#%d", name, i + 1);
        spec.name = wname;
        pl->workers[i].child = mf_child_start(&spec, &py_child_ops, &pl->workers[i], err);
        if (!pl->workers[i].child) {
            pool_stop(pl);
            return NULL;
        }
    }
    return pl;
}

void pool_free(pool *pl)
{
    for (int i = 0; i < pl->n; i++)
        pyf_reader_free(&pl->workers[i].rd);
    free(pl->workers);
    json_decref(pl->tools);
    json_decref(pl->flags);
    free(pl->error);
    free(pl->traceback);
    free(pl->failed_reason);
    free(pl);
}

static void on_pool_stopped(void *ud)
{
    pool *pl = ud;
    prov *p = pl->p;
    pool_free(pl);
    prov_handle_closed(p);
}

void pool_stop(pool *pl)
{
    if (pl->stopping)
        return;
    pl->stopping = true;
    pl->p->open_handles++;
    mf_sup_stop(pl->sup, on_pool_stopped, pl);
}

/* Resident memory from /proc/PID/statm, in MiB; -1 when it cannot be read. */
static long rss_mb(int pid)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/statm", pid);
    FILE *f = fopen(path, "re");
    if (!f)
        return -1;
    unsigned long size, resident;
    int n = fscanf(f, "%lu %lu", &size, &resident);
    fclose(f);
    if (n != 2)
        return -1;
    return (long)(resident * (unsigned long)sysconf(_SC_PAGESIZE) / (1024 * 1024));
}

void pool_check(pool *pl, uint64_t now)
{
    const pyconf *cfg = &pl->p->cfg;
    for (int i = 0; i < pl->n; i++) {
        worker *w = &pl->workers[i];
        int pid = w->child ? mf_child_pid(w->child) : 0;
        if (!pid || w->killed)
            continue;
        if (w->state == W_STARTING && now - w->started_at > (uint64_t)cfg->init_timeout_ms) {
            kill_worker(w, "it did not say hello within init_timeout_ms");
            continue;
        }
        long mb = cfg->max_rss_mb ? rss_mb(pid) : -1;
        if (mb > cfg->max_rss_mb) {
            char why[160];
            snprintf(why, sizeof why, "its resident memory (%ld MB) went over max_rss_mb (%lld MB)", mb,
                     (long long)cfg->max_rss_mb);
            kill_worker(w, why);
        }
    }
}

unsigned pool_jobs(const pool *pl)
{
    unsigned n = 0;
    for (int i = 0; i < pl->n; i++)
        n += pl->workers[i].inflight;
    return n;
}
