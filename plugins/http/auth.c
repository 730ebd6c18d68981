/* A listener's authentication: the methods in their order, the refusals (RFC 6750 and the
 * MCP authorization spec: 401 with the resource metadata's URL, 403 for missing scopes),
 * the protected resource metadata (RFC 9728), and the identity a session gets. */
#include "auth.h"
#include "bearer.h"
#include "server.h"
#include "jwks.h"

#include <mcpfed/buf.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

enum { F_MISSING, F_BAD_KEY, F_BAD_TOKEN, F_SCOPE, F_COUNT };
static const char *const failure_names[F_COUNT] = {"missing", "invalid_key", "invalid_token", "insufficient_scope"};

struct http_auth {
    bool anonymous, mtls;
    auth_keys *keys;
    jwt_verifier *jwt;
    json_t *required_scopes;   /* a list of strings, possibly empty */
    /* OAuth: the metadata; servers NULL when the listener publishes none */
    json_t *servers, *scopes_supported;
    char *resource, *metadata_url;
    uint64_t failures[F_COUNT];
};

#define S(field) MF_AT(http_auth_settings, field)
static const mf_setting oauth_settings[] = {
    {"authorization_servers", MF_SET_STRINGS, .def_doc = "required", .at = S(authorization_servers),
     .doc = "the issuers' URLs a client obtains tokens from (RFC 9728)"},
    {"scopes", MF_SET_STRINGS, .def = "{}", .at = S(scopes_supported), .doc = "scopes_supported in the metadata"},
    {"resource", MF_SET_STRING, .def_doc = "jwt.audience", .at = S(resource),
     .doc = "this resource's URL, as clients reach it"},
    {0},
};

const mf_setting http_auth_settings_table[] = {
    {"mtls", MF_SET_BOOL, .def = "false", .at = S(mtls),
     .doc = "a verified TLS client certificate lets its holder in, its subject the caller's name"},
    {"anonymous", MF_SET_BOOL, .def = "false", .at = S(anonymous),
     .doc = "a caller that presents no credentials is let in, as anonymous"},
    {"keys", MF_SET_LIST, .def_doc = "none", .sub = http_key_settings, .at = S(keys),
     .doc = "API keys: { id, hash = \"sha256:HEX\", scopes }"},
    {"jwt", MF_SET_TABLE, .def_doc = "none", .sub = http_jwt_settings, .at = S(jwt),
     .doc = "JWT bearer tokens from an OAuth 2.1 authorization server"},
    {"oauth", MF_SET_TABLE, .def_doc = "none", .sub = oauth_settings, .at = S(oauth),
     .doc = "publish protected resource metadata for OAuth clients"},
    {"required_scopes", MF_SET_STRINGS, .def = "{}", .at = S(required_scopes),
     .doc = "scopes every caller must have (then 403)"},
    {0},
};
#undef S

void auth_who_clear(auth_who *w)
{
    json_decref(w->identity);
    free(w->bearer);
    memset(w, 0, sizeof *w);
}

static const char *id_field(const json_t *identity, const char *key)
{
    const char *v = json_string_value(json_object_get(identity, key));
    return v ? v : "anonymous";
}

const char *auth_who_subject(const auth_who *w) { return id_field(w ? w->identity : NULL, "subject"); }
const char *auth_who_method(const auth_who *w) { return id_field(w ? w->identity : NULL, "method"); }

static void free_auth(http_auth *a)
{
    auth_keys_free(a->keys);
    json_decref(a->required_scopes);
    json_decref(a->servers);
    json_decref(a->scopes_supported);
    free(a->resource);
    free(a->metadata_url);
    free(a);
}

void http_auth_free(http_auth *a, void (*done)(void *ud), void *ud)
{
    jwt_verifier *v = a ? a->jwt : NULL;
    if (a)
        free_auth(a);
    if (v)
        jwt_verifier_free(v, done, ud);
    else if (done)
        done(ud);
}

