/*
 * test_hardening.c - the defects of issue 10 in accounts, payments, plans
 * and the audit trail, each against the real daemon: personal data in a
 * reveal's purpose, text that looks empty or lies, timestamps outside
 * 1970..9999, plans audited and checked against the accounts on them, a
 * re-attached number renewing its metadata, SEPA reach, paged payment
 * methods with the default findable, and API-key names.
 */
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "check.h"
#include "common.h"
#include "fixtures.h"
#include "minbill/v1/accounts.pb-c.h"
#include "minbill/v1/audit.pb-c.h"
#include "minbill/v1/invoicing.pb-c.h"

#define LIST "/minbill.v1.Accounts/ListPaymentMethods"
#define SET_DEFAULT "/minbill.v1.Accounts/SetDefaultPaymentMethod"
#define REVEAL "/minbill.v1.Accounts/RevealPaymentMethod"
#define LIST_AUDIT "/minbill.v1.Audit/ListAuditEvents"
#define UPSERT_PLAN "/minbill.v1.Invoicing/UpsertPlan"

static mbt_server srv;
static char platform[MBT_KEY_MAX], payments[MBT_KEY_MAX], privacy[MBT_KEY_MAX], admin[MBT_KEY_MAX],
    support[MBT_KEY_MAX];

static void free_msg(void *m)
{
    if (m != NULL)
        protobuf_c_message_free_unpacked(m, NULL);
}

static long count_sql(const char *sql)
{
    return mbt_db_long(srv.d.db, sql);
}

static int upsert(const char *id, const char *legal_name, const char *currency, const char *plan_id,
                  Minbill__V1__Contact *contact, mb_error *st)
{
    return mbt_upsert_account_in(srv.ch, platform, id, legal_name, currency, plan_id, &contact,
                                 contact != NULL, 10000, st);
}

static int upsert_plan(const char *plan_id, const char *currency, const char *description,
                       mb_error *st)
{
    Minbill__V1__Price price = MINBILL__V1__PRICE__INIT, *pp = &price;
    price.metric = "messages.sms";
    price.description = (char *)description;
    price.unit_price = "0.09";
    Minbill__V1__Plan p = MINBILL__V1__PLAN__INIT;
    p.plan_id = (char *)plan_id;
    p.currency = (char *)currency;
    p.prices = &pp;
    p.n_prices = 1;
    ProtobufCMessage *resp = NULL;
    mbc_unary(srv.ch, UPSERT_PLAN, admin, &p.base, &minbill__v1__plan__descriptor, 10000, &resp,
              st);
    free_msg(resp);
    return st->code;
}

static Minbill__V1__PaymentMethod *attach_card(const char *account, const char *pan, int month,
                                               int year, const char *holder, mb_error *st)
{
    Minbill__V1__CardDetails card = MINBILL__V1__CARD_DETAILS__INIT;
    card.pan = (char *)pan;
    card.exp_month = month;
    card.exp_year = year;
    card.holder_name = (char *)holder;
    return mbt_attach(srv.ch, platform, account, &card, NULL, st);
}

static Minbill__V1__PaymentMethod *attach_sepa(const char *account, const char *iban,
                                               const char *bic, const char *mandate,
                                               int64_t signed_at, mb_error *st)
{
    return mbt_attach_sepa(srv.ch, platform, account, iban, bic, mandate, signed_at, st);
}

static Minbill__V1__RevealPaymentMethodResponse *reveal(const char *token, const char *purpose,
                                                        mb_error *st)
{
    Minbill__V1__RevealPaymentMethodRequest req = MINBILL__V1__REVEAL_PAYMENT_METHOD_REQUEST__INIT;
    req.token = (char *)token;
    req.purpose = (char *)purpose;
    ProtobufCMessage *resp = NULL;
    mbc_unary(srv.ch, REVEAL, payments, &req.base,
              &minbill__v1__reveal_payment_method_response__descriptor, 10000, &resp, st);
    return (Minbill__V1__RevealPaymentMethodResponse *)resp;
}

