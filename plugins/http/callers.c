/* The callers' own sessions with a session-era upstream, for providers that send each
 * caller's credentials (`credentials = "passthrough"` or `"exchange"`).
 *
 * An upstream may bind its session to the credentials that opened it, and refuse it to
 * any other: so a caller's requests never go on the provider's session or another
 * caller's. Each replica gets one session per credential (keyed by a SHA-256 of the
 * Authorization value, never the value itself), initialized on first use with that
 * credential, initialized again when the upstream forgets it, and ended (DELETE) once it
 * has been idle for caller_session_idle_ms or when caller_sessions_max would be exceeded
 * (the least recently used idle one goes). The provider's own session (listings, the GET
 * stream) keeps the configured headers. */
#include "client.h"

#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct csess {
    hprov *p;
    hrep *r;
    unsigned serial;     /* names it in the asks (client.c) */
    char key[72];        /* replica index and SHA-256 of the credential, hex */
    char *auth;          /* the Authorization value */
    char *session;       /* its Mcp-Session-Id */
    char protocol[16];
    json_t *init;        /* the answer to its initialize */
    bool ready;
    bool initializing;
    unsigned refs;       /* exchanges on it */
    mf_msgq waiting;     /* calls until it is ready */
    uint64_t last_used;
    UT_hash_handle hh;   /* in p->callers, least recently used first */
};

const char *callers_session_id(const csess *cs) { return cs->session; }
const char *callers_protocol(const csess *cs) { return cs->protocol; }
const char *callers_auth(const csess *cs) { return cs->auth; }
unsigned callers_serial(const csess *cs) { return cs->serial; }

csess *callers_by_serial(hprov *p, unsigned serial)
{
    csess *cs, *tmp;
    HASH_ITER(hh, p->callers, cs, tmp) {
        if (cs->serial == serial)
            return cs->ready ? cs : NULL;
    }
    return NULL;
}
size_t callers_count(const hprov *p) { return HASH_CNT(hh, p->callers); }

static void key_of(const hrep *r, const char *auth, char out[72])
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned n = 0;
    EVP_Digest(auth, strlen(auth), md, &n, EVP_sha256(), NULL);
    int o = snprintf(out, 72, "%d:", r->index);
    for (unsigned i = 0; i < n && o + 2 < 72; i++)
        o += snprintf(out + o, 72 - (size_t)o, "%02x", md[i]);
}

static bool idle(const csess *cs)
{
    return !cs->refs && !cs->waiting.len && !cs->initializing;
}

/* Forget cs; its upstream session is ended first when it has one and end is set. */
static void cs_free(csess *cs, bool end)
{
    hprov *p = cs->p;
    if (end && cs->session && cs->ready)
        hp_end_session(cs->r, hp_headers(cs->r, cs, cs->auth, "application/json, text/event-stream"));
    HASH_DEL(p->callers, cs);
    hp_wipe_free(cs->auth);
    free(cs->session);
    json_decref(cs->init);
    free(cs);
}

void callers_ref(csess *cs, int delta)
{
    cs->refs = (unsigned)((int)cs->refs + delta);
}

/* End the idle sessions unused for the idle time, and while there are more than room
 * allows, the least recently used idle ones. */
static void sweep(hprov *p, size_t room)
{
    uint64_t now = mf_now();
    size_t n = HASH_CNT(hh, p->callers);
    csess *cs, *tmp;
    HASH_ITER(hh, p->callers, cs, tmp) {
        if (!idle(cs))
            continue;
        if (n > room || now - cs->last_used >= p->callers_idle_ms) {
            cs_free(cs, true);
            n--;
        }
    }
}

/* A serial no session of p has: the asks must never mistake one caller's for another's. */
static unsigned next_serial(hprov *p)
{
    for (;;) {
        p->callers_serial = p->callers_serial % ((1u << 22) - 1) + 1;
        csess *cs, *tmp;
        bool taken = false;
        HASH_ITER(hh, p->callers, cs, tmp) taken = taken || cs->serial == p->callers_serial;
        if (!taken)
            return p->callers_serial;
    }
}

static void start_initialize(csess *cs)
{
    hprov *p = cs->p;
    cs->ready = false;
    cs->protocol[0] = '\0';
    free(cs->session);
    cs->session = NULL;
    json_decref(cs->init);
    cs->init = NULL;
    /* the revision the provider's own session agreed on with this replica */
    json_t *req = hp_initialize_request(p, cs->r->protocol[0] ? cs->r->protocol : LEGACY_PROTOCOL);
    cs->initializing = hp_post(cs->r, cs, X_INITIALIZE, req, p->init_timeout_ms) != NULL;
    json_decref(req);
    if (!cs->initializing) {
        char why[300];
        snprintf(why, sizeof why, "provider %s: cannot start the caller's initialize request", hp_name(p));
        mf_msgq_fail(&cs->waiting, mf_instance_ep(p->inst), MF_RPC_UNAVAILABLE, why);
    }
}

