/*
 * test_billing_kill.c - a billing run killed with SIGKILL half way loses
 * nothing and doubles nothing: after a restart and a second run of the
 * period, every account has exactly one invoice, numbers run 1..N without a
 * gap or a repeat, and every counter's invoiced quantity is exactly what its
 * invoice billed.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "inv_util.h"
#include "usage_util.h"

#define ACCOUNTS 1500

static mbt_server srv;
static iu_keys keys;
static char period[8];

static int seed(int64_t when)
{
    for (int i = 0; i < ACCOUNTS; i++) {
        char id[32];
        snprintf(id, sizeof id, "k-%05d", i);
        if (iu_account(&srv, &keys, id, "Kill Test Motors GmbH", "NL", "", "pro") !=
            GRPC_STATUS_OK)
            return -1;
    }
    /* 2,000 + i media per account: each invoice's net differs. */
    mu_event ev[100];
    char ids[100][32], idem[100][32];
    for (int at = 0; at < ACCOUNTS; at += 100) {
        for (int j = 0; j < 100; j++) {
            snprintf(ids[j], sizeof ids[j], "k-%05d", at + j);
            snprintf(idem[j], sizeof idem[j], "kill-%d", at + j);
            ev[j] = (mu_event){.key = idem[j],
                               .account = ids[j],
                               .metric = "media",
                               .quantity = 2000 + at + j,
                               .occurred = when};
        }
        int64_t acc, dup;
        mb_error st;
        if (mu_record(srv.ch, keys.platform, ev, 100, &acc, &dup, &st) != GRPC_STATUS_OK)
            return -1;
    }
    return 0;
}

/* Starts a run and reads progress until at least `upto` accounts are done. */
static int64_t run_until(int64_t upto)
{
    Minbill__V1__RunBillingRequest req = MINBILL__V1__RUN_BILLING_REQUEST__INIT;
    req.period = period;
    mbc_call_t *call =
        mbc_call_start_request(srv.ch, IU_RUN, keys.finance, mbt_ms(120000), &req.base);
    int64_t processed = 0;
    uint8_t *msg;
    size_t len;
    while (processed < upto && mbc_call_recv(call, &msg, &len) == 1) {
        Minbill__V1__RunBillingProgress *p =
            minbill__v1__run_billing_progress__unpack(NULL, len, msg);
        free(msg);
        if (p != NULL)
            processed = p->processed;
        minbill__v1__run_billing_progress__free_unpacked(p, NULL);
    }
    mbc_call_free(call);
    return processed;
}

int main(void)
{
    int64_t when = iu_month_ago(1, period);
    if (iu_up(&srv, &keys) != 0 || iu_plan(&srv, &keys) != 0 || seed(when) != 0) {
        fprintf(stderr, "setup failed\n");
        return 1;
    }
    int64_t got = run_until(ACCOUNTS / 2);
    CHECK(got >= ACCOUNTS / 2);
    int status;
    mbt_daemon_stop(&srv.d, SIGKILL, 10, &status);
    mbc_channel_free(srv.ch);
    srv.ch = NULL;
    long issued = mbt_db_long(srv.d.db, "SELECT count(*) FROM invoices");
    fprintf(stderr, "killed after %lld progress messages, %ld invoices committed\n",
            (long long)got, issued);
    CHECK(issued >= ACCOUNTS / 2 && issued < ACCOUNTS);

    char conf[MBT_PATH + 32];
    snprintf(conf, sizeof conf, "%s/seller.conf", srv.d.dir);
    const char *args[] = {"--seller-config", conf, "--acceptance-window-days", "120", NULL};
    CHECK(mbt_serve(&srv, args) == 0);
    iu_run r;
    iu_billing(&srv, &keys, period, false, mbt_ms(120000), &r);
    CHECK_STATUS(r.st, GRPC_STATUS_OK);
    CHECK(r.summary != NULL && r.summary->invoices_issued == ACCOUNTS - issued);
    iu_run_free(&r);
    CHECK(mbt_stop(&srv, SIGTERM) == 0);

    const char *db = srv.d.db;
    CHECK(mbt_db_long(db, "SELECT count(*) FROM invoices") == ACCOUNTS);
    CHECK(mbt_db_long(db, "SELECT count(DISTINCT account_id) FROM invoices") == ACCOUNTS);
    CHECK(mbt_db_long(db, "SELECT count(DISTINCT invoice_number) FROM invoices") == ACCOUNTS);
    CHECK(mbt_db_long(db, "SELECT max(CAST(substr(invoice_number, -6) AS INTEGER))"
                          " FROM invoices") == ACCOUNTS);
    CHECK(mbt_db_long(db, "SELECT min(CAST(substr(invoice_number, -6) AS INTEGER))"
                          " FROM invoices") == 1);
    CHECK(mbt_db_long(db, "SELECT sum(last) FROM invoice_series") == ACCOUNTS);
    CHECK(mbt_db_long(db, "SELECT count(*) FROM invoiced_periods") == ACCOUNTS);
    CHECK(mbt_db_long(db, "SELECT count(*) FROM usage_counters"
                          " WHERE invoiced_quantity != quantity") == 0);
    /* Each net: 49.00 + (2,000 + i) x 0.0025, rounded half-up per invoice. */
    long long want = 0;
    for (int i = 0; i < ACCOUNTS; i++)
        want += 4900 + ((2000LL + i) * 25 + 50) / 100;
    CHECK(mbt_db_long(db, "SELECT sum(net_minor) FROM invoices") == want);
    mbt_daemon_cleanup(&srv.d);
    return check_summary();
}
