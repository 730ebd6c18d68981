/* The address part of a listening URL (scheme://host:port/path), for the metrics endpoint
 * and the check that it is no MCP listener's. */
#ifndef MF_URL_H
#define MF_URL_H

#include <stdbool.h>
#include <stddef.h>

typedef struct mf_url {
    char scheme[16];
    char host[64];     /* an IP address literal, without brackets; "localhost" is 127.0.0.1 */
    int port;          /* 0: any, chosen at bind */
    char path[256];    /* from the first '/', without the query */
} mf_url;

/* 0, or -1 with why (for "key: URL: why") in err. */
int mf_url_parse(const char *text, mf_url *u, char *err, size_t cap);
/* Could a and b be the same socket address? (the same port, and the same host or a wildcard) */
bool mf_url_same_address(const mf_url *a, const mf_url *b);

#endif
