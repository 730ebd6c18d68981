/* Requests an upstream made of a client, while the kernel finds them an answer: each gets
 * a local key (the corr of mf_provider_ask), and the upstream's id comes back, of its own
 * JSON type, when the answer does. Unlike the SDK's mf_idmap, it can be listed, so that a
 * successor can answer what its predecessor was asked. */
#ifndef HTTP_ASKS_H
#define HTTP_ASKS_H

#include <mcpfed/mcpfed.h>
#include <uthash.h>

typedef struct ask {
    uint64_t key;
    json_t *id;
    int rep;         /* the replica that asked */
    UT_hash_handle hh;
} ask;

typedef struct asks {
    ask *map;
    uint64_t next;   /* the last key given */
} asks;

uint64_t asks_put(asks *a, json_t *id, int rep);  /* keeps a reference; 0 when out of memory */
json_t *asks_take(asks *a, uint64_t key, int *rep); /* the reference, or NULL; rep may be NULL */
bool asks_has(const asks *a, uint64_t key);
bool asks_key_of(const asks *a, const json_t *id, int rep, uint64_t *key);
void asks_clear(asks *a);
/* As [[key, id, rep], ...], and back (keys kept). */
json_t *asks_save(const asks *a);
void asks_adopt(asks *a, const json_t *list);

#endif
