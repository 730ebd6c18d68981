/* The http transport handed from one generation of the plugin to the next (hot swap).
 *
 * save: reading stops everywhere, and once every connection's write queue is empty the
 * listener is written down: its socket and every connection's (duplicated), the sessions
 * with their replay buffers, and the requests waiting for the kernel, each with its
 * correlations and the connection it answers on. Nothing is closed, so resume just reads
 * again. The successor takes its own duplicates of those sockets, so that if it fails the
 * predecessor's are untouched; once it runs, the predecessor closes its handles (the
 * original descriptors only) and forwards whatever still reaches it. */
#include "listener.h"
#include "auth.h"

#include <stdlib.h>
#include <string.h>

#define STATE_VERSION 1

/* --- writing down ---------------------------------------------------------------- */

static void add_dup(listener *l, int fd)
{
    int *d = realloc(l->dups, (l->ndups + 1) * sizeof *d);
    if (!d) {
        mf_fd_close(fd);
        return;
    }
    l->dups = d;
    l->dups[l->ndups++] = fd;
}

static void close_dups(listener *l)
{
    for (size_t i = 0; i < l->ndups; i++)
        mf_fd_close(l->dups[i]);
    free(l->dups);
    l->dups = NULL;
    l->ndups = 0;
}

static json_t *session_save(const hsession *hs)
{
    json_t *events = json_array();
    for (size_t i = 0; i < hs->ring_len; i++) {
        const replay_ev *e = &hs->ring[(hs->ring_head + i) % hs->ring_cap];
        json_array_append_new(events, json_pack("[i,I,o]", (int)e->stream, (json_int_t)e->seq,
                                                json_stringn_nocheck(e->text, e->len)));
    }
    return json_pack("{s:s,s:I,s:s,s:b,s:I,s:i,s:I,s:I,s:o}", "id", hs->id, "sid", (json_int_t)hs->sid, "protocol",
                     hs->protocol, "ready", hs->ready, "last_active", (json_int_t)hs->last_active, "next_stream",
                     (int)hs->next_stream, "next_seq", (json_int_t)hs->next_seq, "delivered0",
                     (json_int_t)hs->delivered0, "events", events);
}

static json_t *req_save(const hreq *h)
{
    return json_pack("{s:i,s:s?,s:I,s:s,s:b,s:b,s:b,s:b,s:i,s:I,s:O?,s:s?,s:b}", "conn", h->save_conn, "session",
                     h->hs ? h->hs->id : NULL, "ksid", (json_int_t)h->ksid, "kind", h->kind == HR_GET ? "get" : h->kind == HR_WS ? "ws" : "post",
                     "modern", h->modern, "streaming", h->streaming, "initialize", h->initialize, "batch", h->batch,
                     "stream", (int)h->stream, "waiting", (json_int_t)h->waiting, "answers", h->answers, "extra",
                     h->extra, "get", h->hs && h->hs->get == h);
}

/* The listener as its successor needs it; the duplicated sockets are in l->dups. */
static json_t *state_of(listener *l, const char **why)
{
    int lfd = mf_fd_dup_handle((const uv_handle_t *)&l->tcp);
    if (lfd < 0) {
        *why = "cannot duplicate the listening socket";
        return NULL;
    }
    add_dup(l, lfd);
    hreq *h;
    DL_FOREACH(l->reqs, h) h->save_conn = -1;
    json_t *conns = json_array();
    int n = 0;
    for (http_conn *c = http_conns_first(l->conns); c; c = http_conn_next(c)) {
        int fd;
        json_t *cj = http_conn_save(c, &fd);
        if (!cj) {
            json_decref(conns);
            *why = "cannot duplicate a connection's socket";
            return NULL;
        }
        add_dup(l, fd);
        json_array_append_new(conns, cj);
        if ((h = http_conn_app_data(c)) && h->c == c)
            h->save_conn = n;
        n++;
    }
    json_t *sessions = json_array();
    hsession *hs, *tmp;
    HASH_ITER(hh_id, l->by_id, hs, tmp) {
        json_array_append_new(sessions, session_save(hs));
    }
    json_t *reqs = json_array();
    n = 0;
    DL_FOREACH(l->reqs, h) {
        h->save_index = n++;
        json_array_append_new(reqs, req_save(h));
    }
    json_t *corrs = json_array();
    corr_entry *e, *t2;
    HASH_ITER(hh, l->corrs, e, t2) {
        json_array_append_new(corrs, json_pack("[I,i]", (json_int_t)e->corr, e->h->save_index));
    }
    return json_pack("{s:i,s:i,s:I,s:I,s:o,s:o,s:o,s:o,s:o*}", "v", STATE_VERSION, "fd", lfd, "next_corr",
                     (json_int_t)l->next_corr, "last_keepalive", (json_int_t)l->last_keepalive, "conns", conns,
                     "sessions", sessions, "reqs", reqs, "corrs", corrs, "auth", http_auth_save(l->conf.auth));
}

