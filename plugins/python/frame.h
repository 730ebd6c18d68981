/* The frames between mcpfed and a Python worker (docs/python-workers.md): a 4-byte
 * big-endian length, then that many bytes of msgpack holding a map with a string "t" (the
 * frame's type). The reader takes a worker's output as it comes and hands each whole frame
 * on as JSON; anything else (an oversized or empty length, bytes that are not msgpack, a
 * value that is not such a map) is an error after which the stream cannot be trusted. */
#ifndef PY_FRAME_H
#define PY_FRAME_H

#include <mcpfed/mcpfed.h>

typedef struct pyf_reader {
    char *buf;
    size_t len, cap;
    size_t max;          /* the longest frame body accepted */
    bool broken;         /* an error was found: everything after it is ignored */
} pyf_reader;

/* A frame (taken over by the callee; it may be NULL-checked, never NULL here). Returns -1
 * to stop reading (the reader is then broken, e.g. because the stream's owner is gone). */
typedef int (*pyf_frame_fn)(void *ud, json_t *frame);

void pyf_reader_init(pyf_reader *r, size_t max);
void pyf_reader_free(pyf_reader *r);
/* Feed bytes. 0, or -1 with err set once the stream is broken (err says how); a stop asked
 * by on_frame is -1 with err->code 0. */
int pyf_feed(pyf_reader *r, const char *data, size_t n, pyf_frame_fn on_frame, void *ud, mf_error *err);
/* One frame's bytes (malloc'd, *len set) for the JSON object f; NULL if it cannot be packed. */
char *pyf_encode(const json_t *f, size_t *len);
/* A frame's type, or "" when it has none. */
const char *pyf_type(const json_t *f);

#endif
