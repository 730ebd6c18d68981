/* TLS on the server side's connections.
 *
 * Each TLS connection has an SSL with two memory BIOs: ciphertext read from the socket is
 * written into the first, plaintext the SSL yields goes to the connection's input buffer
 * as a plain connection's bytes would, and what the SSL writes into the second (handshake
 * records, encrypted responses) leaves through the plain connection's socket writes, with
 * their queue and its bound. Plain connections never come here. */
#include "conn_int.h"
#include "tls.h"

#include <openssl/err.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct conn_tls {
    SSL *ssl;
    bool handshaken;
    char *subject;    /* the verified client certificate's subject (RFC 2253), or NULL */
};

/* --- contexts ------------------------------------------------------------------------ */

void http_tls_conf_free(http_tls_conf *t)
{
    free(t->cert_file);
    free(t->key_file);
    free(t->ca_file);
    memset(t, 0, sizeof *t);
}

int http_file_readable(const char *path, const char *key, const char *file, mf_error *err)
{
    char what[256];
    snprintf(what, sizeof what, "%s.%s", path, key);
    return mf_conf_pem_file(what, file, err);
}

/* OpenSSL's last reason, its queue emptied. */
static const char *ssl_reason(void)
{
    unsigned long e = ERR_peek_last_error();
    const char *r = e ? ERR_reason_error_string(e) : NULL;
    ERR_clear_error();
    return r ? r : "not a PEM file of the expected kind";
}

/* ALPN: HTTP/1.1 is all this server speaks; a client offering only others gets no ALPN
 * answer rather than a refused handshake. */
static int select_alpn(SSL *ssl, const unsigned char **out, unsigned char *outlen, const unsigned char *in,
                       unsigned inlen, void *arg)
{
    (void)ssl;
    (void)arg;
    static const unsigned char ours[] = "\x08http/1.1";
    unsigned char *o;
    if (SSL_select_next_proto(&o, outlen, ours, sizeof ours - 1, in, inlen) != OPENSSL_NPN_NEGOTIATED)
        return SSL_TLSEXT_ERR_NOACK;
    *out = o;
    return SSL_TLSEXT_ERR_OK;
}

/* OpenSSL's own answer to an encrypted key is to ask the terminal for its passphrase,
 * which would hold the loop: none is given, and the key is refused. (The configuration
 * refuses encrypted keys first, mf_conf_pem_file; this is for a file changed since.) */
static int no_passphrase(char *buf, int size, int rwflag, void *u)
{
    (void)buf, (void)size, (void)rwflag, (void)u;
    return 0;
}

void http_tls_no_passphrase(SSL_CTX *ctx) { SSL_CTX_set_default_passwd_cb(ctx, no_passphrase); }

#define MISMATCH "the key does not match tls.cert_file"

SSL_CTX *http_tls_ctx_new(const http_tls_conf *t, const char *path, mf_error *err)
{
    if (http_file_readable(path, "tls.cert_file", t->cert_file, err) || http_file_readable(path, "tls.key_file", t->key_file, err) ||
        (t->ca_file && http_file_readable(path, "tls.ca_file", t->ca_file, err)))
        return NULL;
    SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
    if (!ctx) {
        mf_error_set(err, -1, "%s.tls: cannot make a TLS context: %s", path, ssl_reason());
        return NULL;
    }
    http_tls_no_passphrase(ctx);
    const char *key = NULL, *file = NULL, *why = NULL;
    if (SSL_CTX_use_certificate_chain_file(ctx, t->cert_file) != 1) {
        key = "cert_file", file = t->cert_file, why = ssl_reason();
    } else if (SSL_CTX_use_PrivateKey_file(ctx, t->key_file, SSL_FILETYPE_PEM) != 1) {
        key = "key_file", file = t->key_file;
        bool mismatch = ERR_GET_REASON(ERR_peek_last_error()) == X509_R_KEY_VALUES_MISMATCH;
        why = mismatch ? (ERR_clear_error(), MISMATCH) : ssl_reason();
    } else if (SSL_CTX_check_private_key(ctx) != 1) {
        ERR_clear_error();
        key = "key_file", file = t->key_file, why = MISMATCH;
    } else if (t->ca_file && SSL_CTX_load_verify_locations(ctx, t->ca_file, NULL) != 1) {
        key = "ca_file", file = t->ca_file, why = ssl_reason();
    }
    if (key) {
        mf_error_set(err, -1, "%s.tls.%s: \"%s\": %s", path, key, file, why);
        SSL_CTX_free(ctx);
        return NULL;
    }
    if (t->ca_file && t->verify != HTTP_TLS_VERIFY_NONE) {
        STACK_OF(X509_NAME) *names = SSL_load_client_CA_file(t->ca_file);
        if (names)
            SSL_CTX_set_client_CA_list(ctx, names);
        ERR_clear_error();
        SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | (t->verify == HTTP_TLS_VERIFY_REQUIRE ? SSL_VERIFY_FAIL_IF_NO_PEER_CERT : 0),
                           NULL);
        /* resumed sessions keep their verified peer: a context id is required for that */
        static const unsigned char sid_ctx[] = "mcpfed";
        SSL_CTX_set_session_id_context(ctx, sid_ctx, sizeof sid_ctx - 1);
    }
    SSL_CTX_set_min_proto_version(ctx, t->min_version);
    /* no handshake after the first: it is the one point where a connection handed to the
     * next generation of the plugin could still call into this one's code (ALPN) */
    SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE);
    SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
    SSL_CTX_set_alpn_select_cb(ctx, select_alpn, NULL);
    return ctx;
}

