/* A listener's configuration: its URL and the limits of the http table. */
#include "server.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const keys[] = {
    "url", "max_header_bytes", "max_body_bytes", "idle_timeout_ms", "read_timeout_ms",
    "max_write_queue_bytes", "max_connections", "session_idle_ms", "max_sessions",
    "replay_events", "replay_bytes", "sse_keepalive_ms", "allowed_origins", "allowed_hosts",
    "ws_ping_interval_ms", "ws_idle_timeout_ms", "ws_max_frame_bytes", "ws_max_message_bytes", NULL,
};

static char **strings(const json_t *arr)
{
    if (!arr)
        return NULL;
    size_t n = json_array_size(arr);
    char **out = calloc(n + 1, sizeof *out);
    for (size_t i = 0; i < n; i++)
        out[i] = strdup(json_string_value(json_array_get(arr, i)));
    return out;
}

static void free_strings(char **l)
{
    for (char **p = l; p && *p; p++)
        free(*p);
    free(l);
}

/* "http://127.0.0.1:8808/mcp" or "http://[::1]:8808/mcp": literal addresses only;
 * "ws://..." the same for a listener of WebSocket upgrades only. */
static int parse_url(const char *url, const char *path, http_server_conf *o, mf_error *err)
{
    o->ws_only = strncmp(url, "ws://", 5) == 0;
    if (strncmp(url, "http://", 7) != 0 && !o->ws_only) {
        mf_error_set(err, -1, "%s.url: \"%s\" must start with http:// or ws:// (put a TLS proxy in "
                     "front for https and wss)", path, url);
        return -1;
    }
    const char *p = url + (o->ws_only ? 5 : 7), *hend, *portp;
    if (*p == '[') {
        hend = strchr(p, ']');
        if (!hend) {
            mf_error_set(err, -1, "%s.url: \"%s\": unterminated [IPv6] address", path, url);
            return -1;
        }
        size_t n = (size_t)(hend - p - 1);
        if (n >= sizeof o->host)
            n = sizeof o->host - 1;
        memcpy(o->host, p + 1, n);
        o->host[n] = '\0';
        portp = hend + 1;
    } else {
        hend = p + strcspn(p, ":/");
        size_t n = (size_t)(hend - p);
        if (n >= sizeof o->host)
            n = sizeof o->host - 1;
        memcpy(o->host, p, n);
        o->host[n] = '\0';
        portp = hend;
    }
    o->port = 80;
    if (*portp == ':') {
        char *end;
        long port = strtol(portp + 1, &end, 10);
        if (end == portp + 1 || port < 0 || port > 65535 || (*end && *end != '/')) {
            mf_error_set(err, -1, "%s.url: \"%s\": bad port", path, url);
            return -1;
        }
        o->port = (int)port;
        portp = end;
    }
    o->path = strdup(*portp == '/' ? portp : "/");
    struct sockaddr_in6 a6;
    struct sockaddr_in a4;
    if (uv_ip4_addr(o->host, o->port, &a4) == 0) {
        o->loopback = strncmp(o->host, "127.", 4) == 0;
    } else if (uv_ip6_addr(o->host, o->port, &a6) == 0) {
        o->loopback = strcmp(o->host, "::1") == 0;
    } else {
        mf_error_set(err, -1, "%s.url: \"%s\": the host must be an IPv4 or [IPv6] address", path, url);
        return -1;
    }
    return 0;
}

int http_server_conf_parse(const json_t *conf, const char *path, http_server_conf *o, mf_error *err)
{
    memset(o, 0, sizeof *o);
    int64_t v[16] = {16384, 4 * 1024 * 1024, 60000, 30000, 16 * 1024 * 1024, 20000,
                     1800000, 10000, 256, 1024 * 1024, 15000, 25000, 60000, -1, -1, 0};
    const char *url = NULL;
    const json_t *origins = NULL, *hosts = NULL;
    if (mf_conf_keys(conf, path, keys, err) ||
        mf_conf_string(conf, path, "url", true, &url, err) ||
        mf_conf_int(conf, path, "max_header_bytes", 256, 1024 * 1024, &v[0], err) ||
        mf_conf_int(conf, path, "max_body_bytes", 1024, INT64_C(1) << 32, &v[1], err) ||
        mf_conf_int(conf, path, "idle_timeout_ms", 1, 86400000, &v[2], err) ||
        mf_conf_int(conf, path, "read_timeout_ms", 1, 86400000, &v[3], err) ||
        mf_conf_int(conf, path, "max_write_queue_bytes", 4096, INT64_C(1) << 32, &v[4], err) ||
        mf_conf_int(conf, path, "max_connections", 1, 10000000, &v[5], err) ||
        mf_conf_int(conf, path, "session_idle_ms", 1, INT64_C(1) << 40, &v[6], err) ||
        mf_conf_int(conf, path, "max_sessions", 1, 10000000, &v[7], err) ||
        mf_conf_int(conf, path, "replay_events", 0, 1000000, &v[8], err) ||
        mf_conf_int(conf, path, "replay_bytes", 0, INT64_C(1) << 32, &v[9], err) ||
        mf_conf_int(conf, path, "sse_keepalive_ms", 0, 86400000, &v[10], err) ||
        mf_conf_int(conf, path, "ws_ping_interval_ms", 0, 86400000, &v[11], err) ||
        mf_conf_int(conf, path, "ws_idle_timeout_ms", 0, 86400000, &v[12], err) ||
        mf_conf_int(conf, path, "ws_max_frame_bytes", 125, INT64_C(1) << 32, &v[13], err) ||
        mf_conf_int(conf, path, "ws_max_message_bytes", 125, INT64_C(1) << 32, &v[14], err) ||
        mf_conf_strings(conf, path, "allowed_origins", false, false, &origins, err) ||
        mf_conf_strings(conf, path, "allowed_hosts", false, false, &hosts, err))
        return -1;
    if (parse_url(url, path, o, err)) {
        free(o->path);
        o->path = NULL;
        return -1;
    }
    o->url = strdup(url);
    o->limits = (http_limits){
        .max_header_bytes = (size_t)v[0], .max_body_bytes = (size_t)v[1],
        .idle_ms = (uint64_t)v[2], .request_ms = (uint64_t)v[3],
        .max_write_queue = (size_t)v[4], .max_connections = (size_t)v[5],
        /* a message is at most a request body, unless said otherwise; a frame at most a message */
        .ws_max_message = (size_t)(v[14] >= 0 ? v[14] : v[1]),
        .ws_ping_ms = (uint64_t)v[11], .ws_idle_ms = (uint64_t)v[12],
    };
    o->limits.ws_max_frame = v[13] >= 0 ? (size_t)v[13] : o->limits.ws_max_message;
    o->session_idle_ms = (uint64_t)v[6];
    o->max_sessions = (size_t)v[7];
    o->replay_events = (size_t)v[8];
    o->replay_bytes = (size_t)v[9];
    o->keepalive_ms = (uint64_t)v[10];
    o->allowed_origins = strings(origins);
    o->allowed_hosts = strings(hosts);
    return 0;
}

void http_server_conf_free(http_server_conf *c)
{
    free(c->url);
    free(c->path);
    free_strings(c->allowed_origins);
    free_strings(c->allowed_hosts);
    memset(c, 0, sizeof *c);
}
