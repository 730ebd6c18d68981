/* Messages: a header and a payload reference. Control fields are msgpack. */
#include "build-config.h"
#include "kernel.h"

#include <msgpack.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

mf_msg *mf_msg_new(mf_msg_kind kind, mf_ep src, mf_ep dst, json_t *json)
{
    mf_msg_priv *p = mf_xcalloc(1, sizeof *p);
    mf_msg *m = &p->pub;
    m->kind = kind;
    m->src = src;
    m->dst = dst;
    m->json = json;
    return m;
}

mf_msg *mf_msg_reply(const mf_msg *req, mf_ep self, json_t *json)
{
    mf_msg *m = mf_msg_new(MF_MSG_RESPONSE, self, req->src, json);
    m->session = req->session;
    m->corr = req->corr;
    m->trace = req->trace;
    return m;
}

mf_msg *mf_msg_reply_error(const mf_msg *req, mf_ep self, int code, const char *fmt, ...)
{
    char text[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text, sizeof text, fmt, ap);
    va_end(ap);
    return mf_msg_reply(req, self, json_pack("{s:{s:i,s:s}}", "error", "code", code, "message", text));
}

void mf_msg_ctl_release(mf_msg *m)
{
    mf_msg_priv *p = mf_msg_priv_of(m);
    if (p->ctl_unpacked) {
        msgpack_unpacked_destroy(p->ctl_unpacked);
        free(p->ctl_unpacked);
        p->ctl_unpacked = NULL;
    }
}

void mf_msg_free(mf_msg *m)
{
    if (!m)
        return;
    json_decref(m->json);
    mf_msg_ctl_release(m);
    free(mf_msg_priv_of(m)->ctl);
    free(mf_msg_priv_of(m));
}

/* --- queues ---------------------------------------------------------------------- */

void mf_msgq_push(mf_msgq *q, mf_msg *m)
{
    MF_MSG_NEXT(m) = NULL;
    if (q->tail)
        MF_MSG_NEXT(q->tail) = m;
    else
        q->head = m;
    q->tail = m;
    q->len++;
}

void mf_msgq_push_front(mf_msgq *q, mf_msg *m)
{
    MF_MSG_NEXT(m) = q->head;
    q->head = m;
    if (!q->tail)
        q->tail = m;
    q->len++;
}

mf_msg *mf_msgq_pop(mf_msgq *q)
{
    mf_msg *m = q->head;
    if (!m)
        return NULL;
    q->head = MF_MSG_NEXT(m);
    if (!q->head)
        q->tail = NULL;
    MF_MSG_NEXT(m) = NULL;
    q->len--;
    return m;
}

bool mf_msgq_drop(mf_msgq *q, uint64_t corr)
{
    mf_msg *prev = NULL;
    for (mf_msg *m = q->head; m; prev = m, m = MF_MSG_NEXT(m)) {
        if (m->kind != MF_MSG_REQUEST || m->corr != corr)
            continue;
        if (prev)
            MF_MSG_NEXT(prev) = MF_MSG_NEXT(m);
        else
            q->head = MF_MSG_NEXT(m);
        if (q->tail == m)
            q->tail = prev;
        q->len--;
        mf_msg_free(m);
        return true;
    }
    return false;
}

void mf_msgq_fail(mf_msgq *q, mf_ep self, int code, const char *why)
{
    mf_msg *m;
    while ((m = mf_msgq_pop(q))) {
        if (m->kind == MF_MSG_REQUEST)
            mf_send(mf_msg_reply_error(m, self, code, "%s", why));
        mf_msg_free(m);
    }
}

/* --- control messages ------------------------------------------------------------ */

