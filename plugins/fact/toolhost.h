/* The tool host: what the in-process tool providers (sql, files, fetch) share. A provider
 * of this kind answers tools/list from a static table and runs each tools/call either on
 * libuv's thread pool (work that blocks: SQLite, the file system), answered from the
 * after-work callback, or on the loop itself (work libuv or libcurl drive without
 * blocking), answered when the tool says it is done.
 * A call the kernel cancels (MF_MSG_CANCEL, its deadline included) is flagged for the
 * tool to see and, where the tool can, interrupted; it then gets no answer. */
#ifndef FACT_TOOLHOST_H
#define FACT_TOOLHOST_H

#include <mcpfed/mcpfed.h>

#include <pthread.h>
#include <stdatomic.h>

typedef struct th_job th_job;

typedef struct th_tool {
    const char *name;
    const char *description;
    const char *input_schema;    /* JSON text */
    const char *output_schema;   /* JSON text, or NULL when the result has no fixed shape */
    /* On a pool thread: cfg is the instance's configuration (read-only), args the call's
     * arguments (the job's own copy). Returns a CallToolResult (th_result, th_fail). */
    json_t *(*run)(const void *cfg, const json_t *args, th_job *job);
    /* Or, when set, on the loop: start the work and end it, from here or a later callback,
     * with th_job_done. The stop (cancel, deadline, the provider stopping) calls what
     * th_job_on_stop registered, on the loop; that must end the work with th_job_done too. */
    void (*start)(const void *cfg, const json_t *args, th_job *job);
} th_tool;

/* The limits every tool provider's configuration starts with: the host applies max_ms to
 * each call as its deadline; max_bytes is each tool's to apply to what it reads. */
typedef struct th_limits {
    int64_t max_bytes, max_ms;
    json_t *conf;                /* the table (the host's copy): what the kind borrows from it
                                  * lives as long as the configuration */
} th_limits;

/* Their keys, for each kind's settings table (bytes_doc, ms_doc: what they bound there). */
#define TH_LIMITS(bytes_doc, ms_doc)                                                                   \
    {"max_bytes", MF_SET_BYTES, .def = "1048576", .min = 1024, .max = 1 << 30,                       \
     .at = MF_AT(th_limits, max_bytes), .doc = (bytes_doc)},                                         \
    {"max_ms", MF_SET_DURATION, .def = "5000", .min = 1, .max = 86400000, .at = MF_AT(th_limits, max_ms), \
     .doc = (ms_doc)}

typedef struct th_kind {
    const char *name;            /* serverInfo.name */
    const th_tool *tools;
    size_t ntools;
    /* The configuration: conf_size bytes starting with a th_limits, filled from settings
     * (the kind's keys and TH_LIMITS: the same table as the descriptor's provider_settings),
     * borrowing strings and tables from the instance's table. read_conf, when set, checks
     * what the table cannot say (path names the table): 0, or -1 with err set. The host
     * checks with both, and releases the configuration. */
    size_t conf_size;
    const mf_setting *settings;
    int (*read_conf)(const json_t *conf, const char *path, void *cfg, mf_error *err);
    /* Optional: what the tools share while an instance runs, opened as it starts; closed
     * once it is stopped and its calls are over, done(arg) running when that is complete. */
    int (*open)(mf_error *err);
    void (*close)(void (*done)(void *arg), void *arg);
} th_kind;

/* A job as a tool sees it. */
struct th_job {
    atomic_bool stop;            /* cancelled, or the provider is stopping */
    uint64_t deadline_ns;        /* uv_hrtime() past which the tool gives up (0: none) */
    /* what th_interrupt calls, on the loop, while the tool runs (set with th_job_on_stop) */
    pthread_mutex_t lock;
    void (*on_stop)(void *arg);
    void *on_stop_arg;
};

/* A tool on the loop ends its job: the answer (result taken; NULL: stopped, an error). */
void th_job_done(th_job *job, json_t *result);

/* Whether the job must end now: stopped, or past its deadline. */
bool th_job_over(th_job *job);
bool th_job_late(const th_job *job);
/* Register (fn non-NULL) or clear what interrupts the tool's work from the loop. */
void th_job_on_stop(th_job *job, void (*fn)(void *), void *arg);

/* Results: a text content and, when structured is given (taken over), structuredContent
 * with the same JSON as the text. th_fail: a tool error (isError) with a message. */
json_t *th_result(json_t *structured);
json_t *th_fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Argument getters for tools: false with *err set to a tool error naming the key. */
bool th_arg_string(const json_t *args, const char *key, bool required, const char **out, json_t **err);
bool th_arg_int(const json_t *args, const char *key, int64_t min, int64_t max, int64_t *out, json_t **err);

/* The value named by the optional argument `key` in map (names from the configuration), or
 * its only value when the argument is left out; NULL with *err set otherwise. */
const char *th_arg_pick(const json_t *args, const char *key, const json_t *map, json_t **err);

/* The provider role of a tool host kind. */
#define TH_ROLE(kind_)                                                                           \
    static int th_check_(const json_t *c, const char *p, mf_error *e)                          \
    {                                                                                          \
        return th_check(&(kind_), c, p, e);                                                    \
    }                                                                                          \
    static int th_start_(mf_instance *i, const json_t *c, void **s, mf_error *e)               \
    {                                                                                          \
        return th_start(&(kind_), i, c, s, e);                                                 \
    }                                                                                          \
    static int th_adopt_(mf_instance *i, const json_t *c, const char *st, size_t n, void **s,  \
                         mf_error *e)                                                          \
    {                                                                                          \
        return th_adopt(&(kind_), i, c, st, n, s, e);                                          \
    }                                                                                          \
    static const mf_role_ops th_role_ = {.check = th_check_, .start = th_start_,                \
                                         .receive = th_receive, .stop = th_stop,               \
                                         .save = th_save, .resume = th_resume,                 \
                                         .adopt = th_adopt_, .drain = th_drain}

int th_check(const th_kind *kind, const json_t *conf, const char *path, mf_error *err);
int th_start(const th_kind *kind, mf_instance *inst, const json_t *conf, void **self, mf_error *err);
int th_adopt(const th_kind *kind, mf_instance *inst, const json_t *conf, const char *state, size_t len,
             void **self, mf_error *err);
void th_receive(void *self, mf_msg *m);
void th_stop(void *self);
void th_save(void *self);
void th_resume(void *self);
void th_drain(void *self);

#endif
