/*
 * inv_util.c - see inv_util.h.
 */
#include "inv_util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>

#include "devworld.h"
#include "fixtures.h"
#include "minbill/v1/accounts.pb-c.h"
#include "minbill/v1/metering.pb-c.h"

static const char SELLER[] =
    "# The platform's operator, as invoices name it.\n"
    "legal_name = Dealerchat Billing B.V.\n"
    "address.line1 = Herengracht 100\n"
    "address.postal_code = 1015 BS\n"
    "address.city = Amsterdam\n"
    "address.country_code = NL\n"
    "vat_id = NL123456789B01\n"
    "tax_number = 123456789\n"
    "electronic_address = 9944:NL123456789B01\n"
    "contact.name = Billing\n"
    "contact.phone = +31 20 123 4567\n"
    "contact.email = billing@dealerchat.example\n"
    "bank.iban = NL91ABNA0417164300\n"
    "bank.bic = ABNANL2A\n"
    "sepa_creditor_id = NL69ZZZ123456780000\n"
    "payment_terms_days = 14\n"
    "invoice_prefix = INV\n"
    "credit_note_prefix = CN\n"
    "retention_years = 7\n";

int iu_write_seller(const mbt_server *s, char *path)
{
    snprintf(path, MBT_PATH + 32, "%s/seller.conf", s->d.dir);
    FILE *f = fopen(path, "w");
    if (f == NULL || fputs(SELLER, f) < 0 || fclose(f) != 0) {
        perror(path);
        return -1;
    }
    return 0;
}

int iu_up(mbt_server *s, iu_keys *k)
{
    char conf[MBT_PATH + 32];
    if (mbt_daemon_init(&s->d) != 0 || iu_write_seller(s, conf) != 0)
        return -1;
    /* Usage two months back must still be accepted on the 31st. */
    const char *args[] = {"--seller-config", conf, "--acceptance-window-days", "120", NULL};
    if (mbt_serve(s, args) != 0)
        return -1;
    mbt_key(s, "platform", k->platform);
    mbt_key(s, "finance", k->finance);
    mbt_key(s, "admin", k->admin);
    mbt_key(s, "support", k->support);
    return k->platform[0] && k->finance[0] && k->admin[0] && k->support[0] ? 0 : -1;
}

int iu_plan(const mbt_server *s, const iu_keys *k)
{
    devworld_plan p;
    devworld_plan_init(&p, "pro");
    ProtobufCMessage *resp = NULL;
    mb_error st;
    mbc_unary(s->ch, "/minbill.v1.Invoicing/UpsertPlan", k->admin, &p.plan.base,
              &minbill__v1__plan__descriptor, mbt_ms(10000), &resp, &st);
    if (resp != NULL)
        protobuf_c_message_free_unpacked(resp, NULL);
    if (st.code != GRPC_STATUS_OK)
        fprintf(stderr, "inv_util: UpsertPlan: %s\n", st.msg);
    return st.code == GRPC_STATUS_OK ? 0 : -1;
}

int iu_account(const mbt_server *s, const iu_keys *k, const char *id, const char *name,
               const char *country, const char *vat_id, const char *plan_id)
{
    Minbill__V1__PostalAddress addr = MINBILL__V1__POSTAL_ADDRESS__INIT;
    addr.line1 = "Industriestrasse 7";
    addr.postal_code = "12345";
    addr.city = "Springfield";
    addr.country_code = (char *)country;
    Minbill__V1__Account acc = MINBILL__V1__ACCOUNT__INIT;
    acc.account_id = (char *)id;
    acc.legal_name = (char *)name;
    acc.billing_address = &addr;
    acc.vat_id = (char *)vat_id;
    acc.currency = "EUR";
    acc.plan_id = (char *)plan_id;
    Minbill__V1__UpsertAccountRequest req = MINBILL__V1__UPSERT_ACCOUNT_REQUEST__INIT;
    req.account = &acc;
    ProtobufCMessage *resp = NULL;
    mb_error st;
    mbc_unary(s->ch, "/minbill.v1.Accounts/UpsertAccount", k->platform, &req.base,
              &minbill__v1__account__descriptor, mbt_ms(10000), &resp, &st);
    if (resp != NULL)
        protobuf_c_message_free_unpacked(resp, NULL);
    if (st.code != GRPC_STATUS_OK)
        fprintf(stderr, "inv_util: UpsertAccount %s: %s\n", id, st.msg);
    return st.code;
}

