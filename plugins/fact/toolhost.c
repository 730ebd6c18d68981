/* The tool host (toolhost.h): requests on the loop, tools on libuv's thread pool. */
#include "toolhost.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct host host;

typedef struct job {
    th_job pub;              /* first: a th_job * is a job * */
    uv_work_t work;
    host *h;
    mf_msg *req;
    const th_tool *tool;
    json_t *args;            /* the thread's own copy */
    json_t *result;
    bool answered;           /* answered (or cancelled) already: the after-work sends nothing */
    struct job *next;
} job;

struct host {
    const th_kind *kind;
    mf_instance *inst;
    void *cfg;
    json_t *tools;           /* the tools/list result */
    job *jobs;
    bool stopping, draining;
    bool stopping_jobs;      /* th_stop is going through the jobs: the host stays */
};

/* --- what tools use, on their thread --- */

bool th_job_late(const th_job *j)
{
    return j->deadline_ns && uv_hrtime() >= j->deadline_ns;
}

bool th_job_over(th_job *j)
{
    return atomic_load(&j->stop) || th_job_late(j);
}

void th_job_on_stop(th_job *j, void (*fn)(void *), void *arg)
{
    pthread_mutex_lock(&j->lock);
    j->on_stop = fn;
    j->on_stop_arg = arg;
    pthread_mutex_unlock(&j->lock);
}

/* on the loop; a tool that runs on the loop ends here, and j may be gone after */
static void interrupt(job *j)
{
    atomic_store(&j->pub.stop, true);
    if (j->tool->start) {
        void (*fn)(void *) = j->pub.on_stop;
        j->pub.on_stop = NULL;
        if (fn)
            fn(j->pub.on_stop_arg);
        return;
    }
    uv_cancel((uv_req_t *)&j->work);   /* not started yet: it never will */
    pthread_mutex_lock(&j->pub.lock);
    if (j->pub.on_stop)
        j->pub.on_stop(j->pub.on_stop_arg);
    pthread_mutex_unlock(&j->pub.lock);
}

json_t *th_result(json_t *structured)
{
    char *text = json_dumps(structured, JSON_COMPACT | JSON_ENCODE_ANY);
    json_t *r = json_pack("{s:[{s:s,s:s}],s:o}", "content", "type", "text", "text", text ? text : "",
                          "structuredContent", structured);
    free(text);
    return r;
}

json_t *th_fail(const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return json_pack("{s:[{s:s,s:s}],s:b}", "content", "type", "text", "text", msg, "isError", 1);
}

bool th_arg_string(const json_t *args, const char *key, bool required, const char **out, json_t **err)
{
    const json_t *v = json_object_get(args, key);
    if (!v) {
        if (required)
            *err = th_fail("the argument \"%s\" is required", key);
        return !required;
    }
    if (!json_is_string(v)) {
        *err = th_fail("the argument \"%s\" must be a string", key);
        return false;
    }
    *out = json_string_value(v);
    return true;
}

bool th_arg_int(const json_t *args, const char *key, int64_t min, int64_t max, int64_t *out, json_t **err)
{
    const json_t *v = json_object_get(args, key);
    if (!v)
        return true;
    if (!json_is_integer(v) || json_integer_value(v) < min || json_integer_value(v) > max) {
        *err = th_fail("the argument \"%s\" must be an integer from %lld to %lld", key, (long long)min,
                       (long long)max);
        return false;
    }
    *out = json_integer_value(v);
    return true;
}

const char *th_arg_pick(const json_t *args, const char *key, const json_t *map, json_t **err)
{
    const char *name = NULL, *v = NULL;
    if (!th_arg_string(args, key, false, &name, err))
        return NULL;
    if (!name) {
        if (json_object_size(map) == 1)
            return json_string_value(json_object_iter_value(json_object_iter((json_t *)map)));
        *err = th_fail("the argument \"%s\" is required: there are several", key);
    } else if (!(v = json_string_value(json_object_get(map, name)))) {
        *err = th_fail("no %s named \"%s\"", key, name);
    }
    return v;
}

/* --- the configuration --- */

/* The configuration read from conf (a copy of it kept when keep), or NULL with err set. */
static void *read_conf(const th_kind *kind, const json_t *conf, const char *path, bool keep, mf_error *err)
{
    th_limits *lim = mf_xcalloc(1, kind->conf_size);
    lim->conf = keep ? json_deep_copy(conf) : json_incref((json_t *)conf);
    if (mf_settings_check(lim->conf, path, kind->settings, lim, err) ||
        (kind->read_conf && kind->read_conf(lim->conf, path, lim, err))) {
        json_decref(lim->conf);
        free(lim);
        return NULL;
    }
    return lim;
}

