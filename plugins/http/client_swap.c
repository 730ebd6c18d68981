/* The http provider handed from one generation of the plugin to the next (hot swap).
 *
 * What goes to the successor is each replica's upstream session (one per URL): its era,
 * Mcp-Session-Id, negotiated version and initialize result, where its GET stream stopped
 * (Last-Event-ID) and its reconnection timer; then the next request id and the upstreams'
 * requests still waiting for a client's answer, each with the replica that asked, and the
 * set of URIs the provider's subscriptions/listen asks updates of (2026-07-28 replicas).
 * The successor does not initialize again. Handshakes under way are waited for (within the
 * kernel's handover deadline), so that the state handed over is settled.
 *
 * libcurl's transfers cannot move: their callbacks are in this generation's code. So the
 * predecessor keeps the calls it has in flight, answers them (and their cancels) while
 * draining, forwards every other message to its successor, and stops when the last one
 * is done. The GET streams and the listen are closed before the state is written down and
 * opened again by the generation that goes on (a GET stream from the last event seen, the
 * listen for the set handed over): no notification is delivered by both. Keys of the
 * upstream's requests are split between the two: the successor counts from far above the
 * keys its predecessor may still give while it drains. */
#include "client.h"

#include <stdlib.h>
#include <string.h>

/* 3: every replica ("replicas") and the listen's URI set ("listen_uris", when there is one);
 * 2: every replica, no listen; 1: one upstream, its fields (and "listen_uris") at the top
 * level. The listen's set is read at the top level whatever the version. */
#define STATE_VERSION 4   /* 4: asks as [key, [id, replica]] */
#define ASK_KEYS_APART (UINT64_C(1) << 32)

static const char *const state_names[] = {"connecting", "ready", "down", "failed", "stopping"};
static const char *const era_names[] = {"unknown", "modern", "legacy"};

static int index_of(const char *const *names, size_t n, const char *s)
{
    for (size_t i = 0; s && i < n; i++)
        if (strcmp(names[i], s) == 0)
            return (int)i;
    return -1;
}

static json_t *rep_state(const hrep *r)
{
    return json_pack("{s:s,s:s,s:s,s:s,s:s?,s:O?,s:i,s:s?,s:s?,s:I,s:I,s:b}", "url", r->url, "state",
                     state_names[r->state], "era", era_names[r->era], "protocol", r->protocol, "session", r->session,
                     "init", r->init, "failures", (int)r->failures, "last_error", r->last_error, "last_event_id",
                     r->last_event_id, "get_retry_ms", (json_int_t)r->get_retry_ms, "timer_left",
                     (json_int_t)r->timer_left, "timer_for_get", r->timer_was_get);
}

static json_t *state_of(const hprov *p)
{
    json_t *reps = json_array();
    for (int i = 0; i < p->nreps; i++)
        json_array_append_new(reps, rep_state(&p->reps[i]));
    json_t *st = json_pack("{s:i,s:o,s:I,s:o,s:I}", "v", STATE_VERSION, "replicas", reps, "next_id",
                           (json_int_t)p->next_id, "asks", asks_save(&p->asks), "ask_next",
                           (json_int_t)(p->asks.map.next + ASK_KEYS_APART));
    if (st)
        hp_listen_save(p, st);
    return st;
}

static void hand_over(hprov *p)
{
    p->saving = false;
    for (int i = 0; i < p->nreps; i++) {
        hrep *r = &p->reps[i];
        /* closed here, opened again by whichever generation goes on, from the last event seen */
        if (r->get) {
            if (r->get->req)
                hc_cancel(r->get->req);
            hp_xchg_free(r->get);
        }
        r->timer_left = uv_is_active((uv_handle_t *)&r->timer) ? (int64_t)uv_timer_get_due_in(&r->timer) : -1;
        if (r->timer_left < 0 && r->state == P_FAILED)
            r->timer_left = 0;   /* an attempt of a failed replica is under way: the successor makes its own */
        r->timer_was_get = r->timer_for_get;
        uv_timer_stop(&r->timer);
    }
    hp_listen_close(p);   /* the generation that goes on opens its own */
    p->saved = true;
    json_t *st = state_of(p);
    size_t len = 0;
    char *buf = st ? mf_state_pack(st, &len) : NULL;
    json_decref(st);
    mf_debug("http", "handing over", "provider=%s replicas=%d calls_kept=%u state_bytes=%zu", hp_name(p), p->nreps,
             HASH_CNT(hh, p->calls), len);
    /* the successor may start, and this instance drain or resume, before this returns */
    if (buf)
        mf_instance_saved(p->inst, buf, len, NULL);
    else
        mf_instance_saved(p->inst, NULL, 0, "cannot write the state down");
    free(buf);
}

void hp_hand_over_if_settled(hprov *p)
{
    for (int i = 0; i < p->nreps; i++)
        if (p->reps[i].state == P_CONNECTING) {
            mf_debug("http", "handover waits for the handshake", "provider=%s target=%d", hp_name(p), i + 1);
            return;
        }
    hand_over(p);
}

void hp_save(void *self)
{
    hprov *p = self;
    p->saving = true;
    hp_hand_over_if_settled(p);
}

void hp_resume(void *self)
{
    hprov *p = self;
    p->saving = false;
    if (!p->saved)
        return;   /* still connecting: nothing was stopped */
    p->saved = false;
    mf_info("http", "handover abandoned; serving on", "provider=%s", hp_name(p));
    for (int i = 0; i < p->nreps; i++) {
        hrep *r = &p->reps[i];
        if (r->timer_left >= 0 && !r->timer_was_get) {
            r->timer_for_get = false;
            uv_timer_start(&r->timer, hp_on_timer, (uint64_t)r->timer_left, 0);
        }
        hp_open_get(r);
    }
}

