/* Logging: one line per event on stderr: time, level, component, message, key=value pairs. */
#ifndef MCPFED_LOG_H
#define MCPFED_LOG_H

#include <mcpfed/base.h>

typedef enum mf_log_level {
    MF_LOG_ERROR = 0,
    MF_LOG_WARN,
    MF_LOG_INFO,
    MF_LOG_DEBUG,
} mf_log_level;

/* kv is a printf format for the key=value part, e.g. "provider=%s pid=%d"; it may be NULL.
 * Values that may hold spaces belong in quotes, escaped: "reason=\"%s\"", mf_log_esc(r, -1). */
MF_API void mf_log(mf_log_level level, const char *component, const char *message,
                   const char *kv, ...) __attribute__((format(printf, 4, 5)));
MF_API bool mf_log_enabled(mf_log_level level);
/* s (at most n bytes of it) with '"' and '\\' escaped, for a quoted log value. The result
 * lives in one of a few rotating buffers: use it in the next mf_log call only. */
MF_API const char *mf_log_esc(const char *s, size_t n);

#define mf_error_log(comp, msg, ...) mf_log(MF_LOG_ERROR, comp, msg, __VA_ARGS__)
#define mf_warn(comp, msg, ...)  mf_log(MF_LOG_WARN, comp, msg, __VA_ARGS__)
#define mf_info(comp, msg, ...)  mf_log(MF_LOG_INFO, comp, msg, __VA_ARGS__)
#define mf_debug(comp, msg, ...) \
    do { if (mf_log_enabled(MF_LOG_DEBUG)) mf_log(MF_LOG_DEBUG, comp, msg, __VA_ARGS__); } while (0)

#endif