int iu_set_default(const mbt_server *s, const iu_keys *k, const char *token)
{
    Minbill__V1__SetDefaultPaymentMethodRequest req =
        MINBILL__V1__SET_DEFAULT_PAYMENT_METHOD_REQUEST__INIT;
    req.token = (char *)token;
    ProtobufCMessage *resp = NULL;
    mb_error st;
    mbc_unary(s->ch, "/minbill.v1.Accounts/SetDefaultPaymentMethod", k->platform, &req.base,
              &minbill__v1__set_default_payment_method_response__descriptor, mbt_ms(10000), &resp,
              &st);
    if (resp != NULL)
        protobuf_c_message_free_unpacked(resp, NULL);
    return st.code;
}

int64_t iu_month_ago(int back, char period[8])
{
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    tm.tm_mon -= back;
    tm.tm_mday = 15;
    tm.tm_hour = 12;
    tm.tm_min = tm.tm_sec = 0;
    time_t t = timegm(&tm);
    gmtime_r(&t, &tm);
    strftime(period, 8, "%Y-%m", &tm);
    return (int64_t)t;
}

int iu_usage(const mbt_server *s, const iu_keys *k, const char *idem, const char *account,
             const char *metric, int64_t quantity, int64_t when)
{
    Google__Protobuf__Timestamp ts = GOOGLE__PROTOBUF__TIMESTAMP__INIT;
    ts.seconds = when;
    Minbill__V1__UsageEvent ev = MINBILL__V1__USAGE_EVENT__INIT;
    ev.idempotency_key = (char *)idem;
    ev.account_id = (char *)account;
    ev.metric = (char *)metric;
    ev.quantity = quantity;
    ev.occurred_at = &ts;
    Minbill__V1__UsageEvent *evs[] = {&ev};
    Minbill__V1__RecordUsageRequest req = MINBILL__V1__RECORD_USAGE_REQUEST__INIT;
    req.n_events = 1;
    req.events = evs;
    ProtobufCMessage *resp = NULL;
    mb_error st;
    mbc_unary(s->ch, "/minbill.v1.Metering/RecordUsage", k->platform, &req.base,
              &minbill__v1__record_usage_response__descriptor, mbt_ms(10000), &resp, &st);
    if (resp != NULL)
        protobuf_c_message_free_unpacked(resp, NULL);
    if (st.code != GRPC_STATUS_OK)
        fprintf(stderr, "inv_util: RecordUsage %s: %s\n", idem, st.msg);
    return st.code;
}

void iu_billing(const mbt_server *s, const iu_keys *k, const char *period, bool dry,
                int timeout_ms, iu_run *out)
{
    memset(out, 0, sizeof *out);
    Minbill__V1__RunBillingRequest req = MINBILL__V1__RUN_BILLING_REQUEST__INIT;
    req.period = (char *)period;
    req.dry_run = dry;
    mbc_call_t *call = mbc_call_start_request(s->ch, IU_RUN, k->finance, timeout_ms, &req.base);
    if (call == NULL) {
        out->code = GRPC_STATUS_UNAVAILABLE;
        return;
    }
    uint8_t *msg;
    size_t len;
    while (mbc_call_recv(call, &msg, &len) == 1) {
        Minbill__V1__RunBillingProgress *p =
            minbill__v1__run_billing_progress__unpack(NULL, len, msg);
        free(msg);
        if (p == NULL)
            continue;
        if (p->done && p->summary != NULL) {
            if (out->summary != NULL)
                protobuf_c_message_free_unpacked(&out->summary->base, NULL);
            out->summary = p->summary;
            p->summary = NULL; /* kept: freed on its own */
        } else {
            out->steps++;
            if (p->invoice_number[0] != '\0') {
                out->issued_steps++;
                if (out->first_number[0] == '\0')
                    snprintf(out->first_number, sizeof out->first_number, "%s", p->invoice_number);
                snprintf(out->last_number, sizeof out->last_number, "%s", p->invoice_number);
            } else if (out->n_unissued < IU_UNISSUED_MAX) {
                snprintf(out->unissued[out->n_unissued].account_id,
                         sizeof out->unissued[0].account_id, "%s", p->account_id);
                snprintf(out->unissued[out->n_unissued++].reason, sizeof out->unissued[0].reason,
                         "%s", p->skipped_reason);
            }
        }
        minbill__v1__run_billing_progress__free_unpacked(p, NULL);
    }
    out->code = mbt_call_end(call, &out->st);
    mbc_call_free(call);
}

const char *iu_run_reason(const iu_run *r, const char *account_id)
{
    for (int i = 0; i < r->n_unissued; i++)
        if (strcmp(r->unissued[i].account_id, account_id) == 0)
            return r->unissued[i].reason;
    return "";
}

void iu_run_free(iu_run *r)
{
    if (r->summary != NULL)
        protobuf_c_message_free_unpacked(&r->summary->base, NULL);
    r->summary = NULL;
}