/* A replica's part of the state; false when it is of no use. */
static bool adopt_rep(hrep *r, const json_t *st)
{
    int ps = index_of(state_names, 5, json_string_value(json_object_get(st, "state")));
    int ei = index_of(era_names, 3, json_string_value(json_object_get(st, "era")));
    const char *url = json_string_value(json_object_get(st, "url"));
    if (ps < 0 || ps == P_CONNECTING || ps == P_STOPPING || ei < 0 || (url && strcmp(url, r->url) != 0))
        return false;
    r->state = (pstate)ps;
    r->era = (era)ei;
    snprintf(r->protocol, sizeof r->protocol, "%s", json_string_value(json_object_get(st, "protocol")) ?: "");
    const char *s = json_string_value(json_object_get(st, "session"));
    r->session = s ? strdup(s) : NULL;
    json_t *init = json_object_get(st, "init");
    r->init = json_is_null(init) ? NULL : json_incref(init);
    r->failures = (unsigned)json_integer_value(json_object_get(st, "failures"));
    s = json_string_value(json_object_get(st, "last_error"));
    r->last_error = s ? strdup(s) : NULL;
    s = json_string_value(json_object_get(st, "last_event_id"));
    r->last_event_id = s ? strdup(s) : NULL;
    r->get_retry_ms = (long)json_integer_value(json_object_get(st, "get_retry_ms"));
    r->timer_left = json_integer_value(json_object_get(st, "timer_left"));
    r->timer_was_get = json_is_true(json_object_get(st, "timer_for_get"));
    return true;
}

int hp_adopt(mf_instance *inst, const json_t *conf, const char *state, size_t len, void **self, mf_error *err)
{
    json_t *st = mf_state_unpack(state, len, err);
    if (!st)
        return -1;
    json_int_t v = json_integer_value(json_object_get(st, "v"));
    json_t *reps = v == 1 ? json_pack("[O]", st) : json_incref(json_object_get(st, "replicas"));
    hprov *p = NULL;
    bool ok = v >= 1 && v <= STATE_VERSION && json_is_array(reps);
    if (ok && !(p = hp_new(inst, conf, err))) {
        json_decref(reps);
        json_decref(st);
        return -1;
    }
    ok = ok && json_array_size(reps) == (size_t)p->nreps;
    for (int i = 0; ok && i < p->nreps; i++)
        ok = adopt_rep(&p->reps[i], json_array_get(reps, (size_t)i));
    ok = ok && asks_adopt(&p->asks, json_object_get(st, "asks")) == 0;
    json_decref(reps);
    if (!ok) {
        mf_error_set(err, -1, "the predecessor's state is of another version, of other URLs, or unsettled");
        json_decref(st);
        if (p) {
            p->inst = NULL;
            hp_stopped_if_idle(p);   /* freed once its timers are closed */
        }
        return -1;
    }
    p->next_id = (int64_t)json_integer_value(json_object_get(st, "next_id"));
    hp_listen_adopt(p, st);
    p->asks.map.next = (uint64_t)json_integer_value(json_object_get(st, "ask_next"));
    json_decref(st);
    mf_provider_targets(inst, p->nreps);
    p->failed = true;
    for (int i = 0; i < p->nreps; i++) {
        hrep *r = &p->reps[i];
        p->failed = p->failed && r->state == P_FAILED;
        mf_provider_target_status(inst, i, r->state == P_READY);
        if (r->timer_left >= 0 && !r->timer_was_get)
            uv_timer_start(&r->timer, hp_on_timer, (uint64_t)r->timer_left, 0);   /* the next attempt to connect */
        hp_open_get(r);
        mf_info("http", "upstream taken over", "provider=%s url=%s protocol=%s session=%s target=%d", hp_name(p),
                r->url, r->protocol[0] ? r->protocol : "-", r->session ? r->session : "-", i + 1);
    }
    *self = p;
    return 0;
}

void hp_drain(void *self)
{
    hprov *p = self;
    p->draining = true;
    p->saving = p->saved = false;
    /* the upstream's requests written down are the successor's to answer */
    asks_clear(&p->asks);
    /* calls that waited for a token exchange or a caller's session go to the successor,
     * which has its own */
    cred_stop(p, true, 0, NULL);
    callers_stop(p, false, true, 0, NULL);
    /* calls that waited for a connection go to the successor, which has it */
    for (mf_msg *m; (m = mf_msgq_pop(&p->queue));) {
        m->flags &= ~RETRIED_FLAG;
        mf_instance_forward(p->inst, m);
    }
    unsigned kept = HASH_CNT(hh, p->calls);
    if (kept)
        mf_info("http", "old generation finishes its calls", "provider=%s calls=%u", hp_name(p), kept);
    hp_stopped_if_idle(p);
}

void hp_drain_receive(hprov *p, mf_msg *m)
{
    if (m->kind == MF_MSG_CANCEL) {
        xchg *x;
        HASH_FIND(hh, p->calls, &m->corr, sizeof m->corr, x);
        if (x) {
            hp_cancel_call(p, x);
            mf_msg_free(m);
            hp_stopped_if_idle(p);
            return;
        }
    } else if (m->kind == MF_MSG_RESPONSE && asks_has(&p->asks, m->corr)) {
        /* a client's answer to what the upstream asked on a call kept here */
        hp_answer_ask(p, m);
        mf_msg_free(m);
        return;
    }
    mf_instance_forward(p->inst, m);
}
