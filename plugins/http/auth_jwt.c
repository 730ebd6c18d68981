/* JWT bearer tokens (RFC 7519, RFC 9068 profile): a compact JWS signed with a key of the
 * listener's JWKS, for this gateway's audience, from its issuer, within its validity.
 *
 * Signatures are checked by libcjose (RSA, EC) or OpenSSL (Ed25519, which libcjose does not
 * know), only for the algorithms configured (never "none" nor HMAC: a public key must not
 * double as a shared secret), and only with a key whose type fits the token's alg. */
#include "auth.h"
#include "jwks.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <uthash.h>

/* Tokens verified lately, by their SHA-256, with the identity they gave: a client sends
 * the same token with each request until it expires, and a signature check costs far more
 * than a hash. An entry is only good while its key set is the same and its times hold. */
#define TOKEN_CACHE_MAX 4096

typedef struct verified {
    unsigned char hash[32];
    json_t *identity;
    uint64_t generation;
    UT_hash_handle hh;
} verified;

struct jwt_verifier {
    char *issuer, *audience, *scope_claim, *subject_claim;
    char **algs;
    uint64_t skew_ms;
    jwks *keys;
    verified *cache;   /* insertion order: the oldest first */
};

#define S(field) MF_AT(http_auth_settings, jwt_s.field)
const mf_setting http_jwt_settings[] = {
    {"issuer", MF_SET_STRING, .def_doc = "required", .at = S(issuer), .doc = "the iss every token must carry"},
    {"audience", MF_SET_STRING, .def_doc = "required", .at = S(audience),
     .doc = "this gateway's resource URL: a token's aud must name it (RFC 8707)"},
    {"algorithms", MF_SET_STRINGS, MF_SET_NONEMPTY, .def_doc = "RS256, ES256, EdDSA", .at = S(algorithms),
     .doc = "signature algorithms accepted (RS*, PS*, ES*, EdDSA; never none or HS*)"},
    {"clock_skew_ms", MF_SET_DURATION, .def = "60000", .min = 0, .max = 3600000, .at = S(clock_skew_ms),
     .doc = "leeway on exp and nbf"},
    {"jwks_url", MF_SET_STRING, .def_doc = "none (or jwks_file)", .at = S(jwks_url),
     .doc = "where the issuer publishes its signing keys"},
    {"jwks_file", MF_SET_STRING, .def_doc = "none (or jwks_url)", .at = S(jwks_file),
     .doc = "a JWKS file, instead of jwks_url"},
    {"jwks_refresh_ms", MF_SET_DURATION, .def = "3600000", .min = 1000, .max = 604800000,
     .at = S(jwks_refresh_ms), .doc = "jwks_url is fetched again this often"},
    {"jwks_min_refetch_ms", MF_SET_DURATION, .def = "10000", .min = 0, .max = 3600000,
     .at = S(jwks_min_refetch_ms), .doc = "an unknown kid fetches jwks_url again at most this often"},
    {"jwks_timeout_ms", MF_SET_DURATION, .def = "10000", .min = 1, .max = 600000, .at = S(jwks_timeout_ms),
     .doc = "a JWKS fetch's bound"},
    {"scope_claim", MF_SET_STRING, .def = "scope", .at = S(scope_claim),
     .doc = "the claim with the scopes: a space-separated string (scope) or a list (scp)"},
    {"subject_claim", MF_SET_STRING, .def = "sub", .at = S(subject_claim), .doc = "the claim naming the caller"},
    {0},
};
#undef S

/* What a token's alg needs of its key. */
typedef struct alg_info {
    const char *alg, *kty, *crv;
} alg_info;

static const alg_info algs_known[] = {
    {"RS256", "RSA", NULL}, {"RS384", "RSA", NULL}, {"RS512", "RSA", NULL},
    {"PS256", "RSA", NULL}, {"PS384", "RSA", NULL}, {"PS512", "RSA", NULL},
    {"ES256", "EC", "P-256"}, {"ES384", "EC", "P-384"}, {"ES512", "EC", "P-521"},
    {"EdDSA", "OKP", "Ed25519"},
};

