/* Requests an upstream made of a client, while the kernel finds them an answer: each gets
 * a local key (the corr of mf_provider_ask), and the upstream's id comes back, of its own
 * JSON type, when the answer does. An mf_idmap whose values are [id, replica]. */
#ifndef HTTP_ASKS_H
#define HTTP_ASKS_H

#include <mcpfed/mcpfed.h>

typedef struct asks {
    mf_idmap map;
} asks;

uint64_t asks_put(asks *a, json_t *id, int rep);  /* keeps a reference */
json_t *asks_take(asks *a, uint64_t key, int *rep); /* the reference, or NULL; rep may be NULL */
bool asks_has(const asks *a, uint64_t key);
bool asks_key_of(const asks *a, const json_t *id, int rep, uint64_t *key);
void asks_clear(asks *a);
/* For a successor, and back (keys kept); -1 if the saved list is not of that shape. */
json_t *asks_save(const asks *a);
int asks_adopt(asks *a, const json_t *saved);

#endif