void http_tls_fingerprint(SSL_CTX *ctx, char out[100])
{
    out[0] = '\0';
    X509 *x = ctx ? SSL_CTX_get0_certificate(ctx) : NULL;
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned n = 0;
    if (!x || X509_digest(x, EVP_sha256(), md, &n) != 1)
        return;
    for (unsigned i = 0; i < n && i * 3 + 3 <= 100; i++)
        snprintf(out + i * 3, 4, i + 1 < n ? "%02X:" : "%02X", md[i]);
}

void http_conns_set_tls(http_conns *cs, SSL_CTX *ctx)
{
    if (cs->tls_ctx)
        SSL_CTX_free(cs->tls_ctx);   /* the connections that use it hold references */
    cs->tls_ctx = ctx;
}

SSL_CTX *http_conns_tls_ctx(const http_conns *cs) { return cs->tls_ctx; }

void http_conns_tls_counts(const http_conns *cs, uint64_t *ok, uint64_t *failed)
{
    *ok = cs->tls_handshakes;
    *failed = cs->tls_failures;
}

bool http_conn_is_tls(const http_conn *c) { return c->tls != NULL; }
const char *http_conn_tls_subject(const http_conn *c) { return c->tls ? c->tls->subject : NULL; }

/* --- connections --------------------------------------------------------------------- */

static conn_tls *wrap(SSL *ssl)
{
    conn_tls *t = calloc(1, sizeof *t);
    if (t)
        t->ssl = ssl;
    return t;
}

int conn_tls_start(http_conn *c)
{
    SSL *ssl = SSL_new(c->cs->tls_ctx);
    BIO *rb = BIO_new(BIO_s_mem()), *wb = BIO_new(BIO_s_mem());
    if (!ssl || !rb || !wb || !(c->tls = wrap(ssl))) {
        SSL_free(ssl);
        BIO_free(rb);
        BIO_free(wb);
        ERR_clear_error();
        return -1;
    }
    /* an empty memory BIO means "wait for more", not end of file */
    BIO_set_mem_eof_return(rb, -1);
    SSL_set_bio(ssl, rb, wb);
    SSL_set_accept_state(ssl);
    uv_timer_start(&c->timer, conn_tls_on_handshake_timeout, c->cs->limits.request_ms, 0);
    return 0;
}

/* What the SSL has written goes to the socket, as it is (no copy when the socket takes it). */
static void flush(http_conn *c)
{
    BIO *wb = SSL_get_wbio(c->tls->ssl);
    char *data;
    long n = BIO_get_mem_data(wb, &data);
    if (n <= 0)
        return;
    conn_sock_write(c, data, (size_t)n);
    (void)BIO_reset(wb);
}

static void failed(http_conn *c, const char *why)
{
    c->cs->tls_failures++;
    mf_info("http", "tls handshake failed", "peer=%s reason=\"%s\" failures=%llu", c->peer, why,
            (unsigned long long)c->cs->tls_failures);
    ERR_clear_error();
    conn_close(c);
}

static const char *handshake_error(SSL *ssl, int rc)
{
    int e = SSL_get_error(ssl, rc);
    if (e == SSL_ERROR_SSL) {
        unsigned long code = ERR_peek_last_error();
        const char *r = code ? ERR_reason_error_string(code) : NULL;
        return r ? r : "protocol error";
    }
    return e == SSL_ERROR_ZERO_RETURN ? "closed by the client" : "handshake error";
}

static void handshaken(http_conn *c)
{
    conn_tls *t = c->tls;
    t->handshaken = true;
    c->cs->tls_handshakes++;
    X509 *peer = SSL_get0_peer_certificate(t->ssl);
    if (peer && SSL_get_verify_result(t->ssl) == X509_V_OK)
        t->subject = http_tls_subject(peer);
    mf_debug("http", "tls handshake done", "peer=%s version=%s client=\"%s\"", c->peer, SSL_get_version(t->ssl),
             t->subject ? t->subject : "");
    /* the wait for a request begins now, as it does on a plain connection at accept */
    uv_timer_start(&c->timer, conn_on_idle_timeout, c->cs->limits.idle_ms, 0);
}

