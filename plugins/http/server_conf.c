/* A listener's configuration: its URL and the limits of the http table. */
#include "server.h"
#include "auth.h"

#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct settings {
    /* first: the auth tables' offsets are into http_auth_settings (auth.h) */
    http_auth_settings auth;
    const char *url;
    int64_t max_header_bytes, max_body_bytes, idle_timeout_ms, read_timeout_ms, max_write_queue_bytes,
        max_connections, session_idle_ms, max_sessions, replay_events, replay_bytes, sse_keepalive_ms,
        ws_ping_interval_ms, ws_idle_timeout_ms, ws_max_frame_bytes, ws_max_message_bytes;
    const json_t *allowed_origins, *allowed_hosts;
    /* the tls table */
    const json_t *tls;
    const char *tls_cert_file, *tls_key_file, *tls_ca_file;
    int tls_min_version, tls_verify_client;
} settings;

_Static_assert(offsetof(settings, auth) == 0, "the auth settings start the listener's");

#define S(field) MF_AT(settings, field)
static const char *const tls_versions[] = {"1.2", "1.3", NULL};
static const char *const tls_verify_modes[] = {"require", "optional", NULL};
static const mf_setting tls_settings[] = {
    {"cert_file", MF_SET_STRING, .def_doc = "required", .at = S(tls_cert_file),
     .doc = "the server's certificate (PEM), then any intermediates"},
    {"key_file", MF_SET_STRING, .def_doc = "required", .at = S(tls_key_file), .doc = "its private key (PEM)"},
    {"ca_file", MF_SET_STRING, .def_doc = "none", .at = S(tls_ca_file),
     .doc = "CA certificates (PEM) that client certificates are verified against; set, clients are asked for one"},
    {"verify_client", MF_SET_ENUM, .def_doc = "\"require\" when ca_file is set", .choices = tls_verify_modes,
     .at = S(tls_verify_client), .doc = "\"require\": no verified certificate, no connection; \"optional\": none is accepted"},
    {"min_version", MF_SET_ENUM, .def = "1.2", .choices = tls_versions, .at = S(tls_min_version),
     .doc = "the oldest TLS version accepted"},
    {0},
};

