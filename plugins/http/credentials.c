/* What the http provider sends upstream as a caller's credentials (`credentials`):
 *
 *   static       the configured `headers` alone, whoever calls (the default);
 *   passthrough  the bearer token the caller presented to mcpfed, as
 *                "Authorization: Bearer <token>", to this provider's upstream only;
 *   exchange     a token got for the caller's at the configured token endpoint (RFC 8693
 *                token exchange, this client authenticated with HTTP Basic), kept per
 *                caller token (keyed by its SHA-256) until shortly before it expires,
 *                at most exchange.cache_max of them, least recently used out first;
 *                calls that need the same exchange at once share it.
 *
 * A caller without a token is refused (MF_RPC_NO_CREDENTIALS) unless credentials_optional;
 * so is a call whose exchange failed (a refusal is never kept). Only requests from a
 * session carry a caller's credentials: the gateway's own (listings) go with `headers`.
 * Tokens never reach a log line; memory that held one is wiped before it is freed. */
#include "client.h"

#include <errno.h>
#include <stdarg.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* where a request carries its credential: in the provider's own copy of its json */
#define AUTH_KEY "mcpfed/authorization"
#define MAX_TOKEN 16384

const char *const hp_cred_modes[] = {"static", "passthrough", "exchange", NULL};

#define X(field) MF_AT(cred_settings, field)
const mf_setting hp_exchange_rows[] = {
    {"token_endpoint", MF_SET_STRING, .def_doc = "required", .at = X(token_endpoint),
     .doc = "the authorization server's token endpoint, http:// or https://"},
    {"client_id", MF_SET_STRING, .def_doc = "required", .at = X(client_id), .doc = "this gateway's client id there"},
    {"client_secret", MF_SET_STRING, .def_doc = "none", .at = X(client_secret),
     .doc = "its secret (or client_secret_file)"},
    {"client_secret_file", MF_SET_STRING, .def_doc = "none", .at = X(client_secret_file),
     .doc = "a file holding the secret, read at start"},
    {"audience", MF_SET_STRING, .def_doc = "none", .at = X(audience), .doc = "the audience asked for"},
    {"resource", MF_SET_STRING, .def_doc = "none", .at = X(resource), .doc = "the resource asked for"},
    {"scope", MF_SET_STRING, .def_doc = "none", .at = X(scope), .doc = "the scope asked for"},
    {"timeout_ms", MF_SET_DURATION, .def = "10000", .min = 1, .max = 600000, .at = X(timeout_ms),
     .doc = "an exchange's bound"},
    {"cache_max", MF_SET_INT, .def = "10000", .min = 0, .max = 1000000, .at = X(cache_max),
     .doc = "exchanged tokens kept at most (0: none)"},
    {"expiry_margin_ms", MF_SET_DURATION, .def = "30000", .min = 0, .max = 3600000, .at = X(margin_ms),
     .doc = "a token is used no later than this before it expires"},
    {0},
};
#undef X

typedef struct only_cred {
    cred_settings cred;
} only_cred;
#define S(field) MF_AT(only_cred, field)
static const mf_setting cred_rows[] = {
    HTTP_CREDENTIAL_SETTINGS(S),
    {"", MF_SET_OTHERS, 0, .doc = "the provider's other keys"},
    {0},
};
#undef S

/* --- configuration ------------------------------------------------------------------ */

int cred_check(const json_t *conf, const char *path, mf_error *err)
{
    only_cred st = {0};
    if (mf_settings_check(conf, path, cred_rows, &st, err))
        return -1;
    const cred_settings *c = &st.cred;
    bool exchange = strcmp(c->mode, "exchange") == 0;
    if (exchange && !c->exchange) {
        mf_error_set(err, -1, "%s.exchange: missing (credentials = \"exchange\" needs the token endpoint)", path);
        return -1;
    }
    if (!exchange && c->exchange) {
        mf_error_set(err, -1, "%s.exchange: only for credentials = \"exchange\"", path);
        return -1;
    }
    if (strcmp(c->mode, "static") == 0 && json_is_true(json_object_get(conf, "credentials_optional"))) {
        mf_error_set(err, -1, "%s.credentials_optional: only for credentials = \"passthrough\" or \"exchange\"",
                     path);
        return -1;
    }
    if (!exchange)
        return 0;
    if (!c->token_endpoint || !c->client_id) {
        mf_error_set(err, -1, "%s.exchange.%s: missing (a string is required)", path,
                     c->token_endpoint ? "client_id" : "token_endpoint");
        return -1;
    }
    if (strncasecmp(c->token_endpoint, "http://", 7) != 0 && strncasecmp(c->token_endpoint, "https://", 8) != 0) {
        mf_error_set(err, -1, "%s.exchange.token_endpoint: expected an http:// or https:// URL", path);
        return -1;
    }
    if (!c->client_secret == !c->client_secret_file) {
        mf_error_set(err, -1, "%s.exchange: give one of client_secret and client_secret_file", path);
        return -1;
    }
    return 0;
}

