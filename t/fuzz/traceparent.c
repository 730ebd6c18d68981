/* Fuzz target: the W3C trace context a client sends (kernel/federation/trace.c), read from
 * an HTTP header or params._meta of any transport.
 *
 * Input: a traceparent value; after a NUL byte, if any, a tracestate value.
 * Properties: what parses has non-zero ids and a flag bit of 0 or 1, and written out it is a
 * version 00 traceparent that parses back to the same context; a version 00 value of the
 * exact length that parses is, in lowercase, what is written but for its flag bits;
 * a tracestate passed on is printable ASCII of at most 512 bytes. */
#include "build-config.h"
#include "trace.h"
#include "fuzz.h"

#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const uint8_t *nul = memchr(data, 0, size);
    size_t tplen = nul ? (size_t)(nul - data) : size;
    /* a copy of exactly its length, so that a read past it is caught */
    char *tp = malloc(tplen ? tplen : 1);
    memcpy(tp, data, tplen);
    mf_trace_ctx c;
    if (mf_traceparent_parse(tp, tplen, &c)) {
        static const uint8_t zero[16];
        FUZZ_ASSERT(memcmp(c.trace_id, zero, 16) != 0 && memcmp(c.span_id, zero, 8) != 0);
        FUZZ_ASSERT(c.flags <= 1);
        char out[MF_TRACEPARENT_LEN + 1];
        mf_traceparent_format(&c, out);
        FUZZ_ASSERT(strlen(out) == MF_TRACEPARENT_LEN);
        mf_trace_ctx back;
        FUZZ_ASSERT(mf_traceparent_parse(out, MF_TRACEPARENT_LEN, &back));
        FUZZ_ASSERT(memcmp(&back, &c, sizeof c) == 0);
        if (tplen == MF_TRACEPARENT_LEN && tp[0] == '0' && tp[1] == '0')
            FUZZ_ASSERT(memcmp(out, tp, 53) == 0 && out[53] == '0');
    }
    free(tp);
    if (nul) {
        size_t n = size - tplen - 1;
        char *ts = malloc(n + 1);
        memcpy(ts, nul + 1, n);
        ts[n] = '\0';
        if (mf_tracestate_ok(ts)) {
            size_t len = strlen(ts);
            FUZZ_ASSERT(len > 0 && len <= 512);
            for (size_t i = 0; i < len; i++)
                FUZZ_ASSERT(ts[i] >= 0x20 && ts[i] <= 0x7e);
        }
        free(ts);
    }
    return 0;
}
