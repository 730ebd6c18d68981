/* Pieces of a hot swap's state, shared by the transport and the provider. */
#include "swapstate.h"

#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

json_t *swap_u64_new(uint64_t v) { return json_integer((json_int_t)v); }

uint64_t swap_u64(const json_t *obj, const char *key)
{
    return (uint64_t)json_integer_value(json_object_get(obj, key));
}

json_t *swap_lines_save(const mf_lines *l)
{
    return json_pack("{s:s%,s:b,s:I}", "buf", l->buf ? l->buf : "", l->len, "discarding", l->discarding,
                     "dropped", (json_int_t)l->dropped);
}

static void lines_ignore(void *ud, const char *line, size_t len)
{
    (void)ud;
    (void)line;
    (void)len;
}

void swap_lines_load(mf_lines *l, const json_t *saved)
{
    if (json_is_true(json_object_get(saved, "discarding"))) {
        l->discarding = true;
        l->dropped = (size_t)json_integer_value(json_object_get(saved, "dropped"));
        return;
    }
    /* an unfinished line holds no newline, so this only buffers it */
    json_t *buf = json_object_get(saved, "buf");
    mf_lines_feed(l, json_string_value(buf) ? json_string_value(buf) : "", json_string_length(buf), lines_ignore,
                  NULL, NULL);
}

json_t *swap_msg_save(const mf_msg *m)
{
    char *text = m->json ? json_dumps(m->json, JSON_COMPACT | JSON_ENCODE_ANY) : NULL;
    json_t *o = json_pack("{s:i,s:o,s:o,s:o,s:o,s:o,s:o,s:I,s:s?}", "kind", (int)m->kind, "src",
                          swap_u64_new(m->src), "session", swap_u64_new(m->session), "corr", swap_u64_new(m->corr),
                          "related", swap_u64_new(m->related), "deadline", swap_u64_new(m->deadline), "trace",
                          swap_u64_new(m->trace), "flags", (json_int_t)m->flags, "json", text);
    free(text);
    return o;
}

mf_msg *swap_msg_load(const json_t *saved, mf_ep self)
{
    json_int_t kind = json_integer_value(json_object_get(saved, "kind"));
    if (kind < MF_MSG_REQUEST || kind > MF_MSG_CANCEL)
        return NULL;
    json_t *payload = NULL;
    const char *text = json_string_value(json_object_get(saved, "json"));
    if (text && !(payload = json_loads(text, JSON_DECODE_ANY, NULL)))
        return NULL;
    mf_msg *m = mf_msg_new((mf_msg_kind)kind, (mf_ep)swap_u64(saved, "src"), self, payload);
    m->session = swap_u64(saved, "session");
    m->corr = swap_u64(saved, "corr");
    m->related = swap_u64(saved, "related");
    m->deadline = swap_u64(saved, "deadline");
    m->trace = swap_u64(saved, "trace");
    m->flags = (uint32_t)json_integer_value(json_object_get(saved, "flags"));
    return m;
}

void swap_null_stdio(int fd)
{
    int null = open("/dev/null", O_RDWR | O_CLOEXEC);
    if (null < 0)
        return;
    if (null == fd) {
        fcntl(fd, F_SETFD, 0);
        return;
    }
    dup2(null, fd);   /* which leaves fd without close-on-exec */
    close(null);
}
