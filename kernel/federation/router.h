/* Targets (a provider's replicas) with their load, latency, health and circuit
 * breakers, and what the routing decision weighs (router.c). */
#ifndef MF_ROUTER_H
#define MF_ROUTER_H

#include "registry.h"

/* A place a provider's calls can go: one of its replicas. */
typedef struct mf_target {
    struct mf_provider *provider;
    int index;                /* 0-based; the provider names it index + 1 */
    char name[80];            /* "<provider>#<n>" */
    bool up;                  /* ready, as its provider says */
    bool healthy;             /* as the health checks say */
    bool draining;            /* an operator takes it out of routing */
    unsigned inflight;
    double ewma_ms;           /* latency, exponentially weighted */
    double error_ewma;        /* share of failed calls, exponentially weighted */
    uint32_t lat[128];        /* recent latencies, for the p99 */
    unsigned nlat, latpos;
    double p99;               /* of lat, recomputed when 8 new latencies came in */
    unsigned since_p99;
    uint64_t calls, failures;
    void *breaker;            /* the breaker plugin's, or NULL */
    unsigned health_fail, health_ok;
    void *health_call;
} mf_target;

int mf_router_start(const mf_config *cfg, mf_error *err);
void mf_router_stop(void);
void mf_targets_resize(mf_provider *p, int n);
void mf_targets_free(mf_provider *p);
mf_target *mf_target_find(const char *name);
/* A call on t ended after duration_ms; error_code 0 for a result; lost: it went out and
 * no answer came (connection lost, timeout). Recorded once, on the target that served it,
 * whose breaker permit it was sent with. */
void mf_target_outcome(mf_target *t, int error_code, bool lost, uint64_t duration_ms);
double mf_target_p99(const mf_target *t);
const char *mf_target_breaker(const mf_target *t);
bool mf_target_acquire(mf_target *t);
/* Could t take a call now, as far as the kernel knows: ready, in routing, its breaker not
 * open. A read: no permit is taken. */
bool mf_target_available(const mf_target *t);
void mf_target_release(mf_target *t);
void mf_target_force(mf_target *t, mf_breaker_force f);
json_t *mf_target_status(const mf_target *t);
void mf_health_start(mf_provider *p);
void mf_health_stop(mf_provider *p);
void mf_health_close(mf_provider *p);
/* The routing's circuit breakers move to the breaker plugin's next generation (a hot
 * swap's prepare step, registered by mf_router_start); 0 when done (or prev is not the
 * breaker in use), -1 with err and nothing changed. */
int mf_router_swap_breakers(mf_module *prev, mf_module *next, mf_error *err);
/* The breaker plugin the router uses, or NULL. */
mf_module *mf_router_breaker_module(void);

#endif
