/* MCP over WebSocket: one JSON-RPC message per text frame, subprotocol "mcp".
 *
 * A connection is one kernel session, opened with the upgrade and closed with the
 * connection, so everything the kernel does for a session (notifications, progress,
 * cancellation, requests to the client, subscriptions, logging/setLevel) reaches this one
 * client; a 2026-07-28 request carries its envelope and the kernel treats it as such. What
 * the kernel sends for the session is written as it comes: there is no stream to open and
 * nothing to replay, the socket itself is the stream. */
#include "listener.h"
#include "auth.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* Does a Sec-WebSocket-Protocol header offer "mcp"? *offered: were any offered; names
 * collects them, for the refusal. */
static bool offers_mcp(const http_request *r, bool *offered, char *names, size_t cap)
{
    bool mcp = false;
    size_t used = 0;
    names[0] = '\0';
    for (size_t i = 0; i < r->nheaders; i++) {
        if (strcmp(r->headers[i].name, "sec-websocket-protocol") != 0)
            continue;
        for (const char *p = r->headers[i].value; *p;) {
            while (*p == ' ' || *p == '\t' || *p == ',')
                p++;
            size_t n = strcspn(p, ", \t");
            if (n) {
                *offered = true;
                mcp |= n == 3 && strncmp(p, "mcp", 3) == 0;
                int w = snprintf(names + used, cap - used, "%s%.*s", used ? ", " : "", (int)n, p);
                if (w > 0 && (size_t)w < cap - used)
                    used += (size_t)w;
            }
            p += n;
        }
    }
    return mcp;
}

size_t ep_ws_sessions(listener *l)
{
    size_t n = 0;
    hreq *h;
    DL_FOREACH(l->reqs, h) n += h->kind == HR_WS;
    return n;
}

void ep_ws_upgrade(listener *l, http_conn *c, http_request *r)
{
    int status = 400;
    char why[320];
    const char *refusal = http_ws_refusal(r, &status);
    bool offered = false;
    char names[200];
    if (refusal) {
        snprintf(why, sizeof why, "%s\n", refusal);
    } else if (!offers_mcp(r, &offered, names, sizeof names) && offered) {
        snprintf(why, sizeof why, "the subprotocols offered (%s) do not include mcp\n", names);
        refusal = why;
    }
    if (refusal) {
        mf_info("http", "websocket upgrade refused", "peer=%s status=%d reason=\"%.*s\"", http_conn_peer(c),
                status, (int)strcspn(why, "\n"), why);
        http_respond(c, status, "text/plain", status == 426 ? "Sec-WebSocket-Version: 13\r\n" : NULL, why,
                     strlen(why));
        return;
    }
    if (HASH_CNT(hh_id, l->by_id) + ep_ws_sessions(l) >= l->conf.max_sessions) {
        static const char busy[] = "too many sessions\n";
        http_respond(c, 503, "text/plain", NULL, busy, sizeof busy - 1);
        return;
    }
    hreq *h = hreq_new(l, c, NULL, HR_WS);
    h->ksid = mf_session_open(l->inst, http_conn_peer(c));
    http_auth_bind_session(h->ksid, l->who, r, true);
    mf_info("http", "websocket session started", "peer=%s subprotocol=%s", http_conn_peer(c),
            offered ? "mcp" : "-");
    http_ws_accept(c, r, offered ? "mcp" : NULL);   /* r is gone from here on */
}

static void send_msg(http_conn *c, const json_t *msg)
{
    size_t len;
    char *text = mf_rpc_dump(msg, &len);
    if (text)
        http_ws_send(c, text, len);
    free(text);
}

void ep_ws_message(void *ud, http_conn *c, const char *text, size_t len)
{
    listener *l = ud;
    hreq *h = http_conn_app_data(c);
    if (!h || h->kind != HR_WS)
        return;
    json_t *reply = NULL;
    json_t *msg = mf_rpc_parse(text, len, &reply);
    if (msg && json_is_array(msg)) {
        reply = mf_rpc_error(NULL, MF_RPC_INVALID_REQUEST,
                             "Invalid Request: one JSON-RPC message per WebSocket message, no batches", NULL);
    } else if (msg) {
        mf_rpc_kind kind = mf_rpc_classify(msg, &reply);
        if (kind != MF_RPC_BAD)
            ep_forward(l, h, msg, kind);
    }
    if (reply)
        send_msg(c, reply);
    json_decref(reply);
    json_decref(msg);
}

static hreq *ws_of_session(listener *l, uint64_t sid)
{
    hreq *h;
    DL_FOREACH(l->reqs, h) {
        if (h->kind == HR_WS && h->ksid == sid)
            return h;
    }
    return NULL;
}

bool ep_ws_from_kernel(listener *l, hreq *h, corr_entry *e, const mf_msg *m)
{
    if (!h) {
        /* for the session as a whole (or about a request already answered) */
        if (!m->session || (m->kind != MF_MSG_NOTIFY && m->kind != MF_MSG_REQUEST))
            return false;
        h = ws_of_session(l, m->session);
        if (!h)
            return false;
        e = NULL;
    } else if (h->kind != HR_WS) {
        return false;
    }
    if (e && (m->kind == MF_MSG_RESPONSE || m->kind == MF_MSG_CANCEL)) {
        HASH_DEL(l->corrs, e);
        free(e);
        h->waiting--;
    }
    if (m->kind != MF_MSG_CANCEL && h->c)
        send_msg(h->c, m->json);
    return true;
}
