/* HTTP requests from plugins (the http provider's upstreams, the fetch tool): libcurl's
 * multi interface driven by the kernel's loop.
 * No thread and no blocking call: curl tells which sockets to watch and when its timer is
 * due; the loop tells curl when a socket is ready. One multi handle serves every
 * provider of the plugin that compiles this in, so connections to the same server are
 * reused across them. */
#ifndef HTTP_HCLIENT_H
#define HTTP_HCLIENT_H

#include <mcpfed/mcpfed.h>
#include <curl/curl.h>

typedef struct hc_req hc_req;

typedef struct hc_ops {
    /* the status line and headers are in; called once, before any body */
    void (*on_head)(hc_req *r, long status, void *ud);
    /* body bytes as they arrive */
    void (*on_data)(hc_req *r, const char *buf, size_t len, void *ud);
    /* finished (rc CURLE_OK) or failed; r is freed after this returns */
    void (*on_done)(hc_req *r, CURLcode rc, long status, const char *error, void *ud);
} hc_ops;

typedef struct hc_options {
    const char *method;              /* "POST", "GET", "DELETE" */
    const char *url;
    struct curl_slist *headers;      /* copied */
    struct curl_slist *headers_taken;   /* taken over, sent before those (freed, wiped, by
                                         * hc_start when it fails): a list built for one
                                         * request is not copied again */
    const char *body;                /* copied */
    size_t body_len;
    long timeout_ms;                 /* 0: none (streams) */
    long connect_timeout_ms;
    bool insecure;                   /* skip TLS verification (never the default) */
    const char *ca_file;
    const char *cert_file, *key_file;   /* a client certificate and its key (PEM), or NULL */
} hc_options;

int hc_init(mf_error *err);
/* The last user gone, libcurl is cleaned up and done(ud) runs once its handles on the loop
 * are all closed (at once for any other user); done may be NULL. */
void hc_shutdown(void (*done)(void *ud), void *ud);
hc_req *hc_start(const hc_options *o, const hc_ops *ops, void *ud, mf_error *err);
/* Free a header list, each line wiped first: lines may hold credentials (Authorization). */
void hc_headers_free(struct curl_slist *h);
/* Abandon: no more callbacks. */
void hc_cancel(hc_req *r);
/* A response header (name case-insensitive), valid until on_done returns. */
const char *hc_header(const hc_req *r, const char *name);
/* The i-th response header line ("name: value"), or NULL past the last; valid until on_done
 * returns. */
const char *hc_header_at(const hc_req *r, size_t i);
/* Where a redirect response points, made absolute against the request's URL (NULL when
 * it is no redirect); valid until on_done returns. Redirects are never followed here. */
const char *hc_redirect(const hc_req *r);
size_t hc_active(void);

#endif
