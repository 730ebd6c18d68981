/* The Mcp-Name header of revision 2026-07-28 against the name (or URI) in the body. */
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

/* Header values that are not plain ASCII arrive as "=?base64?...?="; the value, its length
 * in *len (it may hold NUL bytes), or NULL if malformed. */
static char *header_value_decoded(const char *v, size_t *len)
{
    size_t n = strlen(v);
    if (n < 11 || strncasecmp(v, "=?base64?", 9) != 0 || strcmp(v + n - 2, "?=") != 0) {
        *len = n;
        return strdup(v);
    }
    const char *b = v + 9;
    size_t bl = n - 11;
    char *out = malloc(bl * 3 / 4 + 4);
    size_t o = 0;
    unsigned acc = 0;
    int bits = 0;
    for (size_t i = 0; i < bl; i++) {
        if (b[i] == '=')
            break;
        int x = b64val((unsigned char)b[i]);
        if (x < 0) {
            free(out);
            return NULL;
        }
        acc = (acc << 6) | (unsigned)x;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out[o++] = (char)((acc >> bits) & 0xff);
        }
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
    char *decoded = header_value_decoded(header, &len);
    /* whole strings, NUL bytes included: neither side is cut at one */
    bool ok = decoded && len == json_string_length(body_name) && memcmp(decoded, name, len) == 0;
    free(decoded);
    return ok;
}
