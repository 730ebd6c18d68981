/* Declarative settings: a table of keys checks a configuration table, fills a settings
 * struct with its values and defaults (mcpfed/settings.h), and describes itself for
 * --help-config (mf_settings_describe). */
#include "build-config.h"
#include "config.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static bool is_int_type(mf_setting_type t)
{
    return t == MF_SET_INT || t == MF_SET_DURATION || t == MF_SET_BYTES;
}

static bool is_json_type(mf_setting_type t)
{
    return t == MF_SET_STRINGS || t == MF_SET_INTS || t == MF_SET_MAP || t == MF_SET_TABLE ||
           t == MF_SET_LIST || t == MF_SET_VALUE;
}

/* A table that Lua wrote empty arrives as an empty list. */
static bool is_table(const json_t *v)
{
    return json_is_object(v) || (json_is_array(v) && json_array_size(v) == 0);
}

static void key_path(char *out, size_t cap, const char *path, const char *key)
{
    snprintf(out, cap, "%s%s%s", path, *path ? "." : "", key);
}

static void choices_text(char *out, size_t cap, const char *const *choices)
{
    size_t n = 0;
    out[0] = '\0';
    for (const char *const *c = choices; c && *c && n < cap; c++)
        n += (size_t)snprintf(out + n, cap - n, "%s%s", c == choices ? "" : ", ", *c);
}

static int choice_index(const mf_setting *s, const char *v)
{
    for (int i = 0; s->choices && s->choices[i]; i++)
        if (strcmp(s->choices[i], v) == 0)
            return i;
    return -1;
}

/* What a value of the key must be, for messages: "an integer from 1 to 600000". */
static void expectation(const mf_setting *s, char *out, size_t cap)
{
    const char *off = s->flags & MF_SET_OR_FALSE ? ", or false" : "";
    const char *ne = s->flags & MF_SET_NONEMPTY ? "non-empty " : "";
    switch (s->type) {
    case MF_SET_INT: case MF_SET_DURATION: case MF_SET_BYTES:
        snprintf(out, cap, "an integer from %" PRId64 " to %" PRId64 "%s", s->min, s->max, off);
        break;
    case MF_SET_NUMBER:
        if (s->nmax > 0)
            snprintf(out, cap, "a number %s %g, at most %g%s", s->flags & MF_SET_ABOVE_MIN ? "above" : "from",
                     s->nmin, s->nmax, off);
        else
            snprintf(out, cap, "a number %s %g%s", s->flags & MF_SET_ABOVE_MIN ? "above" : "from at least",
                     s->nmin, off);
        break;
    case MF_SET_BOOL: snprintf(out, cap, "true or false"); break;
    case MF_SET_STRINGS:
        if (s->max > 0)
            snprintf(out, cap, "a %slist of strings (at most %" PRId64 ")%s", ne, s->max, off);
        else
            snprintf(out, cap, "a %slist of strings%s", ne, off);
        break;
    case MF_SET_INTS: snprintf(out, cap, "a %slist of integers%s", ne, off); break;
    case MF_SET_MAP: snprintf(out, cap, "a %smap of names to strings%s", ne, off); break;
    case MF_SET_TABLE: snprintf(out, cap, "a table of settings%s", off); break;
    case MF_SET_LIST: snprintf(out, cap, "a %slist of tables%s", ne, off); break;
    case MF_SET_STRING: case MF_SET_ENUM: snprintf(out, cap, "a string%s", off); break;
    default: snprintf(out, cap, "a value%s", off); break;
    }
}

static void *slot(void *out, const mf_setting *s)
{
    return out && s->at ? (char *)out + s->at - 1 : NULL;
}

