/*
 * fuzz_request.c - every request the daemon decodes: the runtime's bounded
 * decode and wire check (rpc_wire_decode, as server.c calls it) for each
 * method of the method table, then the pure validation of the methods that
 * have one (UpsertAccount, AttachPaymentMethod, UpsertPlan, RecordUsage and
 * StreamUsage, GetUsage).
 *
 * Input: a method name as in the path without the leading '/'
 * ("minbill.v1.Accounts/UpsertAccount"), '\n', the encoded request (see
 * corpus/request/). Input that does not start with a known name picks the
 * method by its first byte and is all request.
 *
 * Invariants: a decoded request has only valid UTF-8 strings without NUL
 * and passes protobuf_c_message_check(); encoded again it decodes, and
 * encodes to the same bytes. A refusal is INVALID_ARGUMENT or, past the
 * decode limit, RESOURCE_EXHAUSTED. Validators: see each check_* below.
 */
#include "fuzz.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "accounts/accounts.h"
#include "accounts/payment_validate.h"
#include "base/check.h"
#include "invoicing/plans.h"
#include "methods.h"
#include "metering/ingest.h"
#include "base/period.h"
#include "minbill/v1/accounts.pb-c.h"
#include "minbill/v1/metering.pb-c.h"
#include "rpc/wirecheck.h"

/* As server.c: the decode may take 4 times the wire size, plus 64 KiB. */
#define DECODE_LIMIT(len) ((len)*4 + 65536)

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    if (sodium_init() < 0)
        abort();
    return 0;
}

static void check_strings(const ProtobufCMessage *m)
{
    const ProtobufCMessageDescriptor *d = m->descriptor;
    for (unsigned i = 0; i < d->n_fields; i++) {
        const ProtobufCFieldDescriptor *f = &d->fields[i];
        const char *base = (const char *)m + f->offset;
        if (f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF &&
            *(const uint32_t *)((const char *)m + f->quantifier_offset) != f->id)
            continue;
        size_t n = 1;
        const void *const *items = (const void *const *)base;
        if (f->label == PROTOBUF_C_LABEL_REPEATED) {
            n = *(const size_t *)((const char *)m + f->quantifier_offset);
            items = *(const void *const *const *)base;
        }
        for (size_t k = 0; k < n; k++) {
            if (f->type == PROTOBUF_C_TYPE_STRING) {
                const char *s = items[k];
                FUZZ_ASSERT(s != NULL && rpc_utf8_valid((const uint8_t *)s, strlen(s)));
            } else if (f->type == PROTOBUF_C_TYPE_MESSAGE && items[k] != NULL) {
                check_strings(items[k]);
            }
        }
    }
}

static uint8_t *pack(const ProtobufCMessage *m, size_t *len)
{
    *len = protobuf_c_message_get_packed_size(m);
    uint8_t *b = malloc(*len ? *len : 1);
    if (b == NULL)
        abort();
    FUZZ_ASSERT(protobuf_c_message_pack(m, b) == *len);
    return b;
}

/* Encoded again, m decodes (with no decode limit: only the wire size
 * bounds it) and encodes to the same bytes. */
static void check_round_trip(const ProtobufCMessage *m)
{
    size_t len, len2;
    uint8_t *once = pack(m, &len);
    mb_arena_t *a = mb_arena_new(0);
    ProtobufCMessage *back;
    mb_error err;
    if (rpc_wire_decode(m->descriptor, once, len, a, 0, &back, &err) != 0) {
        fprintf(stderr, "%s encoded again: %s\n", m->descriptor->name, err.msg);
        FUZZ_ASSERT(!"a decoded request encodes to bytes that do not decode");
    }
    uint8_t *twice = pack(back, &len2);
    FUZZ_ASSERT(len == len2 && memcmp(once, twice, len) == 0);
    free(once);
    free(twice);
    mb_arena_free(a);
}

/* UpsertAccount: accepted e-mail, phone and VAT id are stable normal forms;
 * a refusal names a field of the account and quotes no contact data. */