static void release_conf(void *cfg)
{
    json_decref(((th_limits *)cfg)->conf);
    free(cfg);
}

int th_check(const th_kind *kind, const json_t *conf, const char *path, mf_error *err)
{
    void *cfg = read_conf(kind, conf, path, false, err);
    if (!cfg)
        return -1;
    release_conf(cfg);
    return 0;
}

/* --- the loop's side --- */

static void reply(host *h, const mf_msg *req, json_t *result)
{
    mf_send(mf_msg_reply(req, mf_instance_ep(h->inst), json_pack("{s:o}", "result", result)));
}

static void stopped(void *inst)
{
    mf_instance_stopped(inst);
}

static void finish_if_idle(host *h)
{
    if (h->jobs || !(h->stopping || h->draining) || h->stopping_jobs)
        return;
    mf_instance *inst = h->inst;
    const th_kind *kind = h->kind;
    release_conf(h->cfg);
    json_decref(h->tools);
    free(h);
    if (kind->close)
        kind->close(stopped, inst);   /* stopped once what the tools used is closed */
    else
        mf_instance_stopped(inst);
}

static void work(uv_work_t *w)
{
    job *j = w->data;
    if (th_job_over(&j->pub))
        j->result = th_fail("the call was stopped before it began");
    else
        j->result = j->tool->run(j->h->cfg, j->args, &j->pub);
}

static void unlink_job(host *h, job *j)
{
    for (job **p = &h->jobs; *p; p = &(*p)->next)
        if (*p == j) {
            *p = j->next;
            return;
        }
}

/* The job is over: its answer (result taken, NULL: it was stopped) unless it had one. */
static void job_end(job *j, json_t *result)
{
    host *h = j->h;
    if (!j->answered) {
        if (!result)
            mf_send(mf_msg_reply_error(j->req, mf_instance_ep(h->inst), MF_RPC_INTERNAL_ERROR,
                                       "the call was stopped"));
        else {
            reply(h, j->req, result);
            result = NULL;
        }
    }
    unlink_job(h, j);
    json_decref(result);
    json_decref(j->args);
    mf_msg_free(j->req);
    pthread_mutex_destroy(&j->pub.lock);
    free(j);
    finish_if_idle(h);
}

static void after_work(uv_work_t *w, int status)
{
    job *j = w->data;
    json_t *result = j->result;
    j->result = NULL;
    if (status == UV_ECANCELED) {
        json_decref(result);
        result = NULL;
    }
    job_end(j, result);
}

void th_job_done(th_job *pub, json_t *result)
{
    job_end((job *)pub, result);
}

static const th_tool *tool_named(const th_kind *k, const char *name)
{
    for (size_t i = 0; i < k->ntools; i++)
        if (strcmp(k->tools[i].name, name) == 0)
            return &k->tools[i];
    return NULL;
}

static void call(host *h, mf_msg *m)
{
    mf_ep self = mf_instance_ep(h->inst);
    const json_t *params = json_object_get(m->json, "params");
    const char *name = json_string_value(json_object_get(params, "name"));
    const json_t *args = json_object_get(params, "arguments");
    const th_tool *tool = name ? tool_named(h->kind, name) : NULL;
    if (!json_is_object(params) || !name) {
        mf_send(mf_msg_reply_error(m, self, MF_RPC_INVALID_PARAMS, "tools/call needs params.name, a string"));
    } else if (!tool) {
        mf_send(mf_msg_reply_error(m, self, MF_RPC_INVALID_PARAMS, "no tool named \"%s\"", name));
    } else if (args && !json_is_object(args)) {
        mf_send(mf_msg_reply_error(m, self, MF_RPC_INVALID_PARAMS, "params.arguments must be an object"));
    } else {
        job *j = mf_xcalloc(1, sizeof *j);
        pthread_mutex_init(&j->pub.lock, NULL);
        j->h = h;
        j->req = m;
        j->tool = tool;
        j->args = args ? json_deep_copy(args) : json_object();
        uint64_t now = mf_now(), limit = (uint64_t)((const th_limits *)h->cfg)->max_ms, until = 0;
        if (limit)
            until = now + limit;
        if (m->deadline && (!until || m->deadline < until))
            until = m->deadline;
        if (until)
            j->pub.deadline_ns = uv_hrtime() + (until > now ? until - now : 0) * 1000000u;
        j->work.data = j;
        j->next = h->jobs;
        h->jobs = j;
        if (tool->start)
            tool->start(h->cfg, j->args, &j->pub);   /* it ends with th_job_done */
        else
            uv_queue_work(mf_loop(), &j->work, work, after_work);
        return;   /* the request is the job's */
    }
    mf_msg_free(m);
}

