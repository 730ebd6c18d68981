/* The circuit breaker's state machine against resilience4j's behaviour, call by call, with
 * a fake clock. Most cases are scenarios in one table: settings, then steps of events, each
 * followed by the state expected (as br_state_now reads it) and, where given, the rates of
 * the closed window.
 *
 * Events, one character each (spaces are ignored):
 *   S F      a quick call that succeeds / fails (admitted, then recorded)
 *   s f      the same, taking slow_call_ms + 1 ms: slow
 *   e        a success taking exactly slow_call_ms: not slow
 *   A        a call admitted that stays under way
 *   . !      the oldest call under way ends quickly: success / failure
 *   ~        a call under way released: it never went out
 *   R        a call refused
 *   +N @N    the clock moves N ms / is set to N ms after the start (a whole second)
 *   O C U D  the operator forces it open, closed, back to auto, disabled */
#include <criterion/criterion.h>

#include "../../plugins/breaker/breaker_core.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define START 1000000   /* ms: second 1000 begins */

static br b;
static uint64_t now;
static unsigned under_way;
static const char *scenario_name = "";
static const char *const names[] = {"closed", "open", "half_open", "forced_open", "disabled"};

static void start(const br_settings *s)
{
    now = START;
    under_way = 0;
    br_init(&b, s);
}

static void teardown(void) { br_free(&b); }

TestSuite(breaker, .fini = teardown);

static void call(const char *where, bool failure, uint64_t duration_ms)
{
    cr_assert(br_acquire(&b, now), "%s: not admitted", where);
    br_record(&b, failure, duration_ms, now);
}

static void end_one(const char *where, bool failure, bool released)
{
    cr_assert(under_way > 0, "%s: no call under way", where);
    under_way--;
    if (released)
        br_release(&b);
    else
        br_record(&b, failure, 10, now);
}

/* Run the events; returns the state after them. */
static const char *run(const char *seq)
{
    char where[240];
    uint64_t slow = b.s.slow_call_ms;
    for (const char *p = seq; *p; p++) {
        snprintf(where, sizeof where, "%s: event %ld of \"%s\" (at +%llu ms)", scenario_name, (long)(p - seq),
                 seq, (unsigned long long)(now - START));
        switch (*p) {
        case 'S': call(where, false, 10); break;
        case 'F': call(where, true, 10); break;
        case 's': call(where, false, slow + 1); break;
        case 'f': call(where, true, slow + 1); break;
        case 'e': call(where, false, slow); break;
        case 'A': cr_assert(br_acquire(&b, now), "%s: refused", where); under_way++; break;
        case '.': end_one(where, false, false); break;
        case '!': end_one(where, true, false); break;
        case '~': end_one(where, false, true); break;
        case 'R': cr_assert_not(br_acquire(&b, now), "%s: admitted", where); break;
        case '+': now += strtoull(p + 1, (char **)&p, 10); p--; break;
        case '@': now = START + strtoull(p + 1, (char **)&p, 10); p--; break;
        case 'O': br_force(&b, 1, now); break;
        case 'C': br_force(&b, 2, now); break;
        case 'U': br_force(&b, 0, now); break;
        case 'D': br_force(&b, 3, now); break;
        case ' ': break;
        default: cr_assert_fail("bad event '%c' in \"%s\"", *p, seq);
        }
    }
    return names[br_state_now(&b, now)];
}

/* --- the scenarios ------------------------------------------------------------------- */

typedef struct step {
    const char *events;
    const char *state;
    const char *rates;   /* "failure/slow" in percent, -1 below the minimum; NULL: not checked */
    const char *why;
} step;

typedef struct scenario {
    const char *name;
    br_settings s;
    step steps[8];
} scenario;

#define COUNT(size, min) .window = BR_COUNT_BASED, .window_size = (size), .minimum_calls = (min)
#define TIME(secs, min) .window = BR_TIME_BASED, .window_size = (secs), .minimum_calls = (min)
#define RATES(fail, slow) .failure_rate = (fail), .slow_call_rate = (slow)
/* slow over 100 ms, open 1000 ms, no backoff */
#define PLAIN .slow_call_ms = 100, .open_wait_ms = 1000, .open_wait_multiplier = 1