static Minbill__V1__ListAuditEventsResponse *
list_audit(const char *account_id, Google__Protobuf__Timestamp *since, mb_error *st)
{
    Minbill__V1__ListAuditEventsRequest req = MINBILL__V1__LIST_AUDIT_EVENTS_REQUEST__INIT;
    req.account_id = (char *)account_id;
    req.since = since;
    req.page_size = 1000;
    ProtobufCMessage *resp = NULL;
    mbc_unary(srv.ch, LIST_AUDIT, privacy, &req.base,
              &minbill__v1__list_audit_events_response__descriptor, 10000, &resp, st);
    return (Minbill__V1__ListAuditEventsResponse *)resp;
}

/* A Visa number (16 digits) made from n, with its Luhn check digit. */
static void visa_number(int n, char out[17])
{
    char body[16];
    snprintf(body, sizeof body, "4000%011d", n);
    mbt_luhn_pan(body, out);
}

/* Defect 1: a card number or e-mail in a reveal's purpose never reaches
 * the append-only audit trail; a purpose is a code and a reference. */
static void test_purpose_holds_no_personal_data(void)
{
    mb_error st;
    char token[32];
    CHECK(mbt_attach_card(srv.ch, platform, "acc-h", "4242424242424242", "Jane Doe", token,
                          sizeof token, 10000) == GRPC_STATUS_OK);
    long events = count_sql("SELECT count(*) FROM audit_events");
    const char *bad[] = {
        "collect card 4242424242424242 for jane.doe@example.de",
        "collect-payment:4242-4242-4242-4242",
        "refund:DE89370400440532013000",
        "refund:jane.doe@example.de",
        "dispute:015112345678",
        "monthly collection",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        Minbill__V1__RevealPaymentMethodResponse *r = reveal(token, bad[i], &st);
        CHECK_STATUS(st, GRPC_STATUS_INVALID_ARGUMENT);
        CHECK(r == NULL);
        CHECK(strncmp(st.msg, "purpose: ", 9) == 0);
        CHECK(strstr(st.msg, "4242") == NULL && strstr(st.msg, "jane") == NULL &&
              strstr(st.msg, "DE89") == NULL && strstr(st.msg, "0151") == NULL);
        free_msg(r);
    }
    CHECK(count_sql("SELECT count(*) FROM audit_events") == events);
    CHECK(count_sql("SELECT count(*) FROM audit_events WHERE purpose LIKE '%4242%'"
                    " OR purpose LIKE '%@%'") == 0);

    Minbill__V1__RevealPaymentMethodResponse *r =
        reveal(token, "collect-payment:INV-2025-000042", &st);
    CHECK_STATUS(st, GRPC_STATUS_OK);
    free_msg(r);
    CHECK(count_sql("SELECT count(*) FROM audit_events WHERE action = 'payment_method.reveal'"
                    " AND purpose = 'collect-payment:INV-2025-000042'") == 1);
}

/* Defect 15: whitespace-only values, bidi controls, zero-width characters
 * and BOMs are refused in every stored text field; ListAuditEvents checks
 * its account_id. */
