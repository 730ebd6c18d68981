/* The federation's counters and gauges for the metrics endpoint (stats.h). */
#include "build-config.h"
#include "federation.h"
#include "stats.h"
#include "session.h"
#include "call.h"
#include "plugin_loader.h"

#include <stdlib.h>
#include <string.h>
#include <uthash.h>

/* tools/call first: the request looked for most */
static const char *const methods[] = {
    "tools/call", "initialize", "ping", "tools/list", "prompts/list", "prompts/get", "resources/list",
    "resources/read", "resources/templates/list", "resources/subscribe", "resources/unsubscribe",
    "logging/setLevel", "completion/complete", "server/discover", "subscriptions/listen", "other",
};
#define NMETHODS (sizeof methods / sizeof methods[0])
static const double buckets[] = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60};
#define NBUCKETS (sizeof buckets / sizeof buckets[0])
static const char *const breaker_states[] = {"none", "closed", "open", "half_open", "forced_open", "disabled"};
#define NSTATES (sizeof breaker_states / sizeof breaker_states[0])
enum { TOOL_OK, TOOL_ERROR_RESULT, TOOL_ERROR, TOOL_OUTCOMES };
static const char *const tool_outcomes[] = {"ok", "tool_error", "error"};

typedef struct pending {
    struct { uint64_t sid, tcorr; } key;
    unsigned method;
    UT_hash_handle hh;
} pending;

typedef struct histogram {
    uint64_t counts[NBUCKETS + 1];   /* not cumulative; the last: above every bound */
    double sum;
    uint64_t n;
} histogram;

/* A series keyed by its labels' text: a tool call's, a provider's, a target's, an error code's. */
typedef struct series {
    char *key;
    char *labels;             /* rendered: name="value",... */
    uint64_t counts[TOOL_OUTCOMES];
    histogram h;
    unsigned state;           /* a target's breaker state last seen */
    uint64_t transitions[NSTATES];
    UT_hash_handle hh;
} series;

/* A table of series, and the one it gave last: calls come in runs of the same labels, and
 * comparing two short texts is cheaper than building a key and hashing it. */
typedef struct series_table {
    series *all, *last;
} series_table;

static struct {
    uint64_t requests[NMETHODS][2];
    pending *pending;
    series_table tools, tool_names, providers, targets, codes, code_names;
    unsigned ntool_names, ncodes;
    bool on;                  /* a metrics endpoint is configured: nothing is counted without one */
} ST;

void mf_stats_enable(void) { ST.on = true; }

static unsigned method_index(const char *m)
{
    for (unsigned i = 0; m && i < NMETHODS - 1; i++)
        if (strcmp(methods[i], m) == 0)
            return i;
    return NMETHODS - 1;
}

/* Two numbers mixed: cheaper than hashing their bytes, and as spread. */
static unsigned pending_hash(uint64_t sid, uint64_t tcorr)
{
    uint64_t h = sid * UINT64_C(0x9e3779b97f4a7c15) ^ tcorr * UINT64_C(0xc2b2ae3d27d4eb4f);
    return (unsigned)(h >> 32 ^ h);
}

static pending *pending_find(uint64_t sid, uint64_t tcorr, unsigned hash)
{
    pending *p;
    pending probe = {.key = {sid, tcorr}};
    HASH_FIND_BYHASHVALUE(hh, ST.pending, &probe.key, sizeof probe.key, hash, p);
    return p;
}

/* Answered requests' records are reused. */
static mf_spare spare_pending;

void mf_stats_request_in(session *ses, uint64_t tcorr, const char *method)
{
    if (!ST.on)
        return;
    if (!ses->stats_one) {   /* the usual case: no table */
        ses->stats_one = true;
        ses->stats_one_tcorr = tcorr;
        ses->stats_one_method = (uint8_t)method_index(method);
        return;
    }
    uint64_t sid = ses->id;
    unsigned hash = pending_hash(sid, tcorr);
    pending *p = mf_spare_take(&spare_pending, sizeof *p);
    memset(p, 0, sizeof *p);
    p->key.sid = sid;
    p->key.tcorr = tcorr;
    p->method = method_index(method);
    HASH_ADD_BYHASHVALUE(hh, ST.pending, key, sizeof p->key, hash, p);
    ses->stats_pending++;
}

