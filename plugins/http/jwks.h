/* A JSON Web Key Set: the public keys that sign the bearer tokens a listener accepts, from
 * a file or an HTTPS URL fetched off the request path (libcurl on the loop), kept and
 * fetched again periodically and when a token names a key it does not have (at most once
 * per min_refetch_ms). */
#ifndef HTTP_JWKS_H
#define HTTP_JWKS_H

#include <mcpfed/mcpfed.h>
#include <cjose/cjose.h>
#include <openssl/evp.h>

typedef struct jwk_key {
    char *kid;          /* NULL when the key has none */
    char kty[8];        /* "RSA", "EC", "OKP" */
    char crv[16];       /* EC, OKP: the curve */
    char *alg;          /* the key's own alg, when it names one */
    cjose_jwk_t *cj;    /* RSA, EC */
    EVP_PKEY *ed;       /* OKP Ed25519 */
} jwk_key;

typedef struct jwks jwks;

typedef struct jwks_opts {
    const char *url, *file;
    uint64_t refresh_ms, min_refetch_ms, timeout_ms;
} jwks_opts;

/* Keys from a file are read here; a URL's are fetched once jwks_start runs. */
jwks *jwks_new(const jwks_opts *o, mf_error *err);
int jwks_start(jwks *s, mf_error *err);
/* done(ud) once nothing of s is left on the loop. */
void jwks_free(jwks *s, void (*done)(void *ud), void *ud);
/* The key named kid (NULL: the set's only key), or NULL; a miss with a URL asks for the
 * set again. */
const jwk_key *jwks_find(jwks *s, const char *kid);
/* Is text[0..len) base64url as JOSE writes it (RFC 7515 section 2): the URL-safe alphabet
 * only, no padding, and no lone character at the end? Checked before libcjose decodes
 * anything a client or a JWKS server sent: its decoder aborts the process on some text that
 * is not (a '=' after a lone character). */
bool jose_b64url_ok(const char *text, size_t len);
/* Parse a JWKS document (for a file, and tests): 0, or -1 with err. */
int jwks_parse(const char *text, size_t len, jwk_key **keys, size_t *n, mf_error *err);
void jwks_keys_free(jwk_key *keys, size_t n);
/* Fetches so far (figures). */
uint64_t jwks_fetches(const jwks *s);
/* Hot swap: the fetched document the keys came from (NULL for a file, or before the
 * first fetch), and a successor's keys from it until its own fetch is in. */
const char *jwks_document(const jwks *s);
void jwks_seed(jwks *s, const char *text);
/* Changes whenever the keys do: what was verified with an older set is verified again. */
uint64_t jwks_generation(const jwks *s);

#endif