/* Store an absent key's default. */
static void store_default(const mf_setting *s, void *out)
{
    void *p = slot(out, s);
    /* a scalar without a default keeps what the caller put there */
    if (!p || (!s->def && !is_json_type(s->type)))
        return;
    switch (s->type) {
    case MF_SET_STRING: *(const char **)p = s->def; break;
    case MF_SET_ENUM: *(int *)p = choice_index(s, s->def); break;
    case MF_SET_INT: case MF_SET_DURATION: case MF_SET_BYTES: *(int64_t *)p = strtoll(s->def, NULL, 10); break;
    case MF_SET_NUMBER: *(double *)p = strtod(s->def, NULL); break;
    case MF_SET_BOOL: *(bool *)p = strcmp(s->def, "true") == 0; break;
    default: *(const json_t **)p = NULL; break;
    }
}

/* 0: good; 1: not a list of the right length; -1: an item named in err. */
static int check_items(const json_t *v, const char *kp, const mf_setting *s, mf_error *err)
{
    size_t i;
    json_t *item;
    if (!json_is_array(v) || ((s->flags & MF_SET_NONEMPTY) && json_array_size(v) == 0))
        return 1;
    if (s->type == MF_SET_STRINGS && s->max > 0 && json_array_size(v) > (size_t)s->max)
        return 1;
    json_array_foreach(v, i, item) {
        if (s->type == MF_SET_STRINGS ? !json_is_string(item) : !json_is_integer(item)) {
            mf_error_set(err, -1, "%s[%zu]: expected %s", kp, i + 1,
                         s->type == MF_SET_STRINGS ? "a string" : "an integer");
            return -1;
        }
    }
    return 0;
}

static int check_value(const json_t *v, const char *kp, const mf_setting *s, void *out, mf_error *err);

static int check_list(const json_t *v, const char *kp, const mf_setting *s, mf_error *err)
{
    if (!json_is_array(v) || ((s->flags & MF_SET_NONEMPTY) && json_array_size(v) == 0))
        return 1;
    size_t i;
    json_t *item;
    json_array_foreach(v, i, item) {
        char ip[300];
        snprintf(ip, sizeof ip, "%.256s[%zu]", kp, i + 1);
        if (!json_is_object(item)) {
            mf_error_set(err, -1, "%s: expected a table", ip);
            return -1;
        }
        /* each item fills a struct of its own, which the caller passes item by item */
        if (s->sub && mf_settings_check(item, ip, s->sub, NULL, err))
            return -1;
    }
    return 0;
}

/* 0: stored; 1: of the wrong type (the caller says what was expected); -1: err set. */
static int check_value(const json_t *v, const char *kp, const mf_setting *s, void *out, mf_error *err)
{
    void *p = slot(out, s);
    if ((s->flags & MF_SET_OR_FALSE) && json_is_false(v)) {
        if (p && is_json_type(s->type))
            *(const json_t **)p = v;
        if (s->type == MF_SET_TABLE && s->sub)
            return mf_settings_check(NULL, kp, s->sub, out, err) ? -1 : 0;
        return 0;
    }
    switch (s->type) {
    case MF_SET_STRING: case MF_SET_ENUM: {
        if (!json_is_string(v))
            return 1;
        int i = choice_index(s, json_string_value(v));
        if (s->choices && i < 0) {
            char list[400];
            choices_text(list, sizeof list, s->choices);
            mf_error_set(err, -1, "%s: \"%s\" is not one of %s", kp, json_string_value(v), list);
            return -1;
        }
        if (p && s->type == MF_SET_STRING)
            *(const char **)p = json_string_value(v);
        else if (p)
            *(int *)p = i;
        return 0;
    }
    case MF_SET_INT: case MF_SET_DURATION: case MF_SET_BYTES: {
        if (!json_is_integer(v))
            return 1;
        json_int_t i = json_integer_value(v);
        if (i < s->min || i > s->max) {
            char want[160];
            expectation(s, want, sizeof want);
            mf_error_set(err, -1, "%s: expected %s, not %lld", kp, want, (long long)i);
            return -1;
        }
        if (p)
            *(int64_t *)p = i;
        return 0;
    }
    case MF_SET_NUMBER: {
        if (!json_is_number(v))
            return 1;
        double d = json_number_value(v);
        if (d < s->nmin || ((s->flags & MF_SET_ABOVE_MIN) && d <= s->nmin) || (s->nmax > 0 && d > s->nmax))
            return 1;
        if (p)
            *(double *)p = d;
        return 0;
    }
    case MF_SET_BOOL:
        if (!json_is_boolean(v))
            return 1;
        if (p)
            *(bool *)p = json_is_true(v);
        return 0;
    case MF_SET_STRINGS: case MF_SET_INTS: {
        int rc = check_items(v, kp, s, err);
        if (rc)
            return rc;
        break;
    }
    case MF_SET_MAP: {
        if (!is_table(v) || ((s->flags & MF_SET_NONEMPTY) && json_object_size(v) == 0))
            return 1;
        const char *k;
        json_t *item;
        json_object_foreach((json_t *)v, k, item) {
            if (!json_is_string(item)) {
                mf_error_set(err, -1, "%s.%s: expected a string", kp, k);
                return -1;
            }
        }
        break;
    }
    case MF_SET_TABLE:
        if (!is_table(v))
            return 1;
        if (s->sub && mf_settings_check(v, kp, s->sub, out, err))
            return -1;
        break;
    case MF_SET_LIST: {
        int rc = check_list(v, kp, s, err);
        if (rc)
            return rc;
        break;
    }
    default:
        break;
    }
    if (p)
        *(const json_t **)p = v;
    return 0;
}

