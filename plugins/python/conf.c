/* The python provider's settings. */
#include "py.h"
#include "../stdio/child_conf.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* The provider's settings, as the table fills them. */
typedef struct settings {
    child_restart restart;
    const char *module, *python, *worker, *cwd;
    const json_t *env;
    int64_t workers, batch_window_ms, batch_max, max_rss_mb, cancel_grace_ms, init_timeout_ms, max_queue,
        max_message_bytes;
} settings;
CHILD_RESTART_FIRST(settings);

const mf_setting py_provider_settings[] = {
    {"module", MF_SET_STRING, MF_SET_REQUIRED, .at = MF_AT(settings, module),
     .doc = "the Python file of tools (relative to mcpfed's working directory, or cwd)"},
    {"workers", MF_SET_INT, .def = "1", .min = 1, .max = PY_MAX_WORKERS, .at = MF_AT(settings, workers),
     .doc = "worker processes in the pool"},
    {"python", MF_SET_STRING, .def = PY_DEFAULT_PYTHON, .at = MF_AT(settings, python), .doc = "the interpreter"},
    {"worker", MF_SET_STRING, .def_doc = "the installed mcpfed_worker.py", .at = MF_AT(settings, worker),
     .doc = "the worker program"},
    {"env", MF_SET_MAP, .def = "{}", .at = MF_AT(settings, env), .doc = "variables added to mcpfed's environment"},
    {"cwd", MF_SET_STRING, .def_doc = "mcpfed's", .at = MF_AT(settings, cwd), .doc = "the workers' working directory"},
    {"batch_window_ms", MF_SET_DURATION, .def = "2", .min = 0, .max = 60000, .at = MF_AT(settings, batch_window_ms),
     .doc = "calls to a batch tool within this go to one worker as one batch"},
    {"batch_max", MF_SET_INT, .def = "64", .min = 1, .max = 100000, .at = MF_AT(settings, batch_max),
     .doc = "the most calls in a batch"},
    {"cancel_grace_ms", MF_SET_DURATION, .def = "2000", .min = 1, .max = 600000,
     .at = MF_AT(settings, cancel_grace_ms), .doc = "a cancelled call still running this long after: its worker hangs"},
    {"max_rss_mb", MF_SET_INT, .def_doc = "none", .min = 1, .max = 1 << 20, .at = MF_AT(settings, max_rss_mb),
     .doc = "a worker's resident memory beyond which it is killed and restarted"},
    {"init_timeout_ms", MF_SET_DURATION, .def = "30000", .min = 1, .max = 3600000,
     .at = MF_AT(settings, init_timeout_ms), .doc = "how long a worker may take to import the module and list"},
    {"max_queue", MF_SET_INT, .def = "4096", .min = 0, .max = 1000000, .at = MF_AT(settings, max_queue),
     .doc = "calls that may wait while no worker is ready"},
    {"max_message_bytes", MF_SET_BYTES, .def = "16777216", .min = 1024, .max = INT64_C(1) << 32,
     .at = MF_AT(settings, max_message_bytes), .doc = "the largest frame a worker may write"},
    {"restart", MF_SET_TABLE, .def = "{}", .sub = child_restart_settings,
     .doc = "the workers' supervision (simple_one_for_one is refused: the pool has a fixed size)"},
    {0},
};

/* conf checked against the table: its settings, defaults filled. */
static void read_settings(const json_t *conf, settings *st)
{
    memset(st, 0, sizeof *st);
    mf_settings_check(conf, "", py_provider_settings, st, NULL);
}

/* What the table cannot say. */
int py_check(const json_t *conf, const char *path, mf_error *err)
{
    settings st;
    read_settings(conf, &st);
    if (child_conf_check(&st.restart, conf, path, err))
        return -1;
    if (st.restart.strategy == MF_SIMPLE_ONE_FOR_ONE) {
        mf_error_set(err, -1, "%s.restart.strategy: a pool of workers has a fixed size (workers); "
                     "simple_one_for_one is not for it", path);
        return -1;
    }
    if (access(st.module, R_OK) != 0) {
        mf_error_set(err, -1, "%s.module: cannot read \"%s\"", path, st.module);
        return -1;
    }
    return 0;
}

/* mcpfed_worker.py: in the source tree when mcpfed runs from the build tree it was made in
 * (not installed yet, as the kernel decides for its plugin directory), else where it is
 * installed. */
static const char *default_worker(void)
{
    char exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n > 0) {
        exe[n] = '\0';
        char *slash = strrchr(exe, '/');
        if (slash && (*slash = '\0', strcmp(exe, MF_BUILD_DIR) == 0))
            return MF_SOURCE_DIR "/sdk/python/mcpfed_worker.py";
    }
    return MF_PYTHON_DIR "/mcpfed_worker.py";
}

static char *dup_or(const char *s, const char *dflt)
{
    return s ? mf_xstrdup(s) : dflt ? mf_xstrdup(dflt) : NULL;
}

int py_conf_load(pyconf *c, const json_t *conf, const char *name)
{
    memset(c, 0, sizeof *c);
    settings st;
    read_settings(conf, &st);
    c->batch_window_ms = st.batch_window_ms;
    c->batch_max = st.batch_max;
    c->max_rss_mb = st.max_rss_mb;
    c->cancel_grace_ms = st.cancel_grace_ms;
    c->init_timeout_ms = st.init_timeout_ms;
    c->max_queue = st.max_queue;
    c->module = dup_or(st.module, "");
    c->python = dup_or(st.python, PY_DEFAULT_PYTHON);
    c->worker = dup_or(st.worker, default_worker());
    c->cwd = dup_or(st.cwd, NULL);
    c->env = child_conf_env(st.env);
    c->workers = (int)st.workers;
    c->max_message = (size_t)st.max_message_bytes;
    child_conf_apply(&st.restart, &c->spec, &c->sup_spec);
    c->sup_spec.name = name;
    c->spec.start_ack = true;   /* started = said hello (or exited) */
    c->spec.env = (const char *const *)c->env;
    c->spec.cwd = c->cwd;
    return 0;
}

void py_conf_free(pyconf *c)
{
    for (char **e = c->env; e && *e; e++)
        free(*e);
    free(c->env);
    free(c->module);
    free(c->python);
    free(c->worker);
    free(c->cwd);
    memset(c, 0, sizeof *c);
}