static const alg_info *alg_find(const char *alg)
{
    for (size_t i = 0; i < sizeof algs_known / sizeof algs_known[0]; i++)
        if (strcmp(algs_known[i].alg, alg) == 0)
            return &algs_known[i];
    return NULL;
}

static void free_strings(char **l)
{
    for (char **p = l; p && *p; p++)
        free(*p);
    free(l);
}

static void forget(jwt_verifier *v, verified *e)
{
    HASH_DEL(v->cache, e);
    json_decref(e->identity);
    free(e);
}

void jwt_verifier_free(jwt_verifier *v, void (*done)(void *ud), void *ud)
{
    verified *e, *tmp;
    HASH_ITER(hh, v->cache, e, tmp) forget(v, e);
    free(v->issuer);
    free(v->audience);
    free(v->scope_claim);
    free(v->subject_claim);
    free_strings(v->algs);
    jwks *keys = v->keys;
    free(v);
    if (keys)
        jwks_free(keys, done, ud);
    else if (done)
        done(ud);
}

jwt_verifier *jwt_verifier_new(const jwt_settings *s, const char *path, mf_error *err)
{
    jwt_settings st = *s;
    if (!st.issuer || !st.audience) {
        mf_error_set(err, -1, "%s.%s: missing (a string is required)", path, st.issuer ? "audience" : "issuer");
        return NULL;
    }
    if (!st.jwks_url == !st.jwks_file) {
        mf_error_set(err, -1, "%s: one of jwks_url and jwks_file is needed, not %s", path,
                     st.jwks_url ? "both" : "neither");
        return NULL;
    }
    if (st.jwks_url && strncmp(st.jwks_url, "https://", 8) != 0 && strncmp(st.jwks_url, "http://", 7) != 0) {
        mf_error_set(err, -1, "%s.jwks_url: \"%s\" must be an https:// (or http://) URL", path, st.jwks_url);
        return NULL;
    }
    static const char *const def_algs[] = {"RS256", "ES256", "EdDSA"};
    size_t nalg = st.algorithms ? json_array_size(st.algorithms) : 3;
    char **algs = calloc(nalg + 1, sizeof *algs);
    for (size_t i = 0; i < nalg; i++) {
        const char *a = st.algorithms ? json_string_value(json_array_get(st.algorithms, i)) : def_algs[i];
        if (!alg_find(a)) {
            mf_error_set(err, -1, "%s.algorithms[%zu]: \"%s\" is %s", path, i + 1, a,
                         strcmp(a, "none") == 0 || strncmp(a, "HS", 2) == 0
                             ? "never accepted (an unsigned token, or a shared secret)"
                             : "not an algorithm known here (RS256..512, PS256..512, ES256..512, EdDSA)");
            free_strings(algs);
            return NULL;
        }
        algs[i] = strdup(a);
    }
    char kpath[300];
    snprintf(kpath, sizeof kpath, "%s.jwks_file", path);
    jwks_opts ko = {.url = st.jwks_url, .file = st.jwks_file, .refresh_ms = (uint64_t)st.jwks_refresh_ms,
                    .min_refetch_ms = (uint64_t)st.jwks_min_refetch_ms, .timeout_ms = (uint64_t)st.jwks_timeout_ms};
    mf_error sub = {0};
    jwks *keys = jwks_new(&ko, &sub);
    if (!keys) {
        mf_error_set(err, -1, "%s: %s", kpath, sub.msg);
        free_strings(algs);
        return NULL;
    }
    jwt_verifier *v = calloc(1, sizeof *v);
    v->issuer = strdup(st.issuer);
    v->audience = strdup(st.audience);
    v->scope_claim = strdup(st.scope_claim);
    v->subject_claim = strdup(st.subject_claim);
    v->algs = algs;
    v->skew_ms = (uint64_t)st.clock_skew_ms;
    v->keys = keys;
    return v;
}

int jwt_verifier_start(jwt_verifier *v, mf_error *err) { return jwks_start(v->keys, err); }

const char *jwt_verifier_audience(const jwt_verifier *v) { return v->audience; }

uint64_t jwt_verifier_fetches(const jwt_verifier *v) { return jwks_fetches(v->keys); }

