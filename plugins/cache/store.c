/* The result cache's entries and figures. */
#include "store.h"

#include <stdlib.h>
#include <string.h>
#include <uthash.h>
#include <utlist.h>

/* What an entry costs besides its key and result: its struct and hash handle, roughly. */
#define ENTRY_OVERHEAD 128

typedef struct tstats {
    char *tool;
    uint64_t entries, bytes, hits, misses, evictions, expired, coalesced;
    UT_hash_handle hh;
} tstats;

typedef struct entry {
    char *key;
    size_t len;
    tstats *t;
    json_t *result;
    uint64_t bytes, expires;
    struct entry *prev, *next;   /* most recently used first */
    UT_hash_handle hh;
} entry;

struct cstore {
    entry *by_key, *lru;
    tstats *tools;
    uint64_t max_bytes, bytes, entries;
    uint64_t hits, misses, evictions, expired, coalesced;
};

cstore *cs_new(uint64_t max_bytes)
{
    cstore *c = mf_xcalloc(1, sizeof *c);
    c->max_bytes = max_bytes;
    return c;
}

static tstats *tool_of(cstore *c, const char *tool)
{
    tstats *t;
    HASH_FIND_STR(c->tools, tool, t);
    if (!t) {
        t = mf_xcalloc(1, sizeof *t);
        t->tool = mf_xstrdup(tool);
        HASH_ADD_KEYPTR(hh, c->tools, t->tool, strlen(t->tool), t);
    }
    return t;
}

static void drop(cstore *c, entry *e)
{
    HASH_DEL(c->by_key, e);
    DL_DELETE(c->lru, e);
    c->bytes -= e->bytes;
    c->entries--;
    e->t->bytes -= e->bytes;
    e->t->entries--;
    json_decref(e->result);
    free(e->key);
    free(e);
}

void cs_free(cstore *c)
{
    if (!c)
        return;
    entry *e, *tmp;
    DL_FOREACH_SAFE(c->lru, e, tmp) drop(c, e);
    tstats *t, *ttmp;
    HASH_ITER(hh, c->tools, t, ttmp) {
        HASH_DEL(c->tools, t);
        free(t->tool);
        free(t);
    }
    free(c);
}

static void fit(cstore *c)
{
    while (c->bytes > c->max_bytes && c->lru) {
        entry *last = c->lru->prev;   /* utlist: the head's prev is the tail */
        c->evictions++;
        last->t->evictions++;
        drop(c, last);
    }
}

void cs_set_cap(cstore *c, uint64_t max_bytes)
{
    c->max_bytes = max_bytes;
    fit(c);
}

static entry *find(cstore *c, const char *key, size_t len)
{
    entry *e;
    HASH_FIND(hh, c->by_key, key, len, e);
    return e;
}

json_t *cs_get(cstore *c, const char *key, size_t len, uint64_t now)
{
    entry *e = find(c, key, len);
    if (e && e->expires <= now) {
        c->expired++;
        e->t->expired++;
        drop(c, e);
        e = NULL;
    }
    if (!e) {
        c->misses++;
        tool_of(c, key)->misses++;   /* the key starts with the tool's name and a NUL */
        return NULL;
    }
    c->hits++;
    e->t->hits++;
    DL_DELETE(c->lru, e);
    DL_PREPEND(c->lru, e);
    return json_incref(e->result);
}

static void insert(cstore *c, const char *key, size_t len, const char *tool, json_t *result, uint64_t bytes,
                   uint64_t expires, bool newest)
{
    entry *old = find(c, key, len);
    if (old)
        drop(c, old);
    entry *e = mf_xcalloc(1, sizeof *e);
    e->key = mf_xmalloc(len ? len : 1);
    memcpy(e->key, key, len);
    e->len = len;
    e->t = tool_of(c, tool);
    e->result = json_incref(result);
    e->bytes = bytes;
    e->expires = expires;
    HASH_ADD_KEYPTR(hh, c->by_key, e->key, e->len, e);
    if (newest)
        DL_PREPEND(c->lru, e);
    else
        DL_APPEND(c->lru, e);
    c->bytes += bytes;
    c->entries++;
    e->t->bytes += bytes;
    e->t->entries++;
    fit(c);
}

static uint64_t cost(size_t len, const json_t *result)
{
    return (uint64_t)len + json_dumpb(result, NULL, 0, JSON_COMPACT) + ENTRY_OVERHEAD;
}

void cs_put(cstore *c, const char *key, size_t len, const char *tool, json_t *result, uint64_t ttl_ms,
            uint64_t now)
{
    uint64_t bytes = cost(len, result);
    if (bytes > c->max_bytes || !ttl_ms)
        return;
    if (ttl_ms > CS_MAX_TTL_MS)
        ttl_ms = CS_MAX_TTL_MS;
    insert(c, key, len, tool, result, bytes, now + ttl_ms, true);
}

void cs_coalesced(cstore *c, const char *tool)
{
    c->coalesced++;
    tool_of(c, tool)->coalesced++;
}

size_t cs_clear(cstore *c, const char *tool)
{
    size_t n = 0;
    entry *e, *tmp;
    DL_FOREACH_SAFE(c->lru, e, tmp) {
        if (!tool || strcmp(e->t->tool, tool) == 0) {
            drop(c, e);
            n++;
        }
    }
    return n;
}

size_t cs_entries(const cstore *c) { return (size_t)c->entries; }
uint64_t cs_bytes(const cstore *c) { return c->bytes; }

