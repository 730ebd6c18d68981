/* Origin and Host validation. A page on another site must not reach a gateway that
 * listens on loopback through DNS rebinding: its requests carry that site's Origin, or
 * a Host that is not a loopback name. */
#include "server.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* The host part of "host[:port]" or "[v6][:port]", into out. */
static void host_part(const char *hostport, char *out, size_t cap)
{
    size_t n;
    if (hostport[0] == '[') {
        const char *end = strchr(hostport, ']');
        n = end ? (size_t)(end - hostport) + 1 : strlen(hostport);
    } else {
        const char *colon = strchr(hostport, ':');
        n = colon ? (size_t)(colon - hostport) : strlen(hostport);
    }
    if (n >= cap)
        n = cap - 1;
    memcpy(out, hostport, n);
    out[n] = '\0';
}

static bool is_loopback_name(const char *host)
{
    return strcasecmp(host, "localhost") == 0 || strcmp(host, "[::1]") == 0 ||
           strncmp(host, "127.", 4) == 0;
}

const char *http_check_host(const http_server_conf *c, const char *host)
{
    if (!host || !*host)
        return "the request has no Host header";
    char name[256];
    host_part(host, name, sizeof name);
    if (c->allowed_hosts) {
        for (char **h = c->allowed_hosts; *h; h++)
            if (strcmp(*h, "*") == 0 || strcasecmp(*h, name) == 0 || strcasecmp(*h, host) == 0)
                return NULL;
        return "Host not allowed";
    }
    if (c->loopback && !is_loopback_name(name))
        return "Host not allowed: this listener serves loopback names only";
    return NULL;
}

const char *http_check_origin(const http_server_conf *c, const char *origin)
{
    if (!origin)
        return NULL;   /* not a browser: nothing to protect against */
    if (c->allowed_origins) {
        for (char **o = c->allowed_origins; *o; o++)
            if (strcmp(*o, "*") == 0 || strcasecmp(*o, origin) == 0)
                return NULL;
        return "Origin not allowed";
    }
    /* by default: pages served from this machine only */
    const char *rest = NULL;
    if (strncasecmp(origin, "http://", 7) == 0)
        rest = origin + 7;
    else if (strncasecmp(origin, "https://", 8) == 0)
        rest = origin + 8;
    char name[256];
    if (rest) {
        host_part(rest, name, sizeof name);
        if (is_loopback_name(name))
            return NULL;
    }
    return "Origin not allowed: only pages from this machine may call this listener";
}