static const char *type_phrase(mf_setting_type t)
{
    switch (t) {
    case MF_SET_STRING: case MF_SET_ENUM: return "a string";
    case MF_SET_INT: case MF_SET_DURATION: case MF_SET_BYTES: return "an integer";
    case MF_SET_NUMBER: return "a number";
    case MF_SET_BOOL: return "true or false";
    case MF_SET_STRINGS: return "a list of strings";
    case MF_SET_INTS: return "a list of integers";
    case MF_SET_MAP: return "a map of names to strings";
    case MF_SET_TABLE: return "a table";
    case MF_SET_LIST: return "a list of tables";
    default: return "a value";
    }
}

const mf_setting *mf_settings_find(const mf_setting *table, const char *name)
{
    for (const mf_setting *s = table; s && s->type != MF_SET_END; s++)
        if (s->name && strcmp(s->name, name) == 0)
            return s;
    return NULL;
}

int mf_settings_check(const json_t *obj, const char *path, const mf_setting *table, void *out,
                      mf_error *err)
{
    if (obj && !is_table(obj)) {
        mf_error_set(err, -1, "%s: expected a table of settings", *path ? path : "(top)");
        return -1;
    }
    bool others = false;
    for (const mf_setting *s = table; s->type != MF_SET_END; s++)
        others = others || s->type == MF_SET_OTHERS;
    const char *key;
    json_t *v;
    char kp[256];
    if (!others && json_is_object(obj))
        json_object_foreach((json_t *)obj, key, v) {
            if (!mf_settings_find(table, key)) {
                key_path(kp, sizeof kp, path, key);
                mf_error_set(err, -1, "%s: unknown key", kp);
                return -1;
            }
        }
    for (const mf_setting *s = table; s->type != MF_SET_END; s++) {
        if (s->type == MF_SET_OTHERS)
            continue;
        key_path(kp, sizeof kp, path, s->name);
        v = json_object_get(obj, s->name);
        if (!v) {
            if (s->flags & MF_SET_REQUIRED) {
                mf_error_set(err, -1, "%s: missing (%s is required)", kp, type_phrase(s->type));
                return -1;
            }
            store_default(s, out);
            /* a nested table's defaults, too */
            if (s->type == MF_SET_TABLE && s->sub && mf_settings_check(NULL, kp, s->sub, out, err))
                return -1;
            continue;
        }
        int rc = check_value(v, kp, s, out, err);
        if (rc > 0) {
            char want[200];
            expectation(s, want, sizeof want);
            mf_error_set(err, -1, "%s: expected %s", kp, want);
        }
        if (rc)
            return -1;
    }
    return 0;
}

