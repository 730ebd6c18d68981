/* The key set behind a listener's JWT verification. */
#include "jwks.h"
#include "hclient.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define JWKS_MAX_BYTES (1024 * 1024)

struct jwks {
    char *url;
    jwk_key *keys;
    size_t nkeys;
    uint64_t refresh_ms, min_refetch_ms, timeout_ms;
    uv_timer_t timer;     /* the next fetch */
    bool timer_open, curl, stopping;
    hc_req *req;          /* a fetch under way */
    char *body;
    size_t body_len;
    char *doc;            /* the document the keys came from, for a successor */
    bool too_big;
    long status;
    uint64_t last_start, fetches;
    uint64_t generation;   /* a new one each time the keys change */
    void (*done)(void *);
    void *done_ud;
};

void jwks_keys_free(jwk_key *keys, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(keys[i].kid);
        free(keys[i].alg);
        if (keys[i].cj)
            cjose_jwk_release(keys[i].cj);
        EVP_PKEY_free(keys[i].ed);
    }
    free(keys);
}

bool jose_b64url_ok(const char *text, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)text[i];
        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_'))
            return false;
    }
    return len % 4 != 1;
}

/* What libcjose imports of an RSA or EC key: its public members alone. A private part (d,
 * p, q, ...) has no place in a set of verification keys, and libcjose leaks what it made of
 * one that is incomplete. NULL when a member it decodes is not base64url. */
static json_t *public_members(const json_t *k, bool rsa)
{
    static const char *const rsa_names[] = {"kty", "n", "e", NULL}, *const ec_names[] = {"kty", "crv", "x", "y", NULL};
    json_t *pub = json_object();
    for (const char *const *name = rsa ? rsa_names : ec_names; *name; name++) {
        json_t *m = json_object_get(k, *name);
        if (!m)
            continue;
        bool b64 = strcmp(*name, "kty") != 0 && strcmp(*name, "crv") != 0;
        if (b64 && !(json_is_string(m) && jose_b64url_ok(json_string_value(m), json_string_length(m)))) {
            json_decref(pub);
            return NULL;
        }
        json_object_set(pub, *name, m);
    }
    return pub;
}

/* One key of the set: 0, 1 when it is skipped (not for signatures, or a type no token
 * here can use), -1 with err. */
static int parse_key(json_t *k, size_t i, jwk_key *out, mf_error *err)
{
    const char *kty = json_string_value(json_object_get(k, "kty"));
    const char *use = json_string_value(json_object_get(k, "use"));
    const char *kid = json_string_value(json_object_get(k, "kid"));
    const char *crv = json_string_value(json_object_get(k, "crv"));
    const char *alg = json_string_value(json_object_get(k, "alg"));
    if (!kty) {
        mf_error_set(err, -1, "keys[%zu]: no kty", i + 1);
        return -1;
    }
    if ((use && strcmp(use, "sig") != 0) || strcmp(kty, "oct") == 0)
        return 1;   /* an encryption key or a shared secret: never a signature key here */
    if (strcmp(kty, "EC") == 0 && !(crv && (strcmp(crv, "P-256") == 0 || strcmp(crv, "P-384") == 0 ||
                                            strcmp(crv, "P-521") == 0)))
        return 1;   /* a curve no alg here uses (secp256k1, ...), which libcjose cannot import */
    memset(out, 0, sizeof *out);
    snprintf(out->kty, sizeof out->kty, "%s", kty);
    snprintf(out->crv, sizeof out->crv, "%s", crv ? crv : "");
    cjose_err ce;
    if (strcmp(kty, "RSA") == 0 || strcmp(kty, "EC") == 0) {
        json_t *pub = public_members(k, strcmp(kty, "RSA") == 0);
        if (!pub) {
            mf_error_set(err, -1, "keys[%zu]: not a valid %s key (a member that is not base64url)", i + 1, kty);
            return -1;
        }
        char *text = json_dumps(pub, JSON_COMPACT);
        json_decref(pub);
        out->cj = text ? cjose_jwk_import(text, strlen(text), &ce) : NULL;
        bool dumped = text != NULL;
        free(text);
        if (!out->cj) {
            mf_error_set(err, -1, "keys[%zu]: not a valid %s key (%s)", i + 1, kty,
                         dumped ? ce.message : "out of memory");
            return -1;
        }
    } else if (strcmp(kty, "OKP") == 0 && crv && strcmp(crv, "Ed25519") == 0) {
        const char *x = json_string_value(json_object_get(k, "x"));
        uint8_t *raw = NULL;
        size_t rlen = 0;
        if (!x || !jose_b64url_ok(x, strlen(x)) || !cjose_base64url_decode(x, strlen(x), &raw, &rlen, &ce) ||
            rlen != 32 ||
            !(out->ed = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL, raw, rlen))) {
            free(raw);
            mf_error_set(err, -1, "keys[%zu]: not a valid Ed25519 key", i + 1);
            return -1;
        }
        free(raw);
    } else {
        return 1;
    }
    out->kid = kid ? strdup(kid) : NULL;
    out->alg = alg ? strdup(alg) : NULL;
    return 0;
}

