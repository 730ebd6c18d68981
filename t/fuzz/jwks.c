/* Fuzz target: a JSON Web Key Set as a listener reads it (plugins/http/jwks.c), from a file
 * or the body a jwks_url answered with, or handed over by a predecessor on a hot swap.
 *
 * Input: the document.
 * Properties: a set that parses holds only signature keys of a type a token can use, each
 * with its key material (RSA or EC through libcjose, Ed25519 through OpenSSL) and its curve
 * for EC and OKP; a set that does not parse says why; the same text handed to a key set on
 * a hot swap gives the same keys, found by their kid (or, alone, without one). */
#include "build-config.h"
#include "kernel.h"
#include "../../plugins/http/jwks.h"
#include "fuzz.h"

#include <string.h>

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    mf_log_set_level(MF_LOG_ERROR);
    return 0;
}

static void check_key(const jwk_key *k)
{
    if (strcmp(k->kty, "RSA") == 0) {
        FUZZ_ASSERT(k->cj && !k->ed);
        FUZZ_ASSERT(cjose_jwk_get_kty(k->cj, NULL) == CJOSE_JWK_KTY_RSA);
    } else if (strcmp(k->kty, "EC") == 0) {
        FUZZ_ASSERT(k->cj && !k->ed);
        FUZZ_ASSERT(cjose_jwk_get_kty(k->cj, NULL) == CJOSE_JWK_KTY_EC);
        FUZZ_ASSERT(strcmp(k->crv, "P-256") == 0 || strcmp(k->crv, "P-384") == 0 || strcmp(k->crv, "P-521") == 0);
    } else {
        FUZZ_ASSERT(strcmp(k->kty, "OKP") == 0 && strcmp(k->crv, "Ed25519") == 0);
        FUZZ_ASSERT(k->ed && !k->cj);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* a copy of exactly its length, so that a read past it is caught */
    char *text = malloc(size ? size : 1);
    memcpy(text, data, size);
    jwk_key *keys = NULL;
    size_t n = 0;
    mf_error err = {0};
    int rc = jwks_parse(text, size, &keys, &n, &err);
    free(text);
    if (rc) {
        FUZZ_ASSERT(err.code != 0 && err.msg[0]);
        return 0;
    }
    for (size_t i = 0; i < n; i++)
        check_key(&keys[i]);

    /* the same document from a predecessor (NUL-terminated, as it keeps it) */
    if (!memchr(data, 0, size)) {
        char *doc = strndup((const char *)data, size);
        jwks_opts o = {.refresh_ms = 3600000, .min_refetch_ms = 10000, .timeout_ms = 10000};
        jwks *s = jwks_new(&o, &err);
        FUZZ_ASSERT(s);
        jwks_seed(s, doc);
        FUZZ_ASSERT(jwks_generation(s) == 1);
        for (size_t i = 0; i < n; i++) {
            const jwk_key *k = jwks_find(s, keys[i].kid);
            if (keys[i].kid)
                FUZZ_ASSERT(k && k->kid && strcmp(k->kid, keys[i].kid) == 0);
            else
                FUZZ_ASSERT(n == 1 ? k != NULL : k == NULL);
            if (k)
                check_key(k);
        }
        jwks_free(s, NULL, NULL);
        free(doc);
    }
    jwks_keys_free(keys, n);
    return 0;
}
