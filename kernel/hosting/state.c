/* The state one generation of a plugin hands to the next, as msgpack: whatever crosses a
 * generation is bytes, never a pointer into the code being unloaded. Plugins write it as
 * JSON values and these turn them into msgpack and back. Strings may hold any bytes
 * (a partial input line, a buffer not parsed yet). */
#include "build-config.h"
#include "kernel.h"

#include <fcntl.h>
#include <msgpack.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int pack(msgpack_packer *pk, const json_t *v, int depth)
{
    if (depth > 64)
        return -1;
    switch (json_typeof(v)) {
    case JSON_OBJECT: {
        msgpack_pack_map(pk, json_object_size(v));
        const char *k;
        json_t *x;
        json_object_foreach((json_t *)v, k, x) {
            size_t n = strlen(k);
            msgpack_pack_str(pk, n);
            msgpack_pack_str_body(pk, k, n);
            if (pack(pk, x, depth + 1))
                return -1;
        }
        return 0;
    }
    case JSON_ARRAY: {
        msgpack_pack_array(pk, json_array_size(v));
        size_t i;
        json_t *x;
        json_array_foreach(v, i, x)
            if (pack(pk, x, depth + 1))
                return -1;
        return 0;
    }
    case JSON_STRING: {
        size_t n = json_string_length(v);
        msgpack_pack_str(pk, n);
        msgpack_pack_str_body(pk, json_string_value(v), n);
        return 0;
    }
    case JSON_INTEGER: return msgpack_pack_int64(pk, json_integer_value(v));
    case JSON_REAL: return msgpack_pack_double(pk, json_real_value(v));
    case JSON_TRUE: return msgpack_pack_true(pk);
    case JSON_FALSE: return msgpack_pack_false(pk);
    case JSON_NULL: return msgpack_pack_nil(pk);
    }
    return -1;
}

char *mf_state_pack(const json_t *state, size_t *len)
{
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    msgpack_packer pk;
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    if (!state || pack(&pk, state, 0) != 0) {
        msgpack_sbuffer_destroy(&sb);
        return NULL;
    }
    *len = sb.size;
    return sb.data;   /* malloc'd by the sbuffer: the caller frees it */
}

static json_t *unpack(const msgpack_object *o, int depth)
{
    if (depth > 64)
        return NULL;
    switch (o->type) {
    case MSGPACK_OBJECT_NIL: return json_null();
    case MSGPACK_OBJECT_BOOLEAN: return json_boolean(o->via.boolean);
    case MSGPACK_OBJECT_POSITIVE_INTEGER:
        return o->via.u64 > INT64_MAX ? NULL : json_integer((json_int_t)o->via.u64);
    case MSGPACK_OBJECT_NEGATIVE_INTEGER: return json_integer((json_int_t)o->via.i64);
    case MSGPACK_OBJECT_FLOAT32:
    case MSGPACK_OBJECT_FLOAT64: return json_real(o->via.f64);
    /* an empty string may come with no pointer at all, which jansson takes for no string */
    case MSGPACK_OBJECT_STR: return json_stringn_nocheck(o->via.str.size ? o->via.str.ptr : "", o->via.str.size);
    case MSGPACK_OBJECT_BIN: return json_stringn_nocheck(o->via.bin.size ? o->via.bin.ptr : "", o->via.bin.size);
    case MSGPACK_OBJECT_ARRAY: {
        json_t *a = json_array();
        for (uint32_t i = 0; i < o->via.array.size; i++) {
            json_t *x = unpack(&o->via.array.ptr[i], depth + 1);
            if (!x) {
                json_decref(a);
                return NULL;
            }
            json_array_append_new(a, x);
        }
        return a;
    }
    case MSGPACK_OBJECT_MAP: {
        json_t *m = json_object();
        for (uint32_t i = 0; i < o->via.map.size; i++) {
            const msgpack_object_kv *kv = &o->via.map.ptr[i];
            json_t *x = kv->key.type == MSGPACK_OBJECT_STR ? unpack(&kv->val, depth + 1) : NULL;
            if (!x) {
                json_decref(m);
                return NULL;
            }
            char key[256];
            size_t n = kv->key.via.str.size < sizeof key - 1 ? kv->key.via.str.size : sizeof key - 1;
            if (n)   /* an empty key may come with no pointer at all */
                memcpy(key, kv->key.via.str.ptr, n);
            key[n] = '\0';
            json_object_set_new_nocheck(m, key, x);
        }
        return m;
    }
    default: return NULL;
    }
}

