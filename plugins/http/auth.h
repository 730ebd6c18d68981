/* Who calls a listener: its `auth` settings, the methods that can tell (client certificates,
 * API keys, JWT bearer tokens, anonymous callers), the OAuth 2.1 resource server's
 * metadata and refusals.
 *
 * A request is checked once, before the MCP endpoint sees it: the methods are tried in a
 * fixed order (mtls, key, jwt, anonymous) and the first that recognises the request
 * decides. A request that no method accepts is refused with 401 (403 when its identity
 * lacks the required scopes); what was accepted becomes the identity of the kernel
 * sessions the request opens (mf_session_set_identity). */
#ifndef HTTP_AUTH_H
#define HTTP_AUTH_H

#include "http.h"

typedef struct http_auth http_auth;

/* The settings of `auth`, its nested tables' too: one struct, so that the listener's own
 * settings struct can hold it (at its start: nested tables' offsets are into the same
 * struct as their parent's). */
typedef struct jwt_settings {
    const char *issuer, *audience, *jwks_url, *jwks_file, *scope_claim, *subject_claim;
    const json_t *algorithms;
    int64_t clock_skew_ms, jwks_refresh_ms, jwks_min_refetch_ms, jwks_timeout_ms;
} jwt_settings;

typedef struct http_auth_settings {
    const json_t *table;   /* the auth table itself (NULL: none) */
    bool anonymous, mtls;
    const json_t *keys, *jwt, *oauth, *required_scopes;
    jwt_settings jwt_s;
    const json_t *authorization_servers, *scopes_supported;
    const char *resource;
} http_auth_settings;

extern const mf_setting http_auth_settings_table[];   /* auth.c */
extern const mf_setting http_jwt_settings[];          /* auth_jwt.c */
extern const mf_setting http_key_settings[];          /* auth_keys.c */

typedef struct jwt_verifier jwt_verifier;

/* The caller of one request, as accepted: identity is {subject, method, scopes, claims};
 * bearer is the JWT it presented (only when method is "jwt"). */
typedef struct auth_who {
    json_t *identity;
    char *bearer;
    bool bad_token;    /* refused: a token was presented and is not good */
} auth_who;

void auth_who_clear(auth_who *w);
/* The identity's subject and method, for session binding. */
const char *auth_who_subject(const auth_who *w);
const char *auth_who_method(const auth_who *w);

/* A listener's authentication from its checked settings (st->... filled by the settings
 * tables); path names the listener in errors. NULL with err set; a listener without an
 * `auth` table has none (NULL with err->code 0): everyone is anonymous. */
http_auth *http_auth_new(const http_auth_settings *st, const char *path, mf_error *err);
/* Start what runs in the background (the JWKS refresh); 0 or -1 with err. */
int http_auth_start(http_auth *a, mf_error *err);
/* Stop it; done(ud) runs once nothing of it is left on the loop (at once if nothing was). */
void http_auth_free(http_auth *a, void (*done)(void *ud), void *ud);

typedef enum auth_verdict { AUTH_OK = 0, AUTH_UNAUTHORIZED = 401, AUTH_FORBIDDEN = 403 } auth_verdict;

/* auth.c: who sent r on c. AUTH_OK with who filled, or a refusal that auth_refuse
 * writes. a NULL: the anonymous caller. */
auth_verdict http_auth_request(http_auth *a, const http_conn *c, const http_request *r, auth_who *who,
                               char *why, size_t whylen);
/* Answer a refusal: 401/403 with WWW-Authenticate; cors are the CORS headers of the
 * answer (or ""). host is the request's Host, for the metadata URL. */
void http_auth_refuse(http_auth *a, http_conn *c, const http_request *r, auth_verdict v, const char *cors,
                      bool bad_token);
/* The protected resource metadata (RFC 9728) when r asks for it and this listener has
 * OAuth settings: answered (true), else false. mcp_path is the listener's endpoint. */
bool http_auth_metadata(http_auth *a, http_conn *c, const http_request *r, const char *mcp_path);
/* Hot swap: what a successor needs (the fetched key set), NULL when nothing; and the
 * successor taking it, so that tokens are verified before its own fetch is in. */
json_t *http_auth_save(http_auth *a);
void http_auth_adopt(http_auth *a, const json_t *saved);
/* Failed authentications so far, by reason; a new reference. */
json_t *http_auth_figures(const http_auth *a);

/* The identity of the session sid from who, and its bearer token when who has one (a
 * verified JWT; an API key is never kept). On a listener with no authentication of its
 * own, the bearer token of request r as the client sent it (bearer.c). */
void http_auth_bind_session(uint64_t sid, const auth_who *who, const http_request *r, bool first);
/* Does session sid belong to who (same subject and method)? */
bool http_auth_session_matches(uint64_t sid, const auth_who *who);

/* auth_keys.c */
typedef struct auth_keys auth_keys;
auth_keys *auth_keys_new(const json_t *list, const char *path, mf_error *err);
void auth_keys_free(auth_keys *k);
/* The key presented (NULL: none was); 1 accepted (identity set), 0 not presented,
 * -1 presented and wrong. */
int auth_keys_verify(const auth_keys *k, const char *presented, json_t **identity);

/* auth_jwt.c */
jwt_verifier *jwt_verifier_new(const jwt_settings *st, const char *path, mf_error *err);
uint64_t jwt_verifier_fetches(const jwt_verifier *v);
struct jwks *jwt_verifier_keys(jwt_verifier *v);
int jwt_verifier_start(jwt_verifier *v, mf_error *err);
void jwt_verifier_free(jwt_verifier *v, void (*done)(void *ud), void *ud);
const char *jwt_verifier_audience(const jwt_verifier *v);
/* Verify token: 0 with *identity set (a new reference; a token verified lately is not
 * verified again while its key set is the same and its times hold), or -1 with why: a
 * short reason for the log, which may name the token's kid but holds no part of it. */
int jwt_verify(jwt_verifier *v, const char *token, json_t **identity, char *why, size_t whylen);

#endif
