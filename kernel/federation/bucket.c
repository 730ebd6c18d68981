/* Token bucket arithmetic. Tokens are counted in units small enough that the refill of
 * any whole number of nanoseconds is a whole number of units (mf_bucket.h), so nothing is
 * rounded on the way: after t ns a bucket has gained exactly t * rate / 1e9 tokens. The
 * bucket is refilled when it is used, from the time it was last; it needs no timer. */
#include "build-config.h"
#include "bucket.h"


uint64_t mf_bucket_millirate(double calls_per_s)
{
    if (!(calls_per_s > 0))
        return 1;
    if (calls_per_s > MF_BUCKET_MAX_RATE)
        calls_per_s = MF_BUCKET_MAX_RATE;
    uint64_t m = (uint64_t)(calls_per_s * 1000.0 + 0.5);   /* to the nearest thousandth */
    return m < 1 ? 1 : m;
}

void mf_bucket_init(mf_bucket *b, uint64_t millirate, uint64_t burst, uint64_t now_ns)
{
    b->millirate = millirate ? millirate : 1;
    b->burst = burst ? burst : 1;
    b->level = b->burst * MF_BUCKET_UNIT;
    b->at = now_ns;
}

void mf_bucket_refill(mf_bucket *b, uint64_t now_ns)
{
    if (now_ns <= b->at)
        return;   /* the clock is monotonic; a caller's older reading adds nothing */
    uint64_t cap = b->burst * MF_BUCKET_UNIT;
    uint64_t dt = now_ns - b->at;
    b->at = now_ns;
    if (b->level >= cap) {
        b->level = cap;
        return;
    }
    /* the product is only formed when it stays below what is missing: no overflow */
    uint64_t missing = cap - b->level;
    if (dt >= missing / b->millirate + 1)
        b->level = cap;
    else
        b->level += dt * b->millirate;
    if (b->level > cap)
        b->level = cap;
}

void mf_bucket_set(mf_bucket *b, uint64_t millirate, uint64_t burst, uint64_t now_ns)
{
    mf_bucket_refill(b, now_ns);   /* what the old rate earned until now */
    b->millirate = millirate ? millirate : 1;
    b->burst = burst ? burst : 1;
    if (b->level > b->burst * MF_BUCKET_UNIT)
        b->level = b->burst * MF_BUCKET_UNIT;
}

uint64_t mf_bucket_wait(const mf_bucket *b)
{
    if (b->level >= MF_BUCKET_UNIT)
        return 0;
    uint64_t missing = MF_BUCKET_UNIT - b->level;
    return (missing + b->millirate - 1) / b->millirate;   /* rounded up: then it is there */
}

void mf_bucket_take(mf_bucket *b)
{
    b->level = b->level >= MF_BUCKET_UNIT ? b->level - MF_BUCKET_UNIT : 0;
}

bool mf_bucket_full(const mf_bucket *b) { return b->level >= b->burst * MF_BUCKET_UNIT; }