static void hand_over(listener *l)
{
    http_conns_when_flushed(l->conns, NULL, NULL);
    const char *why = "cannot write the state down";
    json_t *st = state_of(l, &why);
    size_t len = 0;
    char *buf = st ? mf_state_pack(st, &len) : NULL;
    json_decref(st);
    if (!buf) {
        close_dups(l);
        mf_instance_saved(l->inst, NULL, 0, why);   /* resumes it at once */
        return;
    }
    mf_debug("http", "handing over", "url=%s connections=%zu sessions=%u state_bytes=%zu", l->conf.url,
             http_conns_count(l->conns), HASH_CNT(hh_id, l->by_id), len);
    /* from here the successor may start, and this instance drain or resume, before it returns */
    mf_instance_saved(l->inst, buf, len, NULL);
    free(buf);
}

static void on_swap_timer(uv_timer_t *t)
{
    listener *l = t->data;
    if (!l->saving || l->ndups)
        return;
    if (http_conns_queued(l->conns) == 0) {
        hand_over(l);
        return;
    }
    /* written bytes must all be out first, or the successor's could come between them */
    mf_debug("http", "handover waits for writes", "url=%s queued_bytes=%zu", l->conf.url,
             http_conns_queued(l->conns));
}

static void on_flushed(void *ud)
{
    listener *l = ud;
    /* not from inside the write callback: the handover may close this very connection */
    uv_timer_start(&l->swap_timer, on_swap_timer, 0, 0);
}

void srv_save(void *self)
{
    listener *l = self;
    l->saving = true;
    uv_timer_stop(&l->sweep);   /* no keep-alive comments, no expiry while handing over */
    http_conns_pause(l->conns);   /* from now on nothing is sent to the kernel */
    http_conns_when_flushed(l->conns, on_flushed, l);
    /* not at once: requests sent to the kernel just before must reach it while their
     * sessions are still this instance's, or it would refuse them; a turn of the loop
     * delivers them */
    uv_timer_start(&l->swap_timer, on_swap_timer, 0, 0);
}

void srv_resume(void *self)
{
    listener *l = self;
    l->saving = false;
    uv_timer_stop(&l->swap_timer);
    close_dups(l);   /* the successor did not start: they were never used */
    mf_info("http", "handover abandoned; serving on", "url=%s connections=%zu", l->conf.url,
            http_conns_count(l->conns));
    listener_sweep_start(l);
    http_conns_unpause(l->conns);
}

/* --- taking over ------------------------------------------------------------------ */

/* Free the requests and sessions without a word to the kernel (l->handed_over). */
static void forget_all(listener *l)
{
    corr_entry *e, *t1;
    HASH_ITER(hh, l->corrs, e, t1) {
        HASH_DEL(l->corrs, e);
        free(e);
    }
    hreq *h, *tmp;
    DL_FOREACH_SAFE(l->reqs, h, tmp) hreq_free(h);
    hsession *hs, *t2;
    HASH_ITER(hh_id, l->by_id, hs, t2) {
        hs_free(hs);
    }
}