void callers_call(hrep *r, mf_msg *m, const char *auth, bool retried)
{
    hprov *p = r->p;
    sweep(p, p->callers_max);   /* the idle ones past their time go as calls come */
    char key[72];
    key_of(r, auth, key);
    csess *cs;
    HASH_FIND_STR(p->callers, key, cs);
    if (cs) {
        HASH_DEL(p->callers, cs);   /* to the end: the most recently used */
        HASH_ADD_STR(p->callers, key, cs);
    } else {
        sweep(p, p->callers_max - 1);
        if (HASH_CNT(hh, p->callers) >= p->callers_max) {
            hp_reply_error(p, m, MF_RPC_OVERLOADED, "too many callers have a session with this upstream");
            mf_msg_free(m);
            return;
        }
        cs = calloc(1, sizeof *cs);
        cs->p = p;
        cs->r = r;
        cs->serial = next_serial(p);
        memcpy(cs->key, key, sizeof key);
        cs->auth = strdup(auth);
        HASH_ADD_STR(p->callers, key, cs);
    }
    cs->last_used = mf_now();
    if (cs->ready) {
        hp_send_on(r, cs, m, retried);
        return;
    }
    if (retried)
        m->flags |= RETRIED_FLAG;
    mf_msgq_push(&cs->waiting, m);
    if (!cs->initializing)
        start_initialize(cs);
}

void callers_init_head(xchg *x, const char *session_id)
{
    csess *cs = x->cs;
    free(cs->session);
    cs->session = session_id ? strdup(session_id) : NULL;
}

void callers_init_message(xchg *x, json_t *msg)
{
    csess *cs = x->cs;
    if (!cs->init && json_is_object(msg) && json_object_get(msg, "id"))
        cs->init = json_incref(msg);
}

void callers_init_done(xchg *x, CURLcode rc, const char *error)
{
    csess *cs = x->cs;
    hprov *p = cs->p;
    cs->initializing = false;
    json_t *result = json_object_get(cs->init, "result");
    if (rc != CURLE_OK || !json_is_object(result)) {
        char why[600];
        const char *refusal = json_string_value(json_object_get(json_object_get(cs->init, "error"), "message"));
        if (rc != CURLE_OK)
            snprintf(why, sizeof why, "provider %s: the caller's session with the upstream: %s", hp_name(p), error);
        else if (refusal)
            snprintf(why, sizeof why, "provider %s: the upstream refused the caller's session: %.400s", hp_name(p),
                     refusal);
        else
            snprintf(why, sizeof why, "provider %s: the upstream refused the caller's session: HTTP %ld",
                     hp_name(p), x->status);
        mf_warn("http", "caller session refused", "provider=%s target=%d reason=\"%s\"", hp_name(p),
                cs->r->index + 1, mf_log_esc(why, (size_t)-1));
        /* unreached, the calls may go to another target; a refused token may not */
        int code = rc != CURLE_OK ? (hp_never_received(rc) ? MF_RPC_UNAVAILABLE : MF_RPC_UPSTREAM_LOST)
                   : x->status == 401 || x->status == 403 ? MF_RPC_NO_CREDENTIALS : MF_RPC_UPSTREAM_LOST;
        mf_msgq_fail(&cs->waiting, mf_instance_ep(p->inst), code, why);
        free(cs->session);
        cs->session = NULL;
        return;   /* forgotten by the next sweep; a new call tries again */
    }
    const char *version = json_string_value(json_object_get(result, "protocolVersion"));
    snprintf(cs->protocol, sizeof cs->protocol, "%s", version ? version : LEGACY_PROTOCOL);
    cs->ready = true;
    json_t *note = json_pack("{s:s,s:s}", "jsonrpc", "2.0", "method", "notifications/initialized");
    hp_post(cs->r, cs, X_NOTIFY, note, p->init_timeout_ms);
    json_decref(note);
    mf_info("http", "caller session ready", "provider=%s target=%d protocol=%s callers=%u", hp_name(p),
            cs->r->index + 1, cs->protocol, HASH_CNT(hh, p->callers));
    for (mf_msg *m; (m = mf_msgq_pop(&cs->waiting));) {
        bool retried = (m->flags & RETRIED_FLAG) != 0;
        m->flags &= ~RETRIED_FLAG;
        if (p->draining)
            mf_instance_forward(p->inst, m);
        else
            hp_send_on(cs->r, cs, m, retried);
    }
}

void callers_session_lost(csess *cs, mf_msg *m)
{
    mf_warn("http", "caller's upstream session expired; initializing again", "provider=%s target=%d",
            hp_name(cs->p), cs->r->index + 1);
    m->flags |= RETRIED_FLAG;   /* it goes out again once, after the new initialize */
    mf_msgq_push_front(&cs->waiting, m);
    if (!cs->initializing)
        start_initialize(cs);
}

bool callers_drop(hprov *p, uint64_t corr)
{
    csess *cs, *tmp;
    HASH_ITER(hh, p->callers, cs, tmp) {
        if (mf_msgq_drop(&cs->waiting, corr))
            return true;
    }
    return false;
}

void callers_stop(hprov *p, bool end_sessions, bool forward, int code, const char *why)
{
    csess *cs, *tmp;
    HASH_ITER(hh, p->callers, cs, tmp) {
        if (forward) {
            for (mf_msg *m; (m = mf_msgq_pop(&cs->waiting));) {
                m->flags &= ~RETRIED_FLAG;
                mf_instance_forward(p->inst, m);
            }
        } else {
            mf_msgq_fail(&cs->waiting, mf_instance_ep(p->inst), code, why);
        }
        if (end_sessions && cs->ready && !cs->refs) {
            hp_end_session(cs->r, hp_headers(cs->r, cs, cs->auth, "application/json, text/event-stream"));
            cs->ready = false;
        }
    }
}

void callers_free(hprov *p)
{
    csess *cs, *tmp;
    HASH_ITER(hh, p->callers, cs, tmp) {
        mf_msgq_fail(&cs->waiting, mf_instance_ep(p->inst), MF_RPC_SHUTTING_DOWN, "provider stopped");
        cs_free(cs, false);
    }
}