struct jwks *jwt_verifier_keys(jwt_verifier *v) { return v->keys; }

/* base64url text of len bytes to JSON. */
static json_t *b64_json(const char *text, size_t len)
{
    uint8_t *raw = NULL;
    size_t rlen = 0;
    cjose_err ce;
    if (!cjose_base64url_decode(text, len, &raw, &rlen, &ce))
        return NULL;
    json_t *j = json_loadb((const char *)raw, rlen, JSON_REJECT_DUPLICATES, NULL);
    free(raw);
    return j;
}

static bool ed25519_ok(const jwk_key *k, const char *token, size_t signed_len, const char *sig)
{
    uint8_t *raw = NULL;
    size_t rlen = 0;
    cjose_err ce;
    if (!cjose_base64url_decode(sig, strlen(sig), &raw, &rlen, &ce))
        return false;
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    bool ok = ctx && EVP_DigestVerifyInit(ctx, NULL, NULL, NULL, k->ed) == 1 &&
              EVP_DigestVerify(ctx, raw, rlen, (const unsigned char *)token, signed_len) == 1;
    EVP_MD_CTX_free(ctx);
    free(raw);
    return ok;
}

static bool signature_ok(const jwk_key *k, const char *token, const char *dot2)
{
    if (k->ed)
        return ed25519_ok(k, token, (size_t)(dot2 - token), dot2 + 1);
    cjose_err ce;
    cjose_jws_t *jws = cjose_jws_import(token, strlen(token), &ce);
    bool ok = jws && cjose_jws_verify(jws, k->cj, &ce);
    if (jws)
        cjose_jws_release(jws);
    return ok;
}

/* aud: a string or a list of strings, one of which must be ours. */
static bool audience_ok(const json_t *aud, const char *want)
{
    if (json_is_string(aud))
        return strcmp(json_string_value(aud), want) == 0;
    size_t i;
    json_t *a;
    json_array_foreach(aud, i, a) if (json_is_string(a) && strcmp(json_string_value(a), want) == 0) return true;
    return false;
}

static json_t *scopes_of(const json_t *claim)
{
    json_t *out = json_array();
    if (json_is_string(claim)) {
        const char *p = json_string_value(claim);
        while (*p) {
            size_t skip = strspn(p, " ");
            p += skip;
            size_t n = strcspn(p, " ");
            if (n)
                json_array_append_new(out, json_stringn(p, n));
            p += n;
        }
    } else if (json_is_array(claim)) {
        size_t i;
        json_t *s;
        json_array_foreach(claim, i, s) if (json_is_string(s)) json_array_append(out, s);
    }
    return out;
}

/* A reason may quote the token's kid: only printable characters and no quotes, for the
 * log line and the header. */
static void printable(char *s)
{
    for (; *s; s++)
        if ((unsigned char)*s < 0x20 || (unsigned char)*s >= 0x7f || *s == '"' || *s == '\\')
            *s = '?';
}

#define FAIL(...)                                 \
    do {                                          \
        snprintf(why, whylen, __VA_ARGS__);       \
        printable(why);                           \
        goto fail;                                \
    } while (0)

/* The claims' times: exp required, nbf and iat optional; seconds since the epoch. */
static const char *times_bad(const json_t *claims, uint64_t skew_ms)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    double now = (double)ts.tv_sec + (double)ts.tv_nsec / 1e9, skew = (double)skew_ms / 1000.0;
    const json_t *exp = json_object_get(claims, "exp"), *nbf = json_object_get(claims, "nbf");
    if (!json_is_number(exp))
        return "no exp claim";
    if (json_number_value(exp) + skew <= now)
        return "expired";
    if (nbf && (!json_is_number(nbf) || json_number_value(nbf) - skew > now))
        return "not yet valid (nbf)";
    return NULL;
}

static int verify(jwt_verifier *v, const char *token, json_t **identity, char *why, size_t whylen);

