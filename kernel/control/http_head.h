/* The head of an HTTP/1.x request, as much as the metrics endpoint needs: its method and
 * path. Pure (no loop, no allocation), so that t/fuzz/fuzz_http_head drives it directly. */
#ifndef MF_HTTP_HEAD_H
#define MF_HTTP_HEAD_H

#include <stddef.h>

#define MF_HTTP_HEAD_MAX 8192

typedef struct mf_http_head {
    char method[16];
    char path[512];    /* without the query */
} mf_http_head;

/* buf[0..len) read so far: 0 while the head is not whole, 1 once it is (h filled), or the
 * HTTP status to answer: 400 for a malformed head, 431 for one longer than MF_HTTP_HEAD_MAX,
 * 414 for a path longer than h->path, 505 for a version other than HTTP/1.x. */
int mf_http_head_parse(const char *buf, size_t len, mf_http_head *h);

#endif
