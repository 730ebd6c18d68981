/* Hot swap of downstream stdio: the client on stdin/stdout goes on talking to the next
 * generation of the plugin without noticing.
 *
 * The old instance stops reading and hands over once every byte it queued for stdout is
 * written (so the successor's output cannot interleave with its own) and a loop turn has
 * passed since it last read: the requests it read may still wait in the kernel's queue,
 * and delivered after the switch, which moves the session to the successor's endpoint,
 * they would come from an endpoint the session no longer knows and be refused. The
 * state: the session, the requests in flight, the unparsed rest of the input, where a
 * regular file was read up to, and duplicates of the fds of stdin and stdout. */
#include "server.h"
#include "swapstate.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void on_turn(uv_timer_t *t)
{
    server *s = t->data;
    s->turned = true;
    server_swap_progress(s);
}

void server_save(void *self)
{
    server *s = self;
    s->saving = true;
    s->turned = false;
    if (s->in_stream && s->reading) {
        uv_read_stop((uv_stream_t *)&s->in);
        s->reading = false;
    }
    /* a file read in flight is waited for (server_swap_progress) and its bytes left unread;
     * the timer fires on a later turn, after the kernel's queue was delivered */
    uv_timer_start(&s->turn, on_turn, 1, 0);
}

static void close_dups(server *s)
{
    if (s->dup_in >= 0)
        close(s->dup_in);
    if (s->dup_out >= 0)
        close(s->dup_out);
    s->dup_in = s->dup_out = -1;
}

static json_t *state_of(server *s)
{
    json_t *pending = json_array();
    for (outstanding *o = s->pending; o; o = o->next)
        json_array_append_new(pending, json_pack("[o,O,b]", swap_u64_new(o->corr), o->id ? o->id : json_null(), o->listen));
    return json_pack("{s:i,s:o,s:o,s:o,s:b,s:b,s:b,s:b,s:I,s:i,s:i,s:o}", "v", STDIO_STATE_VERSION, "session",
                     swap_u64_new(s->sid), "next_corr", swap_u64_new(s->next_corr), "pending", pending, "eof",
                     s->eof, "shutdown_asked", s->shutdown_asked, "in_stream", s->in_stream, "out_stream",
                     s->out_stream, "in_off", (json_int_t)s->in_off, "in_fd", s->dup_in, "out_fd", s->dup_out,
                     "lines", swap_lines_save(&s->lines));
}

static void hand_over(server *s)
{
    s->saving = false;
    s->dup_in = mf_fd_dup(s->in_fd);
    s->dup_out = s->dup_in < 0 ? -1 : mf_fd_dup(s->out_fd);
    if (s->dup_in < 0 || s->dup_out < 0) {
        char why[200];
        snprintf(why, sizeof why, "cannot duplicate stdin and stdout: %s", strerror(errno));
        close_dups(s);
        mf_instance_saved(s->inst, NULL, 0, why);   /* resume is called */
        return;
    }
    json_t *st = state_of(s);
    size_t len = 0;
    char *buf = st ? mf_state_pack(st, &len) : NULL;
    json_decref(st);
    if (!buf) {
        close_dups(s);
        mf_instance_saved(s->inst, NULL, 0, "its state could not be written down");
        return;
    }
    /* the successor starts and this one drains (or resumes) before this returns */
    mf_instance_saved(s->inst, buf, len, NULL);
    free(buf);
}

void server_swap_progress(server *s)
{
    if (!s->saving || !s->turned || s->writes > 0 || (!s->in_stream && s->reading))
        return;
    hand_over(s);
}

void server_resume(void *self)
{
    server *s = self;
    s->saving = false;
    uv_timer_stop(&s->turn);
    close_dups(s);
    /* while too much waits for stdout, the write callbacks start reading again */
    if (!s->out_stream || uv_stream_get_write_queue_size((uv_stream_t *)&s->out) < LOW_WATER)
        server_start_reading(s);
}

void server_drain(void *self)
{
    server *s = self;
    /* the session, the requests in flight and the duplicates are the successor's */
    s->handed_over = true;
    s->dup_in = s->dup_out = -1;
    while (s->pending) {
        outstanding *o = s->pending;
        s->pending = o->next;
        json_decref(o->id);
        free(o);
    }
    s->npending = 0;
    s->open_handles++;   /* held until every close below is started */
    uv_close((uv_handle_t *)&s->turn, server_handle_closed);
    /* closed, not shut down: a shutdown would end the successor's stdout too */
    if (s->in_stream)
        uv_close((uv_handle_t *)&s->in, server_handle_closed);
    if (s->out_stream)
        uv_close((uv_handle_t *)&s->out, server_handle_closed);
    if (s->in_fd <= STDERR_FILENO)
        swap_null_stdio(s->in_fd);
    if (s->out_fd <= STDERR_FILENO)
        swap_null_stdio(s->out_fd);
    server_release(s);   /* the last close stops the instance */
}

static int adopt_fail(json_t *st, mf_error *err, const char *why)
{
    mf_error_set(err, -1, "stdio transport: %s", why);
    json_decref(st);
    return -1;
}

int server_adopt(mf_instance *inst, const json_t *conf, const char *state, size_t len, void **self,
                 mf_error *err)
{
    json_t *st = mf_state_unpack(state, len, err);
    if (!st)
        return -1;
    json_t *pending = json_object_get(st, "pending");
    json_int_t in_fd = json_integer_value(json_object_get(st, "in_fd"));
    json_int_t out_fd = json_integer_value(json_object_get(st, "out_fd"));
    if (json_integer_value(json_object_get(st, "v")) != STDIO_STATE_VERSION || !json_is_array(pending) ||
        in_fd <= STDERR_FILENO || out_fd <= STDERR_FILENO)
        return adopt_fail(st, err, "the state handed over is not one this version reads");
    /* our own duplicates: whatever fails below, the state's fds stay open for the predecessor */
    int in = mf_fd_dup((int)in_fd), out = in < 0 ? -1 : mf_fd_dup((int)out_fd);
    if (in < 0 || out < 0) {
        int e = errno;
        if (in >= 0)
            close(in);
        return adopt_fail(st, err, strerror(e));
    }
    server *s = server_new(conf);
    if (!s) {
        close(in);
        close(out);
        return adopt_fail(st, err, "out of memory");
    }
    if (server_open(s, in, out, err) != 0) {
        server_discard(s);   /* closes in and out */
        json_decref(st);
        return -1;
    }
    close((int)in_fd);
    close((int)out_fd);
    s->inst = inst;
    s->sid = swap_u64(st, "session");
    s->next_corr = swap_u64(st, "next_corr");
    s->eof = json_is_true(json_object_get(st, "eof"));
    s->shutdown_asked = json_is_true(json_object_get(st, "shutdown_asked"));
    s->in_off = json_integer_value(json_object_get(st, "in_off"));
    swap_lines_load(&s->lines, json_object_get(st, "lines"));
    /* saved newest first: tracked back in the same order */
    for (size_t i = json_array_size(pending); i-- > 0;) {
        json_t *p = json_array_get(pending, i);
        server_track(s, (uint64_t)json_integer_value(json_array_get(p, 0)), json_array_get(p, 1),
                     json_is_true(json_array_get(p, 2)));
    }
    json_decref(st);
    *self = s;
    server_start_reading(s);
    server_maybe_finish(s);
    return 0;
}
