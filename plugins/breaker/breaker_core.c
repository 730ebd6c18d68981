/* The circuit breaker's state machine (see breaker_core.h). */
#include "breaker_core.h"

#include <stdlib.h>
#include <string.h>

static void clear_window(br *b)
{
    memset(b->ring, 0, b->ring_len * sizeof *b->ring);
    b->head = b->filled = 0;
    b->calls = b->failures = b->slow = 0;
}

void br_init(br *b, const br_settings *s)
{
    memset(b, 0, sizeof *b);
    b->s = *s;
    if (!b->s.window_size)
        b->s.window_size = 100;
    if (!b->s.permitted_half_open)
        b->s.permitted_half_open = 10;
    if (b->s.open_wait_multiplier < 1)
        b->s.open_wait_multiplier = 1;
    b->ring_len = b->s.window_size;
    b->ring = calloc(b->ring_len, sizeof *b->ring);
    b->state = BR_CLOSED;
}

void br_free(br *b)
{
    free(b->ring);
    b->ring = NULL;
}

/* --- the sliding window ------------------------------------------------------------ */

/* Time-based: the bucket of this second, emptied if it held an older second. */
static br_bucket *bucket_now(br *b, uint64_t now_ms)
{
    uint64_t sec = now_ms / 1000;
    br_bucket *x = &b->ring[sec % b->ring_len];
    if (x->epoch != sec) {
        memset(x, 0, sizeof *x);
        x->epoch = sec;
    }
    return x;
}

static void window_add(br *b, bool failure, bool slow, uint64_t now_ms)
{
    if (b->s.window == BR_TIME_BASED) {
        br_bucket *x = bucket_now(b, now_ms);
        x->calls++;
        x->failures += failure;
        x->slow += slow;
        return;
    }
    br_bucket *x = &b->ring[b->head];
    if (b->filled == b->ring_len) {
        /* the oldest call leaves the window */
        b->calls -= x->calls;
        b->failures -= x->failures;
        b->slow -= x->slow;
    } else {
        b->filled++;
    }
    *x = (br_bucket){0, 1, failure, slow};
    b->calls++;
    b->failures += failure;
    b->slow += slow;
    b->head = (b->head + 1) % b->ring_len;
}

static void window_totals(br *b, uint64_t now_ms, unsigned *calls, unsigned *failures, unsigned *slow)
{
    if (b->s.window == BR_COUNT_BASED) {
        *calls = b->calls;
        *failures = b->failures;
        *slow = b->slow;
        return;
    }
    uint64_t sec = now_ms / 1000;
    *calls = *failures = *slow = 0;
    for (unsigned i = 0; i < b->ring_len; i++) {
        br_bucket *x = &b->ring[i];
        if (x->calls && sec - x->epoch < b->ring_len) {
            *calls += x->calls;
            *failures += x->failures;
            *slow += x->slow;
        }
    }
}

double br_failure_rate(br *b, uint64_t now_ms)
{
    unsigned c, f, s;
    window_totals(b, now_ms, &c, &f, &s);
    return c && c >= b->s.minimum_calls ? 100.0 * f / c : -1;
}

double br_slow_rate(br *b, uint64_t now_ms)
{
    unsigned c, f, s;
    window_totals(b, now_ms, &c, &f, &s);
    return c && c >= b->s.minimum_calls ? 100.0 * s / c : -1;
}

/* Rates at or over their thresholds: failure_rate 0 or slow_call_rate 0 never trips. */
static bool over(const br *b, unsigned calls, unsigned failures, unsigned slow)
{
    if (!calls)
        return false;
    bool fail = b->s.failure_rate > 0 && 100.0 * failures / calls >= b->s.failure_rate;
    bool sl = b->s.slow_call_rate > 0 && 100.0 * slow / calls >= b->s.slow_call_rate;
    return fail || sl;
}

/* --- transitions --------------------------------------------------------------------- */

static void to_open(br *b, uint64_t now_ms)
{
    b->state = BR_OPEN;
    b->opened_at = now_ms;
    uint64_t wait = b->s.open_wait_ms;
    for (unsigned i = 0; i < b->opens_in_a_row; i++) {
        wait = (uint64_t)((double)wait * b->s.open_wait_multiplier);
        if (b->s.open_wait_max_ms && wait >= b->s.open_wait_max_ms) {
            wait = b->s.open_wait_max_ms;
            break;
        }
    }
    b->wait_ms = wait;
    b->opens_in_a_row++;
}

static void to_closed(br *b)
{
    b->state = BR_CLOSED;
    b->opens_in_a_row = 0;
    clear_window(b);
}

static void to_half_open(br *b, uint64_t now_ms)
{
    b->state = BR_HALF_OPEN;
    b->half_since = now_ms;
    b->half_admitted = b->half_calls = b->half_failures = b->half_slow = 0;
}

br_state br_state_now(br *b, uint64_t now_ms)
{
    if (b->state == BR_OPEN && now_ms - b->opened_at >= b->wait_ms)
        to_half_open(b, now_ms);
    if (b->state == BR_HALF_OPEN && b->s.half_open_max_wait_ms &&
        now_ms - b->half_since >= b->s.half_open_max_wait_ms)
        to_open(b, now_ms);
    return b->state;
}

bool br_acquire(br *b, uint64_t now_ms)
{
    switch (br_state_now(b, now_ms)) {
    case BR_CLOSED:
    case BR_DISABLED:
        return true;
    case BR_HALF_OPEN:
        if (b->half_admitted < b->s.permitted_half_open) {
            b->half_admitted++;
            return true;
        }
        b->total_refused++;   /* its trial calls are all under way */
        return false;
    default:
        b->total_refused++;
        return false;
    }
}

void br_release(br *b)
{
    if (b->state == BR_HALF_OPEN && b->half_admitted > b->half_calls)
        b->half_admitted--;
}

void br_record(br *b, bool failure, uint64_t duration_ms, uint64_t now_ms)
{
    bool slow = b->s.slow_call_ms && duration_ms >= b->s.slow_call_ms;
    b->total_calls++;
    b->total_failures += failure;
    b->total_slow += slow;
    switch (br_state_now(b, now_ms)) {
    case BR_CLOSED: {
        window_add(b, failure, slow, now_ms);
        unsigned c, f, s;
        window_totals(b, now_ms, &c, &f, &s);
        if (c >= b->s.minimum_calls && c && over(b, c, f, s))
            to_open(b, now_ms);
        break;
    }
    case BR_HALF_OPEN:
        b->half_calls++;
        b->half_failures += failure;
        b->half_slow += slow;
        if (b->half_calls >= b->s.permitted_half_open) {
            if (over(b, b->half_calls, b->half_failures, b->half_slow))
                to_open(b, now_ms);
            else
                to_closed(b);
        }
        break;
    default:
        break;   /* open, forced, disabled: a call admitted before the change counts for nothing */
    }
}

void br_force(br *b, int force, uint64_t now_ms)
{
    (void)now_ms;
    switch (force) {
    case 1:
        b->state = BR_FORCED_OPEN;
        break;
    case 3:
        b->state = BR_DISABLED;
        break;
    default:   /* auto, or forced closed: from closed, with a fresh window */
        to_closed(b);
        break;
    }
}
