/*
 * test_payments.c - payment tokenisation against the real daemon: the public
 * test cards and IBANs attach and come back as tokens with clear metadata
 * only; the same number attaches once per account; every invalid input class
 * is INVALID_ARGUMENT naming the field without any part of the number;
 * reveal is for the payments role, needs a purpose and is audited; detach
 * crypto-shreds; no PAN or IBAN is ever in clear in the database, its WAL or
 * the log.
 */
#include <signal.h>

#include <sqlite3.h>

#include "check.h"
#include "common.h"
#include "fixtures.h"
#include "minbill/v1/accounts.pb-c.h"
#include "minbill/v1/audit.pb-c.h"

#define LIST "/minbill.v1.Accounts/ListPaymentMethods"
#define DETACH "/minbill.v1.Accounts/DetachPaymentMethod"
#define SET_DEFAULT "/minbill.v1.Accounts/SetDefaultPaymentMethod"
#define REVEAL "/minbill.v1.Accounts/RevealPaymentMethod"
#define LIST_AUDIT "/minbill.v1.Audit/ListAuditEvents"

static const char *const CARDS[] = {"4111111111111111", "4242424242424242", "5555555555554444",
                                    "378282246310005"};
static const char *const BRANDS[] = {"visa", "visa", "mastercard", "amex"};
static const char *const IBANS[] = {"DE89370400440532013000", "GB82WEST12345698765432"};

static mbt_server srv;
static char platform[MBT_KEY_MAX], support[MBT_KEY_MAX], payments[MBT_KEY_MAX],
    privacy[MBT_KEY_MAX];

static void make_account(const char *id)
{
    mb_error st;
    mbt_upsert_account(srv.ch, platform, id, "Autohaus Example GmbH", NULL, NULL, 0, 10000, &st);
    CHECK_STATUS(st, GRPC_STATUS_OK);
}

static Minbill__V1__PaymentMethod *attach_card(const char *account, const char *pan, int month,
                                               int year, mb_error *st)
{
    Minbill__V1__CardDetails card = MINBILL__V1__CARD_DETAILS__INIT;
    card.pan = (char *)pan;
    card.exp_month = month;
    card.exp_year = year;
    card.holder_name = "Jane Doe";
    return mbt_attach(srv.ch, platform, account, &card, NULL, st);
}

static Minbill__V1__PaymentMethod *attach_sepa(const char *account, const char *iban,
                                               const char *bic, const char *mandate,
                                               int64_t signed_at, mb_error *st)
{
    return mbt_attach_sepa(srv.ch, platform, account, iban, bic, mandate, signed_at, st);
}

static void free_msg(void *m)
{
    if (m != NULL)
        protobuf_c_message_free_unpacked(m, NULL);
}

static char card_tokens[4][32], iban_tokens[2][32];

static bool token_ok(const char *t)
{
    if (t == NULL || strlen(t) != 27 || strncmp(t, "pm_", 3) != 0)
        return false;
    for (int i = 3; i < 27; i++)
        if (!((t[i] >= '0' && t[i] <= '9') || (t[i] >= 'a' && t[i] <= 'z') ||
              (t[i] >= 'A' && t[i] <= 'Z')))
            return false;
    return true;
}

static void test_attach_public_test_numbers(void)
{
    mb_error st;
    for (int i = 0; i < 4; i++) {
        Minbill__V1__PaymentMethod *m = attach_card("acc-p", CARDS[i], 12, 2031, &st);
        CHECK_STATUS(st, GRPC_STATUS_OK);
        CHECK(m != NULL && token_ok(m->token));
        CHECK(m != NULL && strcmp(m->brand, BRANDS[i]) == 0);
        CHECK(m != NULL && strcmp(m->last4, CARDS[i] + strlen(CARDS[i]) - 4) == 0);
        CHECK(m != NULL && m->exp_month == 12 && m->exp_year == 2031);
        CHECK(m != NULL && strncmp(m->fingerprint, "fp_", 3) == 0 && strlen(m->fingerprint) == 35);
        CHECK(m != NULL && m->type == MINBILL__V1__PAYMENT_METHOD_TYPE__PAYMENT_METHOD_TYPE_CARD);
        /* The token is random: it shares no run of digits with the PAN. */
        CHECK(m != NULL && strstr(m->token, CARDS[i] + strlen(CARDS[i]) - 4) == NULL);
        if (m != NULL)
            snprintf(card_tokens[i], sizeof card_tokens[i], "%s", m->token);
        free_msg(m);
    }
    for (int i = 0; i < 2; i++) {
        Minbill__V1__PaymentMethod *m =
            attach_sepa("acc-p", IBANS[i], i == 0 ? "COBADEFFXXX" : "NWBKGB2LXXX",
                        "MANDATE-2026-001", 1767225600, &st);
        CHECK_STATUS(st, GRPC_STATUS_OK);
        CHECK(m != NULL && token_ok(m->token));
        CHECK(m != NULL && strcmp(m->last4, IBANS[i] + strlen(IBANS[i]) - 4) == 0);
        CHECK(m != NULL && strncmp(m->country_code, IBANS[i], 2) == 0);
        CHECK(m != NULL && strcmp(m->mandate_reference, "MANDATE-2026-001") == 0);
        if (m != NULL)
            snprintf(iban_tokens[i], sizeof iban_tokens[i], "%s", m->token);
        free_msg(m);
    }
}

