/*
 * devworld.h - the small, realistic world `minbilld serve --dev` seeds into
 * a new dev database, so that a newcomer can run a billing run and render
 * an e-invoice straight after the README's first command: a plan with
 * graduated tiers, a German dealer with a VAT id (reverse charge), a
 * Dutch dealer (domestic VAT), a French sole trader without a
 * VAT id, a US dealer, their contacts, and last month's usage.
 *
 * It seeds through the daemon's own gRPC API on loopback, as the platform
 * and an operator would, so every value passes the same checks as real
 * traffic and no domain's internals are touched. It attaches no payment
 * method: service code holds no card number or IBAN, not even a test one
 * (attach one with the platform key to see card or SEPA invoices).
 *
 * The example seller of `serve --dev` is a file, dev/seller.conf in the
 * source tree, which the build copies next to minbilld: the seller's IBAN
 * is an example too, and lives with the dev setup rather than in code.
 */
#ifndef MB_DEVWORLD_H
#define MB_DEVWORLD_H

#include "base/error.h"
#include "invoicing/seller.h"
#include "minbill/v1/invoicing.pb-c.h"

/* Where the example seller is, relative to the directory of minbilld. */
#define DEVWORLD_SELLER_FILE "dev/seller.conf"

/* Loads the example seller from DEVWORLD_SELLER_FILE next to the running
 * binary (/proc/self/exe). A missing or unreadable file is
 * FAILED_PRECONDITION naming the path and --seller-config. */
int devworld_seller_load(seller_config **out, mb_error *err);

/* The plan the dev world bills on (the invoicing tests use it too): EUR,
 * base fee 49.00, "messages" with 1,000 included and graduated tiers (up to
 * 10,000 at 0.01, then 0.005), "media" flat 0.0025. devworld_plan_init()
 * fills p->plan, which points into p, under plan_id (not copied). */
typedef struct devworld_plan {
    Minbill__V1__Tier tiers[2];
    Minbill__V1__Tier *tier_list[2];
    Minbill__V1__Price prices[2];
    Minbill__V1__Price *price_list[2];
    Minbill__V1__Plan plan;
} devworld_plan;

void devworld_plan_init(devworld_plan *p, const char *plan_id);

/* Seeds the world through the server at target ("127.0.0.1:PORT") with a
 * platform and an admin API key. */
int devworld_seed(const char *target, const char *platform_key, const char *admin_key,
                  mb_error *err);

#endif
