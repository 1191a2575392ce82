/*
 * rating.c - see rating.h.
 *
 * Amounts: a unit price is in micros (10^-6 of the currency unit), an
 * amount in minor units (10^-minor_units), so a line amount is
 * quantity x price / 10^(6 - minor_units), rounded half-up. The product of
 * two int64 values needs up to 126 bits: it is formed in __int128 and only
 * the rounded result is narrowed, after a range check.
 */
#include "invoicing/rating.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/decimal.h"
#include "base/period.h"

static int oom(mb_error *err, const char *what)
{
    return mb_error_set(err, GRPC_STATUS_RESOURCE_EXHAUSTED, "out of memory building %s", what);
}

static int64_t pow10_i64(int n)
{
    int64_t v = 1;
    while (n-- > 0)
        v *= 10;
    return v;
}

/* n / d rounded half away from zero (d > 0): half-up for the non-negative
 * amounts invoices carry. */
static __int128 div_round(__int128 n, int64_t d)
{
    __int128 half = d / 2;
    return n >= 0 ? (n + half) / d : -((-n + half) / d);
}

static bool fits_int64(__int128 v)
{
    return v >= INT64_MIN && v <= INT64_MAX;
}

/* quantity x price_micros in minor units, or -1 if it does not fit. */
static int line_amount(int64_t quantity, int64_t price_micros, int minor_units, int64_t *out)
{
    __int128 v = div_round((__int128)quantity * price_micros,
                           pow10_i64(DECIMAL_MAX_FRACTION_DIGITS - minor_units));
    if (!fits_int64(v))
        return -1;
    *out = (int64_t)v;
    return 0;
}

/* A counter with units to bill, and the price they are billed at. */
typedef struct rating_item {
    const rating_counter *c;
    const plan_price *price;
    size_t price_index;
    bool late;
} rating_item;

/* The billed period's usage first, then late usage oldest period first;
 * within a period, plan order. */
static int item_cmp(const void *pa, const void *pb)
{
    const rating_item *x = pa, *y = pb;
    if (x->late != y->late)
        return x->late ? 1 : -1;
    int c = strcmp(x->c->period, y->c->period);
    if (c != 0)
        return c;
    return x->price_index < y->price_index ? -1 : x->price_index > y->price_index;
}

typedef struct line_builder {
    mb_arena_t *a;
    const char *period; /* the billed period */
    int minor_units;
    rating_line *lines;
    size_t n, cap;
} line_builder;

static int add_line(line_builder *b, const char *description, const char *metric,
                    const char *period, int64_t quantity, int64_t price_micros, mb_error *err)
{
    if (b->n == b->cap)
        return mb_error_set(err, GRPC_STATUS_INTERNAL, "rating: line count bound exceeded");
    rating_line *l = &b->lines[b->n];
    if (line_amount(quantity, price_micros, b->minor_units, &l->net_minor) != 0)
        return mb_error_set(err, GRPC_STATUS_OUT_OF_RANGE,
                            "metric %s, period %s: the line amount does not fit (more than "
                            "2^63-1 minor units)",
                            metric[0] ? metric : "(base fee)", period);
    l->description = description;
    l->metric = mb_arena_printf(b->a, "%s", metric);
    l->period = mb_arena_printf(b->a, "%s", period);
    if (l->description == NULL || l->metric == NULL || l->period == NULL)
        return oom(err, "invoice lines");
    l->quantity = quantity;
    l->unit_price_micros = price_micros;
    b->n++;
    return 0;
}

/* The lines of one counter: its units invoiced_quantity+1 .. quantity above
 * the included quantity, split at the tier bounds (rating.h). */
static int add_item_lines(line_builder *b, const rating_item *it, mb_error *err)
{
    const plan_price *pr = it->price;
    int64_t lo = it->c->invoiced_quantity > pr->included_quantity ? it->c->invoiced_quantity
                                                                  : pr->included_quantity;
    int64_t hi = it->c->quantity;
    char late[64] = "";
    if (it->late)
        snprintf(late, sizeof late, " (usage of %s reported late)", it->c->period);
    if (pr->n_tiers == 0) {
        if (hi <= lo)
            return 0;
        const char *d = mb_arena_printf(b->a, "%s%s", pr->description, late);
        return add_line(b, d, pr->metric, it->c->period, hi - lo, pr->unit_price_micros, err);
    }
    for (size_t t = 0; t < pr->n_tiers; t++) {
        int64_t tier_lo = t == 0 ? 0 : pr->tiers[t - 1].up_to;
        int64_t tier_hi = pr->tiers[t].up_to == 0 ? INT64_MAX : pr->tiers[t].up_to;
        int64_t from = lo > tier_lo ? lo : tier_lo, to = hi < tier_hi ? hi : tier_hi;
        if (to <= from)
            continue;
        const char *d =
            to - from == 1
                ? mb_arena_printf(b->a, "%s, unit %lld%s", pr->description, (long long)to, late)
                : mb_arena_printf(b->a, "%s, units %lld-%lld%s", pr->description,
                                  (long long)from + 1, (long long)to, late);
        if (add_line(b, d, pr->metric, it->c->period, to - from, pr->tiers[t].unit_price_micros,
                     err) != 0)
            return -1;
    }
    return 0;
}

