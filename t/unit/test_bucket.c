/* The token bucket's arithmetic (kernel/federation/bucket.c) with a made-up clock: a new
 * bucket is full, a burst empties it, the refill is exact whatever the steps it comes in
 * (no drift over a million steps, fractional rates), the wait it announces is exactly
 * enough, limits changed keep what it holds, and the extremes do not overflow. */
#include <criterion/criterion.h>

#include "../../kernel/federation/bucket.h"

#define S UINT64_C(1000000000)   /* ns in a second */

Test(bucket, starts_full_and_a_burst_empties_it)
{
    mf_bucket b;
    mf_bucket_init(&b, mf_bucket_millirate(200), 20, 5 * S);
    cr_assert(mf_bucket_full(&b));
    for (int i = 0; i < 20; i++) {
        cr_assert_eq(mf_bucket_wait(&b), 0, "call %d", i);
        mf_bucket_take(&b);
    }
    /* 200 a second: the next in 5 ms exactly */
    cr_assert_eq(mf_bucket_wait(&b), 5000000);
    mf_bucket_refill(&b, 5 * S + 4999999);
    cr_assert_eq(mf_bucket_wait(&b), 1);
    mf_bucket_refill(&b, 5 * S + 5000000);
    cr_assert_eq(mf_bucket_wait(&b), 0);
}

Test(bucket, the_refill_is_exact_in_any_steps)
{
    /* 3 calls a second: a third of a second per call, no whole number of ns */
    mf_bucket b;
    mf_bucket_init(&b, mf_bucket_millirate(3), 1000000, 0);
    for (int i = 0; i < 1000000; i++)
        mf_bucket_take(&b);
    cr_assert_eq(b.level, 0);
    /* a thousand seconds in a million uneven steps: exactly 3000 calls, not one unit more or less */
    uint64_t now = 0, step = 1;
    for (int i = 0; i < 999999; i++) {
        step = (step * 48271 + 11) % 999999;   /* 0 .. ~1 ms, uneven */
        now += step;
        mf_bucket_refill(&b, now);
    }
    cr_assert_lt(now, 1000 * S);
    mf_bucket_refill(&b, 1000 * S);
    cr_assert_eq(b.level, 3000 * MF_BUCKET_UNIT);
    /* and the same in one step */
    mf_bucket c;
    mf_bucket_init(&c, mf_bucket_millirate(3), 1000000, 0);
    c.level = 0;
    mf_bucket_refill(&c, 1000 * S);
    cr_assert_eq(c.level, b.level);
}

Test(bucket, fractional_rates)
{
    mf_bucket b;
    mf_bucket_init(&b, mf_bucket_millirate(0.5), 1, 0);
    mf_bucket_take(&b);
    cr_assert_eq(mf_bucket_wait(&b), 2 * S, "one call in two seconds");
    mf_bucket_init(&b, mf_bucket_millirate(0.001), 1, 0);
    mf_bucket_take(&b);
    cr_assert_eq(mf_bucket_wait(&b), 1000 * S, "a thousandth: one call in 1000 s");
    /* 7 a second: 142857142.857 ns per call, the wait rounded up, then there */
    mf_bucket_init(&b, mf_bucket_millirate(7), 1, 0);
    mf_bucket_take(&b);
    uint64_t w = mf_bucket_wait(&b);
    cr_assert_eq(w, 142857143);
    mf_bucket_refill(&b, w - 1);
    cr_assert_gt(mf_bucket_wait(&b), 0);
    mf_bucket_refill(&b, w);
    cr_assert_eq(mf_bucket_wait(&b), 0);
}

Test(bucket, the_wait_announced_is_exactly_enough)
{
    static const double rates[] = {0.001, 0.3, 1, 3, 7.5, 200, 999.999, 1000000};
    for (size_t r = 0; r < sizeof rates / sizeof rates[0]; r++) {
        mf_bucket b;
        mf_bucket_init(&b, mf_bucket_millirate(rates[r]), 5, 0);
        uint64_t now = 0;
        for (int i = 0; i < 1000; i++) {
            uint64_t w = mf_bucket_wait(&b);
            if (w) {
                mf_bucket probe = b;
                mf_bucket_refill(&probe, now + w - 1);
                cr_assert_gt(mf_bucket_wait(&probe), 0, "rate %g: not before %llu ns", rates[r], (unsigned long long)w);
                now += w;
                mf_bucket_refill(&b, now);
                cr_assert_eq(mf_bucket_wait(&b), 0, "rate %g: there after %llu ns", rates[r], (unsigned long long)w);
            }
            mf_bucket_take(&b);
            now += (uint64_t)i % 3;   /* sometimes at once, sometimes a little later */
            mf_bucket_refill(&b, now);
        }
    }
}

Test(bucket, changed_limits_keep_what_it_holds)
{
    mf_bucket b;
    mf_bucket_init(&b, mf_bucket_millirate(1), 10, 0);
    for (int i = 0; i < 7; i++)
        mf_bucket_take(&b);
    mf_bucket_set(&b, mf_bucket_millirate(1), 2, 0);   /* smaller: cut to the new burst */
    cr_assert_eq(b.level, 2 * MF_BUCKET_UNIT);
    mf_bucket_set(&b, mf_bucket_millirate(100), 50, S / 2);   /* what the old rate earned, then the new */
    cr_assert_eq(b.level, 2 * MF_BUCKET_UNIT, "full at 2 meanwhile: nothing more");
    mf_bucket_refill(&b, S / 2 + S / 10);
    cr_assert_eq(b.level, 12 * MF_BUCKET_UNIT, "100 a second for a tenth of a second");
}

Test(bucket, extremes)
{
    cr_assert_eq(mf_bucket_millirate(0.0001), 1, "at least a thousandth");
    cr_assert_eq(mf_bucket_millirate(0), 1);
    cr_assert_eq(mf_bucket_millirate(200), 200000);
    cr_assert_eq(mf_bucket_millirate(1e12), 1000000000, "at most MF_BUCKET_MAX_RATE");
    mf_bucket b;
    mf_bucket_init(&b, mf_bucket_millirate(1e6), MF_BUCKET_MAX_BURST, 0);
    for (int i = 0; i < 10; i++)
        mf_bucket_take(&b);
    mf_bucket_refill(&b, UINT64_MAX);   /* the longest wait there is: full, no overflow */
    cr_assert(mf_bucket_full(&b));
    cr_assert_eq(b.level, (uint64_t)MF_BUCKET_MAX_BURST * MF_BUCKET_UNIT);
    mf_bucket_init(&b, 1, 1, 100);
    mf_bucket_take(&b);
    mf_bucket_refill(&b, 50);   /* an older reading adds nothing, and takes nothing */
    cr_assert_eq(b.level, 0);
    cr_assert_eq(mf_bucket_wait(&b), MF_BUCKET_UNIT, "a thousandth of a call a second: 1e12 ns");
}
