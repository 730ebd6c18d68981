/* One HTTP/1.1 POST at a time to a collector, over a connection that libcurl makes
 * (name lookup, TLS, a proxy's tunnel) and that is kept between posts (otlp_post.c). The
 * request is written from the caller's buffer as it is: no copy of the body. */
#ifndef MF_OTLP_POST_H
#define MF_OTLP_POST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct mf_post mf_post;

/* A post ended: error is NULL for an answer of 2xx, else why not (an HTTP status, a
 * connection's failure, no answer in time). */
typedef void (*mf_post_done)(void *ud, const char *error);

mf_post *mf_post_new(mf_post_done done, void *ud);

/* The PEM files of an https:// collector's TLS: the authorities its certificate is
 * checked against (NULL: the system's), and a client certificate and its key shown when
 * it asks (NULL: none). */
typedef struct mf_post_tls {
    const char *ca_file, *cert_file, *key_file;
} mf_post_tls;

/* Where the next posts go: url (http:// or https://), its TLS files, and header lines
 * ("Name: value\r\n" each) sent with each. Taken at the next post; a new url or TLS file
 * closes the connection. -1 with err filled when url is not one libcurl can parse. */
int mf_post_target(mf_post *p, const char *url, const mf_post_tls *tls, const char *headers, char *err, size_t errlen);

/* Post body (len bytes, held unchanged by the caller until done is called). Not while a
 * post is under way. */
void mf_post_send(mf_post *p, const char *body, size_t len);
bool mf_post_busy(const mf_post *p);

/* The loop thread's CPU spent in posting so far (libcurl's work, the sends), in ns. */
uint64_t mf_post_cpu_ns(const mf_post *p);

/* Stops (a post under way ends without done being called) and frees p once its handles
 * are closed. */
void mf_post_free(mf_post *p);

#endif