/* --- description, for --help-config ---------------------------------------------------- */

static const char *type_name(mf_setting_type t)
{
    static const char *const names[] = {
        [MF_SET_STRING] = "string", [MF_SET_ENUM] = "string", [MF_SET_INT] = "integer",
        [MF_SET_DURATION] = "duration (ms)", [MF_SET_BYTES] = "bytes", [MF_SET_NUMBER] = "number",
        [MF_SET_BOOL] = "boolean", [MF_SET_STRINGS] = "list of strings", [MF_SET_INTS] = "list of integers",
        [MF_SET_MAP] = "map of strings", [MF_SET_TABLE] = "table", [MF_SET_LIST] = "list of tables",
        [MF_SET_VALUE] = "value",
    };
    return t < sizeof names / sizeof names[0] && names[t] ? names[t] : "value";
}

void mf_setting_default_text(const mf_setting *s, char *out, size_t cap)
{
    if (s->def_doc)
        snprintf(out, cap, "%s", s->def_doc);
    else if (s->def && (s->type == MF_SET_STRING || s->type == MF_SET_ENUM))
        snprintf(out, cap, "\"%s\"", s->def);
    else if (s->def)
        snprintf(out, cap, "%s", s->def);
    else
        snprintf(out, cap, "%s", s->flags & MF_SET_REQUIRED ? "required" : "none");
}

static void bounds_text(const mf_setting *s, char *out, size_t cap)
{
    out[0] = '\0';
    if (is_int_type(s->type)) {
        snprintf(out, cap, "%" PRId64 "..%" PRId64, s->min, s->max);
    } else if (s->type == MF_SET_NUMBER) {
        char hi[32] = "";
        if (s->nmax > 0)
            snprintf(hi, sizeof hi, "%g", s->nmax);
        snprintf(out, cap, "%s%g..%s", s->flags & MF_SET_ABOVE_MIN ? ">" : "", s->nmin, hi);
    } else if (s->choices) {
        size_t n = (size_t)snprintf(out, cap, "one of ");
        choices_text(out + n, cap - n, s->choices);
    } else if (s->type == MF_SET_STRINGS && s->max > 0) {
        snprintf(out, cap, "at most %" PRId64, s->max);
    }
    if (s->flags & (MF_SET_NONEMPTY | MF_SET_OR_FALSE)) {
        size_t n = strlen(out);
        snprintf(out + n, cap - n, "%s%s%s", n ? "; " : "", s->flags & MF_SET_NONEMPTY ? "non-empty" : "",
                 s->flags & MF_SET_OR_FALSE ? (s->flags & MF_SET_NONEMPTY ? ", or false" : "or false") : "");
    }
}

static void describe(FILE *out, const char *prefix, const mf_setting *table)
{
    for (const mf_setting *s = table; s && s->type != MF_SET_END; s++) {
        if (s->type == MF_SET_OTHERS) {
            fprintf(out, "*\t-\t-\t-\t%s\n", s->doc ? s->doc : "");
            continue;
        }
        char name[200], def[200], bounds[400];
        snprintf(name, sizeof name, "%s%s", prefix, s->name);
        mf_setting_default_text(s, def, sizeof def);
        bounds_text(s, bounds, sizeof bounds);
        fprintf(out, "%s\t%s\t%s\t%s\t%s\n", name, type_name(s->type), def, *bounds ? bounds : "-",
                s->doc ? s->doc : "");
        /* a nested table's keys, by their path; a list's tables are a section of their own */
        if (s->type == MF_SET_TABLE && s->sub) {
            char sub[210];
            snprintf(sub, sizeof sub, "%s.", name);
            describe(out, sub, s->sub);
        }
    }
}

void mf_settings_describe(FILE *out, const char *section, const mf_setting *table)
{
    fprintf(out, "[%s]\n", section);
    describe(out, "", table);
    fputc('\n', out);
}
