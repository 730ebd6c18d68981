/* SEP-2243 custom headers: the arguments a tool mirrors in Mcp-Param-<Name>. */
#include "build-config.h"
#include "kernel.h"
#include "param_headers.h"

#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* An RFC 9110 token: what a header name may be. A declaration whose name is none is
 * ignored (it could not be sent, and must not break the request line). */
static bool is_token(const char *s)
{
    if (!*s)
        return false;
    for (; *s; s++)
        if (!isalnum((unsigned char)*s) && !strchr("!#$%&'*+-.^_`|~", *s))
            return false;
    return true;
}

typedef void (*decl_fn)(void *ud, const char *header, const char *type, const json_t *value);

/* Call fn for each x-mcp-header declaration reachable from schema through "properties"
 * alone (the only place SEP-2243 allows one), with the argument found at the same path. */
static void each_decl(const json_t *schema, const json_t *value, decl_fn fn, void *ud)
{
    const char *k;
    json_t *sub;
    json_object_foreach(json_object_get(schema, "properties"), k, sub) {
        if (!json_is_object(sub))
            continue;
        const json_t *v = json_is_object(value) ? json_object_get(value, k) : NULL;
        const char *header = json_string_value(json_object_get(sub, "x-mcp-header"));
        if (header && is_token(header))
            fn(ud, header, json_string_value(json_object_get(sub, "type")), v);
        each_decl(sub, v, fn, ud);
    }
}

/* An argument as header text, the way the specification converts it; NULL for a value
 * that is not mirrored (absent, null, or not a primitive). */
static char *as_text(const json_t *v)
{
    char buf[64];
    if (json_is_string(v))
        return mf_xstrdup(json_string_value(v));
    if (json_is_boolean(v))
        return mf_xstrdup(json_is_true(v) ? "true" : "false");
    if (json_is_integer(v)) {
        snprintf(buf, sizeof buf, "%lld", (long long)json_integer_value(v));
        return mf_xstrdup(buf);
    }
    if (json_is_real(v) && isfinite(json_real_value(v))) {
        snprintf(buf, sizeof buf, "%.17g", json_real_value(v));
        return mf_xstrdup(buf);
    }
    return NULL;
}

static void collect(void *ud, const char *header, const char *type, const json_t *value)
{
    (void)type;
    char *t = as_text(value);
    if (t)
        json_object_set_new(ud, header, json_string(t));
    free(t);
}

json_t *mf_param_headers(const json_t *tool, const json_t *args)
{
    json_t *out = json_object();
    each_decl(json_object_get(tool, "inputSchema"), args, collect, out);
    if (json_object_size(out))
        return out;
    json_decref(out);
    return NULL;
}

/* "-12" or "3.5": the decimal forms a number may take in a header. */
static bool canonical_decimal(const char *s)
{
    s += *s == '-';
    if (!isdigit((unsigned char)*s))
        return false;
    while (isdigit((unsigned char)*s))
        s++;
    if (*s == '.') {
        s++;
        if (!isdigit((unsigned char)*s))
            return false;
        while (isdigit((unsigned char)*s))
            s++;
    }
    return *s == '\0';
}

typedef struct check {
    const json_t *given;
    char *why;
    size_t why_len;
    bool ok;
} check;

static void compare(void *ud, const char *header, const char *type, const json_t *value)
{
    check *c = ud;
    char *want = c->ok ? as_text(value) : NULL;
    if (!want)
        return;   /* not mirrored: a header sent anyway is not looked at */
    char lower[256];
    size_t n = strlen(header);
    if (n >= sizeof lower)
        n = sizeof lower - 1;
    for (size_t i = 0; i < n; i++)
        lower[i] = (char)tolower((unsigned char)header[i]);
    lower[n] = '\0';
    const json_t *g = json_object_get(c->given, lower);
    const char *got = json_string_value(g);
    bool numeric = type && (strcmp(type, "integer") == 0 || strcmp(type, "number") == 0) &&
                   json_is_number(value);
    if (!g) {
        snprintf(c->why, c->why_len, "the body carries the argument mirrored in Mcp-Param-%s but that header is absent",
                 header);
        c->ok = false;
    } else if (!got) {
        snprintf(c->why, c->why_len, "the Mcp-Param-%s header carries a malformed base64 value", header);
        c->ok = false;
    } else if (numeric && canonical_decimal(got) ? strtod(got, NULL) != json_number_value(value)
                                                 : strcmp(got, want) != 0) {
        snprintf(c->why, c->why_len, "the Mcp-Param-%s header does not match the argument it mirrors", header);
        c->ok = false;
    }
    free(want);
}

bool mf_param_headers_agree(const json_t *tool, const json_t *args, const json_t *given, char *why,
                            size_t why_len)
{
    check c = {given, why, why_len, true};
    each_decl(json_object_get(tool, "inputSchema"), args, compare, &c);
    return c.ok;
}
