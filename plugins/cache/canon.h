/* The canonical form of a tool call: the key its result is cached under. */
#ifndef CACHE_CANON_H
#define CACHE_CANON_H

#include <mcpfed/mcpfed.h>

/* tool, a NUL byte, then args as compact JSON with object keys sorted and every number
 * that has an integer value written as that integer (1, 1.0, 1e0 and -0.0 as 1, 1, 1, 0);
 * other numbers with 17 significant digits, which read back as the same double. args NULL
 * is {}.
 * malloc'd, *len set; NULL when args is no object. */
char *cache_canon_key(const char *tool, const json_t *args, size_t *len);

#endif
