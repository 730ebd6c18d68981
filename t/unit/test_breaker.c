/* The circuit breaker's state machine against resilience4j's documented behaviour, call
 * by call, with a fake clock. A sequence is written as a string: 'S' a success, 'F' a
 * failure, 's' a slow success, 'f' a slow failure, 'A' an acquire that must be admitted,
 * 'R' one that must be refused, '+N' the clock moving N ms. */
#include <criterion/criterion.h>

#include "../../plugins/breaker/breaker_core.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static br b;
static uint64_t now;
static const char *const names[] = {"closed", "open", "half_open", "forced_open", "disabled"};

static br_settings base(void)
{
    return (br_settings){.window = BR_COUNT_BASED, .window_size = 5, .minimum_calls = 5, .failure_rate = 50,
                         .slow_call_ms = 100, .slow_call_rate = 100, .open_wait_ms = 1000,
                         .open_wait_multiplier = 1, .permitted_half_open = 2};
}

/* Run the sequence; returns the state after it. */
static const char *run(const char *seq)
{
    for (const char *p = seq; *p; p++) {
        switch (*p) {
        case 'S': cr_assert(br_acquire(&b, now), "at %ld of %s: not admitted", p - seq, seq); br_record(&b, false, 10, now); break;
        case 'F': cr_assert(br_acquire(&b, now), "at %ld of %s: not admitted", p - seq, seq); br_record(&b, true, 10, now); break;
        case 's': cr_assert(br_acquire(&b, now)); br_record(&b, false, 150, now); break;
        case 'f': cr_assert(br_acquire(&b, now)); br_record(&b, true, 150, now); break;
        case 'A': cr_assert(br_acquire(&b, now), "at %ld of %s: refused", p - seq, seq); break;
        case 'R': cr_assert_not(br_acquire(&b, now), "at %ld of %s: admitted", p - seq, seq); break;
        case '+': now += strtoull(p + 1, (char **)&p, 10); p--; break;
        case ' ': break;
        default: cr_assert_fail("bad sequence %s", seq);
        }
    }
    return names[br_state_now(&b, now)];
}

static void start(br_settings s)
{
    now = 1000000;
    br_init(&b, &s);
}

static void teardown(void) { br_free(&b); }

TestSuite(breaker, .fini = teardown);

Test(breaker, below_minimum_calls_nothing_opens)
{
    start(base());
    cr_assert_str_eq(run("FFFF"), "closed", "4 failures, minimum 5");
    cr_assert_str_eq(run("F"), "open", "5 of 5 failed");
}

Test(breaker, the_failure_rate_threshold_is_inclusive)
{
    br_settings s = base();
    s.window_size = 4;
    s.minimum_calls = 4;
    start(s);
    cr_assert_str_eq(run("FFS"), "closed");
    cr_assert_str_eq(run("S"), "open", "2 of 4 is 50%%, the threshold itself");
}

Test(breaker, the_count_window_slides)
{
    start(base());
    cr_assert_str_eq(run("FFSSS"), "closed", "40%%");
    cr_assert_str_eq(run("SSSSS"), "closed", "the failures left the window");
    cr_assert_str_eq(run("FF"), "closed", "2 of the last 5");
    cr_assert_str_eq(run("F"), "open", "3 of the last 5");
}

Test(breaker, open_refuses_until_the_wait_then_half_open_closes_on_success)
{
    start(base());
    run("FFFFF");
    cr_assert_str_eq(run("R +999 R"), "open");
    cr_assert_str_eq(run("+1"), "half_open", "after exactly open_wait_ms");
    cr_assert_str_eq(run("A A R"), "half_open", "two trial calls, the third refused");
    br_record(&b, false, 10, now);
    br_record(&b, false, 10, now);
    cr_assert_str_eq(names[br_state_now(&b, now)], "closed");
    cr_assert_str_eq(run("FFFF"), "closed", "a fresh window after closing");
}

Test(breaker, half_open_opens_again_on_failures)
{
    start(base());
    run("FFFFF +1000");
    cr_assert_str_eq(run("F S"), "open", "1 of 2 trial calls failed: 50%%");
}

Test(breaker, a_released_permit_frees_a_trial_call)
{
    start(base());
    run("FFFFF +1000");
    run("A A R");
    br_release(&b);
    cr_assert_str_eq(run("A R"), "half_open");
}

Test(breaker, slow_calls_open_it_too)
{
    br_settings s = base();
    s.slow_call_rate = 60;
    start(s);
    cr_assert_str_eq(run("ssSS"), "closed", "4 calls, minimum 5");
    cr_assert_str_eq(run("s"), "open", "3 of 5 slow is 60%%");
    br_free(&b);
    s.slow_call_rate = 100;
    start(s);
    cr_assert_str_eq(run("ssssS"), "closed");
    cr_assert_str_eq(run("sssss"), "open", "every call slow");
}

Test(breaker, a_slow_failure_counts_as_both)
{
    br_settings s = base();
    s.failure_rate = 100;
    s.slow_call_rate = 100;
    start(s);
    cr_assert_str_eq(run("ffff f"), "open");
}

Test(breaker, the_open_wait_grows_by_its_multiplier_up_to_its_cap)
{
    br_settings s = base();
    s.open_wait_multiplier = 2;
    s.open_wait_max_ms = 3000;
    start(s);
    run("FFFFF");
    cr_assert_str_eq(run("+999"), "open");
    cr_assert_str_eq(run("+1 FF"), "open", "first wait 1000; the trial failed");
    cr_assert_str_eq(run("+1999"), "open", "second wait 2000");
    cr_assert_str_eq(run("+1 FF"), "open");
    cr_assert_str_eq(run("+2999"), "open", "third wait capped at 3000, not 4000");
    cr_assert_str_eq(run("+1 SS"), "closed");
    run("FFFFF");
    cr_assert_str_eq(run("+1000"), "half_open", "closing reset the backoff");
}

Test(breaker, half_open_waits_no_longer_than_its_limit)
{
    br_settings s = base();
    s.half_open_max_wait_ms = 500;
    start(s);
    run("FFFFF +1000 A");
    cr_assert_str_eq(run("+499"), "half_open");
    cr_assert_str_eq(run("+1"), "open", "its trial call did not end in time");
}

Test(breaker, the_time_window_forgets_old_seconds)
{
    br_settings s = base();
    s.window = BR_TIME_BASED;
    s.window_size = 10;
    s.minimum_calls = 3;
    start(s);
    cr_assert_str_eq(run("FF +10000 S"), "closed", "the failures are over 10 s old");
    cr_assert_str_eq(run("+1000 F"), "closed", "1 of 2 in the window, minimum 3");
    cr_assert_str_eq(run("+1000 F"), "open", "2 of 3 in the last 10 s");
}

Test(breaker, forced_states)
{
    start(base());
    br_force(&b, 1, now);
    cr_assert_str_eq(run("R"), "forced_open");
    cr_assert_str_eq(run("+100000 R"), "forced_open", "no wait ends it");
    br_force(&b, 0, now);
    cr_assert_str_eq(run("S"), "closed");
    br_force(&b, 3, now);
    cr_assert_str_eq(run("FFFFFFFFFF"), "disabled", "disabled admits everything, whatever happens");
    br_force(&b, 2, now);
    cr_assert_str_eq(run("FFFF"), "closed", "forced closed: a fresh window");
}

Test(breaker, a_zero_threshold_never_trips)
{
    br_settings s = base();
    s.failure_rate = 0;
    start(s);
    cr_assert_str_eq(run("FFFFFFFFFF"), "closed");
}
