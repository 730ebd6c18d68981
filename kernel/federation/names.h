/* Public names of federated items: "<prefix>__<upstream name>", within the MCP-safe
 * alphabet and length. */
#ifndef MF_NAMES_H
#define MF_NAMES_H

#include "kernel.h"

#define MF_NAME_MAX 64
#define MF_NAME_SEPARATOR "__"

/* Write the public name of upstream under prefix (NULL: no prefix) into out
 * (MF_NAME_MAX + 1 bytes). Returns 1 if the name had to change beyond the prefix
 * (characters replaced, or shortened), 0 if not, -1 if upstream is empty. */
int mf_public_name(const char *prefix, const char *upstream, char *out);

/* The text of v if it is a string that can be a name or a URI, NULL if it is not a string
 * or holds a NUL byte: names are compared as C strings, which would take such a one for
 * its part before the NUL. */
const char *mf_name_text(const json_t *v);

/* What a request's params name: their "name" when it is a string (a tool's, a prompt's),
 * else their "uri" (a resource's), as it is; NULL when neither is there. */
const json_t *mf_params_named(const json_t *params);

#endif
