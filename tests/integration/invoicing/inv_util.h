/*
 * inv_util.h - what the invoicing tests do against the real daemon: a
 * seller configuration, a world of accounts in several countries, billing
 * runs read to their summary, and the invoice RPCs.
 */
#ifndef MB_TEST_INV_UTIL_H
#define MB_TEST_INV_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common.h"
#include "minbill/v1/invoicing.pb-c.h"

#define IU_RUN "/minbill.v1.Invoicing/RunBilling"
#define IU_GET "/minbill.v1.Invoicing/GetInvoice"
#define IU_LIST "/minbill.v1.Invoicing/ListInvoices"
#define IU_RENDER "/minbill.v1.Invoicing/RenderInvoice"
#define IU_CREDIT "/minbill.v1.Invoicing/IssueCreditNote"

/* A Dutch BV as the seller (NL VAT id, Amsterdam), written to
 * <dir>/seller.conf; path (MBT_PATH + 32 bytes) receives its path. */
int iu_write_seller(const mbt_server *s, char *path);

typedef struct iu_keys {
    char platform[MBT_KEY_MAX], finance[MBT_KEY_MAX], admin[MBT_KEY_MAX],
        support[MBT_KEY_MAX];
} iu_keys;

/* Starts a daemon serving with the seller configuration and makes keys. */
int iu_up(mbt_server *s, iu_keys *k);

/* UpsertPlan "pro": the dev world's plan (devworld.h), in EUR: base fee
 * 49.00, "messages" with 1,000 included and graduated tiers (up to 10,000 at
 * 0.01, then 0.005), "media" flat 0.0025. */
int iu_plan(const mbt_server *s, const iu_keys *k);

/* UpsertAccount of a dealer in country (address there), with vat_id ("":
 * none) and plan_id, billed in EUR. Returns the status code. */
int iu_account(const mbt_server *s, const iu_keys *k, const char *id, const char *name,
               const char *country, const char *vat_id, const char *plan_id);

/* SetDefaultPaymentMethod(token) as the platform. Returns the status code. */
int iu_set_default(const mbt_server *s, const iu_keys *k, const char *token);

/* Unix time of the 15th of the month `back` months before this one, noon UTC;
 * period receives its "YYYY-MM". */
int64_t iu_month_ago(int back, char period[8]);

/* RecordUsage of one event. Returns the status code. */
int iu_usage(const mbt_server *s, const iu_keys *k, const char *idem, const char *account,
             const char *metric, int64_t quantity, int64_t when);

#define IU_UNISSUED_MAX 16
typedef struct iu_run {
    int code;              /* the call's status */
    mb_error st;
    int64_t steps;         /* progress messages before the last */
    int64_t issued_steps;  /* ... of which carried an invoice number */
    Minbill__V1__BillingSummary *summary; /* the last message's; free with iu_run_free */
    char first_number[32], last_number[32];
    /* The first IU_UNISSUED_MAX steps without an invoice: account, reason. */
    struct {
        char account_id[72], reason[256];
    } unissued[IU_UNISSUED_MAX];
    int n_unissued;
} iu_run;

/* Why r issued no invoice for account ("" if it did or was not in r). */
const char *iu_run_reason(const iu_run *r, const char *account_id);

/* Runs RunBilling to its end (deadline timeout_ms). */
void iu_billing(const mbt_server *s, const iu_keys *k, const char *period, bool dry,
                int timeout_ms, iu_run *out);
void iu_run_free(iu_run *r);

/* GetInvoice as key; *out freed with protobuf_c_message_free_unpacked. */
int iu_get(const mbt_server *s, const char *key, const char *number, Minbill__V1__Invoice **out,
           mb_error *st);

/* ListInvoices of account/period ("" any), one page; *out freed by the caller. */
int iu_list(const mbt_server *s, const char *key, const char *account, const char *period,
            int page_size, const char *page_token, Minbill__V1__ListInvoicesResponse **out,
            mb_error *st);

/* The number of account's invoice of period ("" if none) via ListInvoices. */
void iu_number_of(const mbt_server *s, const iu_keys *k, const char *account, const char *period,
                  char out[32]);

/* RenderInvoice to the file path. Returns the status code. */
int iu_render(const mbt_server *s, const iu_keys *k, const char *number, bool ubl,
              const char *path, mb_error *st);

/* Validates the UBL documents in dir with $MINBILL_VALIDATE_UBL
 * (tests/validate/validate-ubl.sh): 0 if valid, MBT_SKIP (said on stderr)
 * when the script, the validators or ../shared/data are not here, else
 * -1. */
int iu_validate_ubl(const char *dir);

/* IssueCreditNote; number (32 bytes, may be NULL) receives the credit note's. */
int iu_credit(const mbt_server *s, const iu_keys *k, const char *number, const char *reason,
              char *cn_number, mb_error *st);

/* The line of inv whose description contains needle (NULL if none). */
const Minbill__V1__InvoiceLine *iu_line(const Minbill__V1__Invoice *inv, const char *needle);

#endif