static int session_adopt(listener *l, const json_t *j, mf_error *err)
{
    const char *id = json_string_value(json_object_get(j, "id"));
    if (!id || strlen(id) != 32 || hs_find(l, id)) {
        mf_error_set(err, -1, "a session's state is invalid");
        return -1;
    }
    hsession *hs = calloc(1, sizeof *hs);
    if (!hs) {
        mf_error_set(err, -1, "out of memory");
        return -1;
    }
    hs->l = l;
    memcpy(hs->id, id, 33);
    hs->sid = (uint64_t)json_integer_value(json_object_get(j, "sid"));
    snprintf(hs->protocol, sizeof hs->protocol, "%s", json_string_value(json_object_get(j, "protocol")) ?: "");
    hs->ready = json_is_true(json_object_get(j, "ready"));
    hs->last_active = (uint64_t)json_integer_value(json_object_get(j, "last_active"));
    hs->next_stream = (uint32_t)json_integer_value(json_object_get(j, "next_stream"));
    hs->next_seq = (uint64_t)json_integer_value(json_object_get(j, "next_seq"));
    hs->delivered0 = (uint64_t)json_integer_value(json_object_get(j, "delivered0"));
    hs->ring_cap = l->conf.replay_events;
    hs->ring = hs->ring_cap ? calloc(hs->ring_cap, sizeof *hs->ring) : NULL;
    HASH_ADD(hh_id, l->by_id, id, strlen(hs->id), hs);
    HASH_ADD(hh_sid, l->by_sid, sid, sizeof hs->sid, hs);
    size_t i;
    json_t *ev;
    json_array_foreach(json_object_get(j, "events"), i, ev) {
        json_t *text = json_array_get(ev, 2);
        size_t len = json_string_length(text);
        if (!hs->ring_cap || !json_is_string(text) || len > l->conf.replay_bytes)
            continue;
        /* the same bounds as when recording: the oldest go first */
        while (hs->ring_len && (hs->ring_len == hs->ring_cap || hs->ring_bytes + len > l->conf.replay_bytes)) {
            replay_ev *old = &hs->ring[hs->ring_head];
            hs->ring_bytes -= old->len;
            free(old->text);
            old->text = NULL;
            hs->ring_head = (hs->ring_head + 1) % hs->ring_cap;
            hs->ring_len--;
        }
        replay_ev *e = &hs->ring[(hs->ring_head + hs->ring_len) % hs->ring_cap];
        *e = (replay_ev){(uint32_t)json_integer_value(json_array_get(ev, 0)),
                         (uint64_t)json_integer_value(json_array_get(ev, 1)), malloc(len ? len : 1), len};
        if (!e->text)
            continue;
        memcpy(e->text, json_string_value(text), len);
        hs->ring_len++;
        hs->ring_bytes += len;
    }
    return 0;
}

static hreq *req_adopt(listener *l, const json_t *j, http_conn **conns, size_t nconns, mf_error *err)
{
    const char *sid = json_string_value(json_object_get(j, "session"));
    hsession *hs = sid ? hs_find(l, sid) : NULL;
    json_int_t ci = json_integer_value(json_object_get(j, "conn"));
    if ((sid && !hs) || ci >= (json_int_t)nconns || (ci >= 0 && http_conn_app_data(conns[ci]))) {
        mf_error_set(err, -1, "a request's state names what is not there");
        return NULL;
    }
    hreq *h = calloc(1, sizeof *h);
    if (!h) {
        mf_error_set(err, -1, "out of memory");
        return NULL;
    }
    h->l = l;
    h->hs = hs;
    h->ksid = (uint64_t)json_integer_value(json_object_get(j, "ksid"));
    const char *kind = json_string_value(json_object_get(j, "kind"));
    h->kind = kind && strcmp(kind, "get") == 0 ? HR_GET : kind && strcmp(kind, "ws") == 0 ? HR_WS : HR_POST;
    h->modern = json_is_true(json_object_get(j, "modern"));
    h->streaming = json_is_true(json_object_get(j, "streaming"));
    h->initialize = json_is_true(json_object_get(j, "initialize"));
    h->batch = json_is_true(json_object_get(j, "batch"));
    h->stream = (uint32_t)json_integer_value(json_object_get(j, "stream"));
    h->waiting = (size_t)json_integer_value(json_object_get(j, "waiting"));
    json_t *answers = json_object_get(j, "answers");
    h->answers = json_is_array(answers) ? json_incref(answers) : NULL;
    const char *extra = json_string_value(json_object_get(j, "extra"));
    h->extra = extra ? strdup(extra) : NULL;
    if (ci >= 0) {
        h->c = conns[ci];
        http_conn_set_app_data(h->c, h);
    }
    if (hs && h->kind == HR_POST)
        hs->inflight++;
    if (hs && json_is_true(json_object_get(j, "get")))
        hs->get = h;
    DL_APPEND(l->reqs, h);
    return h;
}

/* Everything of the state but the listening socket; fds collects the predecessor's
 * descriptors, closed once this instance runs. */
