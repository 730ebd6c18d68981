/* The downstream side of the http plugin: one MCP endpoint per listener. */
#ifndef HTTP_SERVER_H
#define HTTP_SERVER_H

#include "http.h"
#include "tls.h"

/* A listener's settings (the "http" table of the configuration, per listener). */
typedef struct http_server_conf {
    char *url;
    char host[64];         /* the literal address to bind */
    int port;
    char *path;            /* the MCP endpoint */
    bool loopback;
    bool ws_only;          /* a ws:// or wss:// listener: WebSocket upgrades only */
    http_tls_conf tls;     /* https:// and wss:// (tls.on) */
    http_limits limits;
    uint64_t session_idle_ms;
    size_t max_sessions;
    size_t replay_events;  /* per session */
    size_t replay_bytes;
    uint64_t keepalive_ms; /* SSE comment on quiet streams */
    char **allowed_origins;  /* NULL: loopback origins only; "*" allows any */
    char **allowed_hosts;    /* NULL: loopback names on a loopback listener, else any */
    struct http_auth *auth;  /* NULL: no auth table, anyone may call (auth.h) */
} http_server_conf;

int http_server_conf_parse(const json_t *conf, const char *path, http_server_conf *out,
                           mf_error *err);
void http_server_conf_free(http_server_conf *c);

/* Origin and Host checks against DNS rebinding (origin.c). NULL: allowed; else why not. */
const char *http_check_origin(const http_server_conf *c, const char *origin);
const char *http_check_host(const http_server_conf *c, const char *host);
/* Whether host (a Host header's host part: a name, an IPv4 literal or a bracketed IPv6
 * literal) can only mean this machine. */
bool http_is_loopback_host(const char *host);

/* header_values.c: a value without the optional whitespace around it (not terminated:
 * *len says how long); a value decoded from "=?base64?...?=" when it has that form
 * (malloc'd, *len its length, which may hold NUL bytes; NULL if the base64 is malformed);
 * and whether an Mcp-Name header names exactly the JSON string body_name, byte for byte
 * (false if either is absent or malformed). */
const char *http_ows_trimmed(const char *v, size_t *len);
char *http_header_value_decoded(const char *raw, size_t *len);
bool http_mcp_name_matches(const char *header, const json_t *body_name);

#endif
