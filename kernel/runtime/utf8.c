/* UTF-8 validation (sdk/mcpfed/utf8.h): a lead byte sets how many continuation bytes
 * follow and the range the first of them may take, which is what rules out overlong forms
 * (E0 80..9F, F0 80..8F), surrogates (ED A0..BF) and code points past U+10FFFF (F4 90..,
 * F5..FF). */
#include "build-config.h"
#include "kernel.h"

bool mf_utf8_feed(mf_utf8_state *s, const uint8_t *p, size_t n)
{
    if (s->bad)
        return false;
    for (size_t i = 0; i < n; i++) {
        uint8_t b = p[i];
        if (s->need) {
            if (b < s->lo || b > s->hi) {
                s->bad = true;
                return false;
            }
            s->lo = 0x80;
            s->hi = 0xBF;
            s->need--;
            continue;
        }
        if (b < 0x80)
            continue;
        s->lo = 0x80;
        s->hi = 0xBF;
        if (b >= 0xC2 && b <= 0xDF) {
            s->need = 1;
        } else if (b == 0xE0) {
            s->need = 2;
            s->lo = 0xA0;
        } else if (b == 0xED) {
            s->need = 2;
            s->hi = 0x9F;
        } else if (b >= 0xE1 && b <= 0xEF) {
            s->need = 2;
        } else if (b == 0xF0) {
            s->need = 3;
            s->lo = 0x90;
        } else if (b >= 0xF1 && b <= 0xF3) {
            s->need = 3;
        } else if (b == 0xF4) {
            s->need = 3;
            s->hi = 0x8F;
        } else {
            s->bad = true;
            return false;
        }
    }
    return true;
}

bool mf_utf8_complete(const mf_utf8_state *s) { return !s->bad && s->need == 0; }

bool mf_utf8_valid(const uint8_t *p, size_t n)
{
    mf_utf8_state s = {0};
    return mf_utf8_feed(&s, p, n) && mf_utf8_complete(&s);
}
