/* fetch: HTTP GET of URLs whose host the configuration allows, through libcurl on the loop.
 *
 *   { name = "web", transport = "fetch", allow = { "api.example.com", "*.example.org:8443" },
 *     max_bytes = 1048576, max_ms = 10000, max_redirects = 5, ca_file = "/etc/ssl/ca.pem",
 *     headers = { ["User-Agent"] = "mcpfed" } }
 *
 * An entry of allow is a host name (or an IP address, IPv6 in brackets), or "*." and a
 * suffix for every name under it; without ":port" it admits the scheme's default port
 * only, with ":*" any port. The check is by name, on the URL as parsed: the name is then
 * resolved by the system's resolver for each connection, neither pinned nor checked by
 * address (allow IP addresses to bind to addresses). Redirects are not libcurl's to follow:
 * each target is checked as the first URL was (http or https, an allowed host and port),
 * at most max_redirects times. TLS is verified, against ca_file when given.
 *
 * The body comes back as text, as JSON (structuredContent.json) when the content type is
 * JSON or the call asks for it, and a body that is not UTF-8 text as an embedded resource
 * (base64). The body is cut off at max_bytes (the call fails); the call's deadline (max_ms,
 * or the kernel's, the sooner) and its cancellation abort the transfer. */
#define _GNU_SOURCE   /* asprintf */
#include "toolhost.h"
#include "../http/hclient.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

typedef struct fetchcfg {
    th_limits lim;           /* first */
    const json_t *allow;     /* array of entries */
    const json_t *headers;   /* name -> value, sent with every request */
    const char *ca_file;
    int64_t max_redirects;
} fetchcfg;

static const mf_setting settings[] = {
    {"allow", MF_SET_STRINGS, MF_SET_REQUIRED | MF_SET_NONEMPTY, .at = MF_AT(fetchcfg, allow),
     .doc = "the hosts that may be fetched: name, *.suffix or IP address, each with :port or :*"},
    TH_LIMITS("a larger body is refused", "how long the whole call may take, redirects included"),
    {"max_redirects", MF_SET_INT, .def = "5", .min = 0, .max = 50, .at = MF_AT(fetchcfg, max_redirects),
     .doc = "redirects followed at most, each target checked as the first URL"},
    {"ca_file", MF_SET_STRING, .def_doc = "the system's", .at = MF_AT(fetchcfg, ca_file),
     .doc = "the CA certificates TLS peers are verified against"},
    {"headers", MF_SET_MAP, .at = MF_AT(fetchcfg, headers), .doc = "request headers sent with every request"},
    {0},
};

/* --- the allowlist --- */

/* An entry split into its host pattern and port (0: the default port; -1: any). */
static bool entry_parse(const char *e, char *host, size_t n, long *port)
{
    const char *colon = strrchr(e, ':'), *close = strrchr(e, ']');
    size_t hlen = strlen(e);
    *port = 0;
    if (colon && (!close || colon > close) && (e[0] == '[' || strchr(e, ':') == colon)) {
        hlen = (size_t)(colon - e);
        if (strcmp(colon + 1, "*") == 0) {
            *port = -1;
        } else {
            char *end = NULL;
            *port = strtol(colon + 1, &end, 10);
            if (!colon[1] || *end || *port < 1 || *port > 65535)
                return false;
        }
    }
    if (hlen == 0 || hlen >= n || strcspn(e, "/@?# \t") < hlen)
        return false;
    for (size_t i = 0; i < hlen; i++)
        host[i] = (char)tolower((unsigned char)e[i]);
    host[hlen] = 0;
    const char *star = strchr(host, '*');
    return !star || (star == host && host[1] == '.' && host[2] && !strchr(host + 1, '*'));
}

static bool host_matches(const char *pattern, const char *host)
{
    if (strncmp(pattern, "*.", 2) != 0)
        return strcmp(pattern, host) == 0;
    size_t pl = strlen(pattern + 1), hl = strlen(host);   /* ".example.com" */
    return hl > pl && strcmp(host + hl - pl, pattern + 1) == 0;
}

static bool allowed(const fetchcfg *c, const char *host, long port, long default_port)
{
    size_t i;
    const json_t *v;
    json_array_foreach(c->allow, i, v) {
        char pat[256];
        long p;
        if (entry_parse(json_string_value(v), pat, sizeof pat, &p) && host_matches(pat, host) &&
            (p == -1 || port == (p ? p : default_port)))
            return true;
    }
    return false;
}