static int add_base_fee(line_builder *b, const plan *p, mb_error *err)
{
    int64_t scale = pow10_i64(DECIMAL_MAX_FRACTION_DIGITS - b->minor_units);
    if (p->base_fee_minor <= 0)
        return 0;
    if (p->base_fee_minor > INT64_MAX / scale)
        return mb_error_set(err, GRPC_STATUS_OUT_OF_RANGE,
                            "base fee, period %s: the unit price does not fit in micros",
                            b->period);
    const char *d = mb_arena_printf(b->a, "Base fee, plan %s", p->plan_id);
    return add_line(b, d, "", b->period, 1, p->base_fee_minor * scale, err);
}

static const plan_price *find_price(const plan *p, const char *metric, size_t *index)
{
    for (size_t i = 0; i < p->n_prices; i++)
        if (strcmp(p->prices[i].metric, metric) == 0) {
            *index = i;
            return &p->prices[i];
        }
    return NULL;
}

/* Checks counter i and, if it has units to bill now, describes them in *it.
 * Returns 1 if it does, 0 if not, -1 on a bad counter. */
static int classify_counter(const plan *p, const char *period, const rating_counter *counters,
                            size_t i, rating_item *it, size_t *n_unpriced, mb_error *err)
{
    const rating_counter *c = &counters[i];
    int year, month;
    if (c->period == NULL || period_parse(c->period, &year, &month) != 0 || c->metric == NULL)
        return mb_error_set(err, GRPC_STATUS_INVALID_ARGUMENT,
                            "counters[%zu]: needs a period YYYY-MM and a metric", i);
    if (c->quantity < 0 || c->invoiced_quantity < 0 || c->invoiced_quantity > c->quantity)
        return mb_error_set(err, GRPC_STATUS_INVALID_ARGUMENT,
                            "counters[%zu] (metric %s, period %s): needs 0 <= invoiced_quantity "
                            "<= quantity",
                            i, c->metric, c->period);
    for (size_t j = 0; j < i; j++)
        if (strcmp(counters[j].period, c->period) == 0 &&
            strcmp(counters[j].metric, c->metric) == 0)
            return mb_error_set(err, GRPC_STATUS_INVALID_ARGUMENT,
                                "counters[%zu]: a second counter for metric %s, period %s", i,
                                c->metric, c->period);
    if (strcmp(c->period, period) > 0 || c->quantity == c->invoiced_quantity)
        return 0;
    it->c = c;
    it->late = strcmp(c->period, period) != 0;
    if ((it->price = find_price(p, c->metric, &it->price_index)) == NULL) {
        (*n_unpriced)++;
        return 0;
    }
    return 1;
}

int rating_lines(mb_arena_t *a, const plan *p, const char *period, int minor_units,
                 const rating_counter *counters, size_t n_counters, rating_line **lines,
                 size_t *n_lines, size_t *n_unpriced, mb_error *err)
{
    int year, month;
    *lines = NULL;
    *n_lines = 0;
    *n_unpriced = 0;
    if (period_parse(period, &year, &month) != 0)
        return mb_error_set(err, GRPC_STATUS_INVALID_ARGUMENT,
                            "period: must be a calendar month written YYYY-MM");
    if (minor_units < 0 || minor_units > RATING_MAX_MINOR_UNITS)
        return mb_error_set(err, GRPC_STATUS_INVALID_ARGUMENT, "minor_units: must be 0..%d",
                            RATING_MAX_MINOR_UNITS);
    size_t max_tiers = 1;
    for (size_t i = 0; i < p->n_prices; i++)
        if (p->prices[i].n_tiers > max_tiers)
            max_tiers = p->prices[i].n_tiers;
    rating_item *items = mb_arena_alloc(a, (n_counters ? n_counters : 1) * sizeof *items);
    line_builder b = {.a = a, .period = period, .minor_units = minor_units};
    b.cap = 1 + n_counters * max_tiers;
    b.lines = mb_arena_alloc(a, b.cap * sizeof *b.lines);
    if (items == NULL || b.lines == NULL)
        return oom(err, "invoice lines");
    size_t n_items = 0, unpriced = 0;
    for (size_t i = 0; i < n_counters; i++) {
        int rc = classify_counter(p, period, counters, i, &items[n_items], &unpriced, err);
        if (rc < 0)
            return -1;
        n_items += (size_t)rc;
    }
    qsort(items, n_items, sizeof *items, item_cmp);
    if (add_base_fee(&b, p, err) != 0)
        return -1;
    for (size_t i = 0; i < n_items; i++)
        if (add_item_lines(&b, &items[i], err) != 0)
            return -1;
    *lines = b.lines;
    *n_lines = b.n;
    *n_unpriced = unpriced;
    return 0;
}