static void check_account(mb_arena_t *a, const Minbill__V1__UpsertAccountRequest *req)
{
    account_in in;
    mb_error err;
    if (accounts_check(a, req->account, &in, &err) == 0) {
        char again[CHECK_EMAIL_SIZE];
        FUZZ_ASSERT(in.n_contacts == req->account->n_contacts);
        for (size_t i = 0; i < in.n_contacts; i++) {
            const contact_in *c = &in.contacts[i];
            FUZZ_ASSERT(c->email[0] == '\0' ||
                        (check_email("e", c->email, again, sizeof again, &err) == 0 &&
                         strcmp(again, c->email) == 0));
            FUZZ_ASSERT(c->phone[0] == '\0' ||
                        (check_phone("p", c->phone, again, sizeof again, &err) == 0 &&
                         strcmp(again, c->phone) == 0));
        }
        FUZZ_ASSERT(in.vat_id[0] == '\0' || (check_vat_id("v", in.vat_id, in.address->country_code,
                                                          "c", again, sizeof again, &err) == 0 &&
                                             strcmp(again, in.vat_id) == 0));
        return;
    }
    fuzz_assert_field_error(&err, NULL);
    FUZZ_ASSERT(strncmp(err.msg, "account", 7) == 0);
    if (req->account == NULL)
        return;
    fuzz_assert_no_echo(err.msg, req->account->vat_id, 3);
    for (size_t i = 0; i < req->account->n_contacts; i++) {
        fuzz_assert_no_email(err.msg, req->account->contacts[i]->email);
        fuzz_assert_no_echo(err.msg, req->account->contacts[i]->email, 3);
        fuzz_assert_no_echo(err.msg, req->account->contacts[i]->phone, 3);
    }
}

/* AttachPaymentMethod: the card or SEPA checks the handler runs; a refusal
 * quotes no run of the PAN or IBAN. */
static void check_payment(const Minbill__V1__AttachPaymentMethodRequest *req)
{
    char number[CHECK_IBAN_SIZE], cc[3], last4[5];
    pay_brand brand;
    mb_error err;
    if (req->method_case == MINBILL__V1__ATTACH_PAYMENT_METHOD_REQUEST__METHOD_CARD) {
        const Minbill__V1__CardDetails *c = req->card;
        if (pay_check_card("card", c->pan, c->exp_month, c->exp_year, 2026, 6, number, &brand,
                           last4, &err) != 0) {
            fuzz_assert_field_error(&err, NULL);
            fuzz_assert_no_echo(err.msg, c->pan, 5);
        }
    } else if (req->method_case == MINBILL__V1__ATTACH_PAYMENT_METHOD_REQUEST__METHOD_SEPA_DEBIT) {
        const Minbill__V1__SepaDebitDetails *s = req->sepa_debit;
        if (check_iban("sepa_debit.iban", s->iban, number, sizeof number, cc, last4, &err) != 0 ||
            check_bic("sepa_debit.bic", s->bic, false, &err) != 0 ||
            pay_check_mandate_reference("sepa_debit.mandate_reference", s->mandate_reference,
                                        &err) != 0) {
            fuzz_assert_field_error(&err, NULL);
            fuzz_assert_no_echo(err.msg, s->iban, 3);
        }
    }
}

static bool same_plan(const plan *x, const plan *y)
{
    if (strcmp(x->plan_id, y->plan_id) != 0 || strcmp(x->currency, y->currency) != 0 ||
        x->base_fee_minor != y->base_fee_minor || x->n_prices != y->n_prices)
        return false;
    for (size_t i = 0; i < x->n_prices; i++) {
        const plan_price *p = &x->prices[i], *q = &y->prices[i];
        if (strcmp(p->metric, q->metric) != 0 || strcmp(p->description, q->description) != 0 ||
            p->unit_price_micros != q->unit_price_micros ||
            p->included_quantity != q->included_quantity || p->n_tiers != q->n_tiers)
            return false;
        for (size_t t = 0; t < p->n_tiers; t++)
            if (p->tiers[t].up_to != q->tiers[t].up_to ||
                p->tiers[t].unit_price_micros != q->tiers[t].unit_price_micros)
                return false;
    }
    return true;
}

/* UpsertPlan: the plan as the API shows it (plan_to_proto) is accepted
 * again, as the same plan, and shows the same. */