/* The URL as libcurl will read it (malloc'd) when it may be fetched; else NULL with why set. */
static char *check_url(const fetchcfg *c, const char *url, char *why, size_t n)
{
    CURLU *u = curl_url();
    char *scheme = NULL, *host = NULL, *port = NULL, *norm = NULL;
    if (!u || curl_url_set(u, CURLUPART_URL, url, 0) != CURLUE_OK) {
        snprintf(why, n, "refused: \"%.200s\" is no absolute URL", url);
    } else if (curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK ||
               (strcasecmp(scheme, "http") != 0 && strcasecmp(scheme, "https") != 0)) {
        snprintf(why, n, "refused: only http and https URLs are fetched, not %.40s", scheme ? scheme : "this");
    } else if (curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK ||
               curl_url_get(u, CURLUPART_PORT, &port, CURLU_DEFAULT_PORT) != CURLUE_OK) {
        snprintf(why, n, "refused: \"%.200s\" names no host", url);
    } else {
        for (char *p = host; *p; p++)
            *p = (char)tolower((unsigned char)*p);
        long def = strcasecmp(scheme, "https") == 0 ? 443 : 80;
        if (!allowed(c, host, strtol(port, NULL, 10), def))
            snprintf(why, n, "refused: the host %.200s:%s is not in the allowlist", host, port);
        else if (curl_url_get(u, CURLUPART_URL, &norm, 0) != CURLUE_OK)
            snprintf(why, n, "refused: \"%.200s\" cannot be written back", url);
    }
    curl_free(scheme);
    curl_free(host);
    curl_free(port);
    curl_url_cleanup(u);
    char *out = norm ? mf_xstrdup(norm) : NULL;
    curl_free(norm);
    return out;
}

static int read_conf(const json_t *conf, const char *path, void *cfg, mf_error *err)
{
    const fetchcfg *c = cfg;
    (void)conf;
    size_t i;
    const json_t *v;
    json_array_foreach(c->allow, i, v) {
        char pat[256];
        long port;
        if (!entry_parse(json_string_value(v), pat, sizeof pat, &port)) {
            mf_error_set(err, -1, "%s.allow[%zu]: \"%s\" is no host, *.suffix or IP address, with an optional "
                                  ":port or :*", path, i + 1, json_string_value(v));
            return -1;
        }
    }
    return 0;
}

/* libcurl for as long as an instance runs; closed from a later turn of the loop, never
 * inside one of libcurl's callbacks (the last call may end in one). */
static int open_curl(mf_error *err)
{
    return hc_init(err);
}

typedef struct closing {
    uv_timer_t timer;
    void (*done)(void *);
    void *arg;
} closing;

static void close_timer_closed(uv_handle_t *h)
{
    closing *cl = h->data;
    hc_shutdown(cl->done, cl->arg);
    free(cl);
}

static void close_later(uv_timer_t *t)
{
    uv_close((uv_handle_t *)t, close_timer_closed);
}

static void close_curl(void (*done)(void *), void *arg)
{
    closing *cl = mf_xcalloc(1, sizeof *cl);
    cl->done = done;
    cl->arg = arg;
    uv_timer_init(mf_loop(), &cl->timer);
    cl->timer.data = cl;
    uv_timer_start(&cl->timer, close_later, 0, 0);
}

/* --- a fetch --- */

typedef enum want { WANT_AUTO, WANT_TEXT, WANT_JSON } want;

typedef struct fetch {
    th_job *job;
    const fetchcfg *c;
    hc_req *req;
    char *url;                   /* this hop's */
    json_t *redirects;           /* the URLs redirected to, in order */
    want as;
    struct curl_slist *headers;
    char *body;
    size_t len, cap;
    long status;
    bool redirecting;            /* this hop's answer is a redirect: its body is not kept */
    bool too_big;
} fetch;

static void fetch_free(fetch *f)
{
    free(f->url);
    json_decref(f->redirects);
    curl_slist_free_all(f->headers);
    free(f->body);
    free(f);
}

static void finish(fetch *f, json_t *result)
{
    th_job *job = f->job;
    th_job_on_stop(job, NULL, NULL);
    fetch_free(f);
    th_job_done(job, result);
}

