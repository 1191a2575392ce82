/*
 * bucket.h - a token bucket: `rate` tokens a second, at most `burst` saved
 * up. For rate limits (per API key, per peer address) and rate-limited log
 * lines. Not locked: the owner of the bucket serialises its use.
 */
#ifndef MB_BUCKET_H
#define MB_BUCKET_H

#include <stdbool.h>
#include <stdint.h>

typedef struct mb_bucket {
    double tokens;
    int64_t last_ns; /* 0: new, full */
} mb_bucket;

/* Takes one token at now_ns (CLOCK_MONOTONIC, mb_mono_ns()). False if none
 * is left; then *wait_ns (if not NULL) says when the next one is due. */
bool mb_bucket_take(mb_bucket *b, double rate, double burst, int64_t now_ns, int64_t *wait_ns);

/* Puts back the token of a take that turned out not to count, never past
 * burst. */
void mb_bucket_give(mb_bucket *b, double burst);

#endif
