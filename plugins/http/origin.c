/* Origin and Host validation. A page on another site must not reach a gateway that
 * listens on loopback through DNS rebinding: its requests carry that site's Origin, or
 * a Host that is not a loopback name. */
#include "server.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>
#include <strings.h>

/* The host of "host[:port]" or "[v6][:port]" into out, brackets kept; false if it is
 * longer than out or what follows it is not a port. */
static bool host_part(const char *hostport, char *out, size_t cap)
{
    const char *end;
    if (hostport[0] == '[') {
        end = strchr(hostport, ']');
        if (!end)
            return false;
        end++;
    } else {
        end = hostport + strcspn(hostport, ":");
    }
    if (*end == ':' && (end[1] == '\0' || strspn(end + 1, "0123456789") != strlen(end + 1)))
        return false;
    if (*end && *end != ':')
        return false;
    size_t n = (size_t)(end - hostport);
    if (n == 0 || n >= cap)
        return false;
    memcpy(out, hostport, n);
    out[n] = '\0';
    return true;
}

/* Whether a host (as host_part leaves it) can only mean this machine. A name other than
 * localhost may resolve anywhere, and a rebinding attack gives it this machine's address;
 * an IP literal cannot be rebound. So: the name localhost (any case, as DNS names go), an
 * IPv4 literal in dotted-quad form within 127.0.0.0/8, or a bracketed IPv6 literal that is
 * ::1 or an IPv4-mapped address within 127.0.0.0/8. Other spellings of those addresses
 * ("127.1", "0x7f.1", "2130706433") are not taken: browsers send the canonical form, and
 * "localhost." or "*.localhost" are names a resolver may look up elsewhere. */
bool http_is_loopback_host(const char *host)
{
    if (strcasecmp(host, "localhost") == 0)
        return true;
    struct in_addr a4;
    if (inet_pton(AF_INET, host, &a4) == 1)
        return (ntohl(a4.s_addr) >> 24) == 127;
    size_t n = strlen(host);
    if (n < 3 || host[0] != '[' || host[n - 1] != ']' || n - 2 >= INET6_ADDRSTRLEN)
        return false;
    char lit[INET6_ADDRSTRLEN];
    memcpy(lit, host + 1, n - 2);
    lit[n - 2] = '\0';
    struct in6_addr a6;
    if (inet_pton(AF_INET6, lit, &a6) != 1)
        return false;
    return IN6_IS_ADDR_LOOPBACK(&a6) || (IN6_IS_ADDR_V4MAPPED(&a6) && a6.s6_addr[12] == 127);
}

const char *http_check_host(const http_server_conf *c, const char *host)
{
    if (!host || !*host)
        return "the request has no Host header";
    char name[256];
    if (!host_part(host, name, sizeof name))
        name[0] = '\0';   /* malformed: matches no name */
    if (c->allowed_hosts) {
        for (char **h = c->allowed_hosts; *h; h++)
            if (strcmp(*h, "*") == 0 || strcasecmp(*h, name) == 0 || strcasecmp(*h, host) == 0)
                return NULL;
        return "Host not allowed";
    }
    if (c->loopback && !http_is_loopback_host(name))
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
    if (rest && host_part(rest, name, sizeof name) && http_is_loopback_host(name))
        return NULL;
    return "Origin not allowed: only pages from this machine may call this listener";
}
