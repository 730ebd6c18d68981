/* Fuzz target: the metrics endpoint's request head parser (kernel/control/http_head.c).
 * Properties: it reads nothing past the bytes it is given (an exact-size copy, under ASan);
 * a head it accepts has a token method and a path of visible characters from '/', without
 * the query; and its verdict on a whole head does not change with what follows it, nor
 * with where the reading stopped before it (every shorter prefix is "not whole yet", or
 * the same refusal of an over-long head). */
#include "build-config.h"
#include "http_head.h"
#include "fuzz.h"

#include <string.h>

static int parse_copy(const uint8_t *data, size_t n, mf_http_head *h)
{
    char *copy = malloc(n ? n : 1);
    memcpy(copy, data, n);
    int rc = mf_http_head_parse(copy, n, h);
    free(copy);
    return rc;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    mf_http_head h, h2;
    int rc = parse_copy(data, size, &h);
    FUZZ_ASSERT(rc == 0 || rc == 1 || rc == 400 || rc == 414 || rc == 431 || rc == 505);
    if (rc == 1) {
        FUZZ_ASSERT(h.method[0] && h.path[0] == '/');
        for (const char *p = h.method; *p; p++)
            FUZZ_ASSERT(*p > ' ' && *p < 127);
        for (const char *p = h.path; *p; p++)
            FUZZ_ASSERT(*p > ' ' && *p < 127 && *p != '?' && *p != '#');
    }
    if (rc == 0 || size == 0)
        return 0;
    /* more bytes after a whole head change nothing */
    uint8_t *more = malloc(size + 3);
    memcpy(more, data, size);
    memcpy(more + size, "x\r\n", 3);
    int rc2 = parse_copy(more, size + 3, &h2);
    free(more);
    FUZZ_ASSERT(rc2 == rc);
    if (rc == 1)
        FUZZ_ASSERT(strcmp(h.method, h2.method) == 0 && strcmp(h.path, h2.path) == 0);
    /* a prefix cut anywhere is not whole yet, unless that much is already too long */
    size_t cut = size / 2;
    int rc3 = parse_copy(data, cut, &h2);
    FUZZ_ASSERT(rc3 == 0 || rc3 == rc || rc3 == 431);
    return 0;
}