typedef struct tx_entry tx_entry;

struct texch {
    hprov *p;
    char *endpoint, *client_id, *secret, *audience, *resource, *scope;
    long timeout_ms;
    uint64_t margin_ms;
    size_t cache_max;
    tx_entry *entries;   /* by key, least recently used first */
    uint64_t exchanges, hits, coalesced, failures;
};

/* An exchanged token, or one being got with the calls that wait for it. */
struct tx_entry {
    texch *t;
    char key[65];        /* SHA-256 of the caller's token, hex */
    char *token;         /* NULL while the exchange is under way */
    uint64_t expires;
    hc_req *req;
    char *body;
    size_t len, cap;
    bool too_big;
    mf_msgq waiting;
    UT_hash_handle hh;
};

void hp_wipe_free(char *s)
{
    if (s) {
        explicit_bzero(s, strlen(s));
        free(s);
    }
}

/* The secret in a file, without its trailing line break. */
static char *read_secret(const char *file, mf_error *err)
{
    FILE *f = fopen(file, "r");
    if (!f) {
        mf_error_set(err, -1, "exchange.client_secret_file %s: %s", file, strerror(errno));
        return NULL;
    }
    char buf[4096];
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    buf[strcspn(buf, "\r\n")] = '\0';
    char *s = buf[0] ? strdup(buf) : NULL;
    explicit_bzero(buf, sizeof buf);
    if (!s)
        mf_error_set(err, -1, "exchange.client_secret_file %s: empty", file);
    return s;
}

int cred_init(hprov *p, const json_t *conf, mf_error *err)
{
    only_cred st = {0};
    mf_settings_check(conf, "", cred_rows, &st, NULL);
    const cred_settings *c = &st.cred;
    p->cred = strcmp(c->mode, "passthrough") == 0 ? CRED_PASSTHROUGH
              : strcmp(c->mode, "exchange") == 0  ? CRED_EXCHANGE
                                                  : CRED_STATIC;
    p->cred_optional = c->optional;
    p->callers_max = (size_t)c->callers_max;
    p->callers_idle_ms = (uint64_t)c->callers_idle_ms;
    if (p->cred != CRED_EXCHANGE)
        return 0;
    char *secret = c->client_secret ? strdup(c->client_secret) : read_secret(c->client_secret_file, err);
    if (!secret)
        return -1;
    texch *t = calloc(1, sizeof *t);
    t->p = p;
    t->endpoint = strdup(c->token_endpoint);
    t->client_id = strdup(c->client_id);
    t->secret = secret;
    t->audience = c->audience ? strdup(c->audience) : NULL;
    t->resource = c->resource ? strdup(c->resource) : NULL;
    t->scope = c->scope ? strdup(c->scope) : NULL;
    t->timeout_ms = (long)c->timeout_ms;
    t->margin_ms = (uint64_t)c->margin_ms;
    t->cache_max = (size_t)c->cache_max;
    p->tx = t;
    return 0;
}

/* --- a request's credential ----------------------------------------------------------- */

const char *cred_auth(const mf_msg *m)
{
    return json_string_value(json_object_get(m->json, AUTH_KEY));
}

/* m carries "Bearer <token>" from here on: in a copy of its json, so that the kernel's
 * (which it may route to another provider) never holds it. */
static void attach(mf_msg *m, const char *token)
{
    json_t *own = json_copy(m->json);
    char *v = malloc(strlen(token) + 8);
    sprintf(v, "Bearer %s", token);
    json_object_set_new(own, AUTH_KEY, json_string(v));
    explicit_bzero(v, strlen(v));
    free(v);
    json_decref(m->json);
    m->json = own;
}

