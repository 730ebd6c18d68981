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
/* The upstream's replica rep asks something of a client (msg, not ping): keyed, and handed
 * to the kernel with the request it came with (related, or 0). */
void asks_forward(asks *a, mf_instance *inst, const json_t *msg, int rep, uint64_t related);
/* The upstream's replica rep takes back a request it made (notifications/cancelled): the
 * kernel is told, naming it by our key; nothing when the request is not known. */
void asks_cancelled(asks *a, mf_instance *inst, const json_t *msg, int rep);
/* The kernel's answer m (MF_MSG_RESPONSE, key m->corr) as the response to send the upstream,
 * with the replica that asked in *rep; NULL when the key is not known. */
json_t *asks_answer(asks *a, const mf_msg *m, int *rep);
/* For a successor, and back (keys kept); -1 if the saved list is not of that shape. */
json_t *asks_save(const asks *a);
int asks_adopt(asks *a, const json_t *saved);

#endif
