/*
 * bench_ubl.c - the invoice renderers in-process: UBL 2.1 and JSON
 * documents per second for a 12-line reverse-charge XRechnung invoice, on
 * one thread, each render into an arena reset per document (as one
 * RenderInvoice call would). The RPC figure of issue 8 (RenderInvoice UBL
 * >= 2,000 invoices/s) also pays for the store and the transport; this
 * shows what the renderer itself leaves of that budget.
 *
 * Usage: bench_ubl [--seconds S]   (default 2 per format)
 */
#include <stdio.h>
#include <string.h>

#include "bench_common.h"
#include "invoice_builder.h"
#include "invoicing/invoice_json.h"

#define TARGET_PER_S 2000.0

typedef int (*render_fn)(mb_arena_t *, const Minbill__V1__Invoice *, char **, size_t *, mb_error *);

/* Renders inv for `seconds`; returns documents/s (0 on a failed render). */
static double measure(render_fn render, const Minbill__V1__Invoice *inv, double seconds,
                      size_t *bytes)
{
    mb_arena_t *out = mb_arena_new(0);
    int64_t start = bc_now_ns(), end = start + (int64_t)(seconds * 1e9), now = start;
    long n = 0;
    while (now < end) {
        for (int k = 0; k < 100; k++) {
            char *doc;
            mb_error err;
            mb_arena_reset(out);
            if (render(out, inv, &doc, bytes, &err) != 0) {
                printf("FAIL render: %s\n", err.msg);
                mb_arena_free(out);
                return 0;
            }
            n++;
        }
        now = bc_now_ns();
    }
    mb_arena_free(out);
    return (double)n / ((double)(now - start) / 1e9);
}

static void usage(FILE *f)
{
    fprintf(f, "usage: bench_ubl [--seconds S]\n"
               "  --seconds S  measuring time per format (default 2, at most 60)\n");
}

int main(int argc, char **argv)
{
    double seconds = 2;
    const bc_option opts[] = {{"seconds", BC_ARG_SECONDS, &seconds, 1, 60}};
    int rc = bc_parse_options("bench_ubl", argc, argv, opts, 1);
    if (rc != 0)
        return bc_options_exit("bench_ubl", rc, usage);
    mb_error err;
    arena = mb_arena_new(0);
    if (seller_config_load(MINBILL_DEV_SELLER_CONFIG, &seller, &err) != 0) {
        printf("FAIL dev seller: %s\n", err.msg);
        return 1;
    }
    Minbill__V1__Invoice *inv = new_invoice("INV-2026-000001", "acc-de-1", BUYER_DE, PAY_SEPA);
    add_line(inv, "Base fee", "", 1, "99", NULL);
    for (int i = 0; i < 10; i++)
        add_line(inv, "WhatsApp messages, tier", "messages.whatsapp", 10000 + i, "0.0025", NULL);
    add_line(inv, "SMS sent (late usage)", "messages.sms", 17, "0.075", "2026-09");
    finish(inv);

    size_t ubl_bytes = 0, json_bytes = 0;
    double ubl = measure(ubl_render, inv, seconds, &ubl_bytes);
    double json = measure(invoice_json_render, inv, seconds, &json_bytes);
    printf("UBL 2.1 (XRechnung, %zu lines): %.0f documents/s, %zu bytes each\n", inv->n_lines, ubl,
           ubl_bytes);
    printf("JSON:                           %.0f documents/s, %zu bytes each\n", json, json_bytes);
    printf("one thread, in-process; the machine is shared, so figures are low bounds\n");
    bool pass = ubl >= TARGET_PER_S && json >= TARGET_PER_S;
    printf("%s: renderer %s the %.0f invoices/s of RenderInvoice\n", pass ? "PASS" : "FAIL",
           pass ? "leaves room for" : "alone misses", TARGET_PER_S);
    printf("RESULT ubl_per_s=%.0f json_per_s=%.0f ubl_bytes=%zu json_bytes=%zu\n", ubl, json,
           ubl_bytes, json_bytes);
    seller_config_free(seller);
    mb_arena_free(arena);
    return pass ? 0 : 1;
}
