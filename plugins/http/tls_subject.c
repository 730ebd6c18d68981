/* The name a verified client certificate gives its holder: its subject as RFC 2253 text.
 * A certificate may leave its subject empty and name its holder in subjectAltName alone
 * (RFC 5280, 4.1.2.6): it gives its first alternative name as OpenSSL writes it
 * ("DNS:bot.example", "email:bot@example.com"); one with neither, the SHA-256 of the
 * certificate ("sha256:..."). Never "", which every such holder would share. */
#include "tls.h"

#include <openssl/err.h>
#include <openssl/x509v3.h>
#include <stdlib.h>
#include <string.h>

/* What b holds, with anything but printable ASCII as '?' (an alternative name is an
 * IA5String, and a name goes into logs and records); NULL when empty. */
static char *bio_text(BIO *b)
{
    char *s;
    long n = BIO_get_mem_data(b, &s);
    if (n <= 0)
        return NULL;
    char *out = strndup(s, (size_t)n);
    for (char *p = out; p && *p; p++)
        if ((unsigned char)*p < 0x20 || (unsigned char)*p > 0x7e)
            *p = '?';
    return out;
}

static char *first_alt_name(X509 *cert)
{
    GENERAL_NAMES *names = X509_get_ext_d2i(cert, NID_subject_alt_name, NULL, NULL);
    char *name = NULL;
    BIO *b = names && sk_GENERAL_NAME_num(names) > 0 ? BIO_new(BIO_s_mem()) : NULL;
    if (b && GENERAL_NAME_print(b, sk_GENERAL_NAME_value(names, 0)) > 0)
        name = bio_text(b);
    BIO_free(b);
    GENERAL_NAMES_free(names);
    return name;
}

static char *digest_name(X509 *cert)
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned n = 0;
    if (X509_digest(cert, EVP_sha256(), md, &n) != 1)
        return NULL;
    char *out = malloc(7 + 2 * n + 1);
    if (!out)
        return NULL;
    memcpy(out, "sha256:", 7);
    for (unsigned i = 0; i < n; i++) {
        static const char hex[] = "0123456789abcdef";
        out[7 + 2 * i] = hex[md[i] >> 4];
        out[8 + 2 * i] = hex[md[i] & 15];
    }
    out[7 + 2 * n] = '\0';
    return out;
}

char *http_tls_subject(X509 *cert)
{
    char *subject = NULL;
    BIO *b = BIO_new(BIO_s_mem());
    if (b && X509_NAME_print_ex(b, X509_get_subject_name(cert), 0, XN_FLAG_RFC2253) >= 0) {
        char *s;
        long n = BIO_get_mem_data(b, &s);
        subject = n > 0 ? strndup(s, (size_t)n) : NULL;
    }
    BIO_free(b);
    if (!subject)
        subject = first_alt_name(cert);
    if (!subject)
        subject = digest_name(cert);
    ERR_clear_error();
    return subject;
}
