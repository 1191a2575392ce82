/*
 * rating.h - a plan and usage counters in, invoice lines and totals out,
 * exactly.
 *
 * Owns: the arithmetic of an invoice: which units are billed at which
 * price, how a line amount is rounded, and how the VAT breakdown and totals
 * follow from the lines. Pure: no store, no RPC, no clock; everything it
 * returns lives in the caller's arena.
 *
 * Must never: produce a wrong amount. Products run in 128-bit integers;
 * an amount that does not fit int64 minor units is an OUT_OF_RANGE error
 * and no lines, never a wrapped or clamped number. No floating point.
 *
 * How a quantity is priced (Price in proto/minbill/v1/invoicing.proto):
 * units are numbered 1, 2, ... from the first unit counted in the period,
 * late units included (the period's cumulative quantity).
 *  - The first included_quantity units are free.
 *  - Tiers are bounds on that cumulative numbering, not on the billable
 *    units after the included ones: a tier with up_to 1000 covers units
 *    (previous up_to)+1 .. 1000 of the period. Included units are free
 *    first: with included_quantity 500 and tiers up to 1000 at 0.01, then
 *    0.005 above, a month of 1500 units bills units 501-1000 at 0.01 and
 *    1001-1500 at 0.005. A tier's bounds thus read as the total usage a
 *    customer sees in GetUsage, and units that arrive late continue the
 *    numbering of their period (so a late unit costs what it would have
 *    cost had it arrived in time).
 *  - A flat price is one tier without bound.
 *  - A tier whose unit price is 0 still gives a line (quantity shown,
 *    amount 0): the units were billable, just free.
 * A line's amount is quantity x unit price, rounded half-up to the
 * currency's minor unit once per line, so quantity x unit price equals the
 * line amount before rounding (EN 16931 BR-LIN-04 with BT-146/BT-129).
 */
#ifndef MB_INVOICING_RATING_H
#define MB_INVOICING_RATING_H

#include <stddef.h>
#include <stdint.h>

#include "base/arena.h"
#include "base/error.h"
#include "invoicing/plans.h"
#include "invoicing/vat.h"
#include "minbill/v1/invoicing.pb-c.h"

/* Minor units rating accepts: up to micros (ISO 4217 has at most 4). */
#define RATING_MAX_MINOR_UNITS 6

typedef struct rating_counter {
    const char *period; /* "YYYY-MM" */
    const char *metric;
    int64_t quantity;          /* counted for the period */
    int64_t invoiced_quantity; /* already billed (0 for the billed period) */
} rating_counter;

typedef struct rating_line {
    const char *description; /* item name (BT-153) */
    const char *metric;      /* "" for the base fee */
    const char *period;      /* service period of the line */
    int64_t quantity;
    int64_t unit_price_micros; /* exact net unit price (see base/decimal.h) */
    int64_t net_minor; /* quantity x unit price, rounded half-up to the currency's minor unit */
} rating_line;

/* The lines of the invoice of `period` under plan p, in this order:
 *  1. the base fee ("Base fee, plan <id>", quantity 1), if > 0;
 *  2. per price in plan order, the units of `period` not yet invoiced
 *     (invoiced_quantity+1 .. quantity, normally all of them) above the
 *     included quantity, one line per tier they reach; a tiered line's
 *     description names its units ("Messages sent, units 1001-1500");
 *  3. late usage: per earlier period (oldest first) and price (plan order),
 *     the units invoiced_quantity+1 .. quantity of a counter with quantity
 *     > invoiced_quantity, priced as in that period (see above), one line
 *     per tier, described "... (usage of YYYY-MM reported late)".
 * A metric with nothing billable gets no line; no lines at all (n_lines 0)
 * means nothing to bill. Counters of later periods are not this invoice's
 * and are ignored. Counters with unbilled units of a metric the plan does
 * not price are ignored and counted in *n_unpriced for the caller to report.
 * minor_units: the currency's (check_currency_minor_units), 0..6.
 * OUT_OF_RANGE naming the metric and period if an amount does not fit int64
 * minor units; INVALID_ARGUMENT for a bad period, minor_units or counter
 * (two for one period and metric, negative quantities). On error, no lines.
 * All strings are copied into a. */
int rating_lines(mb_arena_t *a, const plan *p, const char *period, int minor_units,
                 const rating_counter *counters, size_t n_counters, rating_line **lines,
                 size_t *n_lines, size_t *n_unpriced, mb_error *err)
    __attribute__((warn_unused_result));

/* Fills inv->lines (with the VAT category and rate of *vat, unit code "C62",
 * the line's period, the unit price as shortest decimal string) and
 * inv->tax_subtotals (one per category and rate: taxable = sum of the line
 * amounts; tax = taxable x rate rounded half-up ONCE, EN 16931 BR-CO-17;
 * exemption reason and code from *vat), net/tax/gross totals
 * (BR-CO-10/13/15), reverse_charge and note from the treatment; all
 * allocated in a. Does not touch the other fields of inv. n_lines 0 gives
 * zero totals and one zero breakdown (not a valid invoice: callers skip
 * accounts with nothing to bill). OUT_OF_RANGE if a total does not fit. */
int rating_fill_invoice(mb_arena_t *a, const rating_line *lines, size_t n_lines,
                        const vat_treatment *vat, int minor_units, Minbill__V1__Invoice *inv,
                        mb_error *err) __attribute__((warn_unused_result));

#endif
