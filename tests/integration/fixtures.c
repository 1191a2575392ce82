/*
 * fixtures.c - see fixtures.h.
 */
#include "fixtures.h"

#include <stdio.h>

int mbt_upsert_account(mbc_channel_t *ch, const char *api_key, const char *id,
                       const char *legal_name, const char *plan_id, Minbill__V1__Contact **contacts,
                       size_t n, int timeout_ms, mb_error *st)
{
    return mbt_upsert_account_in(ch, api_key, id, legal_name, "EUR", plan_id, contacts, n,
                                 timeout_ms, st);
}

int mbt_upsert_account_in(mbc_channel_t *ch, const char *api_key, const char *id,
                          const char *legal_name, const char *currency, const char *plan_id,
                          Minbill__V1__Contact **contacts, size_t n, int timeout_ms, mb_error *st)
{
    Minbill__V1__PostalAddress addr = MINBILL__V1__POSTAL_ADDRESS__INIT;
    addr.line1 = "Hauptstrasse 1";
    addr.postal_code = "10115";
    addr.city = "Berlin";
    addr.country_code = "DE";
    Minbill__V1__Account acc = MINBILL__V1__ACCOUNT__INIT;
    /* protobuf-c's string fields are not const; it only reads them here. */
    acc.account_id = (char *)id;
    acc.legal_name = (char *)legal_name;
    acc.billing_address = &addr;
    acc.currency = (char *)currency;
    if (plan_id != NULL)
        acc.plan_id = (char *)plan_id;
    acc.n_contacts = n;
    acc.contacts = contacts;
    Minbill__V1__UpsertAccountRequest req = MINBILL__V1__UPSERT_ACCOUNT_REQUEST__INIT;
    req.account = &acc;
    ProtobufCMessage *resp = NULL;
    mb_error local;
    if (st == NULL)
        st = &local;
    mbc_unary(ch, "/minbill.v1.Accounts/UpsertAccount", api_key, &req.base,
              &minbill__v1__account__descriptor, timeout_ms, &resp, st);
    if (resp != NULL)
        protobuf_c_message_free_unpacked(resp, NULL);
    return st->code;
}

int mbt_attach_card(mbc_channel_t *ch, const char *api_key, const char *account, const char *pan,
                    const char *holder, char *token, size_t size, int timeout_ms)
{
    Minbill__V1__CardDetails card = MINBILL__V1__CARD_DETAILS__INIT;
    card.pan = (char *)pan;
    card.exp_month = 12;
    card.exp_year = 2031;
    if (holder != NULL)
        card.holder_name = (char *)holder;
    Minbill__V1__AttachPaymentMethodRequest req = MINBILL__V1__ATTACH_PAYMENT_METHOD_REQUEST__INIT;
    req.account_id = (char *)account;
    req.method_case = MINBILL__V1__ATTACH_PAYMENT_METHOD_REQUEST__METHOD_CARD;
    req.card = &card;
    ProtobufCMessage *resp = NULL;
    mb_error st;
    mbc_unary(ch, "/minbill.v1.Accounts/AttachPaymentMethod", api_key, &req.base,
              &minbill__v1__payment_method__descriptor, timeout_ms, &resp, &st);
    Minbill__V1__PaymentMethod *m = (void *)resp;
    snprintf(token, size, "%s", m != NULL ? m->token : "");
    if (resp != NULL)
        protobuf_c_message_free_unpacked(resp, NULL);
    return st.code;
}

Minbill__V1__PaymentMethod *mbt_attach(mbc_channel_t *ch, const char *api_key,
                                       const char *account, Minbill__V1__CardDetails *card,
                                       Minbill__V1__SepaDebitDetails *sepa, mb_error *st)
{
    Minbill__V1__AttachPaymentMethodRequest req = MINBILL__V1__ATTACH_PAYMENT_METHOD_REQUEST__INIT;
    req.account_id = (char *)account;
    /* card and sepa_debit share a union (the oneof). */
    if (card != NULL) {
        req.method_case = MINBILL__V1__ATTACH_PAYMENT_METHOD_REQUEST__METHOD_CARD;
        req.card = card;
    } else {
        req.method_case = MINBILL__V1__ATTACH_PAYMENT_METHOD_REQUEST__METHOD_SEPA_DEBIT;
        req.sepa_debit = sepa;
    }
    ProtobufCMessage *resp = NULL;
    mbc_unary(ch, "/minbill.v1.Accounts/AttachPaymentMethod", api_key, &req.base,
              &minbill__v1__payment_method__descriptor, 10000, &resp, st);
    return (Minbill__V1__PaymentMethod *)resp;
}

Minbill__V1__PaymentMethod *mbt_attach_sepa(mbc_channel_t *ch, const char *api_key,
                                            const char *account, const char *iban,
                                            const char *bic, const char *mandate,
                                            int64_t signed_at, mb_error *st)
{
    Google__Protobuf__Timestamp ts = GOOGLE__PROTOBUF__TIMESTAMP__INIT;
    ts.seconds = signed_at;
    Minbill__V1__SepaDebitDetails sepa = MINBILL__V1__SEPA_DEBIT_DETAILS__INIT;
    sepa.iban = (char *)iban;
    sepa.bic = (char *)bic;
    sepa.account_holder = "Autohaus Example GmbH";
    sepa.mandate_reference = (char *)mandate;
    sepa.mandate_signed_at = signed_at != 0 ? &ts : NULL;
    return mbt_attach(ch, api_key, account, NULL, &sepa, st);
}

int mbt_reveal_card(mbc_channel_t *ch, const char *api_key, const char *token, const char *purpose,
                    char *pan, size_t size, int timeout_ms)
{
    Minbill__V1__RevealPaymentMethodRequest req = MINBILL__V1__REVEAL_PAYMENT_METHOD_REQUEST__INIT;
    req.token = (char *)token;
    req.purpose = (char *)purpose;
    ProtobufCMessage *resp = NULL;
    mb_error st;
    mbc_unary(ch, "/minbill.v1.Accounts/RevealPaymentMethod", api_key, &req.base,
              &minbill__v1__reveal_payment_method_response__descriptor, timeout_ms, &resp, &st);
    Minbill__V1__RevealPaymentMethodResponse *r = (void *)resp;
    snprintf(pan, size, "%s", r != NULL && r->card != NULL ? r->card->pan : "");
    if (resp != NULL)
        protobuf_c_message_free_unpacked(resp, NULL);
    return st.code;
}

void mbt_luhn_pan(const char *body, char out[17])
{
    snprintf(out, 17, "%.15s", body);
    int sum = 0;
    for (int i = 0; i < 15; i++) {
        int v = out[14 - i] - '0';
        if (i % 2 == 0 && (v *= 2) > 9)
            v -= 9;
        sum += v;
    }
    out[15] = (char)('0' + (10 - sum % 10) % 10);
    out[16] = '\0';
}