static void test_same_number_same_token(void)
{
    mb_error st;
    int before = mbt_db_long(srv.d.db, "SELECT count(*) FROM payment_methods");
    /* Spaces are formatting, not a different card. */
    Minbill__V1__PaymentMethod *m = attach_card("acc-p", "4111 1111 1111 1111", 12, 2031, &st);
    CHECK_STATUS(st, GRPC_STATUS_OK);
    CHECK(m != NULL && strcmp(m->token, card_tokens[0]) == 0);
    char fp[64] = "";
    if (m != NULL)
        snprintf(fp, sizeof fp, "%s", m->fingerprint);
    free_msg(m);
    CHECK(mbt_db_long(srv.d.db, "SELECT count(*) FROM payment_methods") == before);
    /* Another account gets its own token; the keyed fingerprint matches. */
    m = attach_card("acc-q", CARDS[0], 12, 2031, &st);
    CHECK_STATUS(st, GRPC_STATUS_OK);
    CHECK(m != NULL && strcmp(m->token, card_tokens[0]) != 0 && strcmp(m->fingerprint, fp) == 0);
    free_msg(m);
}

/* No run of 4 or more characters of value may appear in msg. */
static bool leaks(const char *msg, const char *value)
{
    size_t n = strlen(value);
    for (size_t i = 0; i + 4 <= n; i++) {
        char part[5];
        memcpy(part, value + i, 4);
        part[4] = '\0';
        if (strstr(msg, part) != NULL)
            return true;
    }
    return false;
}

static void expect_card_error(const char *pan, int month, int year, const char *field)
{
    mb_error st;
    Minbill__V1__PaymentMethod *m = attach_card("acc-p", pan, month, year, &st);
    free_msg(m);
    CHECK_STATUS(st, GRPC_STATUS_INVALID_ARGUMENT);
    CHECK_CONTAINS(st.msg, field);
    CHECK(!leaks(st.msg, pan));
}

static void expect_sepa_error(const char *iban, const char *bic, const char *mandate,
                              int64_t signed_at, const char *field)
{
    mb_error st;
    Minbill__V1__PaymentMethod *m = attach_sepa("acc-p", iban, bic, mandate, signed_at, &st);
    free_msg(m);
    CHECK_STATUS(st, GRPC_STATUS_INVALID_ARGUMENT);
    CHECK_CONTAINS(st.msg, field);
    CHECK(!leaks(st.msg, iban));
}

static void test_invalid_inputs(void)
{
    int before = mbt_db_long(srv.d.db, "SELECT count(*) FROM payment_methods");
    expect_card_error("4111111111111112", 12, 2031, "card.pan");   /* Luhn */
    expect_card_error("41111111111", 12, 2031, "card.pan");        /* too short */
    expect_card_error("41111111111111111111", 12, 2031, "card.pan"); /* too long */
    expect_card_error("4111-1111-abcd-1111", 12, 2031, "card.pan");
    expect_card_error("4111111111111111", 1, 2020, "card.exp_year"); /* expired */
    expect_card_error("4111111111111111", 13, 2031, "card.exp_month");
    expect_sepa_error("DE89370400440532013001", "", "M-1", 1767225600, "sepa_debit.iban");
    expect_sepa_error("DE8937040044053201300", "", "M-1", 1767225600, "sepa_debit.iban");
    expect_sepa_error("XX89370400440532013000", "", "M-1", 1767225600, "sepa_debit.iban");
    expect_sepa_error("DE89370400440532013000", "COBA", "M-1", 1767225600, "sepa_debit.bic");
    expect_sepa_error("DE89370400440532013000", "", "", 1767225600,
                      "sepa_debit.mandate_reference");
    expect_sepa_error("DE89370400440532013000", "", "M\xc3\xa9", 1767225600,
                      "sepa_debit.mandate_reference");
    expect_sepa_error("DE89370400440532013000", "", "M-1", 0, "sepa_debit.mandate_signed_at");
    mb_error st;
    Minbill__V1__PaymentMethod *m = attach_card("no-such-account", CARDS[0], 12, 2031, &st);
    free_msg(m);
    CHECK_STATUS(st, GRPC_STATUS_NOT_FOUND);
    CHECK(mbt_db_long(srv.d.db, "SELECT count(*) FROM payment_methods") == before);
}