int jwks_parse(const char *text, size_t len, jwk_key **keys, size_t *n, mf_error *err)
{
    json_error_t je;
    json_t *doc = json_loadb(text, len, 0, &je);
    json_t *list = json_object_get(doc, "keys");
    if (!json_is_array(list)) {
        mf_error_set(err, -1, doc ? "no \"keys\" list" : "not JSON (%s)", je.text);
        json_decref(doc);
        return -1;
    }
    size_t cap = json_array_size(list), got = 0;
    jwk_key *out = calloc(cap ? cap : 1, sizeof *out);
    for (size_t i = 0; i < cap; i++) {
        int rc = parse_key(json_array_get(list, i), i, &out[got], err);
        if (rc < 0) {
            jwks_keys_free(out, got);
            json_decref(doc);
            return -1;
        }
        got += rc == 0;
    }
    json_decref(doc);
    *keys = out;
    *n = got;
    return 0;
}

static char *read_file(const char *path, size_t *len, mf_error *err)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        mf_error_set(err, -1, "cannot read %s: %m", path);
        return NULL;
    }
    char *buf = malloc(JWKS_MAX_BYTES + 1);
    size_t n = buf ? fread(buf, 1, JWKS_MAX_BYTES + 1, f) : 0;
    fclose(f);
    if (!buf || n > JWKS_MAX_BYTES) {
        free(buf);
        mf_error_set(err, -1, "%s: larger than %d bytes", path, JWKS_MAX_BYTES);
        return NULL;
    }
    *len = n;
    return buf;
}

jwks *jwks_new(const jwks_opts *o, mf_error *err)
{
    jwks *s = calloc(1, sizeof *s);
    if (!s) {
        mf_error_set(err, -1, "out of memory");
        return NULL;
    }
    s->refresh_ms = o->refresh_ms;
    s->min_refetch_ms = o->min_refetch_ms;
    s->timeout_ms = o->timeout_ms;
    if (o->file) {
        size_t len;
        char *text = read_file(o->file, &len, err);
        mf_error sub = {0};
        if (!text || jwks_parse(text, len, &s->keys, &s->nkeys, &sub)) {
            if (text)
                mf_error_set(err, -1, "%s: %s", o->file, sub.msg);
            free(text);
            free(s);
            return NULL;
        }
        free(text);
    }
    s->url = o->url ? strdup(o->url) : NULL;
    return s;
}

uint64_t jwks_fetches(const jwks *s) { return s->fetches; }
uint64_t jwks_generation(const jwks *s) { return s->generation; }

const char *jwks_document(const jwks *s) { return s->url ? s->doc : NULL; }

void jwks_seed(jwks *s, const char *text)
{
    jwk_key *keys;
    size_t n;
    if (!text || s->nkeys || jwks_parse(text, strlen(text), &keys, &n, NULL))
        return;
    s->keys = keys;
    s->nkeys = n;
    s->generation++;
    s->doc = strdup(text);
}

static void fetch(jwks *s);

static void on_timer(uv_timer_t *t) { fetch(t->data); }

static void arm(jwks *s, uint64_t in_ms) { uv_timer_start(&s->timer, on_timer, in_ms, 0); }