/* A token fit for a header: visible ASCII without spaces, of a sane length. */
static bool header_safe(const char *s)
{
    size_t n = strlen(s);
    if (!n || n > MAX_TOKEN)
        return false;
    for (const unsigned char *c = (const unsigned char *)s; *c; c++)
        if (*c <= 0x20 || *c >= 0x7f)
            return false;
    return true;
}

static void refuse(hprov *p, mf_msg *m, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void refuse(hprov *p, mf_msg *m, const char *fmt, ...)
{
    char why[600];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, sizeof why, fmt, ap);
    va_end(ap);
    hp_reply_error(p, m, MF_RPC_NO_CREDENTIALS, why);
    mf_msg_free(m);
}

/* --- the exchange ---------------------------------------------------------------------- */

static void sha256_hex(const char *s, char out[65])
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned n = 0;
    EVP_Digest(s, strlen(s), md, &n, EVP_sha256(), NULL);
    for (unsigned i = 0; i < n && i < 32; i++)
        snprintf(out + 2 * i, 3, "%02x", md[i]);
}

/* value in application/x-www-form-urlencoded (RFC 6749 appendix B), appended to *out. */
static void form_value(char **out, size_t *len, size_t *cap, const char *value)
{
    static const char hex[] = "0123456789ABCDEF";
    for (const unsigned char *c = (const unsigned char *)value; *c; c++) {
        char e[3] = {(char)*c, 0, 0};
        size_t n = 1;
        if (*c == ' ') {
            e[0] = '+';
        } else if (!((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') || (*c >= '0' && *c <= '9') ||
                     strchr("-._~", *c))) {
            e[0] = '%';
            e[1] = hex[*c >> 4];
            e[2] = hex[*c & 15];
            n = 3;
        }
        mf_buf_append(out, len, cap, e, n);
    }
}

/* "&name=value" (no "&" first), nothing for a NULL value. */
static void form_append(char **out, size_t *len, size_t *cap, const char *name, const char *value)
{
    if (!value)
        return;
    if (*len)
        mf_buf_append(out, len, cap, "&", 1);
    mf_buf_append(out, len, cap, name, strlen(name));
    mf_buf_append(out, len, cap, "=", 1);
    form_value(out, len, cap, value);
}

static void entry_free(tx_entry *e)
{
    HASH_DEL(e->t->entries, e);
    hp_wipe_free(e->token);
    if (e->body)
        explicit_bzero(e->body, e->len);
    free(e->body);
    free(e);
}

static void tx_on_head(hc_req *r, long status, void *ud)
{
    (void)r;
    (void)status;
    (void)ud;
}

static void tx_on_data(hc_req *r, const char *buf, size_t len, void *ud)
{
    (void)r;
    tx_entry *e = ud;
    if (e->too_big || e->len + len > 65536) {
        e->too_big = true;
        return;
    }
    mf_buf_append(&e->body, &e->len, &e->cap, buf, len);
}

/* Why the endpoint's answer gives no token (NULL: it gives one, now in e). */
static const char *take_token(tx_entry *e, CURLcode rc, long status, const char *error, char *why, size_t cap)
{
    if (rc != CURLE_OK) {
        snprintf(why, cap, "%s", error);
        return why;
    }
    json_t *v = e->too_big ? NULL : json_loadb(e->body ? e->body : "", e->len, 0, NULL);
    const char *token = json_string_value(json_object_get(v, "access_token"));
    const char *type = json_string_value(json_object_get(v, "token_type"));
    if (status < 200 || status >= 300) {
        const char *code = json_string_value(json_object_get(v, "error"));
        const char *desc = json_string_value(json_object_get(v, "error_description"));
        snprintf(why, cap, "HTTP %ld%s%.60s%s%.200s", status, code ? " " : "", code ? code : "",
                 desc ? ": " : "", desc ? desc : "");
    } else if (!token || !header_safe(token)) {
        snprintf(why, cap, "the answer holds no usable access_token");
    } else if (type && strcasecmp(type, "bearer") != 0) {
        snprintf(why, cap, "the token_type is %.40s, not Bearer", type);
    } else {
        json_t *exp = json_object_get(v, "expires_in");
        uint64_t life = json_is_integer(exp) && json_integer_value(exp) > 0
                            ? (uint64_t)json_integer_value(exp) * 1000 : 0;
        e->token = strdup(token);
        /* without a lifetime it serves the calls that waited for it, and is not kept */
        e->expires = life > e->t->margin_ms ? mf_now() + life - e->t->margin_ms : 0;
        why = NULL;
    }
    if (v) {
        /* the body held the token: wipe the parsed copy too */
        char *t = (char *)json_string_value(json_object_get(v, "access_token"));
        if (t)
            explicit_bzero(t, strlen(t));
        json_decref(v);
    }
    return why;
}

static void tx_on_done(hc_req *r, CURLcode rc, long status, const char *error, void *ud)
{
    (void)r;
    tx_entry *e = ud;
    texch *t = e->t;
    hprov *p = t->p;
    e->req = NULL;
    char buf[400];
    const char *why = take_token(e, rc, status, error, buf, sizeof buf);
    mf_msgq waiting = e->waiting;
    e->waiting = (mf_msgq){0};
    if (why) {
        t->failures++;
        mf_warn("http", "token exchange failed", "provider=%s endpoint=%s reason=\"%s\" calls=%zu", hp_name(p),
                t->endpoint, mf_log_esc(why, (size_t)-1), waiting.len);
        entry_free(e);   /* a refusal is not kept: the next call asks again */
        for (mf_msg *m; (m = mf_msgq_pop(&waiting));)
            refuse(p, m, "provider %s: the token exchange for the caller failed: %s", hp_name(p), why);
        return;
    }
    for (mf_msg *m; (m = mf_msgq_pop(&waiting));) {
        attach(m, e->token);
        hp_take_resolved(p, m);
    }
    if (!e->expires || !t->cache_max)
        entry_free(e);
}

static const hc_ops tx_ops = {tx_on_head, tx_on_data, tx_on_done};

/* Start the exchange of e, for subject token subject; false (nothing started) on failure. */
static bool tx_start(tx_entry *e, const char *subject, char *why, size_t cap)
{
    texch *t = e->t;
    hprov *p = t->p;
    char *body = NULL;
    size_t len = 0, bcap = 0;
    form_append(&body, &len, &bcap, "grant_type", "urn:ietf:params:oauth:grant-type:token-exchange");
    form_append(&body, &len, &bcap, "subject_token", subject);
    form_append(&body, &len, &bcap, "subject_token_type", "urn:ietf:params:oauth:token-type:access_token");
    form_append(&body, &len, &bcap, "requested_token_type", "urn:ietf:params:oauth:token-type:access_token");
    form_append(&body, &len, &bcap, "audience", t->audience);
    form_append(&body, &len, &bcap, "resource", t->resource);
    form_append(&body, &len, &bcap, "scope", t->scope);
    mf_buf_append(&body, &len, &bcap, "", 1);   /* NUL */
    /* client_secret_basic (RFC 6749 2.3.1): id and secret form-encoded, joined by a colon */
    char *pair = NULL;
    size_t plen = 0, pcap = 0;
    form_value(&pair, &plen, &pcap, t->client_id);
    mf_buf_append(&pair, &plen, &pcap, ":", 1);
    form_value(&pair, &plen, &pcap, t->secret);
    size_t idlen = plen;
    const char *id = pair;
    char *b64 = malloc(4 * ((idlen + 2) / 3) + 1);
    EVP_EncodeBlock((unsigned char *)b64, (const unsigned char *)id, (int)idlen);
    char *basic = malloc(strlen(b64) + 32);
    sprintf(basic, "Authorization: Basic %s", b64);
    struct curl_slist *h = curl_slist_append(NULL, "Content-Type: application/x-www-form-urlencoded");
    h = curl_slist_append(h, "Accept: application/json");
    h = curl_slist_append(h, basic);
    hc_options o = {.method = "POST", .url = t->endpoint, .headers = h, .body = body, .body_len = len - 1,
                    .timeout_ms = t->timeout_ms, .connect_timeout_ms = p->connect_timeout_ms,
                    .insecure = p->insecure, .ca_file = p->ca_file};
    mf_error err = {0};
    e->req = hc_start(&o, &tx_ops, e, &err);
    hc_headers_free(h);
    explicit_bzero(body, len);
    explicit_bzero(pair, plen);
    explicit_bzero(b64, strlen(b64));
    explicit_bzero(basic, strlen(basic));
    free(body);
    free(pair);
    free(b64);
    free(basic);
    if (!e->req)
        snprintf(why, cap, "%.200s", err.msg[0] ? err.msg : "cannot start the request");
    return e->req != NULL;
}

/* Keep at most cache_max tokens: the least recently used idle ones go. */
static void trim(texch *t)
{
    size_t n = HASH_CNT(hh, t->entries);
    tx_entry *e, *tmp;
    uint64_t now = mf_now();
    HASH_ITER(hh, t->entries, e, tmp) {
        if (!e->token)
            continue;   /* under way */
        if (n > t->cache_max || e->expires <= now) {
            entry_free(e);
            n--;
        }
    }
}

static int exchange(hprov *p, mf_msg *m, const char *subject)
{
    texch *t = p->tx;
    char key[65];
    sha256_hex(subject, key);
    tx_entry *e;
    HASH_FIND_STR(t->entries, key, e);
    if (e && e->token && e->expires > mf_now()) {
        t->hits++;
        HASH_DEL(t->entries, e);   /* to the end: the most recently used */
        HASH_ADD_STR(t->entries, key, e);
        attach(m, e->token);
        return 1;
    }
    if (e && !e->token) {   /* under way: this call waits for the same answer */
        t->coalesced++;
        mf_msgq_push(&e->waiting, m);
        return 0;
    }
    if (e)
        entry_free(e);   /* expired */
    e = calloc(1, sizeof *e);
    e->t = t;
    memcpy(e->key, key, sizeof key);
    char why[300];
    if (!tx_start(e, subject, why, sizeof why)) {
        free(e);
        t->failures++;
        refuse(p, m, "provider %s: the token exchange for the caller failed: %s", hp_name(p), why);
        return -1;
    }
    t->exchanges++;
    HASH_ADD_STR(t->entries, key, e);
    mf_msgq_push(&e->waiting, m);
    trim(t);
    return 0;
}

int cred_resolve(hprov *p, mf_msg **mp)
{
    mf_msg *m = *mp;
    const char *bearer = mf_session_bearer(m->session);
    if (!bearer || !header_safe(bearer)) {
        if (p->cred_optional)
            return 1;   /* with the configured headers alone */
        refuse(p, m, "provider %s needs the caller's credentials: send an Authorization: Bearer token",
               hp_name(p));
        return -1;
    }
    if (p->cred == CRED_PASSTHROUGH) {
        attach(m, bearer);
        return 1;
    }
    return exchange(p, m, bearer);
}

bool cred_drop(hprov *p, uint64_t corr)
{
    if (!p->tx)
        return false;
    tx_entry *e, *tmp;
    HASH_ITER(hh, p->tx->entries, e, tmp) {
        if (mf_msgq_drop(&e->waiting, corr))
            return true;
    }
    return false;
}

void cred_stop(hprov *p, bool forward, int code, const char *why)
{
    if (!p->tx)
        return;
    tx_entry *e, *tmp;
    HASH_ITER(hh, p->tx->entries, e, tmp) {
        if (!e->req)
            continue;
        hc_cancel(e->req);
        e->req = NULL;
        if (forward)
            for (mf_msg *m; (m = mf_msgq_pop(&e->waiting));)
                mf_instance_forward(p->inst, m);
        else
            mf_msgq_fail(&e->waiting, mf_instance_ep(p->inst), code, why);
        entry_free(e);
    }
}

void cred_free(hprov *p)
{
    texch *t = p->tx;
    if (!t)
        return;
    cred_stop(p, false, MF_RPC_SHUTTING_DOWN, "provider stopped");
    tx_entry *e, *tmp;
    HASH_ITER(hh, t->entries, e, tmp) entry_free(e);
    free(t->endpoint);
    free(t->client_id);
    hp_wipe_free(t->secret);
    free(t->audience);
    free(t->resource);
    free(t->scope);
    free(t);
    p->tx = NULL;
}

json_t *cred_status(const hprov *p)
{
    static const char *const names[] = {"static", "passthrough", "exchange"};
    json_t *st = json_pack("{s:s,s:i}", "mode", names[p->cred], "caller_sessions", (int)callers_count(p));
    texch *t = p->tx;
    if (t)
        json_object_set_new(st, "exchange",
                            json_pack("{s:I,s:I,s:I,s:I,s:i}", "exchanges", (json_int_t)t->exchanges, "cache_hits",
                                      (json_int_t)t->hits, "coalesced", (json_int_t)t->coalesced, "failures",
                                      (json_int_t)t->failures, "cached", (int)HASH_CNT(hh, t->entries)));
    return st;
}
