/* Canonical keys: two calls whose arguments mean the same JSON get the same key, whatever
 * the order of their keys, their whitespace or how their numbers are spelt. JSON has one
 * kind of number; jansson keeps integers and reals apart, so a real with an integer value
 * becomes that integer first. -0 is 0: JSON gives the two no different meaning, and
 * JavaScript clients write -0 as 0 anyway. */
#include "canon.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A copy of v with integral reals as integers (references shared where nothing changes). */
static json_t *normal(const json_t *v)
{
    if (json_is_real(v)) {
        double d = json_real_value(v);
        /* 2^63 is the first double that no int64 holds */
        if (d == floor(d) && d > -9223372036854775808.0 && d < 9223372036854775808.0)
            return json_integer((json_int_t)d);
        return json_real(d);
    }
    if (json_is_array(v)) {
        json_t *out = json_array();
        size_t i;
        json_t *x;
        json_array_foreach(v, i, x) json_array_append_new(out, normal(x));
        return out;
    }
    if (json_is_object(v)) {
        json_t *out = json_object();
        const char *k;
        size_t klen;
        json_t *x;
        void *tmp;
        json_object_keylen_foreach_safe((json_t *)v, tmp, k, klen, x)
            json_object_setn_new_nocheck(out, k, klen, normal(x));
        return out;
    }
    return json_incref((json_t *)v);
}

/* Does v hold a real anywhere? Most arguments do not, and need no copy. */
static bool has_real(const json_t *v)
{
    if (json_is_real(v))
        return true;
    size_t i;
    json_t *x;
    const char *k;
    if (json_is_array(v))
        json_array_foreach(v, i, x) if (has_real(x)) return true;
    if (json_is_object(v))
        json_object_foreach((json_t *)v, k, x) if (has_real(x)) return true;
    return false;
}

char *cache_canon_key(const char *tool, const json_t *args, size_t *len)
{
    if (args && !json_is_object(args))
        return NULL;
    json_t *n = !args ? json_object() : has_real(args) ? normal(args) : json_incref((json_t *)args);
    /* 17 significant digits read back as the same double: one double, one spelling */
    char *text = json_dumps(n, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY | JSON_REAL_PRECISION(17));
    json_decref(n);
    if (!text)
        return NULL;
    size_t tl = strlen(tool), al = strlen(text);
    char *key = mf_xmalloc(tl + 1 + al + 1);
    memcpy(key, tool, tl + 1);
    memcpy(key + tl + 1, text, al + 1);
    free(text);
    *len = tl + 1 + al;
    return key;
}