static char *copy(mb_arena_t *a, const char *s)
{
    return mb_arena_printf(a, "%s", s != NULL ? s : "");
}

static int overflow(mb_error *err, const char *what)
{
    return mb_error_set(err, GRPC_STATUS_OUT_OF_RANGE,
                        "%s: does not fit (more than 2^63-1 minor units)", what);
}

int rating_fill_invoice(mb_arena_t *a, const rating_line *lines, size_t n_lines,
                        const vat_treatment *vat, int minor_units, Minbill__V1__Invoice *inv,
                        mb_error *err)
{
    if (minor_units < 0 || minor_units > RATING_MAX_MINOR_UNITS)
        return mb_error_set(err, GRPC_STATUS_INVALID_ARGUMENT, "minor_units: must be 0..%d",
                            RATING_MAX_MINOR_UNITS);
    char *category = copy(a, vat->category), *rate = copy(a, vat->rate), *unit = copy(a, "C62");
    Minbill__V1__InvoiceLine **out = mb_arena_alloc(a, (n_lines ? n_lines : 1) * sizeof *out);
    Minbill__V1__TaxSubtotal **subs = mb_arena_alloc(a, sizeof *subs);
    Minbill__V1__TaxSubtotal *sub = mb_arena_alloc(a, sizeof *sub);
    char *note = copy(a, vat->note);
    if (category == NULL || rate == NULL || unit == NULL || out == NULL || subs == NULL ||
        sub == NULL || note == NULL)
        return oom(err, "the invoice");
    int64_t net = 0;
    for (size_t i = 0; i < n_lines; i++) {
        const rating_line *l = &lines[i];
        Minbill__V1__InvoiceLine *ol = mb_arena_alloc(a, sizeof *ol);
        char price[DECIMAL_FORMAT_SIZE];
        if (ol == NULL)
            return oom(err, "the invoice");
        minbill__v1__invoice_line__init(ol);
        ol->description = copy(a, l->description);
        ol->metric = copy(a, l->metric);
        ol->period = copy(a, l->period);
        ol->unit_price = copy(a, decimal_format_micros(l->unit_price_micros, price));
        if (ol->description == NULL || ol->metric == NULL || ol->period == NULL ||
            ol->unit_price == NULL)
            return oom(err, "the invoice");
        ol->quantity = l->quantity;
        ol->line_extension_minor = l->net_minor;
        ol->vat_category = category;
        ol->vat_rate = rate;
        ol->unit_code = unit;
        if (__builtin_add_overflow(net, l->net_minor, &net))
            return overflow(err, "net total");
        out[i] = ol;
    }
    /* One breakdown: every line carries the same treatment. Its tax is
     * rounded once, from the sum (BR-CO-17), never summed from lines. */
    __int128 tax = div_round((__int128)net * vat->rate_bp, 10000);
    int64_t gross;
    if (!fits_int64(tax))
        return overflow(err, "VAT total");
    if (__builtin_add_overflow(net, (int64_t)tax, &gross))
        return overflow(err, "gross total");
    minbill__v1__tax_subtotal__init(sub);
    sub->taxable_minor = net;
    sub->tax_minor = (int64_t)tax;
    sub->category = category;
    sub->rate = rate;
    sub->exemption_reason = copy(a, vat->exemption_reason);
    sub->exemption_reason_code = copy(a, vat->exemption_code);
    if (sub->exemption_reason == NULL || sub->exemption_reason_code == NULL)
        return oom(err, "the invoice");
    subs[0] = sub;
    inv->n_lines = n_lines;
    inv->lines = out;
    inv->n_tax_subtotals = 1;
    inv->tax_subtotals = subs;
    inv->net_total_minor = net;
    inv->tax_total_minor = (int64_t)tax;
    inv->gross_total_minor = gross;
    inv->reverse_charge = vat->reverse_charge;
    inv->note = note;
    return 0;
}