static const scenario scenarios[] = {
    {"below minimum_calls nothing opens", {COUNT(5, 5), RATES(50, 100), PLAIN, .permitted_half_open = 2},
     {{"FFFF", "closed", "-1/-1", "4 failures, minimum 5"}, {"F", "open", "100/0", "5 of 5 failed"}}},
    {"the failure-rate threshold is inclusive", {COUNT(4, 4), RATES(50, 100), PLAIN, .permitted_half_open = 2},
     {{"FFS", "closed", "-1/-1", NULL}, {"S", "open", "50/0", "2 of 4 is the threshold itself"}}},
    {"the count window slides", {COUNT(5, 5), RATES(50, 100), PLAIN, .permitted_half_open = 2},
     {{"FFSSS", "closed", "40/0", NULL},
      {"SSSSS", "closed", "0/0", "the failures left the window"},
      {"FF", "closed", "40/0", "2 of the last 5"},
      {"F", "open", "60/0", "3 of the last 5"}}},
    {"minimum_calls over a count window's size is capped by it",
     {COUNT(5, 100), RATES(50, 100), PLAIN, .permitted_half_open = 2},
     {{"FFFF", "closed", "-1/-1", "4 calls, minimum min(100, 5)"}, {"F", "open", "100/0", "a full window"}}},
    {"a time window's minimum_calls is not capped", {TIME(2, 3), RATES(50, 100), PLAIN, .permitted_half_open = 2},
     {{"FF", "closed", "-1/-1", "a 2 s window can hold more than 2 calls"}, {"F", "open", "100/0", NULL}}},

    /* open and half-open */
    {"open until strictly past the wait, then half-open closes on success",
     {COUNT(5, 5), RATES(50, 100), PLAIN, .permitted_half_open = 2},
     {{"FFFFF R", "open", NULL, NULL},
      {"+1000 R", "open", NULL, "exactly open_wait_ms: still open (strictly after, as resilience4j)"},
      {"+1", "half_open", NULL, "the wait is over: a read sees half-open"},
      {"A A R", "half_open", NULL, "two trial calls, the third refused"},
      {". .", "closed", "-1/-1", "both trial calls succeeded"},
      {"FFFF", "closed", "-1/-1", "a fresh window after closing"}}},
    {"half-open opens again on failures", {COUNT(5, 5), RATES(50, 100), PLAIN, .permitted_half_open = 2},
     {{"FFFFF +1001", "half_open", NULL, NULL}, {"F S", "open", NULL, "1 of 2 trial calls failed: 50%"}}},
    {"half-open decides after min(minimum_calls, permitted_half_open) calls",
     {COUNT(5, 2), RATES(50, 100), PLAIN, .permitted_half_open = 10},
     {{"FF", "open", NULL, NULL},
      {"+1001 F", "half_open", NULL, "1 trial call of the 2 it needs"},
      {"F", "open", NULL, "two failed trial calls of ten permitted open it"},
      {"+1001 S", "half_open", NULL, NULL},
      {"S", "closed", NULL, "two good ones close it, eight permits unused"}}},

    /* permits across transitions */
    {"a released permit frees a trial call", {COUNT(5, 5), RATES(50, 100), PLAIN, .permitted_half_open = 2},
     {{"FFFFF +1001 A A R", "half_open", NULL, NULL}, {"~ A R", "half_open", NULL, "the released one's place"}}},
    {"a permit taken while closed, released while open, changes nothing",
     {COUNT(5, 5), RATES(50, 100), PLAIN, .permitted_half_open = 2},
     {{"A FFFFF", "open", NULL, NULL}, {"~ R", "open", NULL, NULL}, {"+1001 A A R", "half_open", NULL, "still 2"}}},
    {"a permit taken while closed, released while half-open, adds no trial call",
     {COUNT(5, 5), RATES(50, 100), PLAIN, .permitted_half_open = 2},
     {{"A FFFFF +1001 S", "half_open", NULL, "one trial call over, one left"},
      {"~ A R", "half_open", NULL, "permitted_half_open at most"}}},
    {"a permit taken while half-open, released after it closed, changes nothing",
     {COUNT(5, 2), RATES(50, 100), PLAIN, .permitted_half_open = 3},
     {{"FF +1001 A A A . .", "closed", "-1/-1", "2 good trial calls of 3 permitted, minimum 2"},
      {"~", "closed", "-1/-1", "the late release counts for nothing"},
      {"F", "closed", "-1/-1", NULL},
      {"F", "open", NULL, NULL}}},
    {"an outcome while open counts for nothing, even after the wait",
     {COUNT(5, 5), RATES(50, 100), PLAIN, .permitted_half_open = 2},
     {{"A A FFFFF !", "open", "100/0", "the window is not touched"},
      {"+1001 !", "half_open", NULL, "no call asked yet: no trial call taken"},
      {"S S", "closed", NULL, "the failures before were no trial calls"}}},

    /* slow calls */
    {"slow means strictly longer than slow_call_ms", {COUNT(5, 5), RATES(100, 100), PLAIN, .permitted_half_open = 2},
     {{"eeeee", "closed", "0/0", "exactly slow_call_ms is not slow"},
      {"ssss", "closed", "0/80", "1 ms more is"},
      {"s", "open", "0/100", NULL}}},
    {"slow calls open it too", {COUNT(5, 5), RATES(50, 60), PLAIN, .permitted_half_open = 2},
     {{"ssSS", "closed", "-1/-1", "4 calls, minimum 5"}, {"s", "open", "0/60", "3 of 5 slow is 60%"}}},
    {"a slow failure counts as both", {COUNT(5, 5), RATES(100, 100), PLAIN, .permitted_half_open = 2},
     {{"ffff f", "open", "100/100", NULL}}},

    /* waits */
    {"the open wait grows by its multiplier up to its cap",
     {COUNT(5, 5), RATES(50, 100), .slow_call_ms = 100, .open_wait_ms = 1000, .open_wait_multiplier = 2,
      .open_wait_max_ms = 3000, .permitted_half_open = 2},
     {{"FFFFF +1000", "open", NULL, NULL},
      {"+1 FF", "open", NULL, "first wait 1000; the trial calls failed"},
      {"+2000", "open", NULL, "second wait 2000"},
      {"+1 FF", "open", NULL, NULL},
      {"+3000", "open", NULL, "third wait capped at 3000, not 4000"},
      {"+1 SS", "closed", NULL, NULL},
      {"FFFFF +1001", "half_open", NULL, "closing reset the backoff"}}},
    {"half-open waits no longer than its limit",
     {COUNT(5, 5), RATES(50, 100), PLAIN, .permitted_half_open = 2, .half_open_max_wait_ms = 500},
     {{"FFFFF +1001 A", "half_open", NULL, NULL},
      {"+499", "half_open", NULL, NULL},
      {"+1", "open", NULL, "its trial call did not end in time"},
      {"+1000 .", "open", NULL, "the new wait counts from the limit; the late call counts for nothing"},
      {"+1", "half_open", NULL, NULL},
      {"SS", "closed", NULL, NULL}}},
    {"the half-open limit and the next wait pass without a call",
     {COUNT(5, 5), RATES(50, 100), PLAIN, .permitted_half_open = 2, .half_open_max_wait_ms = 500},
     {{"FFFFF +1001 A +1500", "open", NULL, "opened again at the limit, 1000 ms ago"},
      {"+1", "half_open", NULL, "and that wait is over too"},
      {"SS", "closed", NULL, NULL}}},

    /* time-based windows */
    {"the time window forgets old seconds", {TIME(10, 3), RATES(50, 100), PLAIN, .permitted_half_open = 2},
     {{"FF +10000 S", "closed", "-1/-1", "the failures are 10 s old"},
      {"+1000 F", "closed", "-1/-1", "1 of 2 in the window, minimum 3"},
      {"+1000 F", "open", "67/0", "2 of 3 in the last 10 s"}}},
    {"the time window's edge", {TIME(10, 2), RATES(60, 100), PLAIN, .permitted_half_open = 2},
     {{"@0 F", "closed", "-1/-1", NULL},
      {"@9999 S", "closed", "50/0", "9.999 s later the failure is in the window"},
      {"@10000 S", "closed", "0/0", "at 10 s its second has left it"}}},
    {"the time window counts whole seconds", {TIME(2, 2), RATES(60, 100), PLAIN, .permitted_half_open = 2},
     {{"@999 F", "closed", "-1/-1", NULL},
      {"@2000 S", "closed", "-1/-1", "1.001 s later the failure's second has left a 2 s window"}}},

    /* the operator */
    {"forced states", {COUNT(5, 5), RATES(50, 100), PLAIN, .permitted_half_open = 2},
     {{"O R", "forced_open", NULL, NULL},
      {"+100000 R", "forced_open", NULL, "no wait ends it"},
      {"U S", "closed", NULL, "auto: from closed"},
      {"D FFFFFFFFFF", "disabled", NULL, "disabled admits everything, whatever happens"},
      {"C FFFF", "closed", "-1/-1", "forced closed: a fresh window"}}},
};