mf_msg *mf_ctl_new(mf_ep src, mf_ep dst, uint32_t verb, const char *fmt, ...)
{
    /* count fields first: a msgpack map carries its size up front */
    size_t nfields = 0;
    for (const char *p = fmt; p && *p; p++)
        if (*p == ':')
            nfields++;
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    msgpack_packer pk;
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    msgpack_pack_map(&pk, nfields);
    va_list ap;
    va_start(ap, fmt);
    const char *p = fmt;
    while (p && *p) {
        while (*p == ' ')
            p++;
        const char *colon = strchr(p, ':');
        if (!colon)
            break;
        msgpack_pack_str(&pk, (size_t)(colon - p));
        msgpack_pack_str_body(&pk, p, (size_t)(colon - p));
        switch (colon[1]) {
        case 's': {
            const char *s = va_arg(ap, const char *);
            if (s) {
                size_t n = strlen(s);
                msgpack_pack_str(&pk, n);
                msgpack_pack_str_body(&pk, s, n);
            } else {
                msgpack_pack_nil(&pk);
            }
            break;
        }
        case 'i':
            msgpack_pack_int64(&pk, va_arg(ap, int64_t));
            break;
        case 'b':
            if (va_arg(ap, int))
                msgpack_pack_true(&pk);
            else
                msgpack_pack_false(&pk);
            break;
        default:
            msgpack_pack_nil(&pk);
        }
        p = colon + 2;
    }
    va_end(ap);
    mf_msg *m = mf_msg_new(MF_MSG_CONTROL, src, dst, NULL);
    mf_msg_priv *pm = mf_msg_priv_of(m);
    pm->verb = verb;
    pm->ctl = sb.data;   /* taken over from the buffer */
    pm->ctl_len = sb.size;
    return m;
}

uint32_t mf_ctl_verb(mf_msg *m)
{
    return m->kind == MF_MSG_CONTROL ? mf_msg_priv_of(m)->verb : 0;
}

static const msgpack_object *ctl_field(mf_msg *m, const char *key)
{
    mf_msg_priv *pm = mf_msg_priv_of(m);
    if (!pm->ctl)
        return NULL;
    if (!pm->ctl_unpacked) {
        msgpack_unpacked *u = mf_xmalloc(sizeof *u);
        msgpack_unpacked_init(u);
        size_t off = 0;
        if (msgpack_unpack_next(u, pm->ctl, pm->ctl_len, &off) != MSGPACK_UNPACK_SUCCESS ||
            u->data.type != MSGPACK_OBJECT_MAP) {
            msgpack_unpacked_destroy(u);
            free(u);
            return NULL;
        }
        pm->ctl_unpacked = u;
    }
    const msgpack_object_map *map = &((msgpack_unpacked *)pm->ctl_unpacked)->data.via.map;
    size_t klen = strlen(key);
    for (uint32_t i = 0; i < map->size; i++) {
        const msgpack_object *k = &map->ptr[i].key;
        if (k->type == MSGPACK_OBJECT_STR && k->via.str.size == klen &&
            memcmp(k->via.str.ptr, key, klen) == 0)
            return &map->ptr[i].val;
    }
    return NULL;
}

const char *mf_ctl_str(mf_msg *m, const char *key)
{
    const msgpack_object *o = ctl_field(m, key);
    if (!o || o->type != MSGPACK_OBJECT_STR)
        return NULL;
    /* strings in the zone are not terminated: keep a terminated copy in the zone */
    msgpack_zone *zone = ((msgpack_unpacked *)mf_msg_priv_of(m)->ctl_unpacked)->zone;
    char *s = msgpack_zone_malloc(zone, o->via.str.size + 1);
    if (!s)
        return NULL;
    if (o->via.str.size)   /* an empty string may come with no pointer */
        memcpy(s, o->via.str.ptr, o->via.str.size);
    s[o->via.str.size] = '\0';
    return s;
}

int64_t mf_ctl_int(mf_msg *m, const char *key, int64_t def)
{
    const msgpack_object *o = ctl_field(m, key);
    if (!o)
        return def;
    if (o->type == MSGPACK_OBJECT_POSITIVE_INTEGER)
        return (int64_t)o->via.u64;
    if (o->type == MSGPACK_OBJECT_NEGATIVE_INTEGER)
        return o->via.i64;
    return def;
}

bool mf_ctl_bool(mf_msg *m, const char *key, bool def)
{
    const msgpack_object *o = ctl_field(m, key);
    return o && o->type == MSGPACK_OBJECT_BOOLEAN ? o->via.boolean : def;
}