void mf_stats_request_out(session *ses, uint64_t tcorr, const json_t *resp)
{
    if (ses->stats_one && ses->stats_one_tcorr == tcorr) {
        ses->stats_one = false;
        ST.requests[ses->stats_one_method][json_object_get(resp, "error") ? 1 : 0]++;
        return;
    }
    pending *p = ses->stats_pending ? pending_find(ses->id, tcorr, pending_hash(ses->id, tcorr)) : NULL;
    if (!p)
        return;
    ses->stats_pending--;
    ST.requests[p->method][json_object_get(resp, "error") ? 1 : 0]++;
    HASH_DEL(ST.pending, p);
    mf_spare_give(&spare_pending, p);
}

void mf_stats_session_closed(session *ses)
{
    ses->stats_one = false;
    if (!ses->stats_pending)   /* the usual case: no walk through every session's */
        return;
    ses->stats_pending = 0;
    pending *p, *tmp;
    HASH_ITER(hh, ST.pending, p, tmp)
        if (p->key.sid == ses->id) {
            HASH_DEL(ST.pending, p);
            mf_spare_give(&spare_pending, p);
        }
}

void mf_stats_label(FILE *f, const char *s)
{
    for (; s && *s; s++) {
        if (*s == '\\' || *s == '"')
            fputc('\\', f);
        if (*s == '\n')
            fputs("\\n", f);
        else
            fputc(*s, f);
    }
}

/* Is s the series of label values v1 and v2 (its key "v1\x1fv2")? */
static bool key_is(const series *s, const char *v1, const char *v2)
{
    const char *k = s->key;
    while (*v1 && *k == *v1) {
        k++;
        v1++;
    }
    return !*v1 && *k == '\x1f' && strcmp(k + 1, v2 ? v2 : "") == 0;
}

/* The series of t for label n1 = v1 (and n2 = v2 unless n2 is NULL), made on first use.
 * On the call path: the lookup is by the raw values; labels are rendered once. */
static series *series_get(series_table *t, const char *n1, const char *v1, const char *n2, const char *v2)
{
    if (t->last && key_is(t->last, v1, n2 ? v2 : NULL))
        return t->last;
    char stack[512];
    size_t l1 = strlen(v1), l2 = n2 ? strlen(v2) : 0, klen = l1 + 1 + l2;
    char *key = klen < sizeof stack ? stack : mf_xmalloc(klen + 1);
    memcpy(key, v1, l1);
    key[l1] = '\x1f';   /* in no name */
    memcpy(key + l1 + 1, n2 ? v2 : "", l2);
    key[klen] = '\0';
    series *s;
    HASH_FIND(hh, t->all, key, klen, s);
    if (s) {
        if (key != stack)
            free(key);
        return t->last = s;
    }
    s = mf_xcalloc(1, sizeof *s);
    s->key = key == stack ? mf_xstrdup(stack) : key;
    size_t len = 0;
    FILE *f = open_memstream(&s->labels, &len);
    if (!f)
        abort();   /* out of memory, as mf_xmalloc does */
    fprintf(f, "%s=\"", n1);
    mf_stats_label(f, v1);
    if (n2) {
        fprintf(f, "\",%s=\"", n2);
        mf_stats_label(f, v2);
    }
    fputc('"', f);
    fclose(f);
    HASH_ADD_KEYPTR(hh, t->all, s->key, klen, s);
    return t->last = s;
}

/* Whether name has a label value of its own: one of the first max names seen in set. */
static bool admit(series_table *set, unsigned *n, unsigned max, const char *name)
{
    series *known = set->last;
    if (known && strcmp(known->key, name) == 0)
        return true;
    HASH_FIND_STR(set->all, name, known);
    if (known)
        return set->last = known, true;
    if (*n >= max)
        return false;
    known = mf_xcalloc(1, sizeof *known);
    known->key = mf_xstrdup(name);
    HASH_ADD_KEYPTR(hh, set->all, known->key, strlen(known->key), known);
    set->last = known;
    (*n)++;
    return true;
}

bool mf_stats_on(void) { return ST.on; }

void mf_stats_tool_call(const char *tool, const char *provider, bool error, bool tool_error)
{
    if (!ST.on)
        return;
    bool own = admit(&ST.tool_names, &ST.ntool_names, MF_STATS_MAX_TOOLS, tool);
    series *s = series_get(&ST.tools, "tool", own ? tool : "other", "provider", provider ? provider : "none");
    s->counts[error ? TOOL_ERROR : tool_error ? TOOL_ERROR_RESULT : TOOL_OK]++;
}