static void check_rates(const scenario *sc, const step *st)
{
    double fail, slow;
    cr_assert_eq(sscanf(st->rates, "%lf/%lf", &fail, &slow), 2, "bad rates \"%s\"", st->rates);
    double f = br_failure_rate(&b, now), s = br_slow_rate(&b, now);
    cr_assert(fabs(f - fail) < 0.5 && fabs(s - slow) < 0.5, "%s, after \"%s\": rates %.1f/%.1f, expected %s",
              sc->name, st->events, f, s, st->rates);
}

Test(breaker, scenarios)
{
    for (size_t i = 0; i < sizeof scenarios / sizeof *scenarios; i++) {
        const scenario *sc = &scenarios[i];
        scenario_name = sc->name;
        start(&sc->s);
        for (const step *st = sc->steps; st->events; st++) {
            const char *state = run(st->events);
            cr_assert_str_eq(state, st->state, "%s, after \"%s\": %s (%s)", sc->name, st->events, state,
                             st->why ? st->why : "");
            if (st->rates)
                check_rates(sc, st);
        }
        br_free(&b);
    }
    memset(&b, 0, sizeof b);
}

/* --- reading the state --------------------------------------------------------------- */

Test(breaker, reading_changes_nothing)
{
    br_settings s = {COUNT(5, 5), RATES(50, 100), PLAIN, .permitted_half_open = 2};
    start(&s);
    run("FFFFF");
    cr_assert_eq(br_open_for(&b, now), 1000);
    cr_assert_eq(br_open_for(&b, now + 1000), 0, "the wait's last ms");
    cr_assert_eq(br_open_for(&b, now + 1001), -1);
    now += 1001;
    br before = b;
    cr_assert_eq(br_state_now(&b, now), BR_HALF_OPEN, "what the next call would find");
    br_failure_rate(&b, now);
    br_slow_rate(&b, now);
    br_open_for(&b, now);
    cr_assert_eq(memcmp(&before, &b, sizeof b), 0, "a read made a transition");
    cr_assert_eq(b.state, BR_OPEN);
    cr_assert_str_eq(run("A"), "half_open", "a call's request makes it");
    cr_assert_eq(b.state, BR_HALF_OPEN);
}

