/* The tasks the gateway keeps: by unguessable id, bound to who made them, forgotten after
 * their time to live, and bounded in number and in the bytes their results take
 * (the top-level tasks table). */
#include "build-config.h"
#include "tasks.h"
#include "federation.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/time.h>

#define TS (mf_fed.tasks)

static uint64_t wall_ms(void)
{
    struct timeval tv;
    gettimeofday(&tv, NULL);
    return (uint64_t)tv.tv_sec * 1000 + (uint64_t)tv.tv_usec / 1000;
}

const char *mf_task_status_name(mf_task_status st)
{
    static const char *const names[] = {"working", "input_required", "completed", "failed", "cancelled"};
    return names[st];
}

bool mf_task_terminal(const mf_task *t) { return t->status >= MF_TASK_COMPLETED; }
size_t mf_task_count(void) { return HASH_COUNT(TS.by_id); }
mf_task *mf_task_first(void) { return TS.all; }

char *mf_task_owner(const session *s, bool modern)
{
    const char *method = json_string_value(json_object_get(s->identity, "method"));
    const char *subject = json_string_value(json_object_get(s->identity, "subject"));
    char buf[600];
    if (subject && method && strcmp(method, "anonymous") != 0)
        snprintf(buf, sizeof buf, "id:%s:%s", method, subject);
    else if (modern)
        snprintf(buf, sizeof buf, "anonymous");
    else
        snprintf(buf, sizeof buf, "session:%" PRIu64, s->id);
    return mf_xstrdup(buf);
}

static void on_timer(uv_timer_t *h)
{
    MF_UNUSED(h);
    mf_task_sweep();
}

mf_task *mf_task_new(const char *owner, uint64_t sid, int64_t ttl_ms, char *why, size_t len)
{
    const mf_config *c = mf_fed.sessions.conf;
    mf_task_sweep();
    if ((int64_t)mf_task_count() >= c->tasks_max) {
        snprintf(why, len, "the gateway keeps at most %" PRId64 " tasks (tasks.max_tasks) and has that many: "
                 "fetch or cancel some, or call without a task", c->tasks_max);
        return NULL;
    }
    mf_task *t = mf_xcalloc(1, sizeof *t);
    uint8_t raw[16];
    if (getrandom(raw, sizeof raw, 0) != (ssize_t)sizeof raw) {
        /* never a guessable id: refuse rather than make one up */
        free(t);
        snprintf(why, len, "no random bytes for a task id");
        return NULL;
    }
    for (int i = 0; i < 16; i++)
        snprintf(t->id + 2 * i, 3, "%02x", raw[i]);
    t->owner = mf_xstrdup(owner);
    t->session = sid;
    t->seq = ++TS.next_seq;
    t->status = MF_TASK_WORKING;
    t->created_ms = t->updated_ms = wall_ms();
    if (ttl_ms <= 0)
        ttl_ms = c->tasks_default_ttl_ms;
    if (ttl_ms > c->tasks_max_ttl_ms)
        ttl_ms = c->tasks_max_ttl_ms;
    t->ttl_ms = ttl_ms;
    t->expires = mf_now() + (uint64_t)ttl_ms;
    t->asks = json_object();
    HASH_ADD(hh, TS.by_id, id, strlen(t->id), t);
    DL_APPEND(TS.all, t);
    mf_task_sweep();   /* arms the timer for it */
    return t;
}

mf_task *mf_task_find(const char *id, const char *owner)
{
    if (!id || !owner)
        return NULL;
    mf_task *t;
    HASH_FIND_STR(TS.by_id, id, t);
    /* another's task is as unknown as one that never was */
    if (!t || strcmp(t->owner, owner) != 0 || mf_now() >= t->expires)
        return NULL;
    return t;
}

mf_task *mf_task_lookup(const char *id)
{
    mf_task *t;
    HASH_FIND_STR(TS.by_id, id, t);
    return t;
}

void mf_task_touch(mf_task *t) { t->updated_ms = wall_ms(); }

void mf_task_settle(mf_task *t, mf_task_status st, json_t *result, json_t *error)
{
    const mf_config *c = mf_fed.sessions.conf;
    size_t n = mf_json_size(result) + mf_json_size(error);
    if (TS.bytes + n > (size_t)c->tasks_max_result_bytes) {
        /* the room for results is full: the task fails, saying so, rather than another's go */
        json_decref(result);
        json_decref(error);
        result = NULL;
        error = mf_rpc_error_body(MF_RPC_TOO_LARGE, "the task's result (%zu bytes) does not fit in the room left "
                                  "for task results (tasks.max_result_bytes = %" PRId64 ")", n,
                                  c->tasks_max_result_bytes);
        st = MF_TASK_FAILED;
        n = mf_json_size(error);
    }
    json_decref(t->result);
    json_decref(t->error);
    TS.bytes -= t->bytes;
    t->result = result;
    t->error = error;
    t->bytes = n;
    TS.bytes += n;
    t->status = st;
    if (st == MF_TASK_FAILED && !t->message)
        t->message = mf_xstrdup(json_string_value(json_object_get(error, "message")) ?: "failed");
    mf_task_touch(t);
}

void mf_task_free(mf_task *t)
{
    HASH_DEL(TS.by_id, t);
    DL_DELETE(TS.all, t);
    TS.bytes -= t->bytes;
    mf_task_waiter *w = t->waiters;
    while (w) {
        mf_task_waiter *next = w->next;
        json_decref(w->id);
        free(w);
        w = next;
    }
    json_decref(t->result);
    json_decref(t->error);
    json_decref(t->asks);
    json_decref(t->caps);
    free(t->owner);
    free(t->upstream_id);
    free(t->provider);
    free(t->tool);
    free(t->message);
    free(t);
}

void mf_task_sweep(void)
{
    uint64_t now = mf_now(), next = 0;
    mf_task *t, *tmp;
    DL_FOREACH_SAFE(TS.all, t, tmp) {
        if (now >= t->expires) {
            mf_info("tasks", "task expired", "task=%s owner=\"%s\" status=%s", t->id,
                    mf_log_esc(t->owner, (size_t)-1), mf_task_status_name(t->status));
            mf_tasks_stop(t, "the task's time to live ran out");
            mf_task_free(t);
        } else if (!next || t->expires < next) {
            next = t->expires;
        }
    }
    if (!TS.timer_init) {
        uv_timer_init(mf_loop(), &TS.timer);
        TS.timer_init = true;
    }
    if (next)
        uv_timer_start(&TS.timer, on_timer, next - now, 0);
    else
        uv_timer_stop(&TS.timer);
}

static void timer_closed(uv_handle_t *h) { MF_UNUSED(h); }

void mf_task_store_shutdown(void)
{
    mf_task *t, *tmp;
    DL_FOREACH_SAFE(TS.all, t, tmp) {
        mf_tasks_stop(t, "the gateway is shutting down");
        mf_task_free(t);
    }
    if (TS.timer_init) {
        uv_close((uv_handle_t *)&TS.timer, timer_closed);
        TS.timer_init = false;
    }
}
