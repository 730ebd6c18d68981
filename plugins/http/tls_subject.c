/* The name a verified client certificate gives its holder: its subject as RFC 2253 text. */
#include "tls.h"

#include <openssl/err.h>
#include <stdlib.h>
#include <string.h>

char *http_tls_subject(X509 *cert)
{
    char *subject = NULL;
    BIO *b = BIO_new(BIO_s_mem());
    if (b && X509_NAME_print_ex(b, X509_get_subject_name(cert), 0, XN_FLAG_RFC2253) >= 0) {
        char *s;
        long n = BIO_get_mem_data(b, &s);
        subject = strndup(s, n > 0 ? (size_t)n : 0);
    }
    BIO_free(b);
    ERR_clear_error();
    return subject;
}