int iu_get(const mbt_server *s, const char *key, const char *number, Minbill__V1__Invoice **out,
           mb_error *st)
{
    Minbill__V1__GetInvoiceRequest req = MINBILL__V1__GET_INVOICE_REQUEST__INIT;
    req.invoice_number = (char *)number;
    ProtobufCMessage *resp = NULL;
    mbc_unary(s->ch, IU_GET, key, &req.base, &minbill__v1__invoice__descriptor, mbt_ms(10000),
              &resp, st);
    *out = (Minbill__V1__Invoice *)resp;
    return st->code;
}

int iu_list(const mbt_server *s, const char *key, const char *account, const char *period,
            int page_size, const char *page_token, Minbill__V1__ListInvoicesResponse **out,
            mb_error *st)
{
    Minbill__V1__ListInvoicesRequest req = MINBILL__V1__LIST_INVOICES_REQUEST__INIT;
    req.account_id = (char *)account;
    req.period = (char *)period;
    req.page_size = page_size;
    req.page_token = (char *)page_token;
    ProtobufCMessage *resp = NULL;
    mbc_unary(s->ch, IU_LIST, key, &req.base, &minbill__v1__list_invoices_response__descriptor,
              mbt_ms(10000), &resp, st);
    *out = (Minbill__V1__ListInvoicesResponse *)resp;
    return st->code;
}

void iu_number_of(const mbt_server *s, const iu_keys *k, const char *account, const char *period,
                  char out[32])
{
    Minbill__V1__ListInvoicesResponse *r = NULL;
    mb_error st;
    out[0] = '\0';
    iu_list(s, k->finance, account, period, 0, "", &r, &st);
    for (size_t i = 0; r != NULL && i < r->n_invoices; i++)
        if (r->invoices[i]->type == MINBILL__V1__INVOICE_TYPE__INVOICE_TYPE_INVOICE)
            snprintf(out, 32, "%s", r->invoices[i]->invoice_number);
    if (r != NULL)
        protobuf_c_message_free_unpacked(&r->base, NULL);
}

int iu_render(const mbt_server *s, const iu_keys *k, const char *number, bool ubl,
              const char *path, mb_error *st)
{
    Minbill__V1__RenderInvoiceRequest req = MINBILL__V1__RENDER_INVOICE_REQUEST__INIT;
    req.invoice_number = (char *)number;
    req.format = ubl ? MINBILL__V1__INVOICE_FORMAT__INVOICE_FORMAT_UBL
                     : MINBILL__V1__INVOICE_FORMAT__INVOICE_FORMAT_JSON;
    ProtobufCMessage *resp = NULL;
    mbc_unary(s->ch, IU_RENDER, k->finance, &req.base, &minbill__v1__rendered_invoice__descriptor,
              mbt_ms(10000), &resp, st);
    Minbill__V1__RenderedInvoice *r = (void *)resp;
    if (r != NULL && path != NULL) {
        FILE *f = fopen(path, "w");
        if (f == NULL || fwrite(r->content.data, 1, r->content.len, f) != r->content.len ||
            fclose(f) != 0)
            perror(path);
    }
    if (resp != NULL)
        protobuf_c_message_free_unpacked(resp, NULL);
    return st->code;
}

int iu_credit(const mbt_server *s, const iu_keys *k, const char *number, const char *reason,
              char *cn_number, mb_error *st)
{
    Minbill__V1__IssueCreditNoteRequest req = MINBILL__V1__ISSUE_CREDIT_NOTE_REQUEST__INIT;
    req.invoice_number = (char *)number;
    req.reason = (char *)reason;
    ProtobufCMessage *resp = NULL;
    mbc_unary(s->ch, IU_CREDIT, k->finance, &req.base, &minbill__v1__invoice__descriptor,
              mbt_ms(10000), &resp, st);
    Minbill__V1__Invoice *cn = (void *)resp;
    if (cn_number != NULL)
        snprintf(cn_number, 32, "%s", cn != NULL ? cn->invoice_number : "");
    if (resp != NULL)
        protobuf_c_message_free_unpacked(resp, NULL);
    return st->code;
}

const Minbill__V1__InvoiceLine *iu_line(const Minbill__V1__Invoice *inv, const char *needle)
{
    for (size_t i = 0; inv != NULL && i < inv->n_lines; i++)
        if (strstr(inv->lines[i]->description, needle) != NULL)
            return inv->lines[i];
    return NULL;
}

int iu_validate_ubl(const char *dir)
{
    const char *script = getenv("MINBILL_VALIDATE_UBL");
    if (script == NULL) {
        fprintf(stderr, "SKIP: MINBILL_VALIDATE_UBL not set: documents not validated\n");
        return MBT_SKIP;
    }
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "%s %s", script, dir);
    int rc = system(cmd);
    int code = WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
    if (code == MBT_SKIP)
        fprintf(stderr, "SKIP: the validators or ../shared/data are not here\n");
    return code == 0 || code == MBT_SKIP ? code : -1;
}
