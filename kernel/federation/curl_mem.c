/* libcurl's memory. A transfer that sends a body larger than its first request allocates
 * libcurl's upload buffer and frees it when it ends: for a trace export, a megabyte a
 * time, tens of times a second. glibc answers a free of 64 kB or more by merging every
 * small free chunk it holds (malloc_consolidate), and the next large allocation by sorting
 * them into bins: together 40 to 50 ns of every traced call. So the largest block libcurl
 * frees is kept, and given to the next allocation it fits; every other block is malloc's.
 * A block carries its size before it, as libcurl's free says only where it is. */
#include "build-config.h"
#include "curl_mem.h"

#include <curl/curl.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

enum { LARGE = 64 * 1024 };

typedef struct head {
    size_t size;              /* what the block holds */
    size_t pad;               /* the block stays aligned as malloc's */
} head;

static _Atomic(head *) kept;  /* a large block freed, for the next (libcurl may run in threads) */

static void *take_large(size_t n)
{
    head *h = atomic_exchange(&kept, NULL);
    if (h && h->size >= n)
        return h + 1;
    free(h);
    if (n > SIZE_MAX - sizeof *h || !(h = malloc(sizeof *h + n)))
        return NULL;
    h->size = n;
    return h + 1;
}

static void *cm_malloc(size_t n)
{
    if (n >= LARGE)
        return take_large(n);
    head *h = malloc(sizeof *h + n);
    if (!h)
        return NULL;
    h->size = n;
    return h + 1;
}

static void cm_free(void *p)
{
    if (!p)
        return;
    head *h = (head *)p - 1, *none = NULL;
    if (h->size >= LARGE && atomic_compare_exchange_strong(&kept, &none, h))
        return;
    free(h);
}

static void *cm_realloc(void *p, size_t n)
{
    if (!p)
        return cm_malloc(n);
    head *h = (head *)p - 1;
    if (h->size >= LARGE || n >= LARGE) {
        void *q = cm_malloc(n);
        if (!q)
            return NULL;
        memcpy(q, p, h->size < n ? h->size : n);
        cm_free(p);
        return q;
    }
    if (!(h = realloc(h, sizeof *h + n)))
        return NULL;
    h->size = n;
    return h + 1;
}

static char *cm_strdup(const char *s)
{
    size_t n = strlen(s) + 1;
    char *p = cm_malloc(n);
    if (p)
        memcpy(p, s, n);
    return p;
}

static void *cm_calloc(size_t count, size_t size)
{
    if (size && count > SIZE_MAX / size)
        return NULL;
    void *p = cm_malloc(count * size);
    if (p)
        memset(p, 0, count * size);
    return p;
}

int mf_curl_global_init(void)
{
    return curl_global_init_mem(CURL_GLOBAL_DEFAULT, cm_malloc, cm_free, cm_realloc, cm_strdup, cm_calloc) == CURLE_OK
               ? 0 : -1;
}

void mf_curl_global_cleanup(void)
{
    curl_global_cleanup();
    free(atomic_exchange(&kept, NULL));
}