static int adopt_state(listener *l, const json_t *st, mf_error *err)
{
    size_t i;
    json_t *j;
    json_array_foreach(json_object_get(st, "sessions"), i, j) {
        if (session_adopt(l, j, err))
            return -1;
    }
    json_t *cj = json_object_get(st, "conns");
    size_t nconns = json_array_size(cj);
    http_conn **conns = calloc(nconns + 1, sizeof *conns);
    json_t *rj = json_object_get(st, "reqs");
    hreq **reqs = calloc(json_array_size(rj) + 1, sizeof *reqs);
    int rc = conns && reqs ? 0 : -1;
    if (rc)
        mf_error_set(err, -1, "out of memory");
    json_array_foreach(cj, i, j) {
        if (rc)
            break;
        int fd = mf_fd_dup((int)json_integer_value(json_object_get(j, "fd")));
        conns[i] = fd < 0 ? NULL : http_conn_adopt(l->conns, j, fd, err);
        if (!conns[i]) {
            if (fd < 0)
                mf_error_set(err, -1, "cannot duplicate a connection's socket");
            mf_fd_close(fd);
            rc = -1;
        }
    }
    json_array_foreach(rj, i, j) {
        if (rc)
            break;
        if (!(reqs[i] = req_adopt(l, j, conns, nconns, err)))
            rc = -1;
    }
    json_array_foreach(json_object_get(st, "corrs"), i, j) {
        if (rc)
            break;
        json_int_t ri = json_integer_value(json_array_get(j, 1));
        corr_entry *e = ri >= 0 && (size_t)ri < json_array_size(rj) ? malloc(sizeof *e) : NULL;
        if (!e) {
            mf_error_set(err, -1, "a correlation's state is invalid");
            rc = -1;
            break;
        }
        e->corr = (uint64_t)json_integer_value(json_array_get(j, 0));
        e->h = reqs[ri];
        HASH_ADD(hh, l->corrs, corr, sizeof e->corr, e);
    }
    free(conns);
    free(reqs);
    l->next_corr = (uint64_t)json_integer_value(json_object_get(st, "next_corr"));
    l->last_keepalive = (uint64_t)json_integer_value(json_object_get(st, "last_keepalive"));
    return rc;
}

static void on_adopted(uv_timer_t *t)
{
    listener *l = t->data;
    http_conns_unpause(l->conns);
}

int srv_adopt(mf_instance *inst, const json_t *conf, const char *state, size_t len, void **self, mf_error *err)
{
    json_t *st = http_state_unpack(state, len, STATE_VERSION, err);
    if (!st)
        return -1;
    listener *l = listener_new(inst, conf, err);
    if (!l) {
        json_decref(st);
        return -1;
    }
    /* the adopted connections wait until everything they refer to is there */
    http_conns_pause(l->conns);
    http_auth_adopt(l->conf.auth, json_object_get(st, "auth"));
    int lfd = mf_fd_dup((int)json_integer_value(json_object_get(st, "fd")));
    int rc = lfd < 0 ? UV_EBADF : uv_tcp_open(&l->tcp, lfd);
    if (rc != 0) {
        mf_fd_close(lfd);   /* not the handle's: closing it would not */
        mf_error_set(err, -1, "cannot take over the listening socket of %s: %s", l->conf.url, uv_strerror(rc));
    } else if (listener_listen(l, err) || adopt_state(l, st, err)) {
        rc = -1;
    }
    if (rc != 0) {
        /* the predecessor keeps serving: nothing of the kernel's may be touched */
        l->handed_over = true;
        forget_all(l);
        listener_discard(l);
        json_decref(st);
        return -1;
    }
    /* running: the predecessor's duplicates are ours to close, we hold our own */
    mf_fd_close((int)json_integer_value(json_object_get(st, "fd")));
    size_t i;
    json_t *j;
    json_array_foreach(json_object_get(st, "conns"), i, j) mf_fd_close((int)json_integer_value(json_object_get(j, "fd")));
    json_decref(st);
    listener_running(l, "listening, taken over");
    /* reading starts on the next turn, after the switch: a request parsed now would name
     * sessions the kernel still gives to the predecessor */
    uv_timer_start(&l->swap_timer, on_adopted, 0, 0);
    *self = l;
    return 0;
}

/* --- the predecessor, replaced ----------------------------------------------------- */

void srv_drain(void *self)
{
    listener *l = self;
    l->saving = false;
    l->handed_over = true;
    /* the successor closed the duplicates once it had its own */
    free(l->dups);
    l->dups = NULL;
    l->ndups = 0;
    forget_all(l);
    uv_close((uv_handle_t *)&l->tcp, listener_handle_closed);
    uv_close((uv_handle_t *)&l->sweep, listener_handle_closed);
    uv_close((uv_handle_t *)&l->swap_timer, listener_handle_closed);
    http_conns_detach_all(l->conns, listener_conns_closed, l);
}
