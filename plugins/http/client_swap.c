/* The http provider handed from one generation of the plugin to the next (hot swap).
 *
 * What goes to the successor is the upstream's session: its era, Mcp-Session-Id,
 * negotiated version and initialize result, the next request id, the upstream's requests
 * still waiting for a client's answer, and where the GET stream stopped (Last-Event-ID).
 * The successor does not initialize again. A handshake under way is waited for (within
 * the kernel's handover deadline), so that the state handed over is settled.
 *
 * libcurl's transfers cannot move: their callbacks are in this generation's code. So the
 * predecessor keeps the calls it has in flight, answers them (and their cancels) while
 * draining, forwards every other message to its successor, and stops when the last one
 * is done. The GET stream is closed before the state is written down and opened again by
 * the generation that goes on, from the last event seen: no notification is delivered by
 * both. Keys of the upstream's requests are split between the two: the successor counts
 * from far above the keys its predecessor may still give while it drains. */
#include "client.h"

#include <stdlib.h>
#include <string.h>

#define STATE_VERSION 1
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

static json_t *state_of(const hprov *p)
{
    return json_pack("{s:i,s:s,s:s,s:s,s:s?,s:O?,s:I,s:i,s:s?,s:s?,s:I,s:I,s:b,s:o,s:I}", "v", STATE_VERSION, "state",
                     state_names[p->state], "era", era_names[p->era], "protocol", p->protocol, "session", p->session,
                     "init", p->init, "next_id", (json_int_t)p->next_id, "failures", (int)p->failures, "last_error",
                     p->last_error, "last_event_id", p->last_event_id, "get_retry_ms", (json_int_t)p->get_retry_ms,
                     "timer_left", (json_int_t)p->timer_left, "timer_for_get", p->timer_was_get, "asks",
                     asks_save(&p->asks), "ask_next", (json_int_t)(p->asks.next + ASK_KEYS_APART));
}

void hp_hand_over(hprov *p)
{
    p->saving = false;
    /* closed here, opened again by whichever generation goes on, from the last event seen */
    if (p->get) {
        if (p->get->req)
            hc_cancel(p->get->req);
        hp_xchg_free(p->get);
    }
    hp_listen_close(p);
    p->timer_left = uv_is_active((uv_handle_t *)&p->timer) ? (int64_t)uv_timer_get_due_in(&p->timer) : -1;
    p->timer_was_get = p->timer_for_get;
    uv_timer_stop(&p->timer);
    p->saved = true;
    json_t *st = state_of(p);
    if (st)
        hp_listen_save(p, st);
    size_t len = 0;
    char *buf = st ? mf_state_pack(st, &len) : NULL;
    json_decref(st);
    mf_debug("http", "handing over", "provider=%s session=%s calls_kept=%u state_bytes=%zu", hp_name(p),
             p->session ? p->session : "-", HASH_CNT(hh, p->calls), len);
    /* the successor may start, and this instance drain or resume, before this returns */
    if (buf)
        mf_instance_saved(p->inst, buf, len, NULL);
    else
        mf_instance_saved(p->inst, NULL, 0, "cannot write the state down");
    free(buf);
}

void hp_save(void *self)
{
    hprov *p = self;
    p->saving = true;
    if (p->state == P_CONNECTING) {
        mf_debug("http", "handover waits for the handshake", "provider=%s", hp_name(p));
        return;
    }
    hp_hand_over(p);
}

void hp_resume(void *self)
{
    hprov *p = self;
    p->saving = false;
    if (!p->saved)
        return;   /* still connecting: nothing was stopped */
    p->saved = false;
    mf_info("http", "handover abandoned; serving on", "provider=%s", hp_name(p));
    if (p->timer_left >= 0 && !p->timer_was_get) {
        p->timer_for_get = false;
        uv_timer_start(&p->timer, hp_on_timer, (uint64_t)p->timer_left, 0);
    }
    hp_open_get(p);
}

int hp_adopt(mf_instance *inst, const json_t *conf, const char *state, size_t len, void **self, mf_error *err)
{
    json_t *st = mf_state_unpack(state, len, err);
    if (!st)
        return -1;
    int ps = index_of(state_names, 5, json_string_value(json_object_get(st, "state")));
    int ei = index_of(era_names, 3, json_string_value(json_object_get(st, "era")));
    if (json_integer_value(json_object_get(st, "v")) != STATE_VERSION || ps < 0 || ps == P_CONNECTING ||
        ps == P_STOPPING || ei < 0) {
        mf_error_set(err, -1, "the predecessor's state is of another version, or unsettled");
        json_decref(st);
        return -1;
    }
    hprov *p = hp_new(inst, conf, err);
    if (!p) {
        json_decref(st);
        return -1;
    }
    p->state = (pstate)ps;
    p->era = (era)ei;
    snprintf(p->protocol, sizeof p->protocol, "%s", json_string_value(json_object_get(st, "protocol")) ?: "");
    const char *s = json_string_value(json_object_get(st, "session"));
    p->session = s ? strdup(s) : NULL;
    json_t *init = json_object_get(st, "init");
    p->init = json_is_null(init) ? NULL : json_incref(init);
    p->next_id = (int64_t)json_integer_value(json_object_get(st, "next_id"));
    p->failures = (unsigned)json_integer_value(json_object_get(st, "failures"));
    s = json_string_value(json_object_get(st, "last_error"));
    p->last_error = s ? strdup(s) : NULL;
    s = json_string_value(json_object_get(st, "last_event_id"));
    p->last_event_id = s ? strdup(s) : NULL;
    p->get_retry_ms = (long)json_integer_value(json_object_get(st, "get_retry_ms"));
    asks_adopt(&p->asks, json_object_get(st, "asks"));
    hp_listen_adopt(p, st);
    p->asks.next = (uint64_t)json_integer_value(json_object_get(st, "ask_next"));
    json_int_t left = json_integer_value(json_object_get(st, "timer_left"));
    bool for_get = json_is_true(json_object_get(st, "timer_for_get"));
    json_decref(st);
    if (left >= 0 && !for_get)
        uv_timer_start(&p->timer, hp_on_timer, (uint64_t)left, 0);   /* the next attempt to connect */
    hp_open_get(p);
    mf_info("http", "upstream taken over", "provider=%s url=%s protocol=%s session=%s", hp_name(p), p->url,
            p->protocol[0] ? p->protocol : "-", p->session ? p->session : "-");
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