static uint64_t be(const unsigned char *p, size_t n)
{
    uint64_t v = 0;
    while (n--)
        v = v << 8 | *p++;
    return v;
}

/* Is one whole msgpack object at the start of p? msgpack-c allocates room for all the
 * elements a container's header declares before it reads them, so a few hostile bytes
 * declaring 2^32 of them would ask for tens of gigabytes: every element must be there
 * first. Ext types are refused here as unpack() refuses them. */
static bool whole_object(const unsigned char *p, size_t len)
{
    uint64_t need = 1;   /* objects still to read */
    size_t i = 0;
    while (need > 0) {
        if (i >= len)
            return false;
        unsigned b = p[i++];
        uint64_t elems = 0;   /* objects this one contains */
        size_t lenbytes = 0;  /* size of a length or count field */
        uint64_t skip = 0;    /* payload bytes */
        bool counted = false; /* the field counts elements (2 per map entry) */
        unsigned per = 1;
        if (b <= 0x7f || b >= 0xe0)
            ;   /* fixint */
        else if (b <= 0x8f)
            elems = 2 * (b & 0x0f);
        else if (b <= 0x9f)
            elems = b & 0x0f;
        else if (b <= 0xbf)
            skip = b & 0x1f;
        else
            switch (b) {
            case 0xc0: case 0xc2: case 0xc3: break;
            case 0xc4: case 0xd9: lenbytes = 1; break;
            case 0xc5: case 0xda: lenbytes = 2; break;
            case 0xc6: case 0xdb: lenbytes = 4; break;
            case 0xca: case 0xce: case 0xd2: skip = 4; break;
            case 0xcb: case 0xcf: case 0xd3: skip = 8; break;
            case 0xcc: case 0xd0: skip = 1; break;
            case 0xcd: case 0xd1: skip = 2; break;
            case 0xdc: lenbytes = 2; counted = true; break;
            case 0xdd: lenbytes = 4; counted = true; break;
            case 0xde: lenbytes = 2; counted = true; per = 2; break;
            case 0xdf: lenbytes = 4; counted = true; per = 2; break;
            default: return false;   /* never used (0xc1), or an ext type */
            }
        if (lenbytes) {
            if (len - i < lenbytes)
                return false;
            uint64_t n = be(p + i, lenbytes);
            i += lenbytes;
            if (counted)
                elems = n * per;
            else
                skip = n;
        }
        /* each element takes a byte at least */
        if (skip > len - i || elems > len - i)
            return false;
        i += (size_t)skip;
        need = need - 1 + elems;
    }
    return true;
}

json_t *mf_state_unpack(const char *buf, size_t len, mf_error *err)
{
    msgpack_unpacked u;
    msgpack_unpacked_init(&u);
    size_t off = 0;
    json_t *v = NULL;
    if (buf && whole_object((const unsigned char *)buf, len) &&
        msgpack_unpack_next(&u, buf, len, &off) == MSGPACK_UNPACK_SUCCESS && off == len)
        v = unpack(&u.data, 0);
    msgpack_unpacked_destroy(&u);
    if (!v)
        mf_error_set(err, -1, "the state handed over is not valid msgpack of the expected shape");
    return v;
}

int mf_fd_dup(int fd)
{
    return fd < 0 ? -1 : fcntl(fd, F_DUPFD_CLOEXEC, 3);
}

int mf_fd_dup_handle(const uv_handle_t *h)
{
    uv_os_fd_t fd;
    if (uv_fileno(h, &fd) != 0)
        return -1;
    return mf_fd_dup(fd);
}

void mf_fd_close(int fd)
{
    if (fd >= 0)
        close(fd);
}
