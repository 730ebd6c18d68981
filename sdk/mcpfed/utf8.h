/* UTF-8 validation (RFC 3629): overlong forms, surrogates and code points beyond U+10FFFF
 * are refused. Incremental, so that text can be checked piece by piece as it arrives (a
 * WebSocket message frame by frame). Since SDK 4.3. */
#ifndef MCPFED_UTF8_H
#define MCPFED_UTF8_H

#include <mcpfed/base.h>

typedef struct mf_utf8_state {
    uint8_t need;     /* continuation bytes still due for the character begun */
    uint8_t lo, hi;   /* the range the next continuation byte must fall in */
    bool bad;         /* a byte was refused: stays refused */
} mf_utf8_state;

/* Take n more bytes; false once anything so far is not UTF-8. */
MF_API bool mf_utf8_feed(mf_utf8_state *s, const uint8_t *p, size_t n);
/* Everything fed is UTF-8 and no character is cut short. */
MF_API bool mf_utf8_complete(const mf_utf8_state *s);
/* The whole of p is UTF-8. */
MF_API bool mf_utf8_valid(const uint8_t *p, size_t n);

#endif
