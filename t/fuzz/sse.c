/* Fuzz target: the http provider's reading of an upstream's server-sent events
 * (plugins/http/sse.c), and the JSON-RPC messages they carry.
 *
 * Input: one byte choosing the event bound and the size of the reads, then the stream.
 * Properties: an event's data fits the bound and is NUL-terminated at its length; an
 * event the gateway writes (sse_format) reads back as the same id and data. */
#include "build-config.h"
#include "kernel.h"
#include "../../plugins/http/sse.h"
#include "fuzz.h"

#include <string.h>

typedef struct seen {
    size_t max;
    size_t events;
    char *last_id;
    char *last_data;
    size_t last_len;
} seen;

static void on_event(void *ud, const sse_event *e)
{
    seen *s = ud;
    s->events++;
    FUZZ_ASSERT(e->event && e->data);
    FUZZ_ASSERT(e->data_len < s->max);
    FUZZ_ASSERT(e->data[e->data_len] == '\0');
    free(s->last_id);
    free(s->last_data);
    s->last_id = e->id ? strdup(e->id) : NULL;
    s->last_data = malloc(e->data_len + 1);
    memcpy(s->last_data, e->data, e->data_len + 1);
    s->last_len = e->data_len;
    json_t *m = mf_rpc_parse(e->data, e->data_len, NULL);
    if (m) {
        mf_rpc_classify(m, NULL);
        json_decref(m);
    }
}

/* What the gateway writes reads back the same. */
static void round_trip(const char *id, const char *data, size_t len)
{
    size_t n;
    char *text = sse_format(id, data, len, &n);
    seen s = {.max = len + (id ? strlen(id) : 0) + 16};
    sse_parser p;
    sse_parser_init(&p, s.max, on_event, &s);
    sse_parser_feed(&p, text, n);
    FUZZ_ASSERT(s.events == 1);
    FUZZ_ASSERT(s.last_len == len && memcmp(s.last_data, data, len) == 0);
    FUZZ_ASSERT(!id == !s.last_id && (!id || strcmp(id, s.last_id) == 0));
    sse_parser_free(&p);
    free(s.last_id);
    free(s.last_data);
    free(text);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint8_t steer = fuzz_take_byte(&data, &size);
    seen s = {.max = (size_t)16 << (steer & 0x0f)};
    size_t step = (steer >> 4) ? (size_t)1 << (steer >> 4) : size;
    sse_parser p;
    sse_parser_init(&p, s.max, on_event, &s);
    for (size_t off = 0; off < size; off += step) {
        size_t n = size - off < step ? size - off : step;
        sse_parser_feed(&p, (const char *)data + off, n);
    }
    sse_parser_free(&p);
    /* the last event read, written again by the gateway's side (which never writes a
     * newline in data, nor an id with a newline) */
    if (s.last_data && !memchr(s.last_data, '\n', s.last_len) && !memchr(s.last_data, '\r', s.last_len) &&
        (!s.last_id || !strpbrk(s.last_id, "\r\n")))
        round_trip(s.last_id, s.last_data, s.last_len);
    free(s.last_id);
    free(s.last_data);
    return 0;
}