static void test_text_that_lies(void)
{
    mb_error st;
    CHECK(upsert("acc-t", "   ", "EUR", "", NULL, &st) == GRPC_STATUS_INVALID_ARGUMENT);
    CHECK_CONTAINS(st.msg, "account.legal_name: must not be empty");
    CHECK(upsert("acc-t", "\xc2\xa0\xe3\x80\x80", "EUR", "", NULL, &st) ==
          GRPC_STATUS_INVALID_ARGUMENT);
    CHECK(upsert("acc-t",
                 "ACME \xe2\x80\xae"
                 "HbmG",
                 "EUR", "", NULL, &st) == GRPC_STATUS_INVALID_ARGUMENT);
    CHECK_CONTAINS(st.msg, "account.legal_name: must not contain invisible or text-direction");
    Minbill__V1__Contact c = MINBILL__V1__CONTACT__INIT;
    c.contact_id = "c1";
    c.role = MINBILL__V1__CONTACT_ROLE__CONTACT_ROLE_BILLING;
    c.name = "Jane\xe2\x80\x8b"
             "Doe";
    CHECK(upsert("acc-t", "ACME GmbH", "EUR", "", &c, &st) == GRPC_STATUS_INVALID_ARGUMENT);
    CHECK_CONTAINS(st.msg, "account.contacts[0].name: must not contain invisible");
    c.name = "\xef\xbb\xbfJane Doe";
    CHECK(upsert("acc-t", "ACME GmbH", "EUR", "", &c, &st) == GRPC_STATUS_INVALID_ARGUMENT);
    c.name = " ";
    CHECK(upsert("acc-t", "ACME GmbH", "EUR", "", &c, &st) == GRPC_STATUS_INVALID_ARGUMENT);
    CHECK_CONTAINS(st.msg, "account.contacts[0].name");
    CHECK(count_sql("SELECT count(*) FROM accounts WHERE account_id = 'acc-t'") == 0);

    Minbill__V1__PaymentMethod *m = attach_card("acc-h", "5555555555554444", 12, 2031,
                                                "Jane \xe2\x81\xa6"
                                                "Doe",
                                                &st);
    CHECK_STATUS(st, GRPC_STATUS_INVALID_ARGUMENT);
    CHECK_CONTAINS(st.msg, "card.holder_name");
    free_msg(m);

    CHECK(upsert_plan("p-text", "EUR", "   ", &st) == GRPC_STATUS_INVALID_ARGUMENT);
    CHECK_CONTAINS(st.msg, "prices[0].description");
    CHECK(upsert_plan("p-text", "EUR",
                      "SMS \xe2\x80\x8f"
                      "DE",
                      &st) == GRPC_STATUS_INVALID_ARGUMENT);
    /* Defect 1 for plan descriptions: stored free text holds no personal data. */
    CHECK(upsert_plan("p-text", "EUR", "ask jane.doe@example.de", &st) ==
          GRPC_STATUS_INVALID_ARGUMENT);
    CHECK_CONTAINS(st.msg, "prices[0].description: must not contain an e-mail address");

    const char *bad_ids[] = {"acc h", "acc-\xe2\x80\xae", "x' OR '1'='1"};
    for (size_t i = 0; i < 3; i++) {
        Minbill__V1__ListAuditEventsResponse *l = list_audit(bad_ids[i], NULL, &st);
        CHECK_STATUS(st, GRPC_STATUS_INVALID_ARGUMENT);
        CHECK_CONTAINS(st.msg, "account_id: ");
        free_msg(l);
    }
}

/* Defect 6: timestamps outside years 1970..9999 are refused, field named. */
static void test_timestamps(void)
{
    mb_error st;
    Minbill__V1__PaymentMethod *m =
        attach_sepa("acc-h", "DE89370400440532013000", "", "MANDATE-2026-9", INT64_C(1) << 62, &st);
    CHECK_STATUS(st, GRPC_STATUS_INVALID_ARGUMENT);
    CHECK_CONTAINS(st.msg, "sepa_debit.mandate_signed_at: must be from year 1970 to year 9999");
    free_msg(m);
    CHECK(count_sql("SELECT count(*) FROM payment_methods WHERE type = 'sepa_debit'") == 0);

    Google__Protobuf__Timestamp since = GOOGLE__PROTOBUF__TIMESTAMP__INIT;
    since.seconds = INT64_C(1) << 62;
    Minbill__V1__ListAuditEventsResponse *l = list_audit("", &since, &st);
    CHECK_STATUS(st, GRPC_STATUS_INVALID_ARGUMENT);
    CHECK_CONTAINS(st.msg, "since: must be from year 1970 to year 9999");
    free_msg(l);
    since.seconds = -(INT64_C(1) << 62);
    l = list_audit("", &since, &st);
    CHECK_STATUS(st, GRPC_STATUS_INVALID_ARGUMENT);
    free_msg(l);
    since.seconds = 0;
    since.nanos = -5;
    l = list_audit("", &since, &st);
    CHECK_STATUS(st, GRPC_STATUS_INVALID_ARGUMENT);
    free_msg(l);
    since.nanos = 0;
    l = list_audit("", &since, &st);
    CHECK_STATUS(st, GRPC_STATUS_OK);
    CHECK(l != NULL && l->n_events > 0);
    free_msg(l);
}

/* Defects 8 and 10: plan changes are audited (ids only); an account names
 * an existing plan of its own currency, and a plan keeps its accounts'. */
