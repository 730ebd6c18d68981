/* What the federation counts for the metrics endpoint (kernel/control/metrics.c): client
 * requests by method and outcome, tool calls by public tool, provider and outcome, and
 * upstream calls by provider and target (latency histograms, errors by code, breaker
 * transitions). Counting is a few increments on the loop; labels are bounded (methods
 * outside MCP's, tools beyond MF_STATS_MAX_TOOLS and error codes beyond
 * MF_STATS_MAX_CODES count as "other"). */
#ifndef MF_STATS_H
#define MF_STATS_H

#include "downstream.h"
#include "router.h"

#include <stdio.h>

#define MF_STATS_MAX_TOOLS 100
#define MF_STATS_MAX_CODES 32

/* Count from now on (the metrics endpoint is configured); until then nothing is. */
void mf_stats_enable(void);
/* A client request (of method, NULL if none) came in on session s (its transport
 * correlation tcorr), once (not again when it is dispatched again after waiting for the
 * catalog); it is answered once, through mf_stats_request_out with the JSON-RPC response.
 * The session holds the first of its requests waiting so (s->stats_one), and
 * s->stats_pending counts those in the table past it. */
void mf_stats_request_in(session *s, uint64_t tcorr, const char *method);
void mf_stats_request_out(session *s, uint64_t tcorr, const json_t *resp);
/* The session closes: its requests left unanswered are forgotten. */
void mf_stats_session_closed(session *s);
/* A tools/call forwarded (to provider, NULL when it reached none) was answered: with an
 * error response (error), or a result that is a tool's error (tool_error, its isError). */
void mf_stats_tool_call(const char *tool, const char *provider, bool error, bool tool_error);
/* Is anything counted (a metrics endpoint configured)? */
bool mf_stats_on(void);
/* An upstream call on t ended: error code (0 for a result), how long it took. */
void mf_stats_upstream(const mf_target *t, int code, uint64_t duration_ms);
/* A provider of this name was freed (removed or replaced by a reload): the series of its
 * targets that live (the provider now of that name, NULL if none) lacks are forgotten, and
 * without live all of the name's, so that what is exported stays what exists. */
void mf_stats_provider_gone(const char *provider, const mf_provider *live);
/* The federation's series in the Prometheus text format, with their HELP and TYPE. */
void mf_stats_write(FILE *out);
/* A label value in the exposition format: backslash, quote and newline escaped. */
void mf_stats_label(FILE *f, const char *value);
/* Everything counted forgotten (shutdown). */
void mf_stats_free(void);

#endif
