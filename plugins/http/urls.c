/* What the http and ws plugins' parts share beyond the server: a provider's upstream URLs,
 * and the state a successor reads. */
#include "http.h"

#include <stdio.h>

#define MAX_URLS 256

int http_check_urls(const json_t *conf, const char *path, bool (*ok)(const char *url), const char *what,
                    mf_error *err)
{
    const json_t *urls = json_object_get(conf, "urls");
    if (!urls) {
        const char *url = NULL;
        if (mf_conf_string(conf, path, "url", false, &url, err))
            return -1;
        if (!url) {
            mf_error_set(err, -1, "%s.url: missing (or urls, a list of URLs)", path);
            return -1;
        }
        if (!ok(url)) {
            mf_error_set(err, -1, "%s.url: \"%s\" must be %s", path, url, what);
            return -1;
        }
        return 0;
    }
    if (json_object_get(conf, "url")) {
        mf_error_set(err, -1, "%s.urls: give url or urls, not both", path);
        return -1;
    }
    if (!json_is_array(urls) || json_array_size(urls) == 0 || json_array_size(urls) > MAX_URLS) {
        mf_error_set(err, -1, "%s.urls: expected a non-empty list of URLs (at most %d)", path, MAX_URLS);
        return -1;
    }
    size_t i;
    json_t *u;
    json_array_foreach(urls, i, u) {
        if (!json_is_string(u)) {
            mf_error_set(err, -1, "%s.urls[%zu]: expected a string (%s)", path, i + 1, what);
            return -1;
        }
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