static void test_plans(void)
{
    mb_error st;
    long before = count_sql("SELECT count(*) FROM audit_events WHERE action = 'plan.upsert'");
    CHECK(upsert_plan("p-eur", "EUR", "SMS Deutschland", &st) == GRPC_STATUS_OK);
    CHECK(upsert_plan("p-usd", "USD", "SMS", &st) == GRPC_STATUS_OK);
    CHECK(count_sql("SELECT count(*) FROM audit_events WHERE action = 'plan.upsert'") ==
          before + 2);
    CHECK(count_sql("SELECT count(*) FROM audit_events WHERE action = 'plan.upsert'"
                    " AND target_id = 'p-eur' AND actor_role = 'admin' AND account_id = ''") == 1);

    CHECK(upsert("acc-plan", "Plan GmbH", "EUR", "nope", NULL, &st) ==
          GRPC_STATUS_FAILED_PRECONDITION);
    CHECK_CONTAINS(st.msg, "account.plan_id: no such plan");
    CHECK(upsert("acc-plan", "Plan GmbH", "EUR", "p-usd", NULL, &st) ==
          GRPC_STATUS_FAILED_PRECONDITION);
    CHECK_CONTAINS(st.msg, "account.plan_id: the plan's currency is not account.currency");
    CHECK(count_sql("SELECT count(*) FROM accounts WHERE account_id = 'acc-plan'") == 0);
    CHECK(upsert("acc-plan", "Plan GmbH", "EUR", "", NULL, &st) == GRPC_STATUS_OK);
    CHECK(upsert("acc-plan", "Plan GmbH", "EUR", "p-eur", NULL, &st) == GRPC_STATUS_OK);
    CHECK(upsert("acc-plan", "Plan GmbH", "USD", "p-eur", NULL, &st) ==
          GRPC_STATUS_FAILED_PRECONDITION);
    /* The plan cannot move away from its accounts' currency either. */
    CHECK(upsert_plan("p-eur", "USD", "SMS", &st) == GRPC_STATUS_FAILED_PRECONDITION);
    CHECK_CONTAINS(st.msg, "currency: ");
    CHECK(count_sql("SELECT count(*) FROM plans WHERE plan_id = 'p-eur' AND currency = 'EUR'") ==
          1);
}

/* Defect 4: re-attaching a known number renews its metadata, audited, and
 * the answer says so. */
static void test_reattach_renews(void)
{
    mb_error st;
    Minbill__V1__PaymentMethod *m =
        attach_card("acc-h", "4111111111111111", 12, 2030, "Jane Doe", &st);
    CHECK_STATUS(st, GRPC_STATUS_OK);
    char token[32] = "";
    if (m != NULL) {
        snprintf(token, sizeof token, "%s", m->token);
        CHECK(!m->already_attached && !m->updated_existing);
    }
    free_msg(m);
    long updates = count_sql("SELECT count(*) FROM audit_events"
                             " WHERE action = 'payment_method.update'");
    /* The renewed card: a new expiry and holder. */
    m = attach_card("acc-h", "4111 1111 1111 1111", 3, 2033, "Jane Mary Doe", &st);
    CHECK_STATUS(st, GRPC_STATUS_OK);
    CHECK(m != NULL && strcmp(m->token, token) == 0);
    CHECK(m != NULL && m->exp_month == 3 && m->exp_year == 2033);
    CHECK(m != NULL && m->already_attached && m->updated_existing);
    free_msg(m);
    CHECK(count_sql("SELECT count(*) FROM audit_events WHERE action = 'payment_method.update'") ==
          updates + 1);
    Minbill__V1__RevealPaymentMethodResponse *r = reveal(token, "collect-payment", &st);
    CHECK(r != NULL && r->card != NULL && strcmp(r->card->holder_name, "Jane Mary Doe") == 0 &&
          r->card->exp_year == 2033);
    free_msg(r);
    /* The same again changes nothing and audits nothing. */
    m = attach_card("acc-h", "4111111111111111", 3, 2033, "Jane Mary Doe", &st);
    CHECK(m != NULL && m->already_attached && !m->updated_existing);
    free_msg(m);
    CHECK(count_sql("SELECT count(*) FROM audit_events WHERE action = 'payment_method.update'") ==
          updates + 1);

    /* A new SEPA mandate for the same IBAN. */
    m = attach_sepa("acc-h", "DE89370400440532013000", "", "MANDATE-2026-001", 1767225600, &st);
    CHECK_STATUS(st, GRPC_STATUS_OK);
    char sepa_token[32] = "";
    if (m != NULL)
        snprintf(sepa_token, sizeof sepa_token, "%s", m->token);
    free_msg(m);
    m = attach_sepa("acc-h", "DE89 3704 0044 0532 0130 00", "COBADEFFXXX", "MANDATE-2026-002",
                    1767312000, &st);
    CHECK_STATUS(st, GRPC_STATUS_OK);
    CHECK(m != NULL && strcmp(m->token, sepa_token) == 0 && m->updated_existing);
    CHECK(m != NULL && strcmp(m->mandate_reference, "MANDATE-2026-002") == 0);
    free_msg(m);
    r = reveal(sepa_token, "collect-payment", &st);
    CHECK(r != NULL && r->sepa_debit != NULL && strcmp(r->sepa_debit->bic, "COBADEFFXXX") == 0 &&
          r->sepa_debit->mandate_signed_at != NULL &&
          r->sepa_debit->mandate_signed_at->seconds == 1767312000);
    free_msg(r);
    CHECK(count_sql("SELECT count(*) FROM audit_events WHERE action = 'payment_method.update'") ==
          updates + 2);
}

