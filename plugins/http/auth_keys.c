/* API keys: only their SHA-256 hashes are configured; a presented key is hashed and
 * compared with each in constant time, so neither the keys nor how much of one matched
 * can be learnt from the gateway. */
#include "auth.h"

#include <ctype.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct key {
    char *id;
    unsigned char hash[32];
    json_t *scopes;
} key;

struct auth_keys {
    key *keys;
    size_t n;
};

const mf_setting http_key_settings[] = {
    {"id", MF_SET_STRING, MF_SET_REQUIRED, .doc = "the caller's name (the identity's subject)"},
    {"hash", MF_SET_STRING, MF_SET_REQUIRED, .doc = "\"sha256:\" and the key's SHA-256 in hex"},
    {"scopes", MF_SET_STRINGS, .def = "{}", .doc = "what the key may do"},
    {0},
};

void auth_keys_free(auth_keys *k)
{
    if (!k)
        return;
    for (size_t i = 0; i < k->n; i++) {
        free(k->keys[i].id);
        json_decref(k->keys[i].scopes);
    }
    free(k->keys);
    free(k);
}

static int hex_hash(const char *text, unsigned char out[32])
{
    if (strncmp(text, "sha256:", 7) != 0 || strlen(text + 7) != 64)
        return -1;
    for (int i = 0; i < 32; i++) {
        const char *p = text + 7 + 2 * i;
        if (!isxdigit((unsigned char)p[0]) || !isxdigit((unsigned char)p[1]))
            return -1;
        char b[3] = {p[0], p[1], 0};
        out[i] = (unsigned char)strtoul(b, NULL, 16);
    }
    return 0;
}

auth_keys *auth_keys_new(const json_t *list, const char *path, mf_error *err)
{
    auth_keys *k = calloc(1, sizeof *k);
    size_t n = json_array_size(list);
    k->keys = calloc(n ? n : 1, sizeof *k->keys);
    for (size_t i = 0; i < n; i++) {
        json_t *e = json_array_get(list, i);
        const char *id = json_string_value(json_object_get(e, "id"));
        const char *hash = json_string_value(json_object_get(e, "hash"));
        key *o = &k->keys[k->n];
        if (hex_hash(hash, o->hash)) {
            mf_error_set(err, -1, "%s.keys[%zu].hash: expected \"sha256:\" and 64 hex digits (the key's "
                         "SHA-256, e.g. from `printf %%s KEY | sha256sum`)", path, i + 1);
            auth_keys_free(k);
            return NULL;
        }
        for (size_t j = 0; j < k->n; j++)
            if (strcmp(k->keys[j].id, id) == 0) {
                mf_error_set(err, -1, "%s.keys[%zu].id: \"%s\" is already keys[%zu]", path, i + 1, id, j + 1);
                auth_keys_free(k);
                return NULL;
            }
        json_t *scopes = json_object_get(e, "scopes");
        o->id = strdup(id);
        o->scopes = json_is_array(scopes) ? json_deep_copy(scopes) : json_array();
        k->n++;
    }
    return k;
}

int auth_keys_verify(const auth_keys *k, const char *presented, json_t **identity)
{
    if (!presented)
        return 0;
    unsigned char h[32];
    unsigned int hl = 0;
    if (!EVP_Digest(presented, strlen(presented), h, &hl, EVP_sha256(), NULL) || hl != 32)
        return -1;
    const key *found = NULL;
    for (size_t i = 0; i < k->n; i++)   /* every key is compared: the time says nothing */
        if (CRYPTO_memcmp(h, k->keys[i].hash, 32) == 0)
            found = &k->keys[i];
    if (!found)
        return -1;
    *identity = json_pack("{s:s,s:s,s:O,s:{}}", "subject", found->id, "method", "key", "scopes",
                          found->scopes, "claims");
    return 1;
}