/* RFC 9728 section 3.1: the well-known name goes between the host and the resource's path. */
static char *metadata_url(const char *resource)
{
    const char *scheme_end = strstr(resource, "://");
    if (!scheme_end)
        return NULL;
    const char *path = strchr(scheme_end + 3, '/');
    size_t host_len = path ? (size_t)(path - resource) : strlen(resource);
    const char *p = path && strcmp(path, "/") != 0 ? path : "";
    size_t n = host_len + strlen(p) + 48;
    char *out = malloc(n);
    snprintf(out, n, "%.*s/.well-known/oauth-protected-resource%s", (int)host_len, resource, p);
    return out;
}

static int oauth_new(http_auth *a, const http_auth_settings *st, const char *path, mf_error *err)
{
    if (!st->oauth)
        return 0;
    if (!st->authorization_servers || json_array_size(st->authorization_servers) == 0) {
        mf_error_set(err, -1, "%s.oauth.authorization_servers: missing (a non-empty list of strings is required)", path);
        return -1;
    }
    const char *resource = st->resource ? st->resource : a->jwt ? jwt_verifier_audience(a->jwt) : NULL;
    if (!resource) {
        mf_error_set(err, -1, "%s.oauth.resource: missing (required without jwt.audience)", path);
        return -1;
    }
    a->metadata_url = metadata_url(resource);
    if (!a->metadata_url) {
        mf_error_set(err, -1, "%s.oauth.resource: \"%s\" is no URL", path, resource);
        return -1;
    }
    a->resource = strdup(resource);
    a->servers = json_deep_copy(st->authorization_servers);
    a->scopes_supported = st->scopes_supported ? json_deep_copy(st->scopes_supported) : json_array();
    return 0;
}

http_auth *http_auth_new(const http_auth_settings *st, const char *path, mf_error *err)
{
    if (!st->table)
        return NULL;
    char sub[256];
    http_auth *a = calloc(1, sizeof *a);
    a->anonymous = st->anonymous;
    a->mtls = st->mtls;
    a->required_scopes = st->required_scopes ? json_deep_copy(st->required_scopes) : json_array();
    snprintf(sub, sizeof sub, "%s.auth", path);
    if (st->keys && !(a->keys = auth_keys_new(st->keys, sub, err)))
        goto fail;
    snprintf(sub, sizeof sub, "%s.auth.jwt", path);
    if (st->jwt && !(a->jwt = jwt_verifier_new(&st->jwt_s, sub, err)))
        goto fail;
    snprintf(sub, sizeof sub, "%s.auth", path);
    if (oauth_new(a, st, sub, err))
        goto fail;
    if (!a->keys && !a->jwt && !a->anonymous && !a->mtls) {
        mf_error_set(err, -1, "%s.auth: no method lets anyone in (mtls, keys, jwt or anonymous = true)", path);
        goto fail;
    }
    return a;
fail:
    http_auth_free(a, NULL, NULL);
    return NULL;
}

int http_auth_start(http_auth *a, mf_error *err) { return a && a->jwt ? jwt_verifier_start(a->jwt, err) : 0; }

/* The credentials of r: a bearer token (Authorization: Bearer) and an API key
 * (X-API-Key). *other: an Authorization of another scheme. */
static const char *bearer_of(const http_request *r, bool *other)
{
    const char *h = http_header_get(r, "authorization");
    *other = false;
    if (!h)
        return NULL;
    size_t n;
    h = http_ows_trimmed(h, &n);
    if (n > 7 && strncasecmp(h, "Bearer ", 7) == 0) {
        h += 7;
        h += strspn(h, " ");
        if (*h)
            return h;
    }
    *other = true;
    return NULL;
}

static bool has_scopes(const json_t *identity, const json_t *required)
{
    const json_t *have = json_object_get(identity, "scopes");
    size_t i, j;
    json_t *want, *s;
    json_array_foreach(required, i, want) {
        bool found = false;
        json_array_foreach(have, j, s) found |= json_equal(s, want);
        if (!found)
            return false;
    }
    return true;
}

static auth_verdict refuse(http_auth *a, int kind, const http_conn *c, const char *why, const char *what)
{
    a->failures[kind]++;
    mf_info("http", "authentication failed", "peer=%s reason=\"%s\" %s", http_conn_peer(c), why, what);
    return kind == F_SCOPE ? AUTH_FORBIDDEN : AUTH_UNAUTHORIZED;
}