int jwt_verify(jwt_verifier *v, const char *token, json_t **identity, char *why, size_t whylen)
{
    unsigned char h[32];
    unsigned int hl = 0;
    EVP_Digest(token, strlen(token), h, &hl, EVP_sha256(), NULL);
    verified *e;
    HASH_FIND(hh, v->cache, h, sizeof h, e);
    if (e && e->generation == jwks_generation(v->keys) &&
        !times_bad(json_object_get(e->identity, "claims"), v->skew_ms)) {
        *identity = json_incref(e->identity);
        return 0;
    }
    if (e)
        forget(v, e);   /* expired, or its key set has changed: verified afresh */
    if (verify(v, token, identity, why, whylen))
        return -1;
    if (HASH_COUNT(v->cache) >= TOKEN_CACHE_MAX)
        forget(v, v->cache);
    e = calloc(1, sizeof *e);
    memcpy(e->hash, h, sizeof h);
    e->identity = json_incref(*identity);
    e->generation = jwks_generation(v->keys);
    HASH_ADD(hh, v->cache, hash, sizeof e->hash, e);
    return 0;
}

static int verify(jwt_verifier *v, const char *token, json_t **identity, char *why, size_t whylen)
{
    json_t *header = NULL, *claims = NULL;
    const char *dot1 = strchr(token, '.'), *dot2 = dot1 ? strchr(dot1 + 1, '.') : NULL;
    if (!dot2 || strchr(dot2 + 1, '.'))
        FAIL("malformed token (not a compact JWS)");
    /* libcjose decodes each part (cjose_jws_import): none may reach it unchecked */
    if (!jose_b64url_ok(token, (size_t)(dot1 - token)) || !jose_b64url_ok(dot1 + 1, (size_t)(dot2 - dot1 - 1)) ||
        !jose_b64url_ok(dot2 + 1, strlen(dot2 + 1)))
        FAIL("malformed token (not base64url)");
    header = b64_json(token, (size_t)(dot1 - token));
    if (!json_is_object(header))
        FAIL("malformed token header");
    /* RFC 7515 4.1.11: extensions the recipient must understand, and none is known here */
    if (json_object_get(header, "crit"))
        FAIL("critical header extensions (crit) not understood");
    const char *alg = json_string_value(json_object_get(header, "alg"));
    const char *kid = json_string_value(json_object_get(header, "kid"));
    bool allowed = false;
    for (char **a = v->algs; alg && *a && !allowed; a++)
        allowed = strcmp(*a, alg) == 0;
    if (!allowed)
        FAIL("alg %.20s not accepted", alg ? alg : "(none given)");
    const jwk_key *k = jwks_find(v->keys, kid);
    if (!k)
        FAIL("unknown kid %.80s", kid ? kid : "(none given)");
    const alg_info *ai = alg_find(alg);
    if (strcmp(k->kty, ai->kty) != 0 || (ai->crv && strcmp(k->crv, ai->crv) != 0) ||
        (k->alg && strcmp(k->alg, alg) != 0))
        FAIL("alg %s does not fit key %.80s (%s)", alg, kid ? kid : "", k->kty);
    if (!signature_ok(k, token, dot2))
        FAIL("bad signature (kid %.80s)", kid ? kid : "");
    claims = b64_json(dot1 + 1, (size_t)(dot2 - dot1 - 1));
    if (!json_is_object(claims))
        FAIL("malformed claims");
    const char *tb = times_bad(claims, v->skew_ms);
    if (tb)
        FAIL("%s", tb);
    const char *iss = json_string_value(json_object_get(claims, "iss"));
    if (!iss || strcmp(iss, v->issuer) != 0)
        FAIL("wrong issuer");
    if (!audience_ok(json_object_get(claims, "aud"), v->audience))
        FAIL("wrong audience");
    const char *sub = json_string_value(json_object_get(claims, v->subject_claim));
    if (!sub || !*sub)
        FAIL("no %s claim", v->subject_claim);
    *identity = json_pack("{s:s,s:s,s:o,s:O}", "subject", sub, "method", "jwt", "scopes",
                          scopes_of(json_object_get(claims, v->scope_claim)), "claims", claims);
    json_decref(header);
    json_decref(claims);
    return 0;
fail:
    json_decref(header);
    json_decref(claims);
    return -1;
}
