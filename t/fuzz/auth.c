/* Fuzz target: who sent a request to a listener with authentication (plugins/http/auth.c):
 * the Authorization and X-API-Key headers (API keys hashed in the configuration, bearer
 * JWTs), a client certificate's subject (tls_subject.c), the refusal with its
 * WWW-Authenticate header and the protected resource metadata, as the MCP endpoint drives
 * them. The connection is this file's: it hands auth.c the certificate's subject and keeps
 * what is answered.
 *
 * Input: one byte choosing the listener's `auth` settings (1 keys, 2 jwt, 4 oauth,
 * 8 anonymous, 16 mtls, 32 required_scopes, 64 GET rather than POST), then the request
 * path, header lines ("Name: value") and an empty line, each ending in \n, then a client
 * certificate (DER) for mtls.
 * Properties: a request is either let in with an identity {subject, method, scopes, claims}
 * of a method the listener has, holding the required scopes, or answered exactly once with
 * 401 or 403 and one WWW-Authenticate header (the resource metadata's URL when the listener
 * has oauth); a certificate's subject is printable ASCII; the metadata is JSON naming the
 * resource. */
#include "build-config.h"
#include "kernel.h"
#include "../../plugins/http/auth.h"
#include "../../plugins/http/tls.h"
#include "fuzz.h"

#include <ctype.h>
#include <string.h>
#include <strings.h>

struct http_conn {
    char *subject;            /* the certificate's, when there is one */
    int answers, status;
    char *extra, *body;
    size_t body_len;
};

const char *http_conn_peer(const http_conn *c)
{
    (void)c;
    return "fuzz";
}

const char *http_conn_tls_subject(const http_conn *c) { return c->subject; }

void http_respond(http_conn *c, int status, const char *content_type, const char *extra, const char *body,
                  size_t len)
{
    (void)content_type;
    c->answers++;
    c->status = status;
    free(c->extra);
    free(c->body);
    c->extra = strdup(extra ? extra : "");
    c->body = malloc(len + 1);
    memcpy(c->body, body, len);
    c->body[len] = '\0';
    c->body_len = len;
}

const char *http_header_get(const http_request *r, const char *lower_name)
{
    for (size_t i = 0; i < r->nheaders; i++)
        if (strcmp(r->headers[i].name, lower_name) == 0)
            return r->headers[i].value;
    return NULL;
}

static json_t *table, *keys_list, *algs, *servers, *scopes_supported, *required;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    mf_log_set_level(MF_LOG_ERROR);
    /* the key "ci-key-0123456789abcdef0123456789abcdef" (t/fuzz/mkauth.mjs) */
    keys_list = json_pack("[{s:s,s:s,s:[s]},{s:s,s:s}]", "id", "ci", "hash",
                          "sha256:091d05b9908ecbb17b3ff8265d2852dce6b4ad2e2e925fffcb4fa98e1d1a0754", "scopes", "tools",
                          "id", "other", "hash",
                          "sha256:9FB40BB1B4B2FA1B2AE1C7E0BC4F0B5BD1E3AA50AB4EA9D7A67C2D0F1DCE0C3C");
    table = json_object();
    algs = json_pack("[sss]", "RS256", "ES256", "EdDSA");
    servers = json_pack("[s]", "https://as.test");
    scopes_supported = json_pack("[ss]", "tools", "read");
    required = json_pack("[s]", "tools");
    return 0;
}

static http_auth *auth_of(uint8_t bits)
{
    http_auth_settings st = {
        .table = table,
        .anonymous = bits & 8,
        .mtls = bits & 16,
        .keys = bits & 1 ? keys_list : NULL,
        .jwt = bits & 2 ? algs : NULL,
        .oauth = bits & 4 ? servers : NULL,
        .required_scopes = bits & 32 ? required : NULL,
        .jwt_s = {.issuer = "https://as.test", .audience = "https://mcp.test/mcp",
                  .jwks_file = FUZZ_CORPUS "/jwt-keys.json", .algorithms = algs, .scope_claim = "scope",
                  .subject_claim = "sub", .clock_skew_ms = 60000, .jwks_refresh_ms = 3600000,
                  .jwks_min_refetch_ms = 10000, .jwks_timeout_ms = 10000},
        .resource = bits & 2 ? NULL : "https://mcp.test/mcp",   /* with jwt: its audience */
        .authorization_servers = servers,
        .scopes_supported = scopes_supported,
    };
    mf_error err = {0};
    http_auth *a = http_auth_new(&st, "fuzz", &err);
    FUZZ_ASSERT(a || err.code);
    return a;
}

