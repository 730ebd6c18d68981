/* The time spans are stamped with (wall clock, ns). A traced call reads it six times, and
 * clock_gettime took 20 ns a read where the CPU's time-stamp counter takes 9. So where
 * the kernel itself keeps time with the counter (its clocksource is "tsc": invariant, and
 * the same on every CPU), the span clock reads the counter and scales it from an anchor:
 * a reading of both clocks at most ANCHOR_NS old, the scale measured between the last two
 * anchors. The wall clock's own corrections (NTP slewing it) reach the spans at the next
 * anchor, as they would have; a step (the clock set) too, and the scale measured across
 * it is not taken. Elsewhere, and until two anchors have been read, clock_gettime. */
#include "build-config.h"
#include "span.h"

#include <stdio.h>
#include <string.h>
#include <time.h>
#if defined(__x86_64__)
#include <x86intrin.h>
#endif

enum { ANCHOR_NS = 10000000, MIN_SPAN_NS = 1000000 };

static struct {
    bool usable;
    uint64_t tsc, ns;         /* the anchor */
    uint64_t mult;            /* ns per tick, times 2^32; 0: not measured yet */
    uint64_t window;          /* ticks an anchor serves */
    unsigned disagreed;       /* scales in a row that did not agree with it */
} C;

static uint64_t wall_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

#if defined(__x86_64__)
static bool kernel_keeps_time_by_tsc(void)
{
    FILE *f = fopen("/sys/devices/system/clocksource/clocksource0/current_clocksource", "r");
    char name[32] = "";
    if (!f)
        return false;
    bool tsc = fgets(name, sizeof name, f) && strcmp(name, "tsc\n") == 0;
    fclose(f);
    return tsc;
}

/* A new anchor at counter t, and the scale measured from the last one. A scale that does
 * not agree with the one before (within 0.1 %) is taken only the second time in a row:
 * once, the wall clock was set, or the thread was preempted between the two readings. */
static uint64_t anchor(uint64_t t)
{
    uint64_t ns = wall_ns();
    if (C.ns && ns >= C.ns && t > C.tsc) {
        if (ns - C.ns < MIN_SPAN_NS)   /* not measured yet, and too soon to */
            return ns;
        uint64_t mult = (uint64_t)(((unsigned __int128)(ns - C.ns) << 32) / (t - C.tsc));
        uint64_t diff = mult > C.mult ? mult - C.mult : C.mult - mult;
        if (!C.mult || diff < C.mult / 1000 || ++C.disagreed == 2) {
            C.mult = mult;
            C.window = (uint64_t)(((unsigned __int128)ANCHOR_NS << 32) / mult);
            C.disagreed = 0;
        }
    }
    C.tsc = t;
    C.ns = ns;
    return ns;
}
#endif

void mf_span_clock_check(void)
{
#if defined(__x86_64__)
    C.usable = kernel_keeps_time_by_tsc();
#endif
}

uint64_t mf_span_clock_ns(void)
{
#if defined(__x86_64__)
    if (C.usable) {
        uint64_t t = __rdtsc(), d = t - C.tsc;
        if (C.mult && d < C.window)
            return C.ns + (uint64_t)(((unsigned __int128)d * C.mult) >> 32);
        return anchor(t);
    }
#endif
    return wall_ns();
}
