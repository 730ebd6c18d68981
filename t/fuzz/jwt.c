/* Fuzz target: a JWT bearer token as a listener verifies it (plugins/http/auth_jwt.c), before
 * the caller is authenticated: the compact JWS, its header (alg, kid), signature and claims
 * (exp, nbf, iss, aud as a string or a list, the subject, the scopes), and the cache of
 * tokens verified lately, against the key set corpus/jwt-keys.json (RSA, EC P-256, P-384,
 * P-521, Ed25519; t/fuzz/mkauth.mjs made it and the signed seeds, which expire in 2100).
 *
 * Input: one byte choosing the verifier's settings, then the token; or, with the byte's bit
 * 32, the header's and claims' JSON that this file signs with the key set's "fuzz-ed" key.
 * Properties: a token verifies the same when presented again (from the cache); an
 * accepted token gives an identity {subject (non-empty), method "jwt", scopes (strings),
 * claims} whose issuer and audience are the settings' (and whose claims are those signed
 * here), and fails once a character of its
 * signature changes; a refusal's reason is printable ASCII without quotes (it goes into
 * the log line). */
#include "build-config.h"
#include "kernel.h"
#include "../../plugins/http/auth.h"
#include "fuzz.h"

#include <cjose/cjose.h>
#include <openssl/evp.h>
#include <string.h>

#define ISSUER "https://as.test"
#define AUDIENCE "https://mcp.test/mcp"
#define ED_SEED "mcpfed-fuzz-jwt-ed25519-key-seed"

static json_t *all_algs;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    mf_log_set_level(MF_LOG_ERROR);
    all_algs = json_pack("[ssssssssss]", "RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384",
                         "ES512", "EdDSA");
    return 0;
}

static jwt_verifier *verifier(uint8_t bits)
{
    static json_t *ed_only;
    if (!ed_only)
        ed_only = json_pack("[s]", "EdDSA");
    jwt_settings st = {
        .issuer = ISSUER,
        .audience = AUDIENCE,
        .jwks_file = FUZZ_CORPUS "/jwt-keys.json",
        .algorithms = (bits & 3) == 1 ? all_algs : (bits & 3) == 2 ? ed_only : NULL,
        .scope_claim = bits & 4 ? "scp" : "scope",
        .subject_claim = bits & 8 ? "client_id" : "sub",
        .clock_skew_ms = bits & 16 ? 0 : 60000,
        .jwks_refresh_ms = 3600000,
        .jwks_min_refetch_ms = 10000,
        .jwks_timeout_ms = 10000,
    };
    mf_error err = {0};
    jwt_verifier *v = jwt_verifier_new(&st, "fuzz", &err);
    if (!v) {
        fprintf(stderr, "%s\n", err.msg);
        abort();
    }
    return v;
}

static void check_reason(const char *why)
{
    for (const char *p = why; *p; p++)
        FUZZ_ASSERT(*p >= 0x20 && *p < 0x7f && *p != '"' && *p != '\\');
}

static void check_identity(const json_t *id, const char *subject_claim)
{
    FUZZ_ASSERT(json_is_object(id));
    const char *sub = json_string_value(json_object_get(id, "subject"));
    FUZZ_ASSERT(sub && *sub);
    FUZZ_ASSERT(strcmp(json_string_value(json_object_get(id, "method")), "jwt") == 0);
    const json_t *scopes = json_object_get(id, "scopes"), *s;
    size_t i;
    FUZZ_ASSERT(json_is_array(scopes));
    json_array_foreach(scopes, i, s) FUZZ_ASSERT(json_is_string(s) && json_string_length(s) > 0);
    const json_t *claims = json_object_get(id, "claims");
    FUZZ_ASSERT(json_is_object(claims));
    FUZZ_ASSERT(strcmp(json_string_value(json_object_get(claims, subject_claim)), sub) == 0);
    FUZZ_ASSERT(strcmp(json_string_value(json_object_get(claims, "iss")), ISSUER) == 0);
    FUZZ_ASSERT(json_is_number(json_object_get(claims, "exp")));
    const json_t *aud = json_object_get(claims, "aud");
    FUZZ_ASSERT(json_is_string(aud) || json_is_array(aud));
}

