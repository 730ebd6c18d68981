/* SEP-2243 custom headers: a tool's inputSchema marks properties with "x-mcp-header":
 * "<Name>", and over HTTP a 2026-07-28 tools/call carries each such argument again in the
 * header Mcp-Param-<Name>. The kernel knows the tools, so it says which values a call
 * mirrors (for the HTTP provider to send) and whether the headers a client sent agree with
 * its arguments (for the HTTP transport to refuse with 400); encoding them is HTTP's. */
#ifndef MCPFED_PARAM_HEADERS_H
#define MCPFED_PARAM_HEADERS_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

/* {Name: value as text} for every argument in args that tool's inputSchema declares and
 * that has a primitive value; NULL when the tool declares none. */
json_t *mf_param_headers(const json_t *tool, const json_t *args);

/* Do the headers a client sent (given: {lower-case name: decoded text, or null for a
 * malformed encoding}) agree with args? False with why filled in when one is missing,
 * malformed or different. */
bool mf_param_headers_agree(const json_t *tool, const json_t *args, const json_t *given, char *why,
                            size_t why_len);

#endif
