/* Basic types shared by every part of the SDK. */
#ifndef MCPFED_BASE_H
#define MCPFED_BASE_H

#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>
#include <uv.h>
#include <jansson.h>

#ifdef __cplusplus
#define MF_EXTERN_C extern "C"
#else
#define MF_EXTERN_C
#endif
/* The kernel is built with hidden visibility; only what the SDK declares is exported. */
#define MF_API MF_EXTERN_C __attribute__((visibility("default")))

/* An error a function hands back to its caller instead of printing it. */
typedef struct mf_error {
    int code;          /* JSON-RPC code where one applies, otherwise -1 */
    char msg[512];
} mf_error;

MF_API void mf_error_set(mf_error *err, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Memory. A failed allocation ends mcpfed with a message instead of returning NULL, so
 * callers need no failure path (the kernel does the same for jansson and libuv). */
MF_API void *mf_xmalloc(size_t n);
MF_API void *mf_xcalloc(size_t count, size_t size);
MF_API void *mf_xrealloc(void *p, size_t n);
MF_API char *mf_xstrdup(const char *s);
MF_API char *mf_xstrndup(const char *s, size_t n);

/* The kernel's event loop; plugins put their handles on it and never run it. */
MF_API uv_loop_t *mf_loop(void);

/* The gateway's version, e.g. "0.1.0". */
MF_API const char *mf_version(void);

/* Milliseconds on the loop's monotonic clock. */
MF_API uint64_t mf_now(void);

/* Client connections share the process's file descriptors with what keeps the gateway
 * working (the admin socket, upstreams, plugin reloads), for which a reserve is kept. A
 * transport takes a slot for each client connection it keeps open and gives it back once the
 * connection is closed; false: none is left, so answer that the gateway is busy (HTTP 503)
 * and close. */
MF_API bool mf_conn_slot_take(void);
MF_API void mf_conn_slot_give(void);

#endif
