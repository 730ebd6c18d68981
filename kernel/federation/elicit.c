/* What a client can answer, and URL-mode elicitations followed to their completion.
 *
 * mcpfed tells every upstream that it supports elicitation in form and URL mode and
 * sampling with tools, since some of its clients may; each request an upstream makes is
 * then checked against the capabilities of the one client it goes to, and refused as
 * that client would refuse it.
 *
 * A URL-mode elicitation ends out of band: later, the upstream sends
 * notifications/elicitation/complete naming its elicitationId, often after the call it
 * came with has ended. The ids are remembered with their client, bounded in count and
 * age, so that the notification reaches that client and no other. */
#include "elicit.h"
#include "relay.h"
#include "federation.h"

#include <stdio.h>
#include <string.h>

#define MAX_TRACKED 4096
#define TRACK_MS (60 * 60 * 1000)   /* an elicitation left open this long is forgotten */

typedef struct tracked {
    char *key;                /* provider '\n' elicitationId */
    uint64_t session;
    uint64_t since;
    UT_hash_handle hh;        /* insertion order: oldest first */
} tracked;

#define by_key (mf_fed.elicitations)

int mf_client_can_answer(const json_t *caps, const json_t *request, char *why, size_t len)
{
    const char *method = mf_rpc_method(request);
    const char *cap = method ? mf_capability_for(method) : NULL;
    if (!cap) {
        snprintf(why, len, "Method not found: %.100s", method ? method : "(none)");
        return MF_RPC_METHOD_NOT_FOUND;
    }
    const json_t *c = json_object_get(caps, cap);
    if (!c) {
        snprintf(why, len, "the client does not support %s (no %s capability)", method, cap);
        return MF_RPC_METHOD_NOT_FOUND;
    }
    const json_t *params = json_object_get(request, "params");
    if (strcmp(cap, "elicitation") == 0) {
        const json_t *m = json_object_get(params, "mode");
        const char *mode = m ? json_string_value(m) : "form";
        bool form = json_object_get(c, "form") != NULL, url = json_object_get(c, "url") != NULL;
        if (!form && !url)
            form = true;   /* an empty elicitation capability is form mode (2025-06-18) */
        if (mode && strcmp(mode, "form") == 0 && !form) {
            snprintf(why, len, "Client does not support form-mode elicitation requests");
            return MF_RPC_INVALID_PARAMS;
        }
        if (mode && strcmp(mode, "url") == 0 && !url) {
            snprintf(why, len, "Client does not support URL-mode elicitation requests");
            return MF_RPC_INVALID_PARAMS;
        }
        if (!mode || (strcmp(mode, "form") != 0 && strcmp(mode, "url") != 0)) {
            snprintf(why, len, "unknown elicitation mode");
            return MF_RPC_INVALID_PARAMS;
        }
    } else if (strcmp(cap, "sampling") == 0 &&
               (json_object_get(params, "tools") || json_object_get(params, "toolChoice")) &&
               !json_object_get(c, "tools")) {
        snprintf(why, len, "Client does not support sampling tools capability");
        return MF_RPC_INVALID_PARAMS;
    }
    return 0;
}

static char *key_of(const char *provider, const char *id)
{
    size_t n = strlen(provider) + strlen(id) + 2;
    char *k = mf_xmalloc(n);
    snprintf(k, n, "%s\n%s", provider, id);
    return k;
}

static void forget(tracked *t)
{
    HASH_DEL(by_key, t);
    free(t->key);
    free(t);
}

static void expire(uint64_t now)
{
    tracked *t, *tmp;
    HASH_ITER(hh, by_key, t, tmp) {
        if (HASH_COUNT(by_key) < MAX_TRACKED && now - t->since < TRACK_MS)
            break;
        forget(t);
    }
}

static void track_one(const char *provider, const json_t *elicitation, const session *s)
{
    const char *id = json_string_value(json_object_get(elicitation, "elicitationId"));
    if (!id || strcmp(json_string_value(json_object_get(elicitation, "mode")) ?: "url", "url") != 0)
        return;
    uint64_t now = mf_now();
    expire(now);
    char *k = key_of(provider, id);
    tracked *t;
    HASH_FIND_STR(by_key, k, t);
    if (t)
        forget(t);   /* the newest holder of an id wins, and moves to the back */
    t = mf_xcalloc(1, sizeof *t);
    t->key = k;
    t->session = s->id;
    t->since = now;
    HASH_ADD_KEYPTR(hh, by_key, t->key, strlen(t->key), t);
}

void mf_elicit_track(const char *provider, const json_t *x, const session *s)
{
    if (!s)
        return;
    const json_t *params = json_object_get(x, "params");
    if (params) {   /* elicitation/create */
        track_one(provider, params, s);
        return;
    }
    const json_t *error = json_object_get(x, "error");
    if (json_integer_value(json_object_get(error, "code")) != MF_RPC_URL_ELICITATION_REQUIRED)
        return;
    size_t i;
    json_t *e;
    json_array_foreach(json_object_get(json_object_get(error, "data"), "elicitations"), i, e)
        track_one(provider, e, s);
}

void mf_elicit_complete(const char *provider, json_t *note, uint64_t related)
{
    const char *id = json_string_value(json_object_get(json_object_get(note, "params"), "elicitationId"));
    session *s = NULL;
    if (id) {
        char *k = key_of(provider, id);
        tracked *t;
        HASH_FIND_STR(by_key, k, t);
        free(k);
        if (t) {
            s = mf_session_find(t->session);
            forget(t);
        }
    }
    if (!s && related) {
        downreq *d = mf_downreq_of_call(related);
        s = d ? d->s : NULL;
    }
    /* only to a client that can make sense of it */
    if (!s || !s->initialized || !json_object_get(json_object_get(s->client_caps, "elicitation"), "url")) {
        mf_debug("relay", "elicitation completion for no client", "provider=%s", provider);
        return;
    }
    mf_send_to(s, MF_MSG_NOTIFY, 0, json_incref(note));
}

void mf_elicit_shutdown(void)
{
    tracked *t, *tmp;
    HASH_ITER(hh, by_key, t, tmp) {
        forget(t);
    }
}
