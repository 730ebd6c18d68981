/* An HTTP/1.x request head's method and path (http_head.h). */
#include "http_head.h"

#include <string.h>

static int token_char(char c)
{
    return c > ' ' && c < 127 && !strchr("()<>@,;:\\\"/[]?={}", c);
}

int mf_http_head_parse(const char *buf, size_t len, mf_http_head *h)
{
    const char *end = NULL;
    /* the head ends at the first empty line (CRLF CRLF, or bare LFs) */
    for (size_t i = 0; i + 1 < len && !end; i++)
        if (buf[i] == '\n' && (buf[i + 1] == '\n' || (buf[i + 1] == '\r' && i + 2 < len && buf[i + 2] == '\n')))
            end = buf + i + 1;
    if (!end)
        return len > MF_HTTP_HEAD_MAX ? 431 : 0;
    if ((size_t)(end - buf) > MF_HTTP_HEAD_MAX)
        return 431;
    for (const char *p = buf; p < end; p++)
        if (*p == '\0')
            return 400;
    /* request-line = method SP target SP HTTP/1.x CRLF */
    const char *line_end = memchr(buf, '\n', (size_t)(end - buf));
    const char *sp1 = memchr(buf, ' ', (size_t)(line_end - buf));
    if (!sp1 || sp1 == buf || (size_t)(sp1 - buf) >= sizeof h->method)
        return 400;
    for (const char *p = buf; p < sp1; p++)
        if (!token_char(*p))
            return 400;
    const char *target = sp1 + 1;
    const char *sp2 = memchr(target, ' ', (size_t)(line_end - target));
    if (!sp2 || sp2 == target || *target != '/')
        return 400;
    const char *version = sp2 + 1;
    size_t vlen = (size_t)(line_end - version);
    if (vlen && version[vlen - 1] == '\r')
        vlen--;
    if (vlen != 8 || memcmp(version, "HTTP/1.", 7) != 0 || (version[7] != '0' && version[7] != '1'))
        return vlen >= 5 && memcmp(version, "HTTP/", 5) == 0 ? 505 : 400;
    /* visible ASCII only: anything else in a target is percent-encoded (RFC 3986) */
    for (const char *p = target; p < sp2; p++)
        if ((unsigned char)*p <= ' ' || (unsigned char)*p >= 127)
            return 400;
    size_t plen = strcspn(target, "?# ");
    if (plen > (size_t)(sp2 - target))
        plen = (size_t)(sp2 - target);
    if (plen >= sizeof h->path)
        return 414;
    memcpy(h->method, buf, (size_t)(sp1 - buf));
    h->method[sp1 - buf] = '\0';
    memcpy(h->path, target, plen);
    h->path[plen] = '\0';
    return 1;
}