/* Defect 5: SEPA direct debit only for SEPA countries, with a BIC where
 * the scheme needs one. */
static void test_sepa_reach(void)
{
    mb_error st;
    Minbill__V1__PaymentMethod *m =
        attach_sepa("acc-h", "SA0380000000608010167519", "", "M-SA", 1767225600, &st);
    CHECK_STATUS(st, GRPC_STATUS_INVALID_ARGUMENT);
    CHECK_CONTAINS(st.msg, "sepa_debit.iban: country SA is not in the SEPA direct debit scheme");
    free_msg(m);
    m = attach_sepa("acc-h", "CH9300762011623852957", "", "M-CH", 1767225600, &st);
    CHECK_STATUS(st, GRPC_STATUS_INVALID_ARGUMENT);
    CHECK_CONTAINS(st.msg, "sepa_debit.bic: required");
    free_msg(m);
    m = attach_sepa("acc-h", "CH9300762011623852957", "UBSWCHZH80A", "M-CH", 1767225600, &st);
    CHECK_STATUS(st, GRPC_STATUS_OK);
    free_msg(m);
}

/* Defect 12: every method is reachable through pages, the default first. */
static void test_paging(void)
{
    mb_error st;
    char tokens[7][32];
    for (int i = 0; i < 7; i++) {
        char pan[17];
        visa_number(1000 + i, pan);
        CHECK(mbt_attach_card(srv.ch, platform, "acc-pages", pan, NULL, tokens[i], sizeof tokens[i],
                              10000) == GRPC_STATUS_OK);
    }
    Minbill__V1__SetDefaultPaymentMethodRequest d =
        MINBILL__V1__SET_DEFAULT_PAYMENT_METHOD_REQUEST__INIT;
    d.token = tokens[5];
    ProtobufCMessage *resp = NULL;
    mbc_unary(srv.ch, SET_DEFAULT, platform, &d.base,
              &minbill__v1__set_default_payment_method_response__descriptor, 10000, &resp, &st);
    free_msg(resp);

    Minbill__V1__ListPaymentMethodsRequest req = MINBILL__V1__LIST_PAYMENT_METHODS_REQUEST__INIT;
    req.account_id = "acc-pages";
    req.page_size = 3;
    char seen[16][32], next[128] = "";
    int n = 0, pages = 0;
    do {
        req.page_token = next;
        resp = NULL;
        mbc_unary(srv.ch, LIST, support, &req.base,
                  &minbill__v1__list_payment_methods_response__descriptor, 10000, &resp, &st);
        Minbill__V1__ListPaymentMethodsResponse *l = (void *)resp;
        CHECK_STATUS(st, GRPC_STATUS_OK);
        if (l == NULL)
            break;
        CHECK(l->n_payment_methods <= 3);
        if (pages == 0)
            CHECK(l->n_payment_methods > 0 && l->payment_methods[0]->is_default &&
                  strcmp(l->payment_methods[0]->token, tokens[5]) == 0);
        for (size_t i = 0; i < l->n_payment_methods && n < 16; i++)
            snprintf(seen[n++], sizeof seen[0], "%s", l->payment_methods[i]->token);
        snprintf(next, sizeof next, "%s", l->next_page_token);
        free_msg(l);
        pages++;
    } while (next[0] != '\0' && pages < 10);
    CHECK(n == 7 && pages == 3);
    for (int i = 0; i < 7; i++) {
        int found = 0;
        for (int j = 0; j < n; j++)
            found += strcmp(seen[j], tokens[i]) == 0;
        CHECK(found == 1);
    }
    req.page_size = -1;
    req.page_token = "";
    resp = NULL;
    mbc_unary(srv.ch, LIST, support, &req.base,
              &minbill__v1__list_payment_methods_response__descriptor, 10000, &resp, &st);
    CHECK_STATUS(st, GRPC_STATUS_INVALID_ARGUMENT);
    CHECK_CONTAINS(st.msg, "page_size");
    free_msg(resp);
    req.page_size = 0;
    req.page_token = "garbage";
    resp = NULL;
    mbc_unary(srv.ch, LIST, support, &req.base,
              &minbill__v1__list_payment_methods_response__descriptor, 10000, &resp, &st);
    CHECK_STATUS(st, GRPC_STATUS_INVALID_ARGUMENT);
    CHECK_CONTAINS(st.msg, "page_token");
    free_msg(resp);
}