static void test_list_and_default(void)
{
    mb_error st;
    Minbill__V1__SetDefaultPaymentMethodRequest d = MINBILL__V1__SET_DEFAULT_PAYMENT_METHOD_REQUEST__INIT;
    d.token = iban_tokens[0];
    ProtobufCMessage *resp = NULL;
    mbc_unary(srv.ch, SET_DEFAULT, platform, &d.base,
              &minbill__v1__set_default_payment_method_response__descriptor, 10000, &resp, &st);
    CHECK_STATUS(st, GRPC_STATUS_OK);
    free_msg(resp);

    Minbill__V1__ListPaymentMethodsRequest req = MINBILL__V1__LIST_PAYMENT_METHODS_REQUEST__INIT;
    req.account_id = "acc-p";
    mbc_unary(srv.ch, LIST, support, &req.base,
              &minbill__v1__list_payment_methods_response__descriptor, 10000, &resp, &st);
    CHECK_STATUS(st, GRPC_STATUS_OK);
    Minbill__V1__ListPaymentMethodsResponse *l = (void *)resp;
    CHECK(l != NULL && l->n_payment_methods == 6);
    int defaults = 0;
    for (size_t i = 0; l != NULL && i < l->n_payment_methods; i++) {
        if (l->payment_methods[i]->is_default) {
            defaults++;
            CHECK(strcmp(l->payment_methods[i]->token, iban_tokens[0]) == 0);
        }
    }
    CHECK(defaults == 1);
    free_msg(resp);
    mbc_unary(srv.ch, LIST, platform, &req.base,
              &minbill__v1__list_payment_methods_response__descriptor, 10000, &resp, &st);
    CHECK_STATUS(st, GRPC_STATUS_PERMISSION_DENIED);
}

static Minbill__V1__RevealPaymentMethodResponse *reveal(const char *key, const char *token,
                                                        const char *purpose, mb_error *st)
{
    Minbill__V1__RevealPaymentMethodRequest req = MINBILL__V1__REVEAL_PAYMENT_METHOD_REQUEST__INIT;
    req.token = (char *)token;
    req.purpose = (char *)purpose;
    ProtobufCMessage *resp = NULL;
    mbc_unary(srv.ch, REVEAL, key, &req.base,
              &minbill__v1__reveal_payment_method_response__descriptor, 10000, &resp, st);
    return (Minbill__V1__RevealPaymentMethodResponse *)resp;
}

static void test_reveal(void)
{
    mb_error st;
    Minbill__V1__RevealPaymentMethodResponse *r =
        reveal(payments, card_tokens[2], "collect-payment:2026-11", &st);
    CHECK_STATUS(st, GRPC_STATUS_OK);
    CHECK(r != NULL && r->card != NULL && strcmp(r->card->pan, CARDS[2]) == 0);
    CHECK(r != NULL && r->card != NULL && strcmp(r->card->holder_name, "Jane Doe") == 0);
    CHECK(r != NULL && strncmp(r->audit_event_id, "ae_", 3) == 0);
    char event_id[32] = "";
    if (r != NULL)
        snprintf(event_id, sizeof event_id, "%s", r->audit_event_id);
    free_msg(r);
    r = reveal(payments, iban_tokens[0], "collect-payment:2026-11", &st);
    CHECK(r != NULL && r->sepa_debit != NULL && strcmp(r->sepa_debit->iban, IBANS[0]) == 0);
    CHECK(r != NULL && r->sepa_debit != NULL && strcmp(r->sepa_debit->bic, "COBADEFFXXX") == 0);
    free_msg(r);

    r = reveal(payments, card_tokens[2], "", &st);
    CHECK_STATUS(st, GRPC_STATUS_INVALID_ARGUMENT);
    CHECK_CONTAINS(st.msg, "purpose");
    r = reveal(support, card_tokens[2], "curious", &st);
    CHECK_STATUS(st, GRPC_STATUS_PERMISSION_DENIED);
    r = reveal(privacy, card_tokens[2], "curious", &st);
    CHECK_STATUS(st, GRPC_STATUS_PERMISSION_DENIED);
    r = reveal(payments, "pm_000000000000000000000000", "refund", &st);
    CHECK_STATUS(st, GRPC_STATUS_NOT_FOUND);

    /* The reveal is in the audit trail, with its purpose and no number. */
    Minbill__V1__ListAuditEventsRequest lr = MINBILL__V1__LIST_AUDIT_EVENTS_REQUEST__INIT;
    lr.account_id = "acc-p";
    lr.page_size = 1000;
    ProtobufCMessage *resp = NULL;
    mbc_unary(srv.ch, LIST_AUDIT, privacy, &lr.base,
              &minbill__v1__list_audit_events_response__descriptor, 10000, &resp, &st);
    Minbill__V1__ListAuditEventsResponse *l = (void *)resp;
    int found = 0;
    for (size_t i = 0; l != NULL && i < l->n_events; i++) {
        Minbill__V1__AuditEvent *e = l->events[i];
        if (strcmp(e->event_id, event_id) == 0) {
            found = 1;
            CHECK(strcmp(e->action, "payment_method.reveal") == 0);
            CHECK(strcmp(e->purpose, "collect-payment:2026-11") == 0);
            CHECK(strcmp(e->target_id, card_tokens[2]) == 0);
            CHECK(e->actor_role == MINBILL__V1__ROLE__ROLE_PAYMENTS);
        }
    }
    CHECK(found);
    free_msg(resp);
}