const mf_setting http_transport_settings[] = {
    {"url", MF_SET_STRING, MF_SET_REQUIRED, .at = S(url),
     .doc = "http://, https://, ws:// or wss://ADDRESS:PORT/PATH, a literal IPv4 or [IPv6] address (in a listen entry)"},
    {"tls", MF_SET_TABLE, .def_doc = "none", .sub = tls_settings, .at = S(tls),
     .doc = "https:// and wss:// listeners: certificate, key, client certificates (re-read by `reload config`)"},
    {"max_header_bytes", MF_SET_BYTES, .def = "16384", .min = 256, .max = 1024 * 1024, .at = S(max_header_bytes),
     .doc = "request line and headers (then 431)"},
    {"max_body_bytes", MF_SET_BYTES, .def = "4194304", .min = 1024, .max = INT64_C(1) << 32, .at = S(max_body_bytes),
     .doc = "a request's body (then 413)"},
    {"read_timeout_ms", MF_SET_DURATION, .def = "30000", .min = 1, .max = 86400000, .at = S(read_timeout_ms),
     .doc = "a request must arrive whole within this (then 408)"},
    {"idle_timeout_ms", MF_SET_DURATION, .def = "60000", .min = 1, .max = 86400000, .at = S(idle_timeout_ms),
     .doc = "a kept-alive connection with no request is closed after this"},
    {"max_write_queue_bytes", MF_SET_BYTES, .def = "16777216", .min = 4096, .max = INT64_C(1) << 32,
     .at = S(max_write_queue_bytes), .doc = "a client this far behind in reading is disconnected"},
    {"max_connections", MF_SET_INT, .def = "20000", .min = 1, .max = 10000000, .at = S(max_connections),
     .doc = "connections at once (then 503)"},
    {"session_idle_ms", MF_SET_DURATION, .def = "1800000", .min = 1, .max = INT64_C(1) << 40,
     .at = S(session_idle_ms), .doc = "a session idle this long ends"},
    {"max_sessions", MF_SET_INT, .def = "10000", .min = 1, .max = 10000000, .at = S(max_sessions),
     .doc = "sessions at once (then initialize gets 503)"},
    {"replay_events", MF_SET_INT, .def = "256", .min = 0, .max = 1000000, .at = S(replay_events),
     .doc = "events kept per session for Last-Event-ID"},
    {"replay_bytes", MF_SET_BYTES, .def = "1048576", .min = 0, .max = INT64_C(1) << 32, .at = S(replay_bytes),
     .doc = "bytes of events kept per session"},
    {"sse_keepalive_ms", MF_SET_DURATION, .def = "15000", .min = 0, .max = 86400000, .at = S(sse_keepalive_ms),
     .doc = "a comment on open streams this often (0: never)"},
    {"allowed_origins", MF_SET_STRINGS, .def_doc = "loopback origins", .at = S(allowed_origins),
     .doc = "browser origins allowed to call; \"*\": any"},
    {"allowed_hosts", MF_SET_STRINGS, .def_doc = "loopback names on a loopback listener, else any",
     .at = S(allowed_hosts), .doc = "Host values allowed"},
    {"ws_ping_interval_ms", MF_SET_DURATION, .def = "25000", .min = 0, .max = 86400000, .at = S(ws_ping_interval_ms),
     .doc = "WebSocket: a ping this often (0: none)"},
    {"ws_idle_timeout_ms", MF_SET_DURATION, .def = "60000", .min = 0, .max = 86400000, .at = S(ws_idle_timeout_ms),
     .doc = "WebSocket: a connection silent this long, pongs included, is closed with 1008 (0: never)"},
    {"ws_max_message_bytes", MF_SET_BYTES, .def_doc = "max_body_bytes", .min = 125, .max = INT64_C(1) << 32,
     .at = S(ws_max_message_bytes), .doc = "WebSocket: a message, its fragments together (then 1009)"},
    {"ws_max_frame_bytes", MF_SET_BYTES, .def_doc = "ws_max_message_bytes", .min = 125, .max = INT64_C(1) << 32,
     .at = S(ws_max_frame_bytes), .doc = "WebSocket: one frame's payload (then 1009)"},
    {"auth", MF_SET_TABLE, .def_doc = "none: anyone may call", .sub = http_auth_settings_table, .at = S(auth.table),
     .doc = "who may call: API keys, JWT bearer tokens, anonymous (see Authentication)"},
    {0},
};
#undef S

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
 * "ws://..." the same for a listener of WebSocket upgrades only; https:// and wss:// the
 * same over TLS. */