static void on_stop(void *arg)
{
    fetch *f = arg;
    if (f->req)
        hc_cancel(f->req);
    f->req = NULL;
    finish(f, NULL);
}

static bool is_redirect(long status)
{
    return status == 301 || status == 302 || status == 303 || status == 307 || status == 308;
}

static void on_head(hc_req *r, long status, void *ud)
{
    fetch *f = ud;
    f->status = status;
    f->redirecting = is_redirect(status) && hc_redirect(r);
    const char *cl = hc_header(r, "content-length");
    if (!f->redirecting && cl && strtoll(cl, NULL, 10) > f->c->lim.max_bytes)
        f->too_big = true;   /* refused at its first bytes, before any is kept */
}

static json_t *too_big(const fetch *f)
{
    return th_fail("refused: the body of %s exceeds max_bytes (%lld bytes)", f->url, (long long)f->c->lim.max_bytes);
}

static void on_data(hc_req *r, const char *buf, size_t len, void *ud)
{
    fetch *f = ud;
    if (f->redirecting)
        return;
    if (f->too_big || f->len + len > (size_t)f->c->lim.max_bytes) {
        hc_cancel(r);   /* from its callback: the transfer ends when this returns */
        f->req = NULL;
        finish(f, too_big(f));
        return;
    }
    if (f->len + len + 1 > f->cap) {
        f->cap = (f->len + len + 1) * 2;
        f->body = mf_xrealloc(f->body, f->cap);
    }
    memcpy(f->body + f->len, buf, len);
    f->len += len;
    f->body[f->len] = 0;
}