auth_verdict http_auth_request(http_auth *a, const http_conn *c, const http_request *r, auth_who *who,
                               char *why, size_t whylen)
{
    memset(who, 0, sizeof *who);
    if (!a)
        return AUTH_OK;
    bool other;
    const char *token = bearer_of(r, &other);
    const char *xkey = http_header_get(r, "x-api-key");
    char what[160] = "";
    json_t *id = NULL;
    const char *tls = a->mtls ? http_conn_tls_subject(c) : NULL;
    if (tls) {
        /* the connection's certificate was verified by the TLS layer: nothing else to ask */
        id = json_pack("{s:s,s:s,s:[],s:{}}", "subject", tls, "method", "mtls", "scopes", "claims");
    } else if (other) {
        snprintf(why, whylen, "an Authorization header that is no Bearer token");
        who->bad_token = true;
        return refuse(a, F_BAD_TOKEN, c, why, what);
    } else if (xkey || (token && a->keys && !a->jwt) || (token && a->keys && !strchr(token, '.'))) {
        /* an API key: X-API-Key, or a bearer that cannot be a JWT */
        const char *k = xkey ? xkey : token;
        if (!a->keys || auth_keys_verify(a->keys, k, &id) <= 0) {
            snprintf(why, whylen, "unknown API key");
            return refuse(a, F_BAD_KEY, c, why, what);
        }
    } else if (token && a->keys && auth_keys_verify(a->keys, token, &id) > 0) {
        /* a key that happens to hold dots */
    } else if (token && a->jwt) {
        if (jwt_verify(a->jwt, token, &id, why, whylen)) {
            who->bad_token = true;
            return refuse(a, F_BAD_TOKEN, c, why, what);
        }
        who->bearer = strdup(token);
    } else if (token) {
        snprintf(why, whylen, "a bearer token, and this listener takes none");
        who->bad_token = true;
        return refuse(a, F_BAD_TOKEN, c, why, what);
    } else if (a->anonymous) {
        id = json_pack("{s:s,s:s,s:[],s:{}}", "subject", "anonymous", "method", "anonymous", "scopes", "claims");
    } else {
        snprintf(why, whylen, "no credentials");
        return refuse(a, F_MISSING, c, why, what);
    }
    who->identity = id;
    if (!has_scopes(who->identity, a->required_scopes)) {
        snprintf(what, sizeof what, "subject=\"%.80s\"", auth_who_subject(who));
        bool anon = strcmp(auth_who_method(who), "anonymous") == 0;
        snprintf(why, whylen, anon ? "no credentials" : "insufficient scope");
        auth_who_clear(who);
        return refuse(a, anon ? F_MISSING : F_SCOPE, c, why, what);
    }
    return AUTH_OK;
}

static char *joined_scopes(const json_t *list)
{
    char *out = NULL;
    size_t len = 0, cap = 0;
    mf_buf_append(&out, &len, &cap, "", 0);
    size_t i;
    json_t *s;
    json_array_foreach(list, i, s) {
        if (i)
            mf_buf_append(&out, &len, &cap, " ", 1);
        mf_buf_append(&out, &len, &cap, json_string_value(s), json_string_length(s));
    }
    return out;
}

void http_auth_refuse(http_auth *a, http_conn *c, const http_request *r, auth_verdict v, const char *cors,
                      bool bad_token)
{
    (void)r;
    char md[600] = "";
    if (a->metadata_url)
        snprintf(md, sizeof md, " resource_metadata=\"%.500s\"", a->metadata_url);
    char *scopes = joined_scopes(a->required_scopes);
    size_t n = strlen(md) + strlen(scopes) + strlen(cors) + 200;
    char *extra = malloc(n);
    const char *text;
    if (v == AUTH_FORBIDDEN) {
        snprintf(extra, n, "WWW-Authenticate: Bearer error=\"insufficient_scope\", scope=\"%s\"%s%s\r\n%s",
                 scopes, md[0] ? "," : "", md, cors);
        text = "Forbidden: insufficient scope";
    } else {
        snprintf(extra, n, "WWW-Authenticate: Bearer%s%s\r\n%s", md,
                 bad_token ? (md[0] ? ", error=\"invalid_token\"" : " error=\"invalid_token\"") : "", cors);
        text = bad_token ? "Unauthorized: invalid credentials" : "Unauthorized: credentials are required";
    }
    json_t *e = mf_rpc_error(NULL, -32000, text, NULL);
    size_t len;
    char *body = mf_rpc_dump(e, &len);
    http_respond(c, (int)v, "application/json", extra, body, len);
    free(body);
    json_decref(e);
    free(extra);
    free(scopes);
}

