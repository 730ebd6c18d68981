/* Requests an upstream made of a client, by local key. */
#include "asks.h"

#include <stdlib.h>

uint64_t asks_put(asks *a, json_t *id, int rep)
{
    ask *e = malloc(sizeof *e);
    if (!e)
        return 0;
    e->key = ++a->next;
    e->id = json_incref(id);
    e->rep = rep;
    HASH_ADD(hh, a->map, key, sizeof e->key, e);
    return e->key;
}

json_t *asks_take(asks *a, uint64_t key, int *rep)
{
    ask *e;
    HASH_FIND(hh, a->map, &key, sizeof key, e);
    if (!e)
        return NULL;
    json_t *id = e->id;
    if (rep)
        *rep = e->rep;
    HASH_DEL(a->map, e);
    free(e);
    return id;
}

bool asks_has(const asks *a, uint64_t key)
{
    ask *e;
    HASH_FIND(hh, a->map, &key, sizeof key, e);
    return e != NULL;
}

bool asks_key_of(const asks *a, const json_t *id, int rep, uint64_t *key)
{
    for (ask *e = a->map; e; e = e->hh.next)
        if (e->rep == rep && json_equal(e->id, id)) {
            *key = e->key;
            return true;
        }
    return false;
}

void asks_clear(asks *a)
{
    ask *e, *tmp;
    HASH_ITER(hh, a->map, e, tmp) {
        HASH_DEL(a->map, e);
        json_decref(e->id);
        free(e);
    }
}

json_t *asks_save(const asks *a)
{
    json_t *list = json_array();
    for (ask *e = a->map; e; e = e->hh.next)
        json_array_append_new(list, json_pack("[I,O,i]", (json_int_t)e->key, e->id, e->rep));
    return list;
}

void asks_adopt(asks *a, const json_t *list)
{
    size_t i;
    json_t *x;
    json_array_foreach(list, i, x) {
        ask *e = malloc(sizeof *e);
        if (!e)
            return;
        e->key = (uint64_t)json_integer_value(json_array_get(x, 0));
        e->id = json_incref(json_array_get(x, 1));
        e->rep = (int)json_integer_value(json_array_get(x, 2));   /* absent: the first */
        HASH_ADD(hh, a->map, key, sizeof e->key, e);
    }
}
