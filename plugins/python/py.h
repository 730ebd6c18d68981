/* The python plugin: tools written in Python, run by a supervised pool of worker processes
 * (sdk/python/mcpfed_worker.py) spoken to in msgpack frames (frame.h).
 *
 * One provider instance is one pool for the kernel: a single target. The plugin spreads
 * calls over its workers itself, because what it does with them is a choice between
 * workers that the kernel's routing cannot make: calls gathered into one batch for one
 * worker, an idempotent call lost with its worker sent again to another, and a reload that
 * runs a new pool beside the old one and moves new calls to it.
 *
 * Files: conf.c (settings), pool.c (workers and their supervision), calls.c (calls, batches,
 * cancellation, deadlines, frames from workers), plugin.c (the role, reload of the module),
 * swap.c (hot swap of the plugin's code, workers handed over). */
#ifndef PY_PLUGIN_H
#define PY_PLUGIN_H

#include "frame.h"

#include <mcpfed/mcpfed.h>
#include <uthash.h>

#define PY_DEFAULT_PYTHON "/usr/bin/python3"
#define PY_MAX_WORKERS 256
#define PY_STATE_VERSION 1

typedef struct pyconf {
    char *module;                /* the tools module's file */
    char *python;                /* the interpreter */
    char *worker;                /* mcpfed_worker.py */
    char **env;                  /* "K=V" */
    char *cwd;
    int workers;
    int64_t batch_window_ms, batch_max, max_rss_mb, cancel_grace_ms, init_timeout_ms, max_queue;
    size_t max_message;
    mf_child_spec spec;          /* restart.* of the workers */
    mf_sup_spec sup_spec;        /* restart.* of their supervisor */
} pyconf;

/* The provider's keys, and what their table cannot say. */
extern const mf_setting py_provider_settings[];
int py_check(const json_t *conf, const char *path, mf_error *err);
/* From a checked configuration; 0, or -1 (out of memory). */
int py_conf_load(pyconf *c, const json_t *conf, const char *name);
void py_conf_free(pyconf *c);

typedef enum wstate { W_STARTING, W_READY, W_DOWN, W_FAILED } wstate;

struct prov;
struct pool;

typedef struct worker {
    struct pool *pool;
    int index;
    mf_child *child;
    pyf_reader rd;
    wstate state;
    unsigned inflight;           /* jobs it runs */
    uint64_t started_at;
    bool killed;                 /* by the plugin, for kill_why */
    char kill_why[200];
} worker;

typedef struct pool {
    struct prov *p;
    unsigned gen;                /* 1, then one more per reload of the module */
    mf_sup *sup;
    worker *workers;
    int n;
    json_t *tools;               /* the tools/list result, from the first hello */
    json_t *flags;               /* tool name -> {"idempotent", "batch"} */
    bool failed;                 /* every worker given up on */
    char *failed_reason;
    char *error, *traceback;     /* the last failure to import the module */
    bool stopping;               /* its supervisor is being stopped */
    struct pool *next;           /* in the provider's list of old pools draining */
} pool;

typedef struct job job;

/* One call of a client. */
typedef struct pcall {
    uint64_t corr;
    mf_msg *req;                 /* owned: answered from, and sent again when retried */
    job *job;                    /* NULL while it waits */
    bool answered;               /* answered or cancelled: nothing more is sent for it */
    int tries;
    struct pcall *qnext;         /* in the waiting queue or a gathering batch */
    UT_hash_handle hh;           /* by corr */
} pcall;

/* One frame to a worker: a call, or a batch of calls to one tool. */
struct job {
    int64_t id;
    worker *w;
    bool batch, idempotent;
    pcall **calls;
    int ncalls;
    uint64_t kill_at;            /* mf_now() after which a worker still running it is killed */
    UT_hash_handle hh;           /* by id */
};

/* Calls to a batch tool gathering for one batch. */
typedef struct gather {
    char *tool;
    pcall *head, *tail;
    int n;
    uint64_t due;
    UT_hash_handle hh;
} gather;

typedef void (*py_reload_done)(void *ud, int code, json_t *report);

typedef struct prov {
    mf_instance *inst;
    pyconf cfg;
    pool *cur;                   /* serves new calls */
    pool *next;                  /* a reload's, until it has listed its tools */
    pool *old;                   /* replaced, finishing their calls */
    unsigned gens;
    job *jobs;
    pcall *calls;
    pcall *qhead, *qtail;        /* waiting for a ready worker */
    size_t qlen;
    gather *gathers;
    int64_t next_id;
    uv_timer_t tick, batch_timer;
    int open_handles;
    py_reload_done reload_done;
    void *reload_ud;
    bool up, stopping, handed_over;
    char *failed_reason;
} prov;

static inline const char *py_name(const prov *p) { return mf_instance_name(p->inst); }

/* pool.c */
extern const mf_child_ops py_child_ops;
pool *pool_new(prov *p, unsigned gen);
pool *pool_start(prov *p, mf_error *err);
/* Stop its supervisor and workers, then free it (its jobs must be gone). */
void pool_stop(pool *pl);
void pool_free(pool *pl);
worker *pool_pick(pool *pl);
bool pool_any_ready(const pool *pl);
int worker_send(worker *w, const json_t *frame);
void worker_kill(worker *w, const char *why);
/* Workers slow to say hello, or over max_rss_mb of resident memory, are killed. */
void pool_check(pool *pl, uint64_t now);
unsigned pool_jobs(const pool *pl);
/* Tell the kernel the provider's state from its pools'. */
void prov_report(prov *p);
/* A pool that is not the current one and has nothing left to run goes. */
void prov_retire_idle(prov *p);
/* A timer or pool of p closed: the last one frees p and says the instance stopped. */
void prov_handle_closed(prov *p);

/* calls.c */
void calls_request(prov *p, mf_msg *m);
void calls_cancel(prov *p, uint64_t corr, const char *reason);
void calls_flush_queue(prov *p);
void calls_fail_queue(prov *p, int code, const char *why);
/* A worker went: its jobs fail, or go to another worker when idempotent. */
void calls_worker_lost(prov *p, worker *w, const char *why);
int calls_frame(worker *w, json_t *f);
void calls_tick(uv_timer_t *t);
void calls_batch_due(uv_timer_t *t);
/* Answer everything with an error (stopping). */
void calls_fail_all(prov *p, int code, const char *why);
/* Forget everything without answering (handed over). */
void calls_forget_all(prov *p);
pcall *pcall_new(prov *p, mf_msg *m);
void pcall_free(prov *p, pcall *k);
void calls_queue(prov *p, pcall *k, bool front);
job *job_add(prov *p, int64_t id, worker *w, bool batch, bool idempotent);
void job_attach(job *j, pcall *k);

/* plugin.c */
prov *prov_new(mf_instance *inst, const json_t *conf);
void prov_close(prov *p);
/* The reload of the module: its new pool listed its tools, or failed (report says why). */
void prov_reload_end(prov *p, pool *pl, const char *error, const char *traceback);

/* swap.c */
void py_save(void *self);
void py_resume(void *self);
int py_adopt(mf_instance *inst, const json_t *conf, const char *state, size_t len, void **self, mf_error *err);
void py_drain(void *self);

#endif