json_t *cs_status(cstore *c, uint64_t now)
{
    entry *e, *tmp;
    DL_FOREACH_SAFE(c->lru, e, tmp) {
        if (e->expires <= now) {
            c->expired++;
            e->t->expired++;
            drop(c, e);
        }
    }
    json_t *tools = json_object();
    tstats *t, *ttmp;
    HASH_ITER(hh, c->tools, t, ttmp) {
        json_object_set_new(tools, t->tool,
                            json_pack("{s:I,s:I,s:I,s:I,s:I,s:I,s:I}", "entries", (json_int_t)t->entries, "bytes",
                                      (json_int_t)t->bytes, "hits", (json_int_t)t->hits, "misses",
                                      (json_int_t)t->misses, "evictions", (json_int_t)t->evictions, "expired",
                                      (json_int_t)t->expired, "coalesced", (json_int_t)t->coalesced));
    }
    return json_pack("{s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:o}", "entries", (json_int_t)c->entries, "bytes",
                     (json_int_t)c->bytes, "max_bytes", (json_int_t)c->max_bytes, "hits", (json_int_t)c->hits,
                     "misses", (json_int_t)c->misses, "evictions", (json_int_t)c->evictions, "expired",
                     (json_int_t)c->expired, "coalesced", (json_int_t)c->coalesced, "tools", tools);
}

/* --- the state a hot swap hands over ------------------------------------------------ */

static const char *const counters[] = {"hits", "misses", "evictions", "expired", "coalesced", NULL};

static void counts_save(json_t *o, uint64_t hits, uint64_t misses, uint64_t evictions, uint64_t expired,
                        uint64_t coalesced)
{
    uint64_t v[] = {hits, misses, evictions, expired, coalesced};
    for (int i = 0; counters[i]; i++)
        json_object_set_new(o, counters[i], json_integer((json_int_t)v[i]));
}

/* Is the text UTF-8, as every key and tool name made from JSON is? (A saved state's strings
 * may hold any bytes; what is no JSON string could not be saved again.) */
static bool utf8(const char *s, size_t len)
{
    json_t *probe = json_stringn(s, len);
    json_decref(probe);
    return probe != NULL;
}

/* A figure of a saved state: a non-negative integer, else 0. */
static uint64_t figure(const json_t *o, const char *k)
{
    json_int_t v = json_integer_value(json_object_get(o, k));
    return v > 0 ? (uint64_t)v : 0;
}

json_t *cs_save(const cstore *c)
{
    json_t *entries = json_array();
    for (entry *e = c->lru; e; e = e->next)
        json_array_append_new(entries, json_pack("[s%,s,O,I]", e->key, e->len, e->t->tool, e->result,
                                                 (json_int_t)e->expires));
    json_t *tools = json_object();
    for (tstats *t = c->tools; t; t = t->hh.next) {
        json_t *o = json_object();
        counts_save(o, t->hits, t->misses, t->evictions, t->expired, t->coalesced);
        json_object_set_new(tools, t->tool, o);
    }
    json_t *st = json_pack("{s:i,s:o,s:o}", "version", 1, "entries", entries, "tools", tools);
    counts_save(st, c->hits, c->misses, c->evictions, c->expired, c->coalesced);
    return st;
}

void cs_load(cstore *c, const json_t *st, uint64_t now)
{
    if (json_integer_value(json_object_get(st, "version")) != 1)
        return;
    uint64_t *mine[] = {&c->hits, &c->misses, &c->evictions, &c->expired, &c->coalesced};
    for (int i = 0; counters[i]; i++)
        *mine[i] = figure(st, counters[i]);
    const char *name;
    json_t *o;
    json_object_foreach(json_object_get(st, "tools"), name, o) {
        if (!*name || !utf8(name, strlen(name)))
            continue;
        tstats *t = tool_of(c, name);
        uint64_t *theirs[] = {&t->hits, &t->misses, &t->evictions, &t->expired, &t->coalesced};
        for (int i = 0; counters[i]; i++)
            *theirs[i] = figure(o, counters[i]);
    }
    size_t i;
    json_t *x;
    /* most recently used first: each goes after the ones before it */
    json_array_foreach(json_object_get(st, "entries"), i, x) {
        json_t *k = json_array_get(x, 0), *tool = json_array_get(x, 1), *result = json_array_get(x, 2);
        json_t *exp = json_array_get(x, 3);
        if (!json_is_string(k) || !json_is_string(tool) || !json_is_object(result) || !json_is_integer(exp))
            continue;
        const char *key = json_string_value(k);
        size_t len = json_string_length(k), tl = strlen(json_string_value(tool));
        /* a key is its tool's name, a NUL, then the arguments */
        if (tl == 0 || len <= tl || memcmp(key, json_string_value(tool), tl + 1) != 0 ||
            json_string_length(tool) != tl || !utf8(key, len))
            continue;
        json_int_t expires = json_integer_value(exp);
        if (expires <= 0 || (uint64_t)expires <= now)
            continue;
        if ((uint64_t)expires - now > CS_MAX_TTL_MS)
            expires = (json_int_t)(now + CS_MAX_TTL_MS);
        uint64_t bytes = cost(len, result);
        if (bytes > c->max_bytes)
            continue;
        insert(c, key, len, json_string_value(tool), result, bytes, (uint64_t)expires, false);
    }
}
