/*
 * purges.c - see purges.h. A domain's purge is one line here: its rule
 * (category, step function, chunk), in the order the rules run.
 */
#include "purges.h"

#include "invoicing/invoice_purge.h"
#include "privacy/request_purge.h"

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
    };
    for (size_t i = 0; i < sizeof rules / sizeof rules[0]; i++)
        if (purge_add(p, &rules[i], err) != 0)
            return -1;
    return 0;
}
