/* TLS on the server side's listeners (https:// and wss://): OpenSSL driven on the loop
 * through two memory BIOs per connection, so that the socket stays libuv's and the
 * connection layer's reading, writing and limits are those of plain connections. */
#ifndef HTTP_TLS_H
#define HTTP_TLS_H

#include "http.h"

#include <openssl/ssl.h>

typedef enum http_tls_verify {
    HTTP_TLS_VERIFY_NONE = 0,   /* no client certificate asked for */
    HTTP_TLS_VERIFY_OPTIONAL,   /* asked for; one that is sent must verify */
    HTTP_TLS_VERIFY_REQUIRE,    /* a verified one is required */
} http_tls_verify;

/* A listener's `tls` table. */
typedef struct http_tls_conf {
    bool on;                    /* an https:// or wss:// listener */
    char *cert_file, *key_file, *ca_file;
    int min_version;            /* TLS1_2_VERSION or TLS1_3_VERSION */
    http_tls_verify verify;
} http_tls_conf;

void http_tls_conf_free(http_tls_conf *t);

/* A context from the files conf names (path names the listener in messages); NULL with
 * err naming the key and file that failed: unreadable, not PEM, or a key that does not
 * match the certificate. */
SSL_CTX *http_tls_ctx_new(const http_tls_conf *conf, const char *path, mf_error *err);
/* Whether file, the setting path.key, is a file that can be read, and no encrypted key
 * (OpenSSL would ask the terminal for its passphrase, and wait): checked when the
 * configuration loads, not at the first connection's failure; -1 with err naming the key. */
int http_file_readable(const char *path, const char *key, const char *file, mf_error *err);
/* Keys that are encrypted are refused where ctx loads them, rather than a passphrase asked
 * of the terminal (OpenSSL's default, which blocks). */
void http_tls_no_passphrase(SSL_CTX *ctx);
/* The SHA-256 fingerprint of ctx's certificate, as "AB:CD:..." ("" when none). */
void http_tls_fingerprint(SSL_CTX *ctx, char out[100]);

/* tls_subject.c: the name mtls gives cert's holder: its subject as RFC 2253 text, or
 * when that is empty its first subjectAltName ("DNS:..."), or its SHA-256 ("sha256:...");
 * NULL when none can be written. The caller frees it. */
char *http_tls_subject(X509 *cert);

/* The context new connections of cs get (NULL: plain); cs takes ctx over. Connections
 * already open keep the context they started with (each SSL holds a reference). */
void http_conns_set_tls(http_conns *cs, SSL_CTX *ctx);
SSL_CTX *http_conns_tls_ctx(const http_conns *cs);
/* Handshakes completed and failed (refused, garbage, timed out, cut short) on cs. */
void http_conns_tls_counts(const http_conns *cs, uint64_t *ok, uint64_t *failed);

#endif
