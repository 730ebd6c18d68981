/* UTF-8 validation (RFC 3629) for WebSocket text: wslay frames messages but checks no
 * encoding. Incremental, so a message can be checked frame by frame as it arrives. */
#ifndef HTTP_UTF8_H
#define HTTP_UTF8_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct utf8_state {
    uint8_t need;     /* continuation bytes still due for the character begun */
    uint8_t lo, hi;   /* the range the next continuation byte must fall in */
    bool bad;         /* a byte was refused: stays refused */
} utf8_state;

/* Take n more bytes; false once anything so far is not UTF-8 (overlong forms, surrogates
 * and code points beyond U+10FFFF included). */
bool utf8_feed(utf8_state *s, const uint8_t *p, size_t n);
/* Everything fed is UTF-8 and no character is cut short. */
bool utf8_complete(const utf8_state *s);
/* The whole of p is UTF-8. */
bool utf8_valid(const uint8_t *p, size_t n);

#endif
