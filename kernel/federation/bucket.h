/* A token bucket in integers (bucket.c): no drift, however many calls and however long. */
#ifndef MF_BUCKET_H
#define MF_BUCKET_H

#include <stdbool.h>
#include <stdint.h>

/* One token is MF_BUCKET_UNIT units; a rate of r calls per second (to a thousandth) adds
 * r * 1000 units per nanosecond, so that the refill of any interval is an exact integer. */
#define MF_BUCKET_UNIT UINT64_C(1000000000000)
#define MF_BUCKET_MAX_BURST 1000000
#define MF_BUCKET_MAX_RATE 1000000.0   /* calls per second */

typedef struct mf_bucket {
    uint64_t level;     /* units in it now */
    uint64_t at;        /* the time (ns) level was true at */
    uint64_t millirate; /* units added per ns: calls per second * 1000 */
    uint64_t burst;     /* tokens it holds at most */
} mf_bucket;

/* calls_per_s as the integer refill (at least 1: a thousandth of a call per second). */
uint64_t mf_bucket_millirate(double calls_per_s);
/* A full bucket, at now. */
void mf_bucket_init(mf_bucket *b, uint64_t millirate, uint64_t burst, uint64_t now_ns);
/* Change its limits; what it holds is kept, up to the new burst. */
void mf_bucket_set(mf_bucket *b, uint64_t millirate, uint64_t burst, uint64_t now_ns);
/* Bring it to now: what the time since adds, up to the burst. */
void mf_bucket_refill(mf_bucket *b, uint64_t now_ns);
/* 0 when it holds a whole token now, else the ns until it will (after mf_bucket_refill). */
uint64_t mf_bucket_wait(const mf_bucket *b);
/* Take a token (there must be one: mf_bucket_wait said 0). */
void mf_bucket_take(mf_bucket *b);
bool mf_bucket_full(const mf_bucket *b);

#endif