static void observe(histogram *h, double seconds)
{
    size_t i = 0;
    while (i < NBUCKETS && seconds > buckets[i])
        i++;
    h->counts[i]++;
    h->sum += seconds;
    h->n++;
}

static unsigned state_index(const char *name)
{
    for (unsigned i = 0; i < NSTATES; i++)
        if (strcmp(breaker_states[i], name) == 0)
            return i;
    return 0;
}

/* A target's breaker moved since last seen: a transition to its state now. */
static series *target_series(const mf_target *t)
{
    series *s = series_get(&ST.targets, "provider", t->provider->conf->name, "target", t->name);
    unsigned now = state_index(mf_target_breaker(t));
    if (s->h.n == 0 && s->state == 0 && !s->transitions[0])
        s->state = now;
    else if (now != s->state) {
        s->transitions[now]++;
        s->state = now;
    }
    return s;
}

void mf_stats_upstream(const mf_target *t, int code, uint64_t duration_ms)
{
    if (!ST.on)
        return;
    const char *provider = t->provider->conf->name;
    double seconds = (double)duration_ms / 1000.0;
    observe(&target_series(t)->h, seconds);
    observe(&series_get(&ST.providers, "provider", provider, NULL, NULL)->h, seconds);
    if (code == 0)
        return;
    char text[24];
    snprintf(text, sizeof text, "%d", code);
    bool own = admit(&ST.code_names, &ST.ncodes, MF_STATS_MAX_CODES, text);
    series_get(&ST.codes, "provider", provider, "code", own ? text : "other")->counts[0]++;
}

/* Whether s is labelled with provider first (a provider's, a target's, an error code's
 * series: "provider\x1f...") or second (a tool call's: "...\x1fprovider"). */
static bool of_provider(const series *s, const char *provider, bool second)
{
    size_t n = strlen(provider), k = strlen(s->key);
    if (second)
        return k > n && s->key[k - n - 1] == '\x1f' && memcmp(s->key + k - n, provider, n) == 0;
    return k > n && s->key[n] == '\x1f' && memcmp(s->key, provider, n) == 0;
}

static void series_free(series_table *t, series *s)
{
    if (t->last == s)
        t->last = NULL;
    HASH_DEL(t->all, s);
    free(s->key);
    free(s->labels);
    free(s);
}

static bool has_target(const mf_provider *p, const char *key_target)
{
    for (int i = 0; p && i < p->ntargets; i++)
        if (strcmp(p->targets[i].name, key_target) == 0)
            return true;
    return false;
}

void mf_stats_provider_gone(const char *provider, const mf_provider *live)
{
    series *s, *tmp;
    size_t n = strlen(provider);
    HASH_ITER(hh, ST.targets.all, s, tmp)
        if (of_provider(s, provider, false) && !has_target(live, s->key + n + 1))
            series_free(&ST.targets, s);
    if (live)
        return;
    series_table *tables[] = {&ST.providers, &ST.codes};
    for (size_t t = 0; t < sizeof tables / sizeof tables[0]; t++)
        HASH_ITER(hh, tables[t]->all, s, tmp)
            if (of_provider(s, provider, false))
                series_free(tables[t], s);
    HASH_ITER(hh, ST.tools.all, s, tmp)
        if (of_provider(s, provider, true))
            series_free(&ST.tools, s);
}

/* --- the exposition ------------------------------------------------------------------ */

