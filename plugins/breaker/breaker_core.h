/* A circuit breaker with resilience4j's CircuitBreaker semantics, apart from any clock
 * and any configuration format, so that its rules can be checked call by call.
 *
 * Closed: outcomes go into a sliding window, of the last N calls (count-based) or of the
 * last N seconds (time-based, in whole-second buckets). Once the window holds minimum_calls
 * (for a count-based window at most window_size), a failure rate or a slow-call rate at or
 * over its threshold opens the breaker; a call is slow when it took strictly longer than
 * slow_call_ms. Open: every call is refused until the clock is strictly past the wait (the
 * wait can grow by a factor each time it opens in a row); the next call's request then
 * makes it half-open: permitted_half_open calls go through, the rest are refused; once
 * min(minimum_calls, permitted_half_open) of them have ended, the same rates over them
 * close it or open it again. A half-open breaker that waits longer than
 * half_open_max_wait_ms (if set) for its calls opens again at that moment.
 *
 * Only br_acquire, br_record, br_release and br_force change the state. br_state_now is a
 * read: it reports the state the next call would find (half-open for an open breaker whose
 * wait is over), without making the transition. */
#ifndef BREAKER_CORE_H
#define BREAKER_CORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum br_state { BR_CLOSED, BR_OPEN, BR_HALF_OPEN, BR_FORCED_OPEN, BR_DISABLED } br_state;
typedef enum br_window { BR_COUNT_BASED, BR_TIME_BASED } br_window;

typedef struct br_settings {
    br_window window;
    unsigned window_size;          /* calls, or seconds */
    unsigned minimum_calls;
    double failure_rate;           /* percent, in (0, 100] */
    uint64_t slow_call_ms;         /* slow: strictly longer */
    double slow_call_rate;         /* percent, in (0, 100] */
    uint64_t open_wait_ms;
    double open_wait_multiplier;   /* 1: no backoff */
    uint64_t open_wait_max_ms;
    unsigned permitted_half_open;
    uint64_t half_open_max_wait_ms; /* 0: as long as it takes */
    /* JSON-RPC error codes that count as failures (any other answer is a success; a lost
     * call always fails); NULL: BR_DEFAULT_FAILURE_CODE alone */
    const int *failure_codes;
    size_t nfailure_codes;
} br_settings;

#define BR_DEFAULT_FAILURE_CODE (-32603)   /* JSON-RPC internal error */

typedef struct br_bucket {         /* one call (count-based) or one second (time-based) */
    uint64_t epoch;
    unsigned calls, failures, slow;
} br_bucket;

typedef struct br {
    br_settings s;
    br_state state;
    br_bucket *ring;
    unsigned ring_len, head, filled;
    unsigned calls, failures, slow; /* totals over the window (count-based) */
    uint64_t opened_at, wait_ms;
    unsigned opens_in_a_row;
    uint64_t half_since;
    unsigned half_admitted, half_calls, half_failures, half_slow;
    /* for status */
    uint64_t total_calls, total_failures, total_slow, total_refused;
    int *codes;                     /* the settings' failure_codes, copied */
    size_t ncodes;
} br;

void br_init(br *b, const br_settings *s);
void br_free(br *b);
/* Does an answer with this JSON-RPC error code (0: none) count as a failure? */
bool br_is_failure(const br *b, int error_code, bool lost);
bool br_acquire(br *b, uint64_t now_ms);
void br_record(br *b, bool failure, uint64_t duration_ms, uint64_t now_ms);
void br_release(br *b);
br_state br_state_now(const br *b, uint64_t now_ms);
/* ms left of the open wait, as br_state_now sees it; -1 when not open */
int64_t br_open_for(const br *b, uint64_t now_ms);
void br_force(br *b, int force, uint64_t now_ms);   /* 0 auto, 1 open, 2 closed, 3 disable */
/* the rates over the window now, in percent; -1 below minimum_calls */
double br_failure_rate(br *b, uint64_t now_ms);
double br_slow_rate(br *b, uint64_t now_ms);

#endif
