/*
 * test_limits.c - rate limits of the runtime against the real daemon:
 *   - per API key, by role (`--rate-limit support=5/10`): over the burst,
 *     RESOURCE_EXHAUSTED naming the retry delay; after it, calls pass again;
 *     another key of the same role and key-less health checks are not
 *     affected;
 *   - failed authentications per peer address (issue 10, defect 9): a client
 *     trying unknown keys is refused (still UNAUTHENTICATED) without a
 *     database lookup once over the rate, the log shows the rate in a
 *     rate-limited line, and the refused calls do not write a line each.
 */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "common.h"
#include "minbill/v1/accounts.pb-c.h"

#define GET "/minbill.v1.Accounts/GetAccount"

static mbt_server srv;

static int get_account(const char *key, mb_error *st)
{
    Minbill__V1__GetAccountRequest req = MINBILL__V1__GET_ACCOUNT_REQUEST__INIT;
    req.account_id = "acc_missing";
    uint8_t buf[64];
    size_t len = minbill__v1__get_account_request__pack(&req, buf);
    return mbt_call(srv.ch, GET, key, buf, len, st);
}

static void test_key_rate(void)
{
    char key[MBT_KEY_MAX], other[MBT_KEY_MAX];
    mbt_key(&srv, "support", key);
    mbt_key(&srv, "support", other);
    mb_error st;
    int passed = 0, limited = 0;
    for (int i = 0; i < 40; i++) {
        int code = get_account(key, &st);
        passed += code == GRPC_STATUS_NOT_FOUND;
        if (code == GRPC_STATUS_RESOURCE_EXHAUSTED) {
            limited++;
            CHECK(strstr(st.msg, "rate limit of role support") != NULL);
            CHECK(strstr(st.msg, "retry in") != NULL);
        }
    }
    fprintf(stderr,
            "   40 calls at once with a support key limited to 5/s (burst 10): %d "
            "answered, %d RESOURCE_EXHAUSTED\n",
            passed, limited);
    CHECK(passed >= 10 && passed <= 10 + (mbt_wrapped() ? 30 : 5));
    CHECK(passed + limited == 40);
    /* Per key: another support key has its own bucket. */
    CHECK(get_account(other, &st) == GRPC_STATUS_NOT_FOUND);
    /* Health needs no key and is not limited even with one. */
    int serving;
    CHECK(mbt_health_check(srv.ch, key, "", &serving, &st) == GRPC_STATUS_OK);
    /* The retry delay is honest: after it, the key may call again. */
    get_account(key, &st);
    const char *in = strstr(st.msg, "retry in ");
    int wait_ms = in != NULL ? atoi(in + 9) : 1000;
    mbt_sleep_ms(wait_ms + 50);
    CHECK(get_account(key, &st) == GRPC_STATUS_NOT_FOUND);
}

static void test_failed_auth(void)
{
    char unknown[MBT_KEY_MAX];
    mb_error st;
    int limited = 0, lines_before = mbt_log_count(&srv, "status=UNAUTHENTICATED", NULL);
    double start = mbt_now();
    for (int i = 0; i < 120; i++) {
        snprintf(unknown, sizeof unknown, "mbk_AAAAAAAAAAAA_%032d", i);
        CHECK(get_account(unknown, &st) == GRPC_STATUS_UNAUTHENTICATED);
        limited += strstr(st.msg, "too many failed authentications") != NULL;
    }
    /* The burst of 50, plus 10 a second for as long as the tries took (a
     * loaded machine takes longer), plus one for rounding. */
    double took = mbt_now() - start;
    int lines = mbt_log_count(&srv, "status=UNAUTHENTICATED", NULL) - lines_before;
    fprintf(stderr,
            "   120 unknown keys in %.2f s: %d refused by the address limit; %d call lines "
            "logged\n",
            took, limited, lines);
    CHECK(limited >= 120 - 50 - (int)(10 * took) - 1);
    CHECK(mbt_log_count(&srv, "event=auth_failures_limited", "limit_per_s=10") >= 1);
    CHECK(lines < 120);
    /* A valid key from the same address, already verified, still works. */
    char key[MBT_KEY_MAX];
    mbt_key(&srv, "finance", key);
    mbt_sleep_ms(200); /* two tries' worth of tokens */
    CHECK(get_account(key, &st) != GRPC_STATUS_UNAUTHENTICATED);
}

int main(void)
{
    const char *args[] = {"--rate-limit", "support=5/10", NULL};
    if (mbt_up(&srv, args) != 0)
        return 1;
    test_key_rate();
    test_failed_auth();
    CHECK(mbt_down(&srv) == 0);
    return check_summary();
}