static void on_data(hc_req *r, const char *buf, size_t len, void *ud)
{
    (void)r;
    jwks *s = ud;
    if (s->too_big || s->body_len + len > JWKS_MAX_BYTES) {
        s->too_big = true;
        return;
    }
    char *nb = realloc(s->body, s->body_len + len + 1);
    if (!nb) {
        s->too_big = true;
        return;
    }
    s->body = nb;
    memcpy(s->body + s->body_len, buf, len);
    s->body_len += len;
    s->body[s->body_len] = '\0';
}

static void on_done(hc_req *r, CURLcode rc, long status, const char *error, void *ud)
{
    (void)r;
    jwks *s = ud;
    s->req = NULL;
    mf_error err = {0};
    jwk_key *keys;
    size_t n;
    if (rc != CURLE_OK)
        mf_error_set(&err, -1, "%s", error);
    else if (status != 200)
        mf_error_set(&err, -1, "HTTP status %ld", status);
    else if (s->too_big)
        mf_error_set(&err, -1, "larger than %d bytes", JWKS_MAX_BYTES);
    if (err.code == 0 && jwks_parse(s->body ? s->body : "", s->body_len, &keys, &n, &err) == 0) {
        jwks_keys_free(s->keys, s->nkeys);
        s->keys = keys;
        s->nkeys = n;
        s->generation++;
        free(s->doc);
        s->doc = s->body;   /* NUL-terminated: on_data keeps room for it */
        s->body = NULL;
        mf_debug("http", "JWKS fetched", "url=%s keys=%zu", s->url, n);
    } else {
        /* the keys known so far stay: a passing failure must not lock every client out */
        mf_warn("http", "JWKS fetch failed", "url=%s error=\"%s\"", s->url, err.msg);
    }
    free(s->body);
    s->body = NULL;
    s->body_len = 0;
    s->too_big = false;
    arm(s, s->refresh_ms);
}

static void fetch(jwks *s)
{
    if (s->req || s->stopping)
        return;
    s->last_start = mf_now();
    s->fetches++;
    static const hc_ops ops = {NULL, on_data, on_done};
    hc_options o = {.method = "GET", .url = s->url, .timeout_ms = (long)s->timeout_ms,
                    .connect_timeout_ms = (long)s->timeout_ms};
    mf_error err = {0};
    s->req = hc_start(&o, &ops, s, &err);
    if (!s->req) {
        mf_warn("http", "JWKS fetch failed", "url=%s error=\"%s\"", s->url, err.msg);
        arm(s, s->min_refetch_ms);
    }
}

int jwks_start(jwks *s, mf_error *err)
{
    if (!s->url)
        return 0;
    if (hc_init(err))
        return -1;
    s->curl = true;
    uv_timer_init(mf_loop(), &s->timer);
    s->timer.data = s;
    s->timer_open = true;
    fetch(s);
    return 0;
}

const jwk_key *jwks_find(jwks *s, const char *kid)
{
    for (size_t i = 0; i < s->nkeys; i++)
        if (kid ? s->keys[i].kid && strcmp(s->keys[i].kid, kid) == 0 : s->nkeys == 1)
            return &s->keys[i];
    if (s->timer_open && !s->req) {
        /* a key the set lacks: perhaps a rotation; fetch again as soon as allowed */
        uint64_t now = mf_now(), next = s->last_start + s->min_refetch_ms;
        uint64_t due = uv_timer_get_due_in(&s->timer);
        uint64_t wait = next > now ? next - now : 0;
        if (due > wait)
            arm(s, wait);
    }
    return NULL;
}

static void finish(jwks *s)
{
    void (*done)(void *) = s->done;
    void *ud = s->done_ud;
    jwks_keys_free(s->keys, s->nkeys);
    free(s->url);
    free(s->doc);
    bool curl = s->curl;
    free(s);
    if (curl)
        hc_shutdown(done, ud);   /* done once libcurl's handles are closed */
    else if (done)
        done(ud);
}

static void timer_closed(uv_handle_t *h) { finish(h->data); }

void jwks_free(jwks *s, void (*done)(void *ud), void *ud)
{
    s->stopping = true;
    s->done = done;
    s->done_ud = ud;
    if (s->req) {
        hc_cancel(s->req);
        s->req = NULL;
    }
    free(s->body);
    if (s->timer_open)
        uv_close((uv_handle_t *)&s->timer, timer_closed);
    else
        finish(s);
}
