/* Header values of revision 2026-07-28: optional whitespace dropped (RFC 9110 5.5), the
 * "=?base64?...?=" form of values that are not plain ASCII decoded, and the Mcp-Name
 * header held against the name (or URI) in the body. */
#include "server.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

static int b64val(int c)
{
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+') return 62;
    if (c == '/') return 63;
    return -1;
}

const char *http_ows_trimmed(const char *v, size_t *len)
{
    while (*v == ' ' || *v == '\t')
        v++;
    size_t n = strlen(v);
    while (n && (v[n - 1] == ' ' || v[n - 1] == '\t'))
        n--;
    *len = n;
    return v;
}

char *http_header_value_decoded(const char *raw, size_t *len)
{
    size_t n;
    const char *v = http_ows_trimmed(raw, &n);
    if (n < 11 || strncasecmp(v, "=?base64?", 9) != 0 || strncmp(v + n - 2, "?=", 2) != 0) {
        *len = n;
        return strndup(v, n);
    }
    const char *b = v + 9;
    size_t bl = n - 11;
    if (bl % 4)
        return NULL;
    char *out = malloc(bl / 4 * 3 + 1);
    size_t o = 0;
    for (size_t i = 0; i < bl; i += 4) {
        int x[4];
        bool last = i + 4 == bl;
        for (int k = 0; k < 4; k++)
            x[k] = b64val((unsigned char)b[i + k]);
        /* "=" may only pad the last quantum: "xx==" or "xxx=" */
        bool pad2 = last && b[i + 2] == '=' && b[i + 3] == '=';
        bool pad1 = last && !pad2 && b[i + 3] == '=';
        if (x[0] < 0 || x[1] < 0 || (x[2] < 0 && !pad2) || (x[3] < 0 && !pad1 && !pad2)) {
            free(out);
            return NULL;
        }
        unsigned acc = (unsigned)x[0] << 18 | (unsigned)x[1] << 12 | (pad2 ? 0u : (unsigned)x[2] << 6) |
                       (pad1 || pad2 ? 0u : (unsigned)x[3]);
        out[o++] = (char)(acc >> 16);
        if (!pad2)
            out[o++] = (char)(acc >> 8 & 0xff);
        if (!pad1 && !pad2)
            out[o++] = (char)(acc & 0xff);
    }
    out[o] = '\0';
    *len = o;
    return out;
}

bool http_mcp_name_matches(const char *header, const json_t *body_name)
{
    const char *name = json_string_value(body_name);
    if (!header || !name)
        return false;
    size_t len;
    char *decoded = http_header_value_decoded(header, &len);
    /* whole strings, NUL bytes included: neither side is cut at one */
    bool ok = decoded && len == json_string_length(body_name) && memcmp(decoded, name, len) == 0;
    free(decoded);
    return ok;
}