static int parse_url(const char *url, const char *path, http_server_conf *o, mf_error *err)
{
    static const struct { const char *scheme; bool ws, tls; } schemes[] = {
        {"http://", false, false}, {"https://", false, true}, {"ws://", true, false}, {"wss://", true, true},
    };
    const char *p = NULL;
    for (size_t i = 0; i < sizeof schemes / sizeof schemes[0] && !p; i++)
        if (strncmp(url, schemes[i].scheme, strlen(schemes[i].scheme)) == 0) {
            p = url + strlen(schemes[i].scheme);
            o->ws_only = schemes[i].ws;
            o->tls.on = schemes[i].tls;
        }
    if (!p) {
        mf_error_set(err, -1, "%s.url: \"%s\" must start with http://, https://, ws:// or wss://", path, url);
        return -1;
    }
    const char *hend, *portp;
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
    o->port = o->tls.on ? 443 : 80;
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

/* The tls table against the URL's scheme; its files are read when the context is made. */
static int tls_conf(const settings *st, const char *path, http_tls_conf *t, mf_error *err)
{
    if (!t->on) {
        if (st->tls)
            mf_error_set(err, -1, "%s.tls: TLS settings on a plain listener (%s); use https:// or wss://", path,
                         st->url);
        return st->tls ? -1 : 0;
    }
    const char *missing = !st->tls_cert_file ? "cert_file" : !st->tls_key_file ? "key_file" : NULL;
    if (missing) {
        mf_error_set(err, -1, "%s.tls.%s: required on a TLS listener (%s)", path, missing, st->url);
        return -1;
    }
    if (st->tls_verify_client >= 0 && !st->tls_ca_file) {
        mf_error_set(err, -1, "%s.tls.verify_client: needs tls.ca_file, the CA that client certificates are "
                     "verified against", path);
        return -1;
    }
    t->cert_file = strdup(st->tls_cert_file);
    t->key_file = strdup(st->tls_key_file);
    t->ca_file = st->tls_ca_file ? strdup(st->tls_ca_file) : NULL;
    t->min_version = st->tls_min_version == 1 ? TLS1_3_VERSION : TLS1_2_VERSION;
    t->verify = !t->ca_file ? HTTP_TLS_VERIFY_NONE
                : st->tls_verify_client == 1 ? HTTP_TLS_VERIFY_OPTIONAL : HTTP_TLS_VERIFY_REQUIRE;
    return 0;
}

int http_server_conf_parse(const json_t *conf, const char *path, http_server_conf *o, mf_error *err)
{
    memset(o, 0, sizeof *o);
    /* the WebSocket sizes have no constant default: -1 until a key says otherwise */
    settings st = {.ws_max_frame_bytes = -1, .ws_max_message_bytes = -1, .tls_verify_client = -1};
    if (mf_settings_check(conf, path, http_transport_settings, &st, err))
        return -1;
    if (parse_url(st.url, path, o, err) || tls_conf(&st, path, &o->tls, err)) {
        http_server_conf_free(o);
        return -1;
    }
    o->url = strdup(st.url);
    o->limits = (http_limits){
        .max_header_bytes = (size_t)st.max_header_bytes, .max_body_bytes = (size_t)st.max_body_bytes,
        .idle_ms = (uint64_t)st.idle_timeout_ms, .request_ms = (uint64_t)st.read_timeout_ms,
        .max_write_queue = (size_t)st.max_write_queue_bytes, .max_connections = (size_t)st.max_connections,
        /* a message is at most a request body, unless said otherwise; a frame at most a message */
        .ws_max_message = (size_t)(st.ws_max_message_bytes >= 0 ? st.ws_max_message_bytes : st.max_body_bytes),
        .ws_ping_ms = (uint64_t)st.ws_ping_interval_ms, .ws_idle_ms = (uint64_t)st.ws_idle_timeout_ms,
    };
    o->limits.ws_max_frame = st.ws_max_frame_bytes >= 0 ? (size_t)st.ws_max_frame_bytes : o->limits.ws_max_message;
    o->session_idle_ms = (uint64_t)st.session_idle_ms;
    o->max_sessions = (size_t)st.max_sessions;
    o->replay_events = (size_t)st.replay_events;
    o->replay_bytes = (size_t)st.replay_bytes;
    o->keepalive_ms = (uint64_t)st.sse_keepalive_ms;
    o->allowed_origins = strings(st.allowed_origins);
    o->allowed_hosts = strings(st.allowed_hosts);
    mf_error aerr = {0};
    o->auth = http_auth_new(&st.auth, path, &aerr);
    if (aerr.code) {
        mf_error_set(err, -1, "%s", aerr.msg);
        http_server_conf_free(o);
        return -1;
    }
    return 0;
}

void http_server_conf_free(http_server_conf *c)
{
    free(c->url);
    free(c->path);
    free_strings(c->allowed_origins);
    free_strings(c->allowed_hosts);
    if (c->auth)
        http_auth_free(c->auth, NULL, NULL);
    http_tls_conf_free(&c->tls);
    memset(c, 0, sizeof *c);
}