static void check_plan(mb_arena_t *a, const Minbill__V1__Plan *req)
{
    plan p, q;
    mb_error err;
    if (plan_check(a, req, &p, &err) != 0) {
        fuzz_assert_field_error(&err, NULL);
        return;
    }
    Minbill__V1__Plan *shown = plan_to_proto(a, &p);
    FUZZ_ASSERT(shown != NULL);
    size_t len, len2;
    uint8_t *bytes = pack(&shown->base, &len);
    ProtobufCMessage *back;
    FUZZ_ASSERT(rpc_wire_decode(&minbill__v1__plan__descriptor, bytes, len, a, 0, &back, &err) ==
                0);
    FUZZ_ASSERT(plan_check(a, (const Minbill__V1__Plan *)back, &q, &err) == 0);
    FUZZ_ASSERT(same_plan(&p, &q));
    uint8_t *again = pack(&plan_to_proto(a, &q)->base, &len2);
    FUZZ_ASSERT(len == len2 && memcmp(bytes, again, len) == 0);
    free(bytes);
    free(again);
}

/* RecordUsage, StreamUsage: a built batch holds every event; a refusal
 * names the events. */
static void check_usage(const Minbill__V1__RecordUsageRequest *req)
{
    static const unsigned char key[32];
    const ingest_rules rules = {.hash_key = key, .now = 1790000000, .window_days = 62};
    ingest_batch *b;
    mb_error err;
    if (ingest_build(req, &rules, &b, &err) == 0) {
        FUZZ_ASSERT(ingest_events(b) == req->n_events);
        ingest_free(b);
        return;
    }
    fuzz_assert_field_error(&err, NULL);
    FUZZ_ASSERT(strncmp(err.msg, "events", 6) == 0);
}

static void check_get_usage(const Minbill__V1__GetUsageRequest *req)
{
    mb_error err;
    if (check_id("account_id", req->account_id, &err) != 0)
        fuzz_assert_field_error(&err, "account_id");
    else if (period_check("period", req->period, &err) != 0)
        fuzz_assert_field_error(&err, "period");
}

static void validate(const rpc_method *m, mb_arena_t *a, const ProtobufCMessage *msg)
{
    const char *p = m->path;
    if (strcmp(p, "/minbill.v1.Accounts/UpsertAccount") == 0)
        check_account(a, (const void *)msg);
    else if (strcmp(p, "/minbill.v1.Accounts/AttachPaymentMethod") == 0)
        check_payment((const void *)msg);
    else if (strcmp(p, "/minbill.v1.Invoicing/UpsertPlan") == 0)
        check_plan(a, (const void *)msg);
    else if (strcmp(p, "/minbill.v1.Metering/RecordUsage") == 0 ||
             strcmp(p, "/minbill.v1.Metering/StreamUsage") == 0)
        check_usage((const void *)msg);
    else if (strcmp(p, "/minbill.v1.Metering/GetUsage") == 0)
        check_get_usage((const void *)msg);
}

static const rpc_method *pick(const uint8_t **data, size_t *size)
{
    const uint8_t *nl = memchr(*data, '\n', *size);
    for (size_t i = 0; nl != NULL && i < mb_methods_count; i++) {
        const char *name = mb_methods[i].path + 1;
        if (strlen(name) == (size_t)(nl - *data) && memcmp(name, *data, strlen(name)) == 0) {
            *size -= (size_t)(nl + 1 - *data);
            *data = nl + 1;
            return &mb_methods[i];
        }
    }
    const rpc_method *m = &mb_methods[(*data)[0] % mb_methods_count];
    (*data)++;
    (*size)--;
    return m;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0;
    const rpc_method *m = pick(&data, &size);
    mb_arena_t *wire = mb_arena_new(DECODE_LIMIT(size)), *work = mb_arena_new(0);
    ProtobufCMessage *msg = NULL;
    mb_error err;
    if (rpc_wire_decode(m->request, data, size, wire, DECODE_LIMIT(size), &msg, &err) == 0) {
        FUZZ_ASSERT(msg != NULL && protobuf_c_message_check(msg));
        check_strings(msg);
        check_round_trip(msg);
        validate(m, work, msg);
    } else {
        FUZZ_ASSERT(err.code == GRPC_STATUS_INVALID_ARGUMENT ||
                    err.code == GRPC_STATUS_RESOURCE_EXHAUSTED);
        FUZZ_ASSERT(err.msg[0] != '\0');
    }
    mb_arena_free(wire);
    mb_arena_free(work);
    return 0;
}
