/* Memory: one policy for the whole daemon. An allocation that fails ends the process
 * with a message, as in Redis and libuv's own users: under Linux's overcommit it all but
 * never happens, every caller checking for it is a path no test runs, and a gateway that
 * limps on with half-built state serves worse than one its supervisor restarts. jansson
 * and libuv allocate through the same wrappers (mf_alloc_init). Lua states keep their
 * own allocators: running out there is a Lua error the caller handles.
 *
 * The executable links jemalloc where it was built with it (configure.ac says why): every
 * malloc of the process, plugins' and libraries' too, is then jemalloc's. */
#include "build-config.h"
#include "kernel.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#ifdef HAVE_JEMALLOC
#include <jemalloc/jemalloc.h>
#endif

static void out_of_memory(size_t n)
{
    char line[96];
    int len = snprintf(line, sizeof line, "mcpfed: out of memory (allocating %zu bytes)\n", n);
    if (len > 0 && write(STDERR_FILENO, line, (size_t)len) < 0)
        len = 0;   /* nothing more to do: the process ends either way */
    abort();
}

void *mf_xmalloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    if (!p)
        out_of_memory(n);
    return p;
}

void *mf_xcalloc(size_t count, size_t size)
{
    void *p = calloc(count ? count : 1, size ? size : 1);
    if (!p)
        out_of_memory(count * size);
    return p;
}

void *mf_xrealloc(void *ptr, size_t n)
{
    void *p = realloc(ptr, n ? n : 1);
    if (!p)
        out_of_memory(n);
    return p;
}

char *mf_xstrdup(const char *s)
{
    char *p = strdup(s);
    if (!p)
        out_of_memory(strlen(s) + 1);
    return p;
}

char *mf_xstrndup(const char *s, size_t n)
{
    char *p = strndup(s, n);
    if (!p)
        out_of_memory(n + 1);
    return p;
}

void *mf_spare_take(mf_spare *sp, size_t size)
{
    return sp->n ? sp->blocks[--sp->n] : mf_xmalloc(size);
}

void mf_spare_give(mf_spare *sp, void *block)
{
    if (sp->n < MF_SPARE_MAX)
        sp->blocks[sp->n++] = block;
    else
        free(block);
}

void mf_spare_clear(mf_spare *sp)
{
    while (sp->n)
        free(sp->blocks[--sp->n]);
}

int mf_alloc_init(void)
{
    json_set_alloc_funcs(mf_xmalloc, free);
    return uv_replace_allocator(mf_xmalloc, mf_xrealloc, mf_xcalloc, free);
}

const char *mf_allocator(void)
{
#ifdef HAVE_JEMALLOC
    static char name[96];
    if (!name[0]) {
        const char *version = NULL;
        size_t len = sizeof version;
        if (mallctl("version", &version, &len, NULL, 0) != 0 || !version)
            version = "?";
        snprintf(name, sizeof name, "jemalloc %.*s", (int)strcspn(version, "-"), version);
    }
    return name;
#else
    return "libc";
#endif
}
