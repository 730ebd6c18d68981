/* Fuzz target: the frame reader of the python plugin (plugins/python/frame.c), which reads
 * whatever a Python worker writes, garbage and oversized lengths included.
 *
 * Input: one byte choosing the frame bound and the size of the reads, then the stream.
 * Properties: a frame handed on is a map with a string type "t"; encoded again and read by
 * a fresh reader in two pieces, it is one frame equal to it; once the reader reports the
 * stream broken it hands on nothing more. */
#include "build-config.h"
#include "kernel.h"
#include "../../plugins/python/frame.h"
#include "fuzz.h"

#include <string.h>

static int keep(void *ud, json_t *f)
{
    json_t **out = ud;
    FUZZ_ASSERT(!*out);   /* exactly one frame */
    *out = f;
    return 0;
}

static int on_frame(void *ud, json_t *f)
{
    int *frames = ud;
    FUZZ_ASSERT(json_is_object(f) && *pyf_type(f));
    size_t len = 0;
    char *again = pyf_encode(f, &len);
    if (again) {
        pyf_reader r;
        pyf_reader_init(&r, len);
        mf_error err = {0};
        json_t *back = NULL;
        FUZZ_ASSERT(pyf_feed(&r, again, len / 2, keep, &back, &err) == 0);
        FUZZ_ASSERT(pyf_feed(&r, again + len / 2, len - len / 2, keep, &back, &err) == 0);
        FUZZ_ASSERT(back && json_equal(back, f));
        json_decref(back);
        pyf_reader_free(&r);
        free(again);
    }
    json_decref(f);
    (*frames)++;
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint8_t ctl = fuzz_take_byte(&data, &size);
    size_t max = (size_t)16 << (ctl & 15), step = 1 + (ctl >> 4) * 7;
    pyf_reader r;
    pyf_reader_init(&r, max);
    int frames = 0;
    bool broken = false;
    for (size_t at = 0; at < size; at += step) {
        size_t n = size - at < step ? size - at : step;
        mf_error err = {0};
        int before = frames;
        int rc = pyf_feed(&r, (const char *)data + at, n, on_frame, &frames, &err);
        if (broken)
            FUZZ_ASSERT(rc != 0 && frames == before);
        if (rc != 0)
            broken = true;
    }
    pyf_reader_free(&r);
    return 0;
}
