/* Listening URLs' addresses (url.h). */
#include "url.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int mf_url_parse(const char *text, mf_url *u, char *err, size_t cap)
{
    memset(u, 0, sizeof *u);
    const char *sep = strstr(text, "://");
    if (!sep || sep == text || (size_t)(sep - text) >= sizeof u->scheme) {
        snprintf(err, cap, "expected scheme://host:port/path");
        return -1;
    }
    memcpy(u->scheme, text, (size_t)(sep - text));
    const char *h = sep + 3, *hend, *rest;
    if (*h == '[') {
        hend = strchr(h, ']');
        if (!hend) {
            snprintf(err, cap, "an IPv6 address lacks its ']'");
            return -1;
        }
        h++;
        rest = hend + 1;
    } else {
        hend = h + strcspn(h, ":/?#");
        rest = hend;
    }
    if (hend == h || (size_t)(hend - h) >= sizeof u->host) {
        snprintf(err, cap, "expected a host");
        return -1;
    }
    memcpy(u->host, h, (size_t)(hend - h));
    if (strcmp(u->host, "localhost") == 0)
        strcpy(u->host, "127.0.0.1");
    unsigned char addr[16];
    if (inet_pton(AF_INET, u->host, addr) != 1 && inet_pton(AF_INET6, u->host, addr) != 1) {
        snprintf(err, cap, "the host must be an IP address (or localhost), not %s", u->host);
        return -1;
    }
    u->port = 80;
    if (*rest == ':') {
        char *end;
        long port = strtol(rest + 1, &end, 10);
        if (end == rest + 1 || port < 0 || port > 65535) {
            snprintf(err, cap, "expected a port from 0 to 65535");
            return -1;
        }
        u->port = (int)port;
        rest = end;
    }
    if (*rest && *rest != '/') {
        snprintf(err, cap, "expected '/' after the address");
        return -1;
    }
    size_t plen = strcspn(rest, "?#");
    if (plen >= sizeof u->path) {
        snprintf(err, cap, "the path is too long");
        return -1;
    }
    memcpy(u->path, plen ? rest : "/", plen ? plen : 1);
    return 0;
}

static bool wildcard(const char *host)
{
    return strcmp(host, "0.0.0.0") == 0 || strcmp(host, "::") == 0;
}

bool mf_url_same_address(const mf_url *a, const mf_url *b)
{
    if (a->port != b->port || a->port == 0)
        return false;
    return strcmp(a->host, b->host) == 0 || wildcard(a->host) || wildcard(b->host);
}
