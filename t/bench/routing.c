/* Benchmark: the cost of one routing decision in-process — candidates built from the
 * targets' live state, the Lua policy's ranking, and the first target's breaker admitting
 * the call and recording its outcome — over many decisions.
 *
 *   t/bench/routing.sh            (builds it and runs it with the default policy)
 *   routing [POLICY] [TARGETS] [DECISIONS]
 */
#include "kernel.h"
#include "config.h"
#include "policy.h"
#include "router.h"
#include "plugin_loader.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static uint64_t ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static int cmp(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
    const char *policy = argc > 1 ? argv[1] : "lua/policy.lua";
    int ntargets = argc > 2 ? atoi(argv[2]) : 4;
    long decisions = argc > 3 ? atol(argv[3]) : 200000;
    mf_log_set_level(MF_LOG_WARN);
    mf_loop_init();
    mf_endpoints_init();
    mf_error err = {0};
    if (mf_plugins_init(NULL, &err)) {
        fprintf(stderr, "%s\n", err.msg);
        return 1;
    }
    mf_config cfg = {0};
    cfg.policy = (char *)policy;
    cfg.policy_instructions = 1000000;
    cfg.policy_time_ms = 100;
    cfg.policy_memory_bytes = 8 << 20;
    cfg.breaker = json_pack("{s:i,s:i}", "window_size", 100, "minimum_calls", 20);
    if (mf_router_start(&cfg, &err) || mf_policy_start(&cfg, &err)) {
        fprintf(stderr, "%s\n", err.msg);
        return 1;
    }
    mf_provider_conf pc = {.name = "bench", .timeout_ms = 60000, .weight = 1, .breaker = cfg.breaker};
    pc.tags = json_pack("[s]", "primary");
    mf_provider p = {.conf = &pc, .state = MF_PROVIDER_UP};
    mf_targets_resize(&p, ntargets);
    for (int i = 0; i < ntargets; i++) {
        p.targets[i].up = true;
        p.targets[i].ewma_ms = 2.0 + i;
    }
    mf_policy_request req = {.method = "tools/call", .name = "bench__echo", .upstream = "echo",
                             .provider = "bench", .session = 7, .client = "bench", .client_version = "1",
                             .protocol = "2025-11-25", .args_size = 32};
    uint64_t *each = malloc((size_t)decisions * sizeof *each);
    mf_policy_candidate c[MF_POLICY_MAX];
    mf_policy_decision d;
    uint64_t t0 = ns();
    for (long k = 0; k < decisions; k++) {
        uint64_t a = ns();
        for (int i = 0; i < ntargets; i++) {
            mf_target *x = &p.targets[i];
            c[i] = (mf_policy_candidate){.id = i + 1, .provider = "bench", .target = x->name,
                                         .healthy = x->up && x->healthy, .draining = x->draining,
                                         .breaker = mf_target_breaker(x), .inflight = x->inflight,
                                         .latency_ms = x->ewma_ms, .p99_ms = mf_target_p99(x),
                                         .error_rate = x->error_ewma, .weight = 1, .tags = pc.tags};
        }
        mf_policy_route(&req, c, ntargets, &d);
        mf_target *chosen = &p.targets[d.order[0] - 1];
        if (mf_target_acquire(chosen))
            mf_target_outcome(chosen, 0, false, 2);
        each[k] = ns() - a;
    }
    uint64_t total = ns() - t0;
    qsort(each, (size_t)decisions, sizeof *each, cmp);
    printf("policy=%s targets=%d decisions=%ld\n", policy, ntargets, decisions);
    printf("mean %.0f ns  p50 %llu ns  p90 %llu ns  p99 %llu ns  max %llu ns  (%.0f decisions/s on one core)\n",
           (double)total / decisions, (unsigned long long)each[decisions / 2],
           (unsigned long long)each[decisions * 9 / 10], (unsigned long long)each[decisions * 99 / 100],
           (unsigned long long)each[decisions - 1], decisions * 1e9 / (double)total);
    json_t *st = mf_policy_status();
    printf("policy errors %lld\n", (long long)json_integer_value(json_object_get(st, "errors")));
    json_decref(st);
    free(each);
    mf_targets_free(&p);
    mf_policy_stop();
    mf_router_stop();
    json_decref(pc.tags);
    json_decref(cfg.breaker);
    mf_plugins_shutdown();
    mf_endpoints_close();
    mf_loop_close();
    return 0;
}
