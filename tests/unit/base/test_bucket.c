/*
 * test_bucket.c - the token bucket: starts full, refills at its rate up to
 * burst, and a token given back is never lost nor pushes it past burst.
 */
#include "base/bucket.h"
#include "check.h"

static void test_take_and_refill(void)
{
    mb_bucket b = {0, 0};
    int64_t wait = 0;
    for (int i = 0; i < 3; i++)
        CHECK(mb_bucket_take(&b, 10, 3, 1000, &wait));
    CHECK(!mb_bucket_take(&b, 10, 3, 1000, &wait));
    CHECK(wait > 0 && wait <= 100000001); /* one token at 10/s */
    CHECK(mb_bucket_take(&b, 10, 3, 1000 + 100000001, &wait));
}

static void test_give(void)
{
    mb_bucket b = {0, 0};
    CHECK(mb_bucket_take(&b, 1, 3, 1000, NULL)); /* 2 left */
    mb_bucket_give(&b, 3);
    mb_bucket_give(&b, 3); /* past burst: stays at 3 */
    CHECK(b.tokens == 3.0);
    b.tokens = 2.5; /* just under burst: the give is not dropped */
    mb_bucket_give(&b, 3);
    CHECK(b.tokens == 3.0);
    b.tokens = 0.25;
    mb_bucket_give(&b, 3);
    CHECK(b.tokens == 1.25);
}

int main(void)
{
    RUN(test_take_and_refill);
    RUN(test_give);
    return check_summary();
}
