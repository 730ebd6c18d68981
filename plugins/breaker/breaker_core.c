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
    /* resilience4j: a count-based window cannot wait for more calls than it holds */
    if (b->s.window == BR_COUNT_BASED && b->s.minimum_calls > b->s.window_size)
        b->s.minimum_calls = b->s.window_size;
    static const int default_code = BR_DEFAULT_FAILURE_CODE;
    const int *codes = s->failure_codes ? s->failure_codes : &default_code;
    b->ncodes = s->failure_codes ? s->nfailure_codes : 1;
    b->codes = malloc((b->ncodes ? b->ncodes : 1) * sizeof *b->codes);
    if (b->ncodes)
        memcpy(b->codes, codes, b->ncodes * sizeof *b->codes);
    b->s.failure_codes = NULL;   /* the copy is b->codes */
    b->ring_len = b->s.window_size;
    b->ring = calloc(b->ring_len, sizeof *b->ring);
    b->state = BR_CLOSED;
}

void br_free(br *b)
{
    free(b->ring);
    free(b->codes);
    b->ring = NULL;
    b->codes = NULL;
}

bool br_is_failure(const br *b, int error_code, bool lost)
{
    for (size_t i = 0; !lost && error_code && i < b->ncodes; i++)
        lost = b->codes[i] == error_code;
    return lost;
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

/* Rates at or over their thresholds (both in (0, 100], as resilience4j requires). */
static bool over(const br *b, unsigned calls, unsigned failures, unsigned slow)
{
    if (!calls)
        return false;
    return 100.0 * failures / calls >= b->s.failure_rate || 100.0 * slow / calls >= b->s.slow_call_rate;
}

/* Half-open decides over its trial calls once it has this many (resilience4j's half-open
 * metrics: a count-based window of permitted_half_open calls, its minimum capped by it). */
static unsigned half_minimum(const br *b)
{
    unsigned m = b->s.minimum_calls ? b->s.minimum_calls : 1;
    return m < b->s.permitted_half_open ? m : b->s.permitted_half_open;
}

/* --- transitions --------------------------------------------------------------------- */

/* The wait of the next opening, after opens_in_a_row openings without closing. */
static uint64_t next_wait(const br *b)
{
    uint64_t wait = b->s.open_wait_ms;
    for (unsigned i = 0; i < b->opens_in_a_row; i++) {
        wait = (uint64_t)((double)wait * b->s.open_wait_multiplier);
        if (b->s.open_wait_max_ms && wait >= b->s.open_wait_max_ms) {
            wait = b->s.open_wait_max_ms;
            break;
        }
    }
    return wait;
}

static void to_open(br *b, uint64_t now_ms)
{
    b->state = BR_OPEN;
    b->opened_at = now_ms;
    b->wait_ms = next_wait(b);
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

/* Half-open past half_open_max_wait_ms: resilience4j opens it again from a timer at that
 * moment, so it counts as open since then. */
static bool half_expired(const br *b, uint64_t now_ms)
{
    return b->state == BR_HALF_OPEN && b->s.half_open_max_wait_ms &&
           now_ms - b->half_since >= b->s.half_open_max_wait_ms;
}

static void apply_timers(br *b, uint64_t now_ms)
{
    if (half_expired(b, now_ms))
        to_open(b, b->half_since + b->s.half_open_max_wait_ms);
}

/* The open wait is over once the clock is strictly past its end (resilience4j's isAfter). */
static bool wait_over(uint64_t opened_at, uint64_t wait_ms, uint64_t now_ms)
{
    return now_ms - opened_at > wait_ms;
}

int64_t br_open_for(const br *b, uint64_t now_ms)
{
    uint64_t at = b->opened_at, wait = b->wait_ms;
    if (half_expired(b, now_ms)) {   /* open again since the limit, with the next wait */
        at = b->half_since + b->s.half_open_max_wait_ms;
        wait = next_wait(b);
    } else if (b->state != BR_OPEN) {
        return -1;
    }
    return wait_over(at, wait, now_ms) ? -1 : (int64_t)(at + wait - now_ms);
}

br_state br_state_now(const br *b, uint64_t now_ms)
{
    if (b->state == BR_OPEN || half_expired(b, now_ms))
        return br_open_for(b, now_ms) < 0 ? BR_HALF_OPEN : BR_OPEN;
    return b->state;
}

bool br_acquire(br *b, uint64_t now_ms)
{
    apply_timers(b, now_ms);
    /* open → half-open only here, on a call's request, as resilience4j does without its
     * automatic transition */
    if (b->state == BR_OPEN && wait_over(b->opened_at, b->wait_ms, now_ms))
        to_half_open(b, now_ms);
    switch (b->state) {
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

/* Only a half-open breaker counts its permits; a release never lifts its trial calls
 * above permitted_half_open (resilience4j's would, for a permit taken before the change). */
void br_release(br *b)
{
    if (b->state == BR_HALF_OPEN && b->half_admitted > b->half_calls)
        b->half_admitted--;
}

void br_record(br *b, bool failure, uint64_t duration_ms, uint64_t now_ms)
{
    bool slow = duration_ms > b->s.slow_call_ms;   /* strictly over, as resilience4j */
    b->total_calls++;
    b->total_failures += failure;
    b->total_slow += slow;
    apply_timers(b, now_ms);   /* never open → half-open: an outcome is no request for a call */
    switch (b->state) {
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
        if (b->half_calls >= half_minimum(b)) {
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