static void head(FILE *out, const char *name, const char *type, const char *help)
{
    fprintf(out, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void write_histograms(FILE *out, const char *name, series *table)
{
    series *s, *tmp;
    HASH_ITER(hh, table, s, tmp) {
        uint64_t cum = 0;
        for (size_t i = 0; i < NBUCKETS; i++) {
            cum += s->h.counts[i];
            fprintf(out, "%s_bucket{%s,le=\"%g\"} %llu\n", name, s->labels, buckets[i], (unsigned long long)cum);
        }
        cum += s->h.counts[NBUCKETS];
        fprintf(out, "%s_bucket{%s,le=\"+Inf\"} %llu\n%s_sum{%s} %.6f\n%s_count{%s} %llu\n", name, s->labels,
                (unsigned long long)cum, name, s->labels, s->h.sum, name, s->labels, (unsigned long long)s->h.n);
    }
}

static void write_sessions(FILE *out)
{
    head(out, "mcpfed_sessions", "gauge", "Client sessions open, by transport plugin and protocol era.");
    /* few transports and two eras: a small table counted here */
    struct { const char *transport; bool modern; unsigned n; } rows[16];
    size_t nrows = 0;
    session *s, *tmp;
    HASH_ITER(hh, mf_fed.sessions.all, s, tmp) {
        mf_instance *inst = mf_instance_by_ep(s->transport);
        const char *tr = inst ? inst->mod->name : "other";
        bool modern = strcmp(s->protocol, "2026-07-28") >= 0;
        size_t i = 0;
        while (i < nrows && !(strcmp(rows[i].transport, tr) == 0 && rows[i].modern == modern))
            i++;
        if (i == nrows && nrows < sizeof rows / sizeof rows[0])
            rows[nrows++] = (typeof(rows[0])){tr, modern, 0};
        if (i < nrows)
            rows[i].n++;
    }
    for (size_t i = 0; i < nrows; i++)
        fprintf(out, "mcpfed_sessions{transport=\"%s\",era=\"%s\"} %u\n", rows[i].transport,
                rows[i].modern ? "2026-07-28" : "session", rows[i].n);
}

/* For each series of table, a sample per value of one more label: values[i]'s count is
 * field(s)[i]. */
static void write_by_value(FILE *out, const char *name, series *table, const char *label, const char *const *values,
                           unsigned n, const uint64_t *(*field)(const series *))
{
    series *s, *tmp;
    HASH_ITER(hh, table, s, tmp)
        for (unsigned i = 0; i < n; i++)
            fprintf(out, "%s{%s,%s=\"%s\"} %llu\n", name, s->labels, label, values[i], (unsigned long long)field(s)[i]);
}

static const uint64_t *transitions_of(const series *s) { return s->transitions + 1; }
static const uint64_t *counts_of(const series *s) { return s->counts; }

static void write_targets(FILE *out)
{
    size_t n;
    mf_provider **ps = mf_registry_providers(&n);
    static const char *const pstates[] = {"starting", "up", "down", "failed"};
    head(out, "mcpfed_provider_state", "gauge", "Each provider's state (1 for the state it is in).");
    for (size_t i = 0; i < n; i++)
        for (size_t k = 0; k < sizeof pstates / sizeof pstates[0]; k++)
            fprintf(out, "mcpfed_provider_state{provider=\"%s\",state=\"%s\"} %d\n", ps[i]->conf->name, pstates[k],
                    (size_t)ps[i]->state == k);
    static const struct { const char *name, *help; } gauges[] = {
        {"mcpfed_target_up", "Whether the target is ready, as its provider says."},
        {"mcpfed_target_healthy", "Whether the target passes its health checks."},
        {"mcpfed_target_in_flight", "Calls under way on the target."},
    };
    for (size_t g = 0; g < sizeof gauges / sizeof gauges[0]; g++) {
        head(out, gauges[g].name, "gauge", gauges[g].help);
        for (size_t i = 0; i < n; i++)
            for (int k = 0; k < ps[i]->ntargets; k++) {
                const mf_target *t = &ps[i]->targets[k];
                fprintf(out, "%s{provider=\"%s\",target=\"%s\"} %u\n", gauges[g].name, ps[i]->conf->name, t->name,
                        g == 0 ? (unsigned)t->up : g == 1 ? (unsigned)t->healthy : t->inflight);
            }
    }
    head(out, "mcpfed_breaker_state", "gauge", "Each target's circuit breaker state (1 for the state it is in).");
    for (size_t i = 0; i < n; i++)
        for (int k = 0; k < ps[i]->ntargets; k++) {
            series *s = target_series(&ps[i]->targets[k]);
            for (unsigned j = 0; j < NSTATES; j++)
                fprintf(out, "mcpfed_breaker_state{%s,state=\"%s\"} %d\n", s->labels, breaker_states[j], s->state == j);
        }
    head(out, "mcpfed_breaker_transitions_total", "counter",
         "Breaker state changes seen (at each call's outcome and each scrape), by the state entered.");
    write_by_value(out, "mcpfed_breaker_transitions_total", ST.targets.all, "to", breaker_states + 1, NSTATES - 1,
                   transitions_of);
}

void mf_stats_write(FILE *out)
{
    head(out, "mcpfed_requests_total", "counter", "Client requests answered, by method and outcome.");
    for (size_t i = 0; i < NMETHODS; i++)
        for (int o = 0; o < 2; o++)
            if (ST.requests[i][o] || i == method_index("tools/call"))
                fprintf(out, "mcpfed_requests_total{method=\"%s\",outcome=\"%s\"} %llu\n", methods[i],
                        o ? "error" : "ok", (unsigned long long)ST.requests[i][o]);
    head(out, "mcpfed_tool_calls_total", "counter",
         "Tool calls forwarded and answered, by public tool (the first 100 seen, then other), provider and outcome.");
    write_by_value(out, "mcpfed_tool_calls_total", ST.tools.all, "outcome", tool_outcomes, TOOL_OUTCOMES, counts_of);
    head(out, "mcpfed_upstream_call_duration_seconds", "histogram", "Upstream calls' duration, by provider and target.");
    write_histograms(out, "mcpfed_upstream_call_duration_seconds", ST.targets.all);
    head(out, "mcpfed_provider_call_duration_seconds", "histogram", "Upstream calls' duration, by provider.");
    write_histograms(out, "mcpfed_provider_call_duration_seconds", ST.providers.all);
    head(out, "mcpfed_upstream_errors_total", "counter", "Upstream calls that ended in a JSON-RPC error, by provider and code.");
    series *s, *tmp;
    HASH_ITER(hh, ST.codes.all, s, tmp)
        fprintf(out, "mcpfed_upstream_errors_total{%s} %llu\n", s->labels, (unsigned long long)s->counts[0]);
    write_targets(out);
    write_sessions(out);
    head(out, "mcpfed_calls_in_flight", "gauge", "Client requests under way.");
    fprintf(out, "mcpfed_calls_in_flight %zu\n", (size_t)mf_calls_in_flight());
    head(out, "mcpfed_calls_waiting", "gauge", "Calls waiting in the gateway for a target to come up.");
    fprintf(out, "mcpfed_calls_waiting %zu\n", (size_t)mf_calls_waiting());
    const mf_policy_stats *p = &mf_fed.policy.stats;
    head(out, "mcpfed_policy_decisions_total", "counter", "Routing decisions the policy made.");
    fprintf(out, "mcpfed_policy_decisions_total %llu\n", (unsigned long long)p->decisions);
    head(out, "mcpfed_policy_errors_total", "counter", "Routing decisions that failed with an error.");
    fprintf(out, "mcpfed_policy_errors_total %llu\n", (unsigned long long)p->errors);
    head(out, "mcpfed_policy_overruns_total", "counter", "Routing decisions stopped by a budget, by budget.");
    fprintf(out, "mcpfed_policy_overruns_total{budget=\"instructions\"} %llu\n", (unsigned long long)p->budget_overruns);
    fprintf(out, "mcpfed_policy_overruns_total{budget=\"time\"} %llu\n", (unsigned long long)p->time_overruns);
    fprintf(out, "mcpfed_policy_overruns_total{budget=\"memory\"} %llu\n", (unsigned long long)p->memory_overruns);
    head(out, "mcpfed_policy_reloads_total", "counter", "Reloads of the routing policy, by outcome.");
    fprintf(out, "mcpfed_policy_reloads_total{outcome=\"ok\"} %llu\n", (unsigned long long)p->reloads);
    fprintf(out, "mcpfed_policy_reloads_total{outcome=\"refused\"} %llu\n", (unsigned long long)p->failed_reloads);
}

static void free_table(series_table *t)
{
    series *s, *tmp;
    HASH_ITER(hh, t->all, s, tmp)
        series_free(t, s);
}

void mf_stats_free(void)
{
    pending *p, *tmp;
    HASH_ITER(hh, ST.pending, p, tmp) {
        HASH_DEL(ST.pending, p);
        free(p);
    }
    mf_spare_clear(&spare_pending);
    free_table(&ST.tools);
    free_table(&ST.tool_names);
    free_table(&ST.providers);
    free_table(&ST.targets);
    free_table(&ST.codes);
    free_table(&ST.code_names);
    ST.ntool_names = ST.ncodes = 0;
    ST.on = false;
}
