/*
 * seed_accounts.c - test helper for test_accounts.sh: puts one known account
 * with one contact, a card and a SEPA mandate into a running minbilld, the
 * way the platform would, so the shell test can check what `minbill account
 * show` and `minbill payment-methods list` make of it.
 *
 *   MINBILL_API_KEY=<platform key> seed_accounts HOST:PORT
 *
 * The key comes from the environment, never from argv, as the tool advises.
 * Makes the card the default method so the listing has a default to mark.
 * Exit 0 when everything was accepted; otherwise one line on stderr, exit 1.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "minbill/v1/accounts.pb-c.h"
#include "rpc_client.h"

#define TIMEOUT_MS 30000 /* sanitizer builds are slow */

/* Makes one call; 0, or -1 with the status printed. The answer goes to
 * *resp (free with protobuf_c_message_free_unpacked), or is dropped if resp
 * is NULL. */
static int call(mbc_channel_t *ch, const char *key, const char *method, const ProtobufCMessage *req,
                const ProtobufCMessageDescriptor *resp_desc, ProtobufCMessage **resp)
{
    mb_error st;
    mb_error_clear(&st);
    ProtobufCMessage *answer = NULL;
    if (mbc_unary(ch, method, key, req, resp_desc, TIMEOUT_MS, &answer, &st) != 0) {
        fprintf(stderr, "seed_accounts: %s: %s: %s\n", method, mb_status_name(st.code), st.msg);
        return -1;
    }
    if (resp != NULL)
        *resp = answer;
    else
        protobuf_c_message_free_unpacked(answer, NULL);
    return 0;
}

/* The account as the platform would send it: every field spelt out. */
static int upsert(mbc_channel_t *ch, const char *key)
{
    Minbill__V1__PostalAddress address = {
        .base = PROTOBUF_C_MESSAGE_INIT(&minbill__v1__postal_address__descriptor),
        .line1 = "Hauptstrasse 1",
        .line2 = "",
        .postal_code = "10115",
        .city = "Berlin",
        .country_code = "DE",
    };
    Minbill__V1__Contact jane = {
        .base = PROTOBUF_C_MESSAGE_INIT(&minbill__v1__contact__descriptor),
        .contact_id = "c1",
        .role = MINBILL__V1__CONTACT_ROLE__CONTACT_ROLE_BILLING,
        .name = "Jane Doe",
        .email = "jane.doe@example.de",
        .phone = "+4915112345667",
    };
    Minbill__V1__Contact *contacts[] = {&jane};
    Minbill__V1__Account account = {
        .base = PROTOBUF_C_MESSAGE_INIT(&minbill__v1__account__descriptor),
        .account_id = "acc-cli",
        .legal_name = "Autohaus Example GmbH",
        .billing_address = &address,
        .vat_id = "",
        .currency = "EUR",
        .plan_id = "",
        .n_contacts = 1,
        .contacts = contacts,
        .default_payment_method = "",
    };
    Minbill__V1__UpsertAccountRequest req = MINBILL__V1__UPSERT_ACCOUNT_REQUEST__INIT;
    req.account = &account;
    return call(ch, key, "/minbill.v1.Accounts/UpsertAccount", &req.base,
                &minbill__v1__account__descriptor, NULL);
}

/* Attaches req's method to acc-cli; *token receives its token (malloc'd). */
static int attach(mbc_channel_t *ch, const char *key, Minbill__V1__AttachPaymentMethodRequest *req,
                  char **token)
{
    ProtobufCMessage *resp = NULL;
    req->account_id = "acc-cli";
    if (call(ch, key, "/minbill.v1.Accounts/AttachPaymentMethod", &req->base,
             &minbill__v1__payment_method__descriptor, &resp) != 0)
        return -1;
    *token = strdup(((Minbill__V1__PaymentMethod *)resp)->token);
    protobuf_c_message_free_unpacked(resp, NULL);
    return *token != NULL ? 0 : -1;
}

static int seed(mbc_channel_t *ch, const char *key)
{
    Minbill__V1__CardDetails card = MINBILL__V1__CARD_DETAILS__INIT;
    card.pan = "4242424242424242";
    card.exp_month = 12;
    card.exp_year = 2031;
    card.holder_name = "Jane Doe";
    Minbill__V1__AttachPaymentMethodRequest with_card =
        MINBILL__V1__ATTACH_PAYMENT_METHOD_REQUEST__INIT;
    with_card.method_case = MINBILL__V1__ATTACH_PAYMENT_METHOD_REQUEST__METHOD_CARD;
    with_card.card = &card;

    Google__Protobuf__Timestamp signed_at = GOOGLE__PROTOBUF__TIMESTAMP__INIT;
    signed_at.seconds = 1767225600; /* 2026-01-01 */
    Minbill__V1__SepaDebitDetails sepa = MINBILL__V1__SEPA_DEBIT_DETAILS__INIT;
    sepa.iban = "DE89370400440532013000";
    sepa.bic = "COBADEFFXXX";
    sepa.account_holder = "Autohaus Example GmbH";
    sepa.mandate_reference = "M-1";
    sepa.mandate_signed_at = &signed_at;
    Minbill__V1__AttachPaymentMethodRequest with_sepa =
        MINBILL__V1__ATTACH_PAYMENT_METHOD_REQUEST__INIT;
    with_sepa.method_case = MINBILL__V1__ATTACH_PAYMENT_METHOD_REQUEST__METHOD_SEPA_DEBIT;
    with_sepa.sepa_debit = &sepa;

    char *card_token = NULL, *sepa_token = NULL;
    int rc = -1;
    if (upsert(ch, key) == 0 && attach(ch, key, &with_card, &card_token) == 0 &&
        attach(ch, key, &with_sepa, &sepa_token) == 0) {
        Minbill__V1__SetDefaultPaymentMethodRequest def =
            MINBILL__V1__SET_DEFAULT_PAYMENT_METHOD_REQUEST__INIT;
        def.token = card_token;
        rc = call(ch, key, "/minbill.v1.Accounts/SetDefaultPaymentMethod", &def.base,
                  &minbill__v1__set_default_payment_method_response__descriptor, NULL);
    }
    free(card_token);
    free(sepa_token);
    return rc;
}

int main(int argc, char **argv)
{
    const char *key = getenv("MINBILL_API_KEY");
    if (argc != 2 || key == NULL || key[0] == '\0') {
        fprintf(stderr, "usage: MINBILL_API_KEY=KEY seed_accounts HOST:PORT\n");
        return 2;
    }
    mbc_channel_t *ch = mbc_channel_new(argv[1]);
    if (ch == NULL || mbc_channel_wait_ready(ch, TIMEOUT_MS) != 0) {
        fprintf(stderr, "seed_accounts: cannot connect to %s\n", argv[1]);
        mbc_channel_free(ch);
        return 1;
    }
    int rc = seed(ch, key);
    mbc_channel_free(ch);
    if (rc == 0)
        printf("seeded acc-cli\n");
    return rc == 0 ? 0 : 1;
}
