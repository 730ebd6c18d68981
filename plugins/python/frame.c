/* Frames to and from Python workers (frame.h). The msgpack is the kernel's state codec
 * (mf_state_pack, mf_state_unpack), which reads hostile bytes safely. */
#include "frame.h"

#include <stdlib.h>
#include <string.h>

void pyf_reader_init(pyf_reader *r, size_t max)
{
    memset(r, 0, sizeof *r);
    r->max = max;
}

void pyf_reader_free(pyf_reader *r)
{
    free(r->buf);
    r->buf = NULL;
    r->len = r->cap = 0;
}

const char *pyf_type(const json_t *f)
{
    const char *t = json_string_value(json_object_get(f, "t"));
    return t ? t : "";
}

static uint32_t be32(const unsigned char *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static int broken(pyf_reader *r, mf_error *err, const char *what, unsigned long bytes)
{
    r->broken = true;
    mf_error_set(err, -1, "a frame of %lu bytes%s", bytes, what);
    return -1;
}

int pyf_feed(pyf_reader *r, const char *data, size_t n, pyf_frame_fn on_frame, void *ud, mf_error *err)
{
    if (r->broken)
        return broken(r, err, " after the stream was broken", 0);
    if (n)
        mf_buf_append(&r->buf, &r->len, &r->cap, data, n);
    size_t at = 0;
    while (r->len - at >= 4) {
        uint32_t size = be32((const unsigned char *)r->buf + at);
        if (size == 0)
            return broken(r, err, "", 0);
        if (size > r->max)
            return broken(r, err, ", more than max_message_bytes", size);
        if (r->len - at - 4 < size)
            break;
        mf_error perr = {0};
        json_t *f = mf_state_unpack(r->buf + at + 4, size, &perr);
        at += 4 + (size_t)size;
        if (!f || !json_is_object(f) || !*pyf_type(f)) {
            json_decref(f);
            return broken(r, err, " that is not a msgpack map with a type \"t\"", size);
        }
        if (on_frame(ud, f) != 0) {
            r->broken = true;
            err->code = 0;
            return -1;
        }
    }
    memmove(r->buf, r->buf + at, r->len - at);
    r->len -= at;
    return 0;
}

char *pyf_encode(const json_t *f, size_t *len)
{
    size_t n = 0;
    char *body = mf_state_pack(f, &n);
    if (!body || n > UINT32_MAX) {
        free(body);
        return NULL;
    }
    char *out = malloc(n + 4);
    if (!out) {
        free(body);
        return NULL;
    }
    out[0] = (char)(n >> 24);
    out[1] = (char)(n >> 16);
    out[2] = (char)(n >> 8);
    out[3] = (char)n;
    memcpy(out + 4, body, n);
    free(body);
    *len = n + 4;
    return out;
}