bool http_auth_metadata(http_auth *a, http_conn *c, const http_request *r, const char *mcp_path)
{
    static const char base[] = "/.well-known/oauth-protected-resource";
    if (strncmp(r->path, base, sizeof base - 1) != 0)
        return false;
    const char *rest = r->path + sizeof base - 1;
    if (!a || !a->servers || (*rest && strcmp(rest, mcp_path) != 0))
        return false;
    if (r->method != HTTP_GET && r->method != HTTP_OPTIONS) {
        http_respond(c, 405, "text/plain", "Allow: GET, OPTIONS\r\n", "GET only\n", 9);
        return true;
    }
    json_t *doc = json_pack("{s:s,s:O,s:O,s:[s]}", "resource", a->resource, "authorization_servers", a->servers,
                            "scopes_supported", a->scopes_supported, "bearer_methods_supported", "header");
    size_t len;
    char *body = json_dumps(doc, JSON_COMPACT);
    len = strlen(body);
    /* public: any page may read it */
    http_respond(c, r->method == HTTP_OPTIONS ? 204 : 200, "application/json",
                 "Access-Control-Allow-Origin: *\r\nAccess-Control-Allow-Headers: MCP-Protocol-Version\r\n",
                 r->method == HTTP_OPTIONS ? "" : body, r->method == HTTP_OPTIONS ? 0 : len);
    free(body);
    json_decref(doc);
    return true;
}

json_t *http_auth_save(http_auth *a)
{
    const char *doc = a && a->jwt ? jwks_document(jwt_verifier_keys(a->jwt)) : NULL;
    return doc ? json_pack("{s:s}", "jwks", doc) : NULL;
}

void http_auth_adopt(http_auth *a, const json_t *saved)
{
    if (a && a->jwt)
        jwks_seed(jwt_verifier_keys(a->jwt), json_string_value(json_object_get(saved, "jwks")));
}

json_t *http_auth_figures(const http_auth *a)
{
    json_t *by = json_object();
    uint64_t total = 0;
    for (int i = 0; i < F_COUNT; i++) {
        json_object_set_new(by, failure_names[i], json_integer((json_int_t)(a ? a->failures[i] : 0)));
        total += a ? a->failures[i] : 0;
    }
    json_t *o = json_pack("{s:I,s:o}", "auth_failures", (json_int_t)total, "auth_failures_by_reason", by);
    if (a && a->jwt)
        json_object_set_new(o, "jwks_fetches", json_integer((json_int_t)jwt_verifier_fetches(a->jwt)));
    return o;
}

void http_auth_bind_session(uint64_t sid, const auth_who *who, const http_request *r, bool first)
{
    if (!who || !who->identity) {
        http_session_bearer(sid, r);
        return;
    }
    const char *cur = mf_session_bearer(sid);
    bool refreshed = who->bearer && (!cur || strcmp(cur, who->bearer) != 0);
    /* a refreshed token may carry other scopes and claims: the policy sees the latest */
    if (first || refreshed)
        mf_session_set_identity(sid, json_incref(who->identity));
    if (refreshed)
        mf_session_set_bearer(sid, who->bearer);
}

bool http_auth_session_matches(uint64_t sid, const auth_who *who)
{
    const json_t *id = mf_session_identity(sid);
    return strcmp(id_field(id, "subject"), auth_who_subject(who)) == 0 &&
           strcmp(id_field(id, "method"), auth_who_method(who)) == 0;
}
