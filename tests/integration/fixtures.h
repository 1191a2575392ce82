/*
 * fixtures.h - requests that many integration tests and benchmarks make the
 * same way: an account to attach things to, a card number revealed.
 */
#ifndef MB_TEST_FIXTURES_H
#define MB_TEST_FIXTURES_H

#include <stddef.h>
#include <stdint.h>

#include "base/error.h"
#include "minbill/v1/accounts.pb-c.h"
#include "rpc_client.h"

/* UpsertAccount of a company at a Berlin address (DE, EUR) named
 * legal_name, with plan_id (NULL: none) and n contacts. Returns the status
 * code; *st (if not NULL) receives the whole status. */
int mbt_upsert_account(mbc_channel_t *ch, const char *api_key, const char *id,
                       const char *legal_name, const char *plan_id, Minbill__V1__Contact **contacts,
                       size_t n, int timeout_ms, mb_error *st);

/* mbt_upsert_account billed in currency instead of EUR. */
int mbt_upsert_account_in(mbc_channel_t *ch, const char *api_key, const char *id,
                          const char *legal_name, const char *currency, const char *plan_id,
                          Minbill__V1__Contact **contacts, size_t n, int timeout_ms, mb_error *st);

/* AttachPaymentMethod of a card (expiry 12/2031) to account; token (size
 * bytes) receives the token, or "". Returns the status code. */
int mbt_attach_card(mbc_channel_t *ch, const char *api_key, const char *account, const char *pan,
                    const char *holder, char *token, size_t size, int timeout_ms);

/* AttachPaymentMethod of card (if not NULL) or else sepa to account; the
 * answer (free with protobuf_c_message_free_unpacked), or NULL with *st
 * the status. */
Minbill__V1__PaymentMethod *mbt_attach(mbc_channel_t *ch, const char *api_key,
                                       const char *account, Minbill__V1__CardDetails *card,
                                       Minbill__V1__SepaDebitDetails *sepa, mb_error *st);

/* mbt_attach of a SEPA debit (holder "Autohaus Example GmbH") with mandate
 * signed at signed_at (Unix seconds; 0 leaves it unset). */
Minbill__V1__PaymentMethod *mbt_attach_sepa(mbc_channel_t *ch, const char *api_key,
                                            const char *account, const char *iban,
                                            const char *bic, const char *mandate,
                                            int64_t signed_at, mb_error *st);

/* RevealPaymentMethod of token with purpose; pan (size bytes) receives the
 * card number, or "" when none came back. Returns the status code. */
int mbt_reveal_card(mbc_channel_t *ch, const char *api_key, const char *token, const char *purpose,
                    char *pan, size_t size, int timeout_ms);

/* A 16-digit card number: the 15 digits of body and their Luhn check
 * digit. */
void mbt_luhn_pan(const char *body, char out[17]);

#endif
