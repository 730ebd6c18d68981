/* Requests an upstream made of a client, by local key: the SDK's id map, each value the
 * upstream's id and the replica that asked. */
#include "asks.h"

uint64_t asks_put(asks *a, json_t *id, int rep)
{
    json_t *v = json_pack("[O,i]", id, rep);
    uint64_t key = mf_idmap_put(&a->map, v);
    json_decref(v);
    return key;
}

json_t *asks_take(asks *a, uint64_t key, int *rep)
{
    json_t *v = mf_idmap_take(&a->map, key);
    if (!v)
        return NULL;
    json_t *id = json_incref(json_array_get(v, 0));
    if (rep)
        *rep = (int)json_integer_value(json_array_get(v, 1));
    json_decref(v);
    return id;
}

bool asks_has(const asks *a, uint64_t key) { return mf_idmap_has(&a->map, key); }

bool asks_key_of(const asks *a, const json_t *id, int rep, uint64_t *key)
{
    json_t *v = json_pack("[O,i]", id, rep);
    bool found = mf_idmap_key_of(&a->map, v, key);
    json_decref(v);
    return found;
}

void asks_clear(asks *a) { mf_idmap_clear(&a->map); }

json_t *asks_answer(asks *a, const mf_msg *m, int *rep)
{
    json_t *id = asks_take(a, m->corr, rep);
    if (!id)
        return NULL;
    json_t *out = json_pack("{s:s,s:o}", "jsonrpc", "2.0", "id", id);
    json_t *error = json_object_get(m->json, "error");
    json_object_set(out, error ? "error" : "result", error ? error : json_object_get(m->json, "result"));
    return out;
}

void asks_forward(asks *a, mf_instance *inst, const json_t *msg, int rep, uint64_t related)
{
    uint64_t key = asks_put(a, json_object_get(msg, "id"), rep);
    mf_provider_ask(inst, json_deep_copy(msg), key, related);
}

void asks_cancelled(asks *a, mf_instance *inst, const json_t *msg, int rep)
{
    uint64_t key;
    if (!asks_key_of(a, json_object_get(json_object_get(msg, "params"), "requestId"), rep, &key))
        return;
    json_decref(asks_take(a, key, NULL));
    json_t *note = json_deep_copy(msg);
    json_object_set_new(json_object_get(note, "params"), "requestId", json_integer((json_int_t)key));
    mf_provider_notify(inst, note, 0);
}

json_t *asks_save(const asks *a) { return mf_idmap_save(&a->map); }

int asks_adopt(asks *a, const json_t *saved)
{
    if (saved && !json_is_array(saved))
        return -1;
    /* states before version 4 wrote [key, id, replica] */
    json_t *pairs = json_array();
    size_t i;
    json_t *x;
    json_array_foreach(saved, i, x) {
        json_t *v = json_array_size(x) == 3 ? json_pack("[O,O]", json_array_get(x, 1), json_array_get(x, 2))
                                            : json_incref(json_array_get(x, 1));
        if (!json_is_array(v) || json_array_size(v) != 2 || !json_is_integer(json_array_get(v, 1))) {
            json_decref(v);
            json_decref(pairs);
            return -1;
        }
        json_array_append_new(pairs, json_pack("[O,o]", json_array_get(x, 0), v));
    }
    int rc = mf_idmap_adopt(&a->map, pairs);
    json_decref(pairs);
    return rc;
}