static char *b64url(const uint8_t *data, size_t len)
{
    char *out = NULL;
    size_t n;
    cjose_err ce;
    FUZZ_ASSERT(cjose_base64url_encode(data, len, &out, &n, &ce));
    return out;
}

/* header.claims, signed with the Ed25519 key "fuzz-ed" of the key set: its seed is fixed
 * (t/fuzz/mkauth.mjs derives the public key from the same one). */
static char *signed_token(const uint8_t *header, size_t hlen, const uint8_t *claims, size_t clen)
{
    static EVP_PKEY *key;
    if (!key)
        key = EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, NULL, (const unsigned char *)ED_SEED, 32);
    char *h = b64url(header, hlen), *c = b64url(claims, clen);
    size_t n = strlen(h) + strlen(c) + 1;
    char *input = malloc(n + 1);
    snprintf(input, n + 1, "%s.%s", h, c);
    unsigned char sig[64];
    size_t slen = sizeof sig;
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    FUZZ_ASSERT(key && ctx && EVP_DigestSignInit(ctx, NULL, NULL, NULL, key) == 1 &&
                EVP_DigestSign(ctx, sig, &slen, (const unsigned char *)input, n) == 1);
    EVP_MD_CTX_free(ctx);
    char *s = b64url(sig, slen);
    char *token = malloc(n + strlen(s) + 2);
    sprintf(token, "%s.%s", input, s);
    free(h);
    free(c);
    free(input);
    free(s);
    return token;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint8_t bits = fuzz_take_byte(&data, &size);
    char *token;
    json_t *claims = NULL;
    if (bits & 32) {
        /* signed here: the header's JSON (a default one when there is no newline), a newline,
         * the claims' JSON, so that the checks after the signature's see every input */
        static const char def_header[] = "{\"alg\":\"EdDSA\",\"kid\":\"fuzz-ed\"}";
        const uint8_t *nl = memchr(data, '\n', size);
        const uint8_t *c = nl ? nl + 1 : data;
        size_t clen = (size_t)(data + size - c);
        token = nl ? signed_token(data, (size_t)(nl - data), c, clen)
                   : signed_token((const uint8_t *)def_header, sizeof def_header - 1, c, clen);
        claims = json_loadb((const char *)c, clen, JSON_REJECT_DUPLICATES, NULL);
    } else {
        const uint8_t *nul = memchr(data, 0, size);
        size_t len = nul ? (size_t)(nul - data) : size;
        token = malloc(len + 1);
        memcpy(token, data, len);
        token[len] = '\0';
    }

    jwt_verifier *v = verifier(bits);
    json_t *id = NULL, *again = NULL;
    char why[200] = "", why2[200] = "";
    int rc = jwt_verify(v, token, &id, why, sizeof why);
    int rc2 = jwt_verify(v, token, &again, why2, sizeof why2);
    FUZZ_ASSERT(rc == rc2);
    if (rc == 0) {
        check_identity(id, bits & 8 ? "client_id" : "sub");
        if (bits & 32)
            FUZZ_ASSERT(json_equal(json_object_get(id, "claims"), claims));
        FUZZ_ASSERT(json_equal(id, again));
        /* another signature: one character in the middle of it changed */
        char *sig = strrchr(token, '.') + 1;
        size_t slen = strlen(sig);
        FUZZ_ASSERT(slen > 0);
        char *m = sig + slen / 2;
        *m = *m == 'A' ? 'B' : 'A';
        json_t *forged = NULL;
        FUZZ_ASSERT(jwt_verify(v, token, &forged, why, sizeof why) == -1 && !forged);
        check_reason(why);
    } else {
        FUZZ_ASSERT(!id && !again && why[0] && strcmp(why, why2) == 0);
        check_reason(why);
    }
    json_decref(id);
    json_decref(again);
    json_decref(claims);
    jwt_verifier_free(v, NULL, NULL);
    free(token);
    return 0;
}