static void test_detach_shreds(void)
{
    mb_error st;
    int keys = mbt_db_long(srv.d.db, "SELECT count(*) FROM data_keys");
    int vault = mbt_db_long(srv.d.db, "SELECT count(*) FROM payment_vault");
    Minbill__V1__DetachPaymentMethodRequest req = MINBILL__V1__DETACH_PAYMENT_METHOD_REQUEST__INIT;
    req.token = card_tokens[2];
    ProtobufCMessage *resp = NULL;
    mbc_unary(srv.ch, DETACH, platform, &req.base,
              &minbill__v1__detach_payment_method_response__descriptor, 10000, &resp, &st);
    CHECK_STATUS(st, GRPC_STATUS_OK);
    free_msg(resp);
    Minbill__V1__RevealPaymentMethodResponse *r = reveal(payments, card_tokens[2], "refund", &st);
    free_msg(r);
    CHECK_STATUS(st, GRPC_STATUS_NOT_FOUND);
    CHECK(mbt_db_long(srv.d.db, "SELECT count(*) FROM payment_vault") == vault - 1);
    CHECK(mbt_db_long(srv.d.db, "SELECT count(*) FROM data_keys") == keys - 1);
    mbc_unary(srv.ch, DETACH, platform, &req.base,
              &minbill__v1__detach_payment_method_response__descriptor, 10000, &resp, &st);
    CHECK_STATUS(st, GRPC_STATUS_NOT_FOUND);
    /* Detaching the default clears it. */
    req.token = iban_tokens[0];
    mbc_unary(srv.ch, DETACH, platform, &req.base,
              &minbill__v1__detach_payment_method_response__descriptor, 10000, &resp, &st);
    free_msg(resp);
    CHECK(mbt_db_long(srv.d.db, "SELECT count(*) FROM accounts WHERE default_payment_method IS NOT NULL") == 0);
}

static void scan_for_numbers(void)
{
    char wal[MBT_PATH + 64];
    snprintf(wal, sizeof wal, "%s-wal", srv.d.db);
    const char *paths[] = {srv.d.db, wal, srv.d.log};
    /* The scan sees what is stored in clear: the account id is. */
    CHECK(mbt_file_contains(srv.d.db, "acc-p") || mbt_file_contains(wal, "acc-p"));
    for (int p = 0; p < 3; p++) {
        for (int i = 0; i < 4; i++) {
            bool found = mbt_file_contains(paths[p], CARDS[i]);
            if (found)
                fprintf(stderr, "   %s holds card %d in clear\n", paths[p], i);
            CHECK(!found);
        }
        for (int i = 0; i < 2; i++)
            CHECK(!mbt_file_contains(paths[p], IBANS[i]));
        CHECK(!mbt_file_contains(paths[p], "Jane Doe"));
    }
}

int main(void)
{
    if (mbt_up(&srv, NULL) != 0)
        return 1;
    mbt_key(&srv, "platform", platform);
    mbt_key(&srv, "support", support);
    mbt_key(&srv, "payments", payments);
    mbt_key(&srv, "privacy", privacy);
    make_account("acc-p");
    make_account("acc-q");
    RUN(test_attach_public_test_numbers);
    RUN(test_same_number_same_token);
    RUN(test_invalid_inputs);
    RUN(test_list_and_default);
    RUN(test_reveal);
    RUN(test_detach_shreds);
    RUN(scan_for_numbers);
    CHECK(mbt_stop(&srv, SIGTERM) == 0);
    RUN(scan_for_numbers); /* after the checkpoint at shutdown, too */
    mbt_down(&srv);
    return check_summary();
}