/* The request: path, then headers up to an empty line; the rest (a certificate) after. */
static const uint8_t *parse_request(const uint8_t *p, const uint8_t *end, http_request *r)
{
    const uint8_t *nl = memchr(p, '\n', (size_t)(end - p));
    r->path = strndup((const char *)p, nl ? (size_t)(nl - p) : (size_t)(end - p));
    r->target = r->path;
    p = nl ? nl + 1 : end;
    while (p < end && *p != '\n') {
        nl = memchr(p, '\n', (size_t)(end - p));
        const uint8_t *le = nl ? nl : end;
        const uint8_t *colon = memchr(p, ':', (size_t)(le - p));
        if (colon && r->nheaders < 16) {
            if (r->nheaders == r->capheaders)
                r->headers = realloc(r->headers, (r->capheaders = r->capheaders ? 2 * r->capheaders : 4) *
                                                     sizeof *r->headers);
            http_header *h = &r->headers[r->nheaders++];
            h->name = strndup((const char *)p, (size_t)(colon - p));
            for (char *q = h->name; *q; q++)
                *q = (char)tolower((unsigned char)*q);
            const uint8_t *v = colon + 1;
            while (v < le && *v == ' ')
                v++;
            h->value = strndup((const char *)v, (size_t)(le - v));
        }
        p = nl ? nl + 1 : end;
    }
    return p < end ? p + 1 : end;
}

static void request_free(http_request *r)
{
    for (size_t i = 0; i < r->nheaders; i++) {
        free(r->headers[i].name);
        free(r->headers[i].value);
    }
    free(r->headers);
    free(r->path);
}

static void check_subject(const char *s)
{
    for (; *s; s++)
        FUZZ_ASSERT(*s >= 0x20 && *s < 0x7f);
}

static void check_metadata(const http_conn *c, const http_request *r)
{
    FUZZ_ASSERT(c->answers == 1);
    if (r->method != HTTP_GET) {
        FUZZ_ASSERT(c->status == 405);
        return;
    }
    FUZZ_ASSERT(c->status == 200);
    json_t *doc = json_loads(c->body, 0, NULL);
    FUZZ_ASSERT(json_is_object(doc));
    FUZZ_ASSERT(strcmp(json_string_value(json_object_get(doc, "resource")), "https://mcp.test/mcp") == 0);
    json_decref(doc);
}

static void check_verdict(uint8_t bits, auth_verdict v, const auth_who *who, http_conn *c)
{
    if (v == AUTH_OK) {
        FUZZ_ASSERT(c->answers == 0);
        const char *method = auth_who_method(who);
        FUZZ_ASSERT(json_is_object(who->identity));
        FUZZ_ASSERT(json_is_string(json_object_get(who->identity, "subject")));
        FUZZ_ASSERT(json_is_array(json_object_get(who->identity, "scopes")));
        FUZZ_ASSERT(json_is_object(json_object_get(who->identity, "claims")));
        FUZZ_ASSERT(strcmp(method, "key") == 0 ? bits & 1
                    : strcmp(method, "jwt") == 0 ? bits & 2 && who->bearer
                    : strcmp(method, "anonymous") == 0 ? bits & 8
                    : strcmp(method, "mtls") == 0 && bits & 16 && c->subject);
        if (bits & 32) {
            bool has = false;
            size_t i;
            json_t *s;
            json_array_foreach(json_object_get(who->identity, "scopes"), i, s)
                has |= json_equal(s, json_array_get(required, 0));
            FUZZ_ASSERT(has);
        }
        return;
    }
    FUZZ_ASSERT(v == AUTH_UNAUTHORIZED || v == AUTH_FORBIDDEN);
    FUZZ_ASSERT(c->answers == 1 && c->status == (int)v);
    const char *h = strstr(c->extra, "WWW-Authenticate: Bearer");
    FUZZ_ASSERT(h == c->extra && !strstr(h + 1, "WWW-Authenticate"));
    const char *eol = strstr(h, "\r\n");
    FUZZ_ASSERT(eol && eol[2] == '\0');
    for (const char *p = h; p < eol; p++)
        FUZZ_ASSERT(*p >= 0x20 && *p < 0x7f);
    const char *md = strstr(h, "resource_metadata=\"https://mcp.test/.well-known/oauth-protected-resource/mcp\"");
    FUZZ_ASSERT(!(bits & 4) == !(md && md < eol));
    json_t *body = json_loads(c->body, 0, NULL);
    FUZZ_ASSERT(json_is_object(body));
    json_decref(body);
}

static void released(void *ud) { *(bool *)ud = true; }

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint8_t bits = fuzz_take_byte(&data, &size);
    http_auth *a = auth_of(bits);
    if (!a)
        return 0;
    http_request r = {.method = bits & 64 ? HTTP_GET : HTTP_POST};
    const uint8_t *cert = parse_request(data, data + size, &r);
    http_conn c = {0};
    if (bits & 16 && cert < data + size) {
        const unsigned char *p = cert;
        X509 *x = d2i_X509(NULL, &p, (long)(data + size - cert));
        if (x) {
            c.subject = http_tls_subject(x);
            X509_free(x);
        }
        if (c.subject)
            check_subject(c.subject);
    }
    if (http_auth_metadata(a, &c, &r, "/mcp")) {
        check_metadata(&c, &r);
    } else {
        FUZZ_ASSERT(c.answers == 0);
        auth_who who;
        char why[256];
        auth_verdict v = http_auth_request(a, &c, &r, &who, why, sizeof why);
        if (v != AUTH_OK)
            http_auth_refuse(a, &c, &r, v, "", who.bad_token);
        check_verdict(bits, v, &who, &c);
        auth_who_clear(&who);
    }
    bool done = false;
    http_auth_free(a, released, &done);
    FUZZ_ASSERT(done);
    free(c.subject);
    free(c.extra);
    free(c.body);
    request_free(&r);
    return 0;
}
