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

#endif
