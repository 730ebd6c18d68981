/* Where a listener without authentication of its own finds the caller's credentials: the
 * Authorization header of each request, as the client sent it. The token is not checked
 * here: the upstream that receives it (or the token endpoint) judges it. */
#include "bearer.h"

#include <string.h>
#include <strings.h>

void http_session_bearer(uint64_t ksid, const http_request *r)
{
    const char *v = http_header_get(r, "authorization");
    const char *token = NULL;
    if (v && strncasecmp(v, "bearer ", 7) == 0) {
        token = v + 7;
        token += strspn(token, " ");
        if (!*token)
            token = NULL;
    }
    mf_session_set_bearer(ksid, token);
}