bool conn_tls_left(http_conn *c)
{
    if (c->tls->handshaken)
        return false;
    failed(c, "the client left during the handshake");
    return true;
}

void conn_tls_received(http_conn *c, const char *data, size_t len)
{
    conn_tls *t = c->tls;
    if (BIO_write(SSL_get_rbio(t->ssl), data, (int)len) != (int)len) {
        failed(c, "out of memory");
        return;
    }
    if (!t->handshaken) {
        int rc = SSL_do_handshake(t->ssl);
        flush(c);   /* an alert, when it failed: the client may say why */
        if (c->closing)
            return;
        if (rc != 1) {
            int e = SSL_get_error(t->ssl, rc);
            if (e != SSL_ERROR_WANT_READ && e != SSL_ERROR_WANT_WRITE)
                failed(c, handshake_error(t->ssl, rc));
            return;
        }
        handshaken(c);
    }
    static char plain[65536];   /* one connection at a time on the one loop */
    for (;;) {
        size_t n = 0;
        int rc = SSL_read_ex(t->ssl, plain, sizeof plain, &n);
        if (rc == 1) {
            conn_received(c, plain, n);
            continue;
        }
        int e = SSL_get_error(t->ssl, rc);
        flush(c);   /* key updates, session tickets */
        if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE)
            break;
        ERR_clear_error();
        /* close_notify ends the input as a shut TCP side does; anything else is an error */
        conn_pump(c);
        if (!c->closing)
            conn_read_end(c, e == SSL_ERROR_ZERO_RETURN ? UV_EOF : UV_EPROTO);
        return;
    }
    if (!c->closing)
        conn_pump(c);
}

void conn_tls_write(http_conn *c, const char *data, size_t len)
{
    conn_tls *t = c->tls;
    if (!t->handshaken)
        return;   /* nothing is written to a client before it is one */
    size_t n = 0;
    if (SSL_write_ex(t->ssl, data, len, &n) != 1 || n != len) {
        ERR_clear_error();
        conn_close(c);
        return;
    }
    flush(c);
}

void conn_tls_on_handshake_timeout(uv_timer_t *tm)
{
    http_conn *c = tm->data;
    if (c->tls && !c->tls->handshaken)
        failed(c, "the handshake did not complete in time");
}

void conn_tls_goodbye(http_conn *c)
{
    conn_tls *t = c->tls;
    if (!t->handshaken)
        return;
    /* close_notify, if the socket takes it now; a client that is gone does not need it */
    if (SSL_shutdown(t->ssl) < 0)
        ERR_clear_error();
    BIO *wb = SSL_get_wbio(t->ssl);
    char *data;
    long n = BIO_get_mem_data(wb, &data);
    if (n > 0) {
        uv_buf_t b = uv_buf_init(data, (unsigned)n);
        (void)uv_try_write((uv_stream_t *)&c->tcp, &b, 1);
    }
    (void)BIO_reset(wb);
}

void conn_tls_free(http_conn *c)
{
    conn_tls *t = c->tls;
    if (!t)
        return;
    SSL_free(t->ssl);   /* frees its BIOs and its reference to the context */
    free(t->subject);
    free(t);
    c->tls = NULL;
}

/* --- hot swap ------------------------------------------------------------------------ */

/* Both generations of the plugin run in this process on the same libssl: the successor
 * takes the SSL itself, by its address. */
json_t *conn_tls_save(const http_conn *c)
{
    const conn_tls *t = c->tls;
    return json_pack("{s:I,s:b,s:s?}", "ssl", (json_int_t)(intptr_t)t->ssl, "handshaken", t->handshaken, "subject",
                     t->subject);
}

void conn_tls_disown(http_conn *c)
{
    if (!c->tls)
        return;
    c->tls->ssl = NULL;   /* the successor's now */
    conn_tls_free(c);
}

int conn_tls_adopt(http_conn *c, const json_t *st)
{
    SSL *ssl = (SSL *)(intptr_t)json_integer_value(json_object_get(st, "ssl"));
    if (!ssl || !(c->tls = wrap(ssl)))
        return -1;
    c->tls->handshaken = json_is_true(json_object_get(st, "handshaken"));
    const char *subject = json_string_value(json_object_get(st, "subject"));
    c->tls->subject = subject ? strdup(subject) : NULL;
    if (!c->tls->handshaken)
        uv_timer_start(&c->timer, conn_tls_on_handshake_timeout, c->cs->limits.request_ms, 0);
    return 0;
}

/* Once the successor runs (or the predecessor goes on): a connection whose client has
 * not begun its handshake yet takes this generation's context, whose ALPN callback is
 * this generation's code. */
void conn_tls_rebind(http_conn *c)
{
    if (c->tls && c->cs->tls_ctx && SSL_in_before(c->tls->ssl))
        SSL_set_SSL_CTX(c->tls->ssl, c->cs->tls_ctx);
}
