/* Server-sent events. Lines end in LF, CRLF or a lone CR, as the format allows. */
#include "sse.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void reset_event(sse_parser *p)
{
    free(p->event);
    p->event = NULL;
    p->data_len = 0;
    p->has_data = false;
    p->retry_ms = -1;
    p->overflow = false;
}

static void dispatch(sse_parser *p)
{
    if (p->has_data && !p->overflow) {
        if (p->data_len && p->data[p->data_len - 1] == '\n')
            p->data_len--;   /* the last data line's newline is not data */
        p->data[p->data_len] = '\0';
        sse_event e = {p->id, p->event ? p->event : "message", p->data, p->data_len, p->retry_ms};
        p->fn(p->ud, &e);
    } else if (!p->has_data && p->retry_ms >= 0) {
        /* a retry-only (or id-only priming) event still tells the reader something */
        sse_event e = {p->id, p->event ? p->event : "message", "", 0, p->retry_ms};
        p->fn(p->ud, &e);
    } else if (!p->has_data && p->id) {
        sse_event e = {p->id, p->event ? p->event : "message", "", 0, -1};
        p->fn(p->ud, &e);
    }
    reset_event(p);
}

static void add_data(sse_parser *p, const char *v, size_t n)
{
    p->has_data = true;
    if (p->overflow)
        return;
    if (p->data_len + n + 2 > p->max) {
        p->overflow = true;
        return;
    }
    mf_buf_append(&p->data, &p->data_len, &p->data_cap, v, n);
    mf_buf_append(&p->data, &p->data_len, &p->data_cap, "\n", 1);
}

static void on_line(void *ud, const char *line, size_t len)
{
    sse_parser *p = ud;
    if (line[0] == ':')
        return;   /* comment */
    const char *colon = memchr(line, ':', len);
    size_t flen = colon ? (size_t)(colon - line) : len;
    const char *v = colon ? colon + 1 : line + len;
    size_t vlen = colon ? len - flen - 1 : 0;
    if (vlen && *v == ' ') {
        v++;
        vlen--;
    }
    if (flen == 4 && memcmp(line, "data", 4) == 0) {
        add_data(p, v, vlen);
    } else if (flen == 2 && memcmp(line, "id", 2) == 0) {
        if (!memchr(v, '\0', vlen)) {
            free(p->id);
            p->id = strndup(v, vlen);
        }
    } else if (flen == 5 && memcmp(line, "event", 5) == 0) {
        free(p->event);
        p->event = strndup(v, vlen);
    } else if (flen == 5 && memcmp(line, "retry", 5) == 0) {
        char buf[24];
        if (vlen && vlen < sizeof buf) {
            memcpy(buf, v, vlen);
            buf[vlen] = '\0';
            char *end;
            long r = strtol(buf, &end, 10);
            if (*end == '\0' && r >= 0)
                p->retry_ms = r;
        }
    }
}

static void handle_line(sse_parser *p, const char *line, size_t len)
{
    if (len == 0)
        dispatch(p);   /* an empty line ends the event */
    else
        on_line(p, line, len);
}

/* The first CR or LF in buf, or NULL. */
static const char *line_end(const char *buf, size_t len)
{
    const char *lf = memchr(buf, '\n', len);
    const char *cr = memchr(buf, '\r', lf ? (size_t)(lf - buf) : len);
    return cr ? cr : lf;
}

void sse_parser_feed(sse_parser *p, const char *buf, size_t len)
{
    if (!p->started && len) {
        p->started = true;
        if (len >= 3 && memcmp(buf, "\xEF\xBB\xBF", 3) == 0) {   /* a byte order mark first is not text */
            buf += 3;
            len -= 3;
        }
    }
    if (len && p->after_cr && *buf == '\n') {   /* the LF of a CRLF split between reads */
        buf++;
        len--;
    }
    p->after_cr = false;
    while (len) {
        const char *nl = line_end(buf, len);
        size_t chunk = nl ? (size_t)(nl - buf) : len;
        if (p->skip_line) {
            if (nl)
                p->skip_line = false;   /* the rest of an over-long line ends here */
        } else if (p->line_len == 0 && nl && chunk <= p->max) {
            handle_line(p, buf, chunk);   /* whole line in this read: no copy */
        } else if (p->line_len + chunk > p->max) {
            p->line_len = 0;              /* over the bound: the line is lost, and its event */
            p->overflow = true;
            p->skip_line = !nl;
        } else {
            mf_buf_append(&p->line, &p->line_len, &p->line_cap, buf, chunk);
            if (nl) {
                size_t n = p->line_len;
                p->line_len = 0;
                handle_line(p, p->line, n);
            }
        }
        if (!nl)
            break;
        size_t end = *nl == '\r' && chunk + 1 < len && nl[1] == '\n' ? 2 : 1;
        if (*nl == '\r' && chunk + 1 == len)
            p->after_cr = true;
        buf = nl + end;
        len -= chunk + end;
    }
}

void sse_parser_init(sse_parser *p, size_t max_event, sse_fn fn, void *ud)
{
    memset(p, 0, sizeof *p);
    p->max = max_event;
    p->fn = fn;
    p->ud = ud;
    p->retry_ms = -1;
}

void sse_parser_free(sse_parser *p)
{
    free(p->line);
    free(p->data);
    free(p->id);
    free(p->event);
    memset(p, 0, sizeof *p);
}

char *sse_format(const char *id, const char *data, size_t len, size_t *out_len)
{
    size_t idl = id ? strlen(id) : 0;
    size_t total = (id ? 4 + idl + 1 : 0) + 15 + 6 + len + 2;
    char *out = malloc(total + 1);
    if (!out)
        return NULL;
    size_t n = 0;
    if (id) {
        memcpy(out + n, "id: ", 4);
        n += 4;
        memcpy(out + n, id, idl);
        n += idl;
        out[n++] = '\n';
    }
    memcpy(out + n, "event: message\n", 15);
    n += 15;
    memcpy(out + n, "data: ", 6);
    n += 6;
    memcpy(out + n, data, len);
    n += len;
    out[n++] = '\n';
    out[n++] = '\n';
    out[n] = '\0';
    *out_len = n;
    return out;
}
