/* libcurl's memory. Each transfer allocates, and frees when it ends, a download buffer
 * (16 kB), a request's head (1 kB) and, for a body larger than fits beside the head, an
 * upload buffer (a large POST's, up to 2 MB). glibc answers a free of 64 kB or more, and
 * an allocation of 1 kB or more, by merging every small free chunk it holds
 * (malloc_consolidate) and sorting them into bins: when libcurl posted the trace exports,
 * tens a second, 80 to 100 ns of every traced call. So a few of the larger blocks libcurl frees are kept, and
 * given to the next allocation they fit; every other block is malloc's. A block carries
 * its size before it, as libcurl's free says only where it is. */
#include "build-config.h"
#include "curl_mem.h"

#include <curl/curl.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

enum { LARGE = 1024, KEPT = 4 };

typedef struct head {
    size_t size;              /* what the block holds */
    size_t pad;               /* the block stays aligned as malloc's */
} head;

/* larger blocks freed, for the next (libcurl may run in several threads: each slot is
 * taken and given whole) */
static _Atomic(head *) kept[KEPT];

static void give_large(head *h)
{
    for (int i = 0; i < KEPT; i++) {
        head *none = NULL;
        if (atomic_compare_exchange_strong(&kept[i], &none, h))
            return;
    }
    free(h);
}

/* A block of n bytes from malloc, its size before it. */
static void *block_new(size_t n)
{
    head *h;
    if (n > SIZE_MAX - sizeof *h || !(h = malloc(sizeof *h + n)))
        return NULL;
    h->size = n;
    return h + 1;
}

/* A kept block that holds n bytes and not eight times more (the upload buffer is not lent
 * for a request's head), or a new one. */
static void *take_large(size_t n)
{
    for (int i = 0; i < KEPT; i++) {
        if (!atomic_load(&kept[i]))
            continue;
        head *h = atomic_exchange(&kept[i], NULL);   /* taken whole before it is looked at */
        if (h && h->size >= n && h->size / 8 <= n)
            return h + 1;
        if (h)
            give_large(h);
    }
    return block_new(n);
}

static void *cm_malloc(size_t n)
{
    return n >= LARGE ? take_large(n) : block_new(n);
}

static void cm_free(void *p)
{
    if (!p)
        return;
    head *h = (head *)p - 1;
    if (h->size >= LARGE)
        give_large(h);
    else
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
    for (int i = 0; i < KEPT; i++)
        free(atomic_exchange(&kept[i], NULL));
}
