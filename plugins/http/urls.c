/* What the http and ws plugins' parts share beyond the server: a provider's upstream URLs,
 * and the state a successor reads. */
#include "http.h"
#include "tls.h"

#include <stdio.h>

static int check_client_cert(const http_upstream_settings *st, const char *path, mf_error *err)
{
    if (!st->cert_file != !st->key_file) {
        mf_error_set(err, -1, "%s.%s: needed with %s", path, st->cert_file ? "key_file" : "cert_file",
                     st->cert_file ? "cert_file" : "key_file");
        return -1;
    }
    if (st->cert_file &&
        (http_file_readable(path, "cert_file", st->cert_file, err) || http_file_readable(path, "key_file", st->key_file, err)))
        return -1;
    return 0;
}

int http_check_urls(const http_upstream_settings *st, const char *path, bool (*ok)(const char *url),
                    const char *what, mf_error *err)
{
    if (check_client_cert(st, path, err))
        return -1;
    if (!st->urls) {
        if (!st->url) {
            mf_error_set(err, -1, "%s.url: missing (or urls, a list of URLs)", path);
            return -1;
        }
        if (!ok(st->url)) {
            mf_error_set(err, -1, "%s.url: \"%s\" must be %s", path, st->url, what);
            return -1;
        }
        return 0;
    }
    if (st->url) {
        mf_error_set(err, -1, "%s.urls: give url or urls, not both", path);
        return -1;
    }
    size_t i;
    json_t *u;
    json_array_foreach(st->urls, i, u) {
        if (!ok(json_string_value(u))) {
            mf_error_set(err, -1, "%s.urls[%zu]: \"%s\" must be %s", path, i + 1, json_string_value(u), what);
            return -1;
        }
    }
    return 0;
}

json_t *http_state_unpack(const char *state, size_t len, json_int_t version, mf_error *err)
{
    json_t *st = mf_state_unpack(state, len, err);
    if (st && json_integer_value(json_object_get(st, "v")) != version) {
        mf_error_set(err, -1, "the predecessor's state is of another version");
        json_decref(st);
        st = NULL;
    }
    return st;
}
