/* The entries of the result cache: a hash by key, a list in order of use (LRU), a time to
 * live each, a cap on their bytes, and the figures per tool. No clock of its own: the time
 * is passed in, so the unit tests drive it. */
#ifndef CACHE_STORE_H
#define CACHE_STORE_H

#include <mcpfed/mcpfed.h>

typedef struct cstore cstore;

/* The longest time to live: 30 days. */
#define CS_MAX_TTL_MS (UINT64_C(30) * 86400000)

cstore *cs_new(uint64_t max_bytes);
void cs_free(cstore *c);
/* A new cap: least recently used entries go until the rest fits. */
void cs_set_cap(cstore *c, uint64_t max_bytes);
/* The result under key (a new reference) if it is still alive, else NULL; counts a hit or
 * a miss for the tool the key names. A hit becomes the most recently used. */
json_t *cs_get(cstore *c, const char *key, size_t len, uint64_t now);
/* Keep result (a reference is taken) under key until now + ttl_ms, in place of what was
 * there; then least recently used entries go until the bytes fit the cap. A result larger
 * than the cap on its own is not kept. */
void cs_put(cstore *c, const char *key, size_t len, const char *tool, json_t *result, uint64_t ttl_ms,
            uint64_t now);
void cs_coalesced(cstore *c, const char *tool);
/* Drop the entries of tool (NULL: every entry); how many went. */
size_t cs_clear(cstore *c, const char *tool);
size_t cs_entries(const cstore *c);
uint64_t cs_bytes(const cstore *c);
/* The figures: entries, bytes, max_bytes, hits, misses, evictions, expired, coalesced,
 * and per tool. */
json_t *cs_status(cstore *c, uint64_t now);
/* Everything as JSON for the next generation (entries most recently used first), and
 * back: an entry or a figure that is malformed is passed over; expired entries are
 * dropped, and none lives longer than CS_MAX_TTL_MS from now. */
json_t *cs_save(const cstore *c);
void cs_load(cstore *c, const json_t *state, uint64_t now);

#endif
