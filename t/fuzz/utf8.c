/* Fuzz target: the UTF-8 validator of WebSocket text and JSON text (kernel/runtime/utf8.c),
 * against a decoder written the other way round (decode each character, then judge its
 * code point), whole and fed in pieces at every split the input's first byte chooses.
 * Property: all three agree on every input. */
#include "build-config.h"
#include "kernel.h"
#include "fuzz.h"

#include <stdlib.h>

/* Decode, then refuse overlong forms, surrogates and code points past U+10FFFF. */
static bool reference(const uint8_t *p, size_t n)
{
    size_t i = 0;
    while (i < n) {
        uint8_t b = p[i];
        size_t len = b < 0x80 ? 1 : (b & 0xE0) == 0xC0 ? 2 : (b & 0xF0) == 0xE0 ? 3 : (b & 0xF8) == 0xF0 ? 4 : 0;
        if (len == 0 || i + len > n)
            return false;
        uint32_t cp = len == 1 ? b : len == 2 ? (b & 0x1Fu) : len == 3 ? (b & 0x0Fu) : (b & 0x07u);
        for (size_t k = 1; k < len; k++) {
            if ((p[i + k] & 0xC0) != 0x80)
                return false;
            cp = (cp << 6) | (p[i + k] & 0x3Fu);
        }
        static const uint32_t least[5] = {0, 0, 0x80, 0x800, 0x10000};
        if (cp < least[len] || (cp >= 0xD800 && cp <= 0xDFFF) || cp > 0x10FFFF)
            return false;
        i += len;
    }
    return true;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint8_t steer = fuzz_take_byte(&data, &size);
    bool want = reference(data, size);
    FUZZ_ASSERT(mf_utf8_valid(data, size) == want);
    size_t step = (size_t)(steer % 7) + 1;
    mf_utf8_state s = {0};
    bool ok = true;
    for (size_t off = 0; off < size; off += step)
        ok = mf_utf8_feed(&s, data + off, size - off < step ? size - off : step) && ok;
    FUZZ_ASSERT((ok && mf_utf8_complete(&s)) == want);
    return 0;
}
