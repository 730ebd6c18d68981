/* One line per event on stderr: "<UTC time> <level> <component>: <message> k=v ...". */
#include "build-config.h"
#include "runtime.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

static const char *const names[] = {"error", "warn", "info", "debug"};

void mf_log_set_level(mf_log_level level) { mf_rt.log_level = level; }

bool mf_log_enabled(mf_log_level level) { return level <= mf_rt.log_level; }

int mf_log_level_parse(const char *s, mf_log_level *out)
{
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (strcmp(s, names[i]) == 0) {
            *out = (mf_log_level)i;
            return 0;
        }
    return -1;
}

void mf_log(mf_log_level level, const char *component, const char *message, const char *kv, ...)
{
    if (level > mf_rt.log_level)
        return;
    char line[4096];
    struct timeval tv;
    struct tm tm;
    gettimeofday(&tv, NULL);
    gmtime_r(&tv.tv_sec, &tm);
    int n = snprintf(line, sizeof line, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ %s %s: %s",
                     tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
                     tm.tm_sec, (int)(tv.tv_usec / 1000), names[level], component, message);
    if (kv && n > 0 && (size_t)n < sizeof line - 1) {
        line[n++] = ' ';
        va_list ap;
        va_start(ap, kv);
        int m = vsnprintf(line + n, sizeof line - (size_t)n, kv, ap);
        va_end(ap);
        if (m > 0)
            n += m;
    }
    if (n < 0)
        return;
    if ((size_t)n >= sizeof line - 1)
        n = sizeof line - 2;
    /* an event is one line whatever its values hold */
    for (int i = 0; i < n; i++)
        if (line[i] == '\n' || line[i] == '\r')
            line[i] = ' ';
    line[n++] = '\n';
    /* one write per line so concurrent writers never interleave within a line */
    ssize_t off = 0;
    while (off < n) {
        ssize_t w = write(STDERR_FILENO, line + off, (size_t)(n - off));
        if (w <= 0)
            break;
        off += w;
    }
}

const char *mf_log_esc(const char *s, size_t n)
{
    static char bufs[8][1024];
    static unsigned next;
    char *out = bufs[next++ % 8];
    size_t o = 0;
    for (size_t i = 0; s && i < n && s[i] && o + 3 < sizeof bufs[0]; i++) {
        if (s[i] == '"' || s[i] == '\\')
            out[o++] = '\\';
        out[o++] = s[i];
    }
    out[o] = '\0';
    return out;
}