/* Defect 1 for API-key names: personal data and lying text are refused
 * with a usage error. */
static void test_key_names(void)
{
    const char *bad[] = {"jane.doe@example.de", "+49 151 12345678", "ops\xe2\x80\xaekey", "  "};
    char out[256];
    for (size_t i = 0; i < 4; i++) {
        const char *args[] = {"keys",       "create-api-key", "--db",   srv.d.db,
                              "--key-file", srv.d.key_file,   "--role", "support",
                              "--name",     bad[i],           NULL};
        CHECK(mbt_run_minbilld(args, out, sizeof out) == 2);
        const char *allow[] = {
            "keys",       "allow-client", "--db",       srv.d.db,
            "--key-file", srv.d.key_file, "--identity", "dns:billing.example.com",
            "--role",     "support",      "--name",     bad[i],
            NULL};
        CHECK(mbt_run_minbilld(allow, out, sizeof out) == 2);
    }
    CHECK(count_sql("SELECT count(*) FROM api_keys WHERE name LIKE '%@%' OR name LIKE '%151%'") ==
          0);
    const char *good[] = {"keys",       "create-api-key", "--db",   srv.d.db,
                          "--key-file", srv.d.key_file,   "--role", "support",
                          "--name",     "billing job 2",  NULL};
    CHECK(mbt_run_minbilld(good, out, sizeof out) == 0);
}

int main(void)
{
    if (mbt_up(&srv, NULL) != 0)
        return 1;
    mbt_key(&srv, "platform", platform);
    mbt_key(&srv, "payments", payments);
    mbt_key(&srv, "privacy", privacy);
    mbt_key(&srv, "admin", admin);
    mbt_key(&srv, "support", support);
    mb_error st;
    CHECK(mbt_upsert_account(srv.ch, platform, "acc-h", "Autohaus Example GmbH", NULL, NULL, 0,
                             10000, &st) == GRPC_STATUS_OK);
    CHECK(mbt_upsert_account(srv.ch, platform, "acc-pages", "Autohaus Pages GmbH", NULL, NULL, 0,
                             10000, &st) == GRPC_STATUS_OK);
    RUN(test_purpose_holds_no_personal_data);
    RUN(test_text_that_lies);
    RUN(test_timestamps);
    RUN(test_plans);
    RUN(test_reattach_renews);
    RUN(test_sepa_reach);
    RUN(test_paging);
    RUN(test_key_names);
    CHECK(mbt_stop(&srv, SIGTERM) == 0);
    mbt_down(&srv);
    return check_summary();
}
