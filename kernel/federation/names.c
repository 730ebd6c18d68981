/* Public names. Characters outside A-Z a-z 0-9 _ - become '_'. A name too long is cut
 * and ends in '_' and eight hex digits of a hash of the whole name, so two long names
 * that share a beginning stay apart, and the same input always gives the same name. */
#include "build-config.h"
#include "names.h"

#include <stdio.h>
#include <string.h>

static bool allowed(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           c == '_' || c == '-';
}

static uint32_t fnv1a(const char *s, size_t n)
{
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < n; i++) {
        h ^= (unsigned char)s[i];
        h *= 16777619u;
    }
    return h;
}

const char *mf_name_text(const json_t *v)
{
    const char *s = json_string_value(v);
    return s && strlen(s) == json_string_length(v) ? s : NULL;
}

int mf_public_name(const char *prefix, const char *upstream, char *out)
{
    if (!upstream || !*upstream)
        return -1;
    char full[1024];
    int n = snprintf(full, sizeof full, "%s%s%s", prefix ? prefix : "",
                     prefix ? MF_NAME_SEPARATOR : "", upstream);
    size_t len = n < 0 ? 0 : (size_t)n < sizeof full ? (size_t)n : sizeof full - 1;
    int changed = 0;
    for (size_t i = 0; i < len; i++)
        if (!allowed(full[i])) {
            full[i] = '_';
            changed = 1;
        }
    if (len <= MF_NAME_MAX && (size_t)n < sizeof full) {
        memcpy(out, full, len + 1);
        return changed;
    }
    /* hash the untruncated upstream name so that the suffix separates long names */
    uint32_t h = fnv1a(upstream, strlen(upstream));
    size_t keep = MF_NAME_MAX - 9;
    memcpy(out, full, keep);
    snprintf(out + keep, 10, "_%08x", h);
    return 1;
}

const json_t *mf_params_named(const json_t *params)
{
    const json_t *name = json_object_get(params, "name");
    return json_is_string(name) ? name : json_object_get(params, "uri");
}