static job *job_of(host *h, uint64_t corr)
{
    for (job *j = h->jobs; j; j = j->next)
        if (j->req->corr == corr && !j->answered)
            return j;
    return NULL;
}

void th_receive(void *self, mf_msg *m)
{
    host *h = self;
    if (m->kind == MF_MSG_CANCEL) {
        job *j = job_of(h, m->corr);
        if (j) {
            j->answered = true;   /* a cancelled request gets no answer */
            interrupt(j);
        } else if (h->draining) {
            mf_instance_forward(h->inst, m);
            return;
        }
        mf_msg_free(m);
        return;
    }
    if (h->draining) {
        mf_instance_forward(h->inst, m);   /* the successor's now */
        return;
    }
    if (m->kind != MF_MSG_REQUEST) {
        mf_msg_free(m);
        return;
    }
    const char *method = mf_rpc_method(m->json);
    if (method && strcmp(method, "tools/list") == 0) {
        reply(h, m, json_incref(h->tools));
    } else if (method && strcmp(method, "tools/call") == 0) {
        call(h, m);
        return;
    } else if (method && strcmp(method, "ping") == 0) {
        reply(h, m, json_object());
    } else {
        mf_send(mf_msg_reply_error(m, mf_instance_ep(h->inst), MF_RPC_METHOD_NOT_FOUND, "%s serves no %s",
                                   h->kind->name, method ? method : "such method"));
    }
    mf_msg_free(m);
}

static json_t *tool_list(const th_kind *k)
{
    json_t *arr = json_array();
    for (size_t i = 0; i < k->ntools; i++) {
        const th_tool *t = &k->tools[i];
        json_t *d = json_pack("{s:s,s:s,s:o}", "name", t->name, "description", t->description, "inputSchema",
                              json_loads(t->input_schema, 0, NULL));
        if (t->output_schema)
            json_object_set_new(d, "outputSchema", json_loads(t->output_schema, 0, NULL));
        json_array_append_new(arr, d);
    }
    return json_pack("{s:o}", "tools", arr);
}

static host *host_new(const th_kind *kind, mf_instance *inst, const json_t *conf, mf_error *err)
{
    void *cfg = read_conf(kind, conf, "provider", true, err);
    if (!cfg)
        return NULL;
    if (kind->open && kind->open(err)) {
        release_conf(cfg);
        return NULL;
    }
    host *h = mf_xcalloc(1, sizeof *h);
    h->kind = kind;
    h->inst = inst;
    h->cfg = cfg;
    h->tools = tool_list(kind);
    return h;
}

int th_start(const th_kind *kind, mf_instance *inst, const json_t *conf, void **self, mf_error *err)
{
    host *h = host_new(kind, inst, conf, err);
    if (!h)
        return -1;
    *self = h;
    json_t *init = json_pack("{s:s,s:{s:{}},s:{s:s,s:s}}", "protocolVersion", "2025-11-25", "capabilities",
                             "tools", "serverInfo", "name", kind->name, "version", mf_version());
    mf_provider_status(inst, MF_PROVIDER_UP, init, NULL);
    json_decref(init);
    return 0;
}

void th_stop(void *self)
{
    host *h = self;
    h->stopping = true;
    h->stopping_jobs = true;
    for (job *j = h->jobs, *next; j; j = next) {
        next = j->next;   /* a tool on the loop ends in interrupt */
        if (!j->answered) {
            mf_send(mf_msg_reply_error(j->req, mf_instance_ep(h->inst), MF_RPC_SHUTTING_DOWN,
                                       "%s is stopping", mf_instance_name(h->inst)));
            j->answered = true;
            interrupt(j);
        }
    }
    h->stopping_jobs = false;
    finish_if_idle(h);
}

/* --- hot swap: the state is the configuration alone, which the successor reads itself;
 * the calls under way stay here and finish while draining --- */

void th_save(void *self)
{
    host *h = self;
    json_t *st = json_object();
    size_t len = 0;
    char *buf = mf_state_pack(st, &len);
    json_decref(st);
    mf_instance_saved(h->inst, buf, len, buf ? NULL : "cannot pack the state");
    free(buf);
}

void th_resume(void *self)
{
    (void)self;
}

int th_adopt(const th_kind *kind, mf_instance *inst, const json_t *conf, const char *state, size_t len,
             void **self, mf_error *err)
{
    (void)state;
    (void)len;
    host *h = host_new(kind, inst, conf, err);
    if (!h)
        return -1;
    *self = h;   /* the kernel knows it is up */
    return 0;
}

void th_drain(void *self)
{
    host *h = self;
    h->draining = true;
    finish_if_idle(h);
}