/* --- failure_codes ------------------------------------------------------------------- */

Test(breaker, failure_codes)
{
    static const int listed[] = {-32000, -32603};
    static const struct {
        const char *what;
        const int *codes;
        size_t n;
        int code;
        bool lost, failure;
    } cases[] = {
        {"default: an internal error fails", NULL, 0, -32603, false, true},
        {"default: another error does not", NULL, 0, -32000, false, false},
        {"default: an invalid-params error does not", NULL, 0, -32602, false, false},
        {"default: an answer without error does not", NULL, 0, 0, false, false},
        {"default: a lost call fails", NULL, 0, 0, true, true},
        {"a listed code fails", listed, 2, -32000, false, true},
        {"the other listed code fails", listed, 2, -32603, false, true},
        {"an unlisted code does not", listed, 2, -32601, false, false},
        {"a lost call fails, whatever the list", listed, 2, -32601, true, true},
        {"an empty list: no error code fails", listed, 0, -32603, false, false},
        {"an empty list: a lost call still fails", listed, 0, 0, true, true},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        br_settings s = {COUNT(5, 5), RATES(50, 100), PLAIN, .permitted_half_open = 2,
                         .failure_codes = cases[i].codes, .nfailure_codes = cases[i].n};
        start(&s);
        cr_assert_eq(br_is_failure(&b, cases[i].code, cases[i].lost), cases[i].failure, "%s", cases[i].what);
        br_free(&b);
    }
    memset(&b, 0, sizeof b);
}
