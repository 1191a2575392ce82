/*
 * bucket.c - see bucket.h.
 */
#include "base/bucket.h"

#include <stddef.h>

bool mb_bucket_take(mb_bucket *b, double rate, double burst, int64_t now_ns, int64_t *wait_ns)
{
    if (b->last_ns == 0) {
        b->tokens = burst;
    } else if (now_ns > b->last_ns) {
        b->tokens += (double)(now_ns - b->last_ns) * rate / 1e9;
        if (b->tokens > burst)
            b->tokens = burst;
    }
    b->last_ns = now_ns;
    if (b->tokens >= 1.0) {
        b->tokens -= 1.0;
        return true;
    }
    if (wait_ns != NULL)
        *wait_ns = rate > 0 ? (int64_t)((1.0 - b->tokens) * 1e9 / rate) + 1 : INT64_MAX;
    return false;
}

void mb_bucket_give(mb_bucket *b, double burst)
{
    b->tokens = b->tokens + 1.0 < burst ? b->tokens + 1.0 : burst;
}
