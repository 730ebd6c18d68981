/* Fuzz target: the stdio framing (kernel/lines.c) and JSON-RPC handling (kernel/rpc.c)
 * every message from a client or an upstream goes through.
 *
 * Input: one byte choosing the line bound and the size of the reads, then the stream.
 * Properties: every line handed on is whole, no longer than the bound, without its
 * newline; a message that parses is classified, and once serialised it is one line that
 * parses back to the same value. */
#include "build-config.h"
#include "kernel.h"
#include "fuzz.h"

#include <string.h>

typedef struct seen {
    size_t max;
    mf_idmap ids;
} seen;

static void check_message(seen *s, json_t *m)
{
    json_t *reply = NULL;
    mf_rpc_kind kind = mf_rpc_classify(m, &reply);
    if (reply)
        FUZZ_ASSERT(mf_rpc_classify(reply, NULL) == MF_RPC_RESPONSE);
    json_decref(reply);
    mf_rpc_method(m);
    mf_rpc_envelope_version(m);
    json_t *id = json_object_get(m, "id");
    if (kind == MF_RPC_REQUEST) {
        /* an upstream's request id goes into the map and comes back unchanged */
        uint64_t key = mf_idmap_put(&s->ids, id), found = 0;
        FUZZ_ASSERT(mf_idmap_key_of(&s->ids, id, &found));
        (void)found;
        json_t *back = mf_idmap_take(&s->ids, key);
        FUZZ_ASSERT(back && json_equal(back, id));
        json_decref(back);
    }
    size_t len = 0;
    char *text = mf_rpc_dump(m, &len);
    if (text) {
        FUZZ_ASSERT(memchr(text, '\n', len) == NULL);
        json_t *again = mf_rpc_parse(text, len, NULL);
        FUZZ_ASSERT(again && json_equal(again, m));
        json_decref(again);
        free(text);
    }
}

static void on_line(void *ud, const char *line, size_t len)
{
    seen *s = ud;
    FUZZ_ASSERT(len > 0 && len <= s->max);
    FUZZ_ASSERT(memchr(line, '\n', len) == NULL);
    json_t *err = NULL;
    json_t *m = mf_rpc_parse(line, len, &err);
    FUZZ_ASSERT((m == NULL) == (err != NULL));
    if (m) {
        check_message(s, m);
        /* a batch: each member as a message of its own */
        size_t i;
        json_t *x;
        if (json_is_array(m))
            json_array_foreach(m, i, x)
                check_message(s, x);
        json_decref(m);
    }
    json_decref(err);
}

static void on_overflow(void *ud, size_t bytes)
{
    seen *s = ud;
    FUZZ_ASSERT(bytes > s->max);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint8_t steer = fuzz_take_byte(&data, &size);
    seen s = {.max = (size_t)8 << (steer & 0x0f)};
    size_t step = (steer >> 4) ? (size_t)1 << (steer >> 4) : size;
    mf_lines l;
    mf_lines_init(&l, s.max);
    for (size_t off = 0; off < size; off += step) {
        size_t n = size - off < step ? size - off : step;
        mf_lines_feed(&l, (const char *)data + off, n, on_line, on_overflow, &s);
        FUZZ_ASSERT(mf_lines_pending(&l) <= s.max);
    }
    mf_lines_free(&l);
    mf_idmap_clear(&s.ids);
    return 0;
}
