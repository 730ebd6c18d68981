/* Sessions of the session era over HTTP: their ids, and the events kept so a client can
 * resume a stream with Last-Event-ID. */
#include "listener.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

static void new_id(char out[33])
{
    unsigned char b[16];
    if (getrandom(b, sizeof b, 0) != (ssize_t)sizeof b) {
        /* never expected; still unguessable enough to tell sessions apart */
        uint64_t t = uv_hrtime();
        memcpy(b, &t, 8);
        memcpy(b + 8, &b, 8);
    }
    for (int i = 0; i < 16; i++)
        snprintf(out + 2 * i, 3, "%02x", b[i]);
}

hsession *hs_new(listener *l)
{
    hsession *hs = calloc(1, sizeof *hs);
    if (!hs)
        return NULL;
    hs->l = l;
    new_id(hs->id);
    hs->sid = mf_session_open(l->inst, "http");
    mf_session_set_mcp_id(hs->sid, hs->id);
    hs->next_stream = 1;
    hs->next_seq = 1;
    hs->last_active = mf_now();
    hs->ring_cap = l->conf.replay_events;
    hs->ring = hs->ring_cap ? calloc(hs->ring_cap, sizeof *hs->ring) : NULL;
    HASH_ADD(hh_id, l->by_id, id, strlen(hs->id), hs);
    HASH_ADD(hh_sid, l->by_sid, sid, sizeof hs->sid, hs);
    return hs;
}

hsession *hs_find(listener *l, const char *id)
{
    hsession *hs;
    HASH_FIND(hh_id, l->by_id, id, strlen(id), hs);
    return hs;
}

hsession *hs_find_sid(listener *l, uint64_t sid)
{
    hsession *hs;
    HASH_FIND(hh_sid, l->by_sid, &sid, sizeof sid, hs);
    return hs;
}

static void drop_oldest(hsession *hs)
{
    replay_ev *e = &hs->ring[hs->ring_head];
    hs->ring_bytes -= e->len;
    free(e->text);
    e->text = NULL;
    hs->ring_head = (hs->ring_head + 1) % hs->ring_cap;
    hs->ring_len--;
}

void hs_free(hsession *hs)
{
    listener *l = hs->l;
    HASH_DELETE(hh_id, l->by_id, hs);
    HASH_DELETE(hh_sid, l->by_sid, hs);
    if (!l->handed_over)   /* else the kernel's session is a successor's now */
        mf_session_close(hs->sid);
    while (hs->ring_len)
        drop_oldest(hs);
    free(hs->ring);
    free(hs);
}

bool hs_priming_wanted(const hsession *hs)
{
    /* the priming event (an id, empty data) came with 2025-11-25; older clients may
     * choke on empty data */
    return strcmp(hs->protocol, "2025-11-25") >= 0;
}

char *hs_record(hsession *hs, uint32_t stream, const json_t *msg, size_t *len)
{
    char id[48];
    uint64_t seq = hs->next_seq++;
    snprintf(id, sizeof id, "%u-%llu", stream, (unsigned long long)seq);
    size_t dl = 0;
    char *data = msg ? mf_rpc_dump(msg, &dl) : NULL;
    char *text = sse_format(id, data ? data : "", dl, len);
    free(data);
    if (!text || !hs->ring_cap)
        return text;
    /* the buffer is bounded in events and bytes: the oldest go first */
    while (hs->ring_len && (hs->ring_len == hs->ring_cap ||
                            hs->ring_bytes + *len > hs->l->conf.replay_bytes))
        drop_oldest(hs);
    if (*len <= hs->l->conf.replay_bytes) {
        size_t slot = (hs->ring_head + hs->ring_len) % hs->ring_cap;
        hs->ring[slot] = (replay_ev){stream, seq, malloc(*len), *len};
        if (hs->ring[slot].text) {
            memcpy(hs->ring[slot].text, text, *len);
            hs->ring_len++;
            hs->ring_bytes += *len;
        }
    }
    return text;
}

uint64_t hs_replay(hsession *hs, http_conn *c, uint32_t stream, uint64_t after)
{
    uint64_t last = after;
    for (size_t i = 0; i < hs->ring_len; i++) {
        replay_ev *e = &hs->ring[(hs->ring_head + i) % hs->ring_cap];
        if (e->stream == stream && e->seq > after) {
            http_stream_write(c, e->text, e->len);
            last = e->seq;
        }
    }
    return last;
}

void hs_sweep(listener *l)
{
    uint64_t now = mf_now();
    hsession *hs, *tmp;
    HASH_ITER(hh_id, l->by_id, hs, tmp) {
        /* a session with a client attached, or work under way, is alive */
        if (hs->get || hs->inflight)
            continue;
        if (now - hs->last_active >= l->conf.session_idle_ms) {
            mf_info("http", "session expired", "session=%s idle_ms=%llu", hs->id,
                    (unsigned long long)(now - hs->last_active));
            hs_free(hs);
        }
    }
}
