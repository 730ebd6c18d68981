/* Fuzz target: the JSON writer every message leaves through (mf_rpc_dump,
 * kernel/runtime/json_text.c), against jansson's own, json_dumps(JSON_COMPACT |
 * JSON_ENCODE_ANY).
 *
 * Input: JSON text, which is parsed (any value, NULs in strings allowed) and written;
 * and the same bytes, unchecked, as a string, an object's key and an array's member, so
 * that text which is not UTF-8 and every control byte reach the writer too.
 * Properties: both writers give the same bytes, or both refuse (NULL, a length of 0), and
 * the length told is the text's; but a key that is not UTF-8 is refused here, where
 * jansson writes the object without it and its closing quote (invalid JSON). */
#include "build-config.h"
#include "kernel.h"
#include "fuzz.h"

#include <string.h>

/* key_ok: every key in v is UTF-8 */
static void same(const json_t *v, bool key_ok)
{
    size_t len = 12345;
    char *ours = mf_rpc_dump(v, &len);
    FUZZ_ASSERT(ours || len == 0);
    if (!key_ok) {
        FUZZ_ASSERT(ours == NULL);
        return;
    }
    char *theirs = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
    FUZZ_ASSERT((ours == NULL) == (theirs == NULL));
    if (ours) {
        FUZZ_ASSERT(len == strlen(theirs) && memcmp(ours, theirs, len + 1) == 0);
    }
    free(ours);
    free(theirs);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    json_t *v = json_loadb((const char *)data, size, JSON_ALLOW_NUL | JSON_DECODE_ANY, NULL);
    if (v)
        same(v, true);
    json_decref(v);

    json_t *s = json_stringn_nocheck((const char *)data, size);
    same(s, true);
    bool key_ok = mf_utf8_valid(data, size);
    json_t *o = json_object();
    json_object_setn_new_nocheck(o, (const char *)data, size, json_integer((json_int_t)size - 100));
    json_object_set_new(o, "real", json_real((double)size / 3));
    same(o, key_ok);
    json_t *a = json_pack("[O,O,b,n,f]", s, o, size & 1, -(double)size * 1e300);
    same(a, key_ok);
    json_decref(a);
    json_decref(o);
    json_decref(s);
    return 0;
}
