/* Checks of configuration values that name the offending key. */
#include "build-config.h"
#include "kernel.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

int mf_conf_keys(const json_t *obj, const char *path, const char *const *allowed, mf_error *err)
{
    const char *key;
    json_t *v;
    if (json_is_array(obj) && json_array_size(obj) == 0)
        return 0;
    if (!json_is_object(obj)) {
        mf_error_set(err, -1, "%s: expected a table of settings", path);
        return -1;
    }
    json_object_foreach((json_t *)obj, key, v) {
        bool ok = false;
        for (const char *const *a = allowed; *a && !ok; a++)
            ok = strcmp(*a, key) == 0;
        if (!ok) {
            mf_error_set(err, -1, "%s.%s: unknown key", path, key);
            return -1;
        }
    }
    return 0;
}

int mf_conf_string(const json_t *obj, const char *path, const char *key, bool required,
                   const char **out, mf_error *err)
{
    json_t *v = json_object_get(obj, key);
    if (!v) {
        if (required) {
            mf_error_set(err, -1, "%s.%s: missing (a string is required)", path, key);
            return -1;
        }
        return 0;
    }
    if (!json_is_string(v)) {
        mf_error_set(err, -1, "%s.%s: expected a string", path, key);
        return -1;
    }
    if (out)
        *out = json_string_value(v);
    return 0;
}

int mf_conf_int(const json_t *obj, const char *path, const char *key, int64_t min, int64_t max,
                int64_t *out, mf_error *err)
{
    json_t *v = json_object_get(obj, key);
    if (!v)
        return 0;
    if (!json_is_integer(v)) {
        mf_error_set(err, -1, "%s.%s: expected an integer", path, key);
        return -1;
    }
    json_int_t i = json_integer_value(v);
    if (i < min || i > max) {
        mf_error_set(err, -1, "%s.%s: %lld is out of range [%lld, %lld]", path, key, (long long)i,
                     (long long)min, (long long)max);
        return -1;
    }
    if (out)
        *out = i;
    return 0;
}

int mf_conf_bool(const json_t *obj, const char *path, const char *key, bool *out, mf_error *err)
{
    json_t *v = json_object_get(obj, key);
    if (!v)
        return 0;
    if (!json_is_boolean(v)) {
        mf_error_set(err, -1, "%s.%s: expected true or false", path, key);
        return -1;
    }
    if (out)
        *out = json_is_true(v);
    return 0;
}

int mf_conf_strings(const json_t *obj, const char *path, const char *key, bool required,
                    bool nonempty, const json_t **out, mf_error *err)
{
    json_t *v = json_object_get(obj, key);
    if (!v) {
        if (required) {
            mf_error_set(err, -1, "%s.%s: missing (a list of strings is required)", path, key);
            return -1;
        }
        return 0;
    }
    bool ok = json_is_array(v) && (!nonempty || json_array_size(v) > 0);
    size_t i;
    json_t *item;
    json_array_foreach(v, i, item) {
        if (!json_is_string(item))
            ok = false;
    }
    if (!ok) {
        mf_error_set(err, -1, "%s.%s: expected a %slist of strings", path, key,
                     nonempty ? "non-empty " : "");
        return -1;
    }
    if (out)
        *out = v;
    return 0;
}

int mf_conf_strmap(const json_t *obj, const char *path, const char *key, const json_t **out,
                   mf_error *err)
{
    json_t *v = json_object_get(obj, key);
    if (!v)
        return 0;
    if (json_is_array(v) && json_array_size(v) == 0) {
        if (out)
            *out = v;
        return 0;
    }
    if (!json_is_object(v)) {
        mf_error_set(err, -1, "%s.%s: expected a table of name = \"value\"", path, key);
        return -1;
    }
    const char *k;
    json_t *item;
    json_object_foreach(v, k, item) {
        if (!json_is_string(item)) {
            mf_error_set(err, -1, "%s.%s.%s: expected a string", path, key, k);
            return -1;
        }
    }
    if (out)
        *out = v;
    return 0;
}

int mf_conf_pem_file(const char *what, const char *file, mf_error *err)
{
    FILE *f = *file ? fopen(file, "r") : NULL;
    struct stat st;
    if (!f || fstat(fileno(f), &st) != 0 || !S_ISREG(st.st_mode)) {
        mf_error_set(err, -1, "%s: cannot read \"%s\": %s", what, file,
                     !*file ? "an empty path" : !f ? strerror(errno) : "not a file");
        if (f)
            fclose(f);
        return -1;
    }
    char head[4096];
    size_t n = fread(head, 1, sizeof head - 1, f);
    head[n] = '\0';
    fclose(f);
    if (strstr(head, "-----BEGIN ENCRYPTED PRIVATE KEY-----") || strstr(head, "Proc-Type: 4,ENCRYPTED")) {
        mf_error_set(err, -1, "%s: \"%s\": an encrypted key (no passphrase is asked): give it decrypted, readable by "
                     "mcpfed alone", what, file);
        return -1;
    }
    return 0;
}
