/* The python provider's settings. */
#include "py.h"
#include "../stdio/child_conf.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char *const keys[] = {"module", "workers", "python", "worker", "env", "cwd", "batch_window_ms",
                                   "batch_max", "max_rss_mb", "cancel_grace_ms", "init_timeout_ms",
                                   "max_queue", "max_message_bytes", "restart", NULL};

int py_check(const json_t *conf, const char *path, mf_error *err)
{
    const char *module = NULL;
    if (mf_conf_keys(conf, path, keys, err) ||
        mf_conf_string(conf, path, "module", true, &module, err) ||
        mf_conf_int(conf, path, "workers", 1, PY_MAX_WORKERS, NULL, err) ||
        mf_conf_string(conf, path, "python", false, NULL, err) ||
        mf_conf_string(conf, path, "worker", false, NULL, err) ||
        mf_conf_strmap(conf, path, "env", NULL, err) ||
        mf_conf_string(conf, path, "cwd", false, NULL, err) ||
        mf_conf_int(conf, path, "batch_window_ms", 0, 60000, NULL, err) ||
        mf_conf_int(conf, path, "batch_max", 1, 100000, NULL, err) ||
        mf_conf_int(conf, path, "max_rss_mb", 1, 1 << 20, NULL, err) ||
        mf_conf_int(conf, path, "cancel_grace_ms", 1, 600000, NULL, err) ||
        mf_conf_int(conf, path, "init_timeout_ms", 1, 3600000, NULL, err) ||
        mf_conf_int(conf, path, "max_queue", 0, 1000000, NULL, err) ||
        mf_conf_int(conf, path, "max_message_bytes", 1024, INT64_C(1) << 32, NULL, err) ||
        child_conf_restart(conf, path, NULL, NULL, err))
        return -1;
    mf_sup_spec sup = {0};
    child_conf_restart(conf, path, NULL, &sup, NULL);
    if (sup.strategy == MF_SIMPLE_ONE_FOR_ONE) {
        mf_error_set(err, -1, "%s.restart.strategy: a pool of workers has a fixed size (workers); "
                     "simple_one_for_one is not for it", path);
        return -1;
    }
    if (access(module, R_OK) != 0) {
        mf_error_set(err, -1, "%s.module: cannot read \"%s\"", path, module);
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
    const char *module = NULL, *python = NULL, *worker_py = NULL, *cwd = NULL;
    const json_t *env = NULL;
    int64_t workers = 1, mm = PY_DEFAULT_MAX_MESSAGE;
    mf_conf_string(conf, "", "module", false, &module, NULL);
    mf_conf_string(conf, "", "python", false, &python, NULL);
    mf_conf_string(conf, "", "worker", false, &worker_py, NULL);
    mf_conf_string(conf, "", "cwd", false, &cwd, NULL);
    mf_conf_strmap(conf, "", "env", &env, NULL);
    mf_conf_int(conf, "", "workers", 1, PY_MAX_WORKERS, &workers, NULL);
    c->batch_window_ms = 2;
    c->batch_max = 64;
    c->cancel_grace_ms = 2000;
    c->init_timeout_ms = 30000;
    c->max_queue = 4096;
    mf_conf_int(conf, "", "batch_window_ms", 0, 60000, &c->batch_window_ms, NULL);
    mf_conf_int(conf, "", "batch_max", 1, 100000, &c->batch_max, NULL);
    mf_conf_int(conf, "", "max_rss_mb", 1, 1 << 20, &c->max_rss_mb, NULL);
    mf_conf_int(conf, "", "cancel_grace_ms", 1, 600000, &c->cancel_grace_ms, NULL);
    mf_conf_int(conf, "", "init_timeout_ms", 1, 3600000, &c->init_timeout_ms, NULL);
    mf_conf_int(conf, "", "max_queue", 0, 1000000, &c->max_queue, NULL);
    mf_conf_int(conf, "", "max_message_bytes", 1024, INT64_C(1) << 32, &mm, NULL);
    c->module = dup_or(module, "");
    c->python = dup_or(python, PY_DEFAULT_PYTHON);
    c->worker = dup_or(worker_py, default_worker());
    c->cwd = dup_or(cwd, NULL);
    c->env = child_conf_env(env);
    c->workers = (int)workers;
    c->max_message = (size_t)mm;
    c->sup_spec.intensity = 10;
    child_conf_restart(conf, "", &c->spec, &c->sup_spec, NULL);
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
