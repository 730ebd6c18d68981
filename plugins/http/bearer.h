/* The client's bearer token, kept with its kernel session for the providers that pass it
 * on (credentials = "passthrough" or "exchange"). */
#ifndef HTTP_BEARER_H
#define HTTP_BEARER_H

#include "http.h"

/* Request r of kernel session ksid (just accepted): the session keeps the token of its
 * "Authorization: Bearer <token>" header, or none when it has no such header. */
void http_session_bearer(uint64_t ksid, const http_request *r);

#endif
