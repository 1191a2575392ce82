/*
 * purges.c - see purges.h. A domain's purge is one line here: its rule
 * (category, step function, chunk), in the order the rules run.
 */
#include "purges.h"

#include "audit/audit.h"
#include "invoicing/invoice_purge.h"
#include "privacy/erase.h"
#include "privacy/request_purge.h"

/* Audit events past retention go in one step: audit_purge_before checks
 * the chain, deletes the prefix and anchors it in one transaction. */
static int audit_purge_step(store_conn_t *conn, void *arg, const purge_ctx *ctx, purge_step *step,
                            mb_error *err)
{
    (void)arg;
    int64_t cutoff = ctx->now_us - ctx->settings->audit_retention_days * 86400 * INT64_C(1000000);
    return audit_purge_before(conn, ctx->kr, cutoff, ctx->dry_run, &step->removed, err);
}

int mb_purges_register(purge_t *p, metering_t *metering, mb_error *err)
{
    const purge_rule rules[] = {
        {.category = "usage_idempotency_hashes",
         .what = "usage idempotency hashes",
         .fn = metering_purge_step,
         .rolled_back = metering_purge_rolled_back,
         .arg = metering,
         .chunk = METERING_PURGE_CHUNK},
        {.category = "invoices",
         .what = "invoices and credit notes",
         .fn = invoice_purge_step,
         .chunk = INVOICE_PURGE_CHUNK},
        {.category = "subject_requests",
         .what = "closed subject requests",
         .fn = request_purge_step,
         .chunk = REQUEST_PURGE_CHUNK},
        {.category = "closed_account_data",
         .what = "contacts and payment methods of accounts closed past the grace period",
         .fn = privacy_closed_purge_step,
         .chunk = CLOSED_PURGE_CHUNK},
        /* Last: the run's own audit events of the steps above are younger. */
        {.category = "audit_events", .what = "audit events", .fn = audit_purge_step, .chunk = 1},
    };
    for (size_t i = 0; i < sizeof rules / sizeof rules[0]; i++)
        if (purge_add(p, &rules[i], err) != 0)
            return -1;
    return 0;
}