static char *base64(const char *p, size_t n)
{
    static const char abc[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    const unsigned char *s = (const unsigned char *)p;
    char *out = mf_xmalloc((n + 2) / 3 * 4 + 1), *o = out;
    for (size_t i = 0; i < n; i += 3) {
        unsigned v = (unsigned)s[i] << 16 | (i + 1 < n ? (unsigned)s[i + 1] << 8 : 0) | (i + 2 < n ? s[i + 2] : 0);
        *o++ = abc[v >> 18 & 63];
        *o++ = abc[v >> 12 & 63];
        *o++ = i + 1 < n ? abc[v >> 6 & 63] : '=';
        *o++ = i + 2 < n ? abc[v & 63] : '=';
    }
    *o = 0;
    return out;
}

/* The response headers as an object of lower-case names; repeated ones joined by ", ". */
static json_t *headers_of(const hc_req *r)
{
    json_t *h = json_object();
    const char *line;
    for (size_t i = 0; (line = hc_header_at(r, i)); i++) {
        const char *colon = strchr(line, ':'), *v = colon + 1;
        char name[128];
        size_t nl = (size_t)(colon - line);
        if (nl == 0 || nl >= sizeof name)
            continue;
        for (size_t k = 0; k < nl; k++)
            name[k] = (char)tolower((unsigned char)line[k]);
        name[nl] = 0;
        while (*v == ' ' || *v == '\t')
            v++;
        const json_t *had = json_object_get(h, name);
        json_t *val = had ? json_sprintf("%s, %s", json_string_value(had), v) : json_string(v);
        if (val)   /* not UTF-8: left out */
            json_object_set_new(h, name, val);
    }
    return h;
}

static bool json_content(const char *ct)
{
    if (!ct)
        return false;
    size_t n = strcspn(ct, ";");
    while (n && (ct[n - 1] == ' ' || ct[n - 1] == '\t'))
        n--;
    return (n == 16 && strncasecmp(ct, "application/json", 16) == 0) ||
           (n > 5 && strncasecmp(ct + n - 5, "+json", 5) == 0);
}

/* The tool's result from the final answer. */
static json_t *result_of(fetch *f, const hc_req *r)
{
    const char *ct = hc_header(r, "content-type");
    json_t *sc = json_pack("{s:s,s:i,s:o,s:I,s:O}", "url", f->url, "status", (int)f->status, "headers", headers_of(r),
                           "bytes", (json_int_t)f->len, "redirects", f->redirects);
    if (ct)
        json_object_set_new(sc, "content_type", json_string(ct));
    const char *body = f->body ? f->body : "";
    json_t *text = memchr(body, 0, f->len) ? NULL : json_stringn(body, f->len);   /* NULL: not UTF-8 */
    json_t *content = json_array(), *parsed = NULL;
    if (f->status >= 400)
        json_array_append_new(content, json_pack("{s:s,s:o}", "type", "text", "text",
                                                 json_sprintf("HTTP %ld from %s", f->status, f->url)));
    if (text && (f->as == WANT_JSON || (f->as == WANT_AUTO && json_content(ct)))) {
        json_error_t e;
        parsed = json_loadb(body, f->len, JSON_DECODE_ANY, &e);
        if (!parsed && f->as == WANT_JSON) {
            json_decref(text);
            json_decref(content);
            json_decref(sc);
            return th_fail("the body of %s (HTTP %ld) is not JSON: %s at line %d", f->url, f->status, e.text, e.line);
        }
    }
    if (parsed) {
        char *dump = json_dumps(parsed, JSON_COMPACT | JSON_ENCODE_ANY);
        json_array_append_new(content, json_pack("{s:s,s:s}", "type", "text", "text", dump ? dump : ""));
        free(dump);
        json_object_set_new(sc, "json", parsed);
        json_decref(text);
    } else if (text) {
        json_array_append_new(content, json_pack("{s:s,s:O}", "type", "text", "text", text));
        json_object_set_new(sc, "text", text);
    } else {
        char *b64 = base64(body, f->len);
        json_array_append_new(content, json_pack("{s:s,s:{s:s,s:s,s:s}}", "type", "resource", "resource", "uri", f->url,
                                                 "mimeType", ct ? ct : "application/octet-stream", "blob", b64));
        json_object_set_new(sc, "blob", json_string(b64));
        free(b64);
    }
    return json_pack("{s:o,s:o,s:b}", "content", content, "structuredContent", sc, "isError", f->status >= 400);
}

static void hop(fetch *f);
static const hc_ops ops;

static void on_done(hc_req *r, CURLcode rc, long status, const char *error, void *ud)
{
    fetch *f = ud;
    f->req = NULL;
    f->status = status;
    if (rc != CURLE_OK) {
        finish(f, rc == CURLE_OPERATION_TIMEDOUT
                      ? th_fail("stopped: %s ran past the call's time limit (max_ms or its deadline)", f->url)
                      : th_fail("cannot fetch %s: %s", f->url, error));
        return;
    }
    if (f->too_big) {
        finish(f, too_big(f));
        return;
    }
    const char *to = is_redirect(status) ? hc_redirect(r) : NULL;
    if (!to) {
        finish(f, result_of(f, r));
        return;
    }
    if ((int64_t)json_array_size(f->redirects) >= f->c->max_redirects) {
        finish(f, th_fail("refused: more than %lld redirects (the last from %s)", (long long)f->c->max_redirects, f->url));
        return;
    }
    char why[512];
    char *next = check_url(f->c, to, why, sizeof why);
    if (!next) {
        finish(f, th_fail("%s (redirected to by %s)", why, f->url));
        return;
    }
    free(f->url);
    f->url = next;
    json_array_append_new(f->redirects, json_string(next));
    f->len = 0;
    hop(f);
}

static const hc_ops ops = {.on_head = on_head, .on_data = on_data, .on_done = on_done};

static void hop(fetch *f)
{
    uint64_t now = uv_hrtime();
    if (f->job->deadline_ns && now >= f->job->deadline_ns) {
        finish(f, th_fail("stopped: %s ran past the call's time limit (max_ms or its deadline)", f->url));
        return;
    }
    long left = f->job->deadline_ns ? (long)((f->job->deadline_ns - now) / 1000000u) + 1 : 0;
    hc_options o = {.method = "GET", .url = f->url, .headers = f->headers, .timeout_ms = left,
                    .connect_timeout_ms = left, .ca_file = f->c->ca_file};
    mf_error err = {0};
    f->redirecting = f->too_big = false;
    f->req = hc_start(&o, &ops, f, &err);
    if (!f->req) {
        finish(f, th_fail("cannot fetch %s: %s", f->url, err.msg));
        return;
    }
    th_job_on_stop(f->job, on_stop, f);
}

/* Request headers: the configuration's, then the call's; none that would change what is
 * asked of whom, nor any that could split a header. */
static bool add_headers(fetch *f, const json_t *map, json_t **err)
{
    const char *k;
    const json_t *v;
    json_object_foreach((json_t *)map, k, v) {
        const char *s = json_string_value(v);
        if (!s || !*k || strpbrk(k, ":\r\n ") || strpbrk(s, "\r\n")) {
            *err = th_fail("the header \"%s\" must be a name without \":\" and a one-line string value", k);
            return false;
        }
        if (strcasecmp(k, "host") == 0 || strcasecmp(k, "content-length") == 0 ||
            strcasecmp(k, "transfer-encoding") == 0) {
            *err = th_fail("the header \"%s\" is set by the request itself", k);
            return false;
        }
        char *line = NULL;
        if (asprintf(&line, "%s: %s", k, s) < 0) {
            *err = th_fail("out of memory");
            return false;
        }
        f->headers = curl_slist_append(f->headers, line);
        free(line);
    }
    return true;
}

static void t_get(const void *cfg, const json_t *args, th_job *job)
{
    const fetchcfg *c = cfg;
    const char *url = NULL, *as = "auto";
    const json_t *headers = json_object_get(args, "headers");
    json_t *err = NULL;
    if (!th_arg_string(args, "url", true, &url, &err) || !th_arg_string(args, "as", false, &as, &err)) {
        th_job_done(job, err);
        return;
    }
    want w = strcmp(as, "auto") == 0 ? WANT_AUTO : strcmp(as, "text") == 0 ? WANT_TEXT
                                                 : strcmp(as, "json") == 0 ? WANT_JSON : (want)-1;
    if ((int)w < 0 || (headers && !json_is_object(headers))) {
        th_job_done(job, th_fail((int)w < 0 ? "the argument \"as\" must be \"auto\", \"text\" or \"json\""
                                            : "the argument \"headers\" must be an object of strings"));
        return;
    }
    char why[512];
    char *checked = check_url(c, url, why, sizeof why);
    if (!checked) {
        th_job_done(job, th_fail("%s", why));
        return;
    }
    fetch *f = mf_xcalloc(1, sizeof *f);
    f->job = job;
    f->c = c;
    f->url = checked;
    f->as = w;
    f->redirects = json_array();
    if ((json_is_object(c->headers) && !add_headers(f, c->headers, &err)) || (headers && !add_headers(f, headers, &err))) {
        finish(f, err);
        return;
    }
    hop(f);
}

static const th_tool tools[] = {
    {"get",
     "HTTP GET of a URL whose host is allowed. Returns the status, the headers and the body: as text, as JSON "
     "(when the content type is JSON, or as is \"json\") or, not being text, as a base64 resource. A status of "
     "400 or above is a tool error that still carries the answer.",
     "{\"type\":\"object\",\"properties\":{\"url\":{\"type\":\"string\",\"description\":\"an http or https URL\"},"
     "\"as\":{\"type\":\"string\",\"enum\":[\"auto\",\"text\",\"json\"],\"description\":\"auto (the default) "
     "parses JSON content types\"},\"headers\":{\"type\":\"object\",\"additionalProperties\":{\"type\":\"string\"},"
     "\"description\":\"request headers to add\"}},\"required\":[\"url\"]}",
     "{\"type\":\"object\",\"properties\":{\"url\":{\"type\":\"string\",\"description\":\"the URL answered, after "
     "redirects\"},\"status\":{\"type\":\"integer\"},\"headers\":{\"type\":\"object\"},\"content_type\":{\"type\":"
     "\"string\"},\"bytes\":{\"type\":\"integer\"},\"redirects\":{\"type\":\"array\",\"items\":{\"type\":\"string\"}},"
     "\"text\":{\"type\":\"string\"},\"json\":{},\"blob\":{\"type\":\"string\",\"description\":\"base64\"}},"
     "\"required\":[\"url\",\"status\",\"headers\",\"bytes\",\"redirects\"]}",
     NULL, t_get},
};

static const th_kind kind = {.name = "fetch", .tools = tools, .ntools = sizeof tools / sizeof tools[0],
                             .conf_size = sizeof(fetchcfg), .settings = settings, .read_conf = read_conf,
                             .open = open_curl,
                             .close = close_curl};

TH_ROLE(kind);

MF_PLUGIN(.name = "fetch", .version = "1", .description = "HTTP GET of allowed hosts' URLs",
          .provider = &th_role_, .provider_settings = settings);
