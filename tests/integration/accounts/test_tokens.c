/*
 * test_tokens.c - payment-method tokens against the real daemon: a token
 * finds its payment method only whole (a token carries its row id, but an
 * altered letter, or an old token of the same row, finds nothing), and
 * tokens issued before migration 0006 (random, without an id, kept in
 * payment_token_legacy) still reveal, list, become the default and detach.
 *
 * Forged tokens are tried too: the id letters are the row id's digits
 * shifted by a keystream, so shifting the last letter of a token one step
 * yields a token that carries the next row's id, without any key; it must
 * find nothing for reveal, detach and set-default alike. The same holds for
 * an old token whose id was reused after a detach.
 *
 * A database from before 0006 cannot be made by today's daemon, so the test
 * turns one of today's payment methods into what 0006 makes of an old one:
 * a random token in the row and in payment_token_legacy, and the vault
 * re-sealed with that token as its row id (the associated data). It does
 * that with the service's own store, keyring and DEK code while the daemon
 * is stopped. tests/unit/store/test_migrate.c tests the migration's SQL.
 */
#include <signal.h>

#include <sodium.h>
#include <sqlite3.h>

#include "accounts/pm_token.h"
#include "base/arena.h"
#include "check.h"
#include "common.h"
#include "crypto/dek.h"
#include "crypto/keyring.h"
#include "fixtures.h"
#include "minbill/v1/accounts.pb-c.h"
#include "store/store.h"

#define LIST "/minbill.v1.Accounts/ListPaymentMethods"
#define DETACH "/minbill.v1.Accounts/DetachPaymentMethod"
#define SET_DEFAULT "/minbill.v1.Accounts/SetDefaultPaymentMethod"

static const char *const CARDS[] = {"4111111111111111", "5555555555554444", "4242424242424242"};

static mbt_server srv;
static char platform[MBT_KEY_MAX], payments[MBT_KEY_MAX], support[MBT_KEY_MAX];

static void free_msg(void *m)
{
    if (m != NULL)
        protobuf_c_message_free_unpacked(m, NULL);
}

/* Attaches pan to acc-t; out receives the token. */
static void attach(const char *pan, char out[PM_TOKEN_LEN + 1])
{
    CHECK(mbt_attach_card(srv.ch, platform, "acc-t", pan, "Jane Doe", out, PM_TOKEN_LEN + 1,
                          10000) == GRPC_STATUS_OK);
}

/* Reveals token; returns the status and copies the PAN into pan. */
static int reveal(const char *token, char *pan, size_t size)
{
    return mbt_reveal_card(srv.ch, payments, token, "collect-payment:token-test", pan, size, 10000);
}

/* Detach or SetDefault of token; returns the status. */
static int by_token(const char *method, const char *token)
{
    Minbill__V1__DetachPaymentMethodRequest detach =
        MINBILL__V1__DETACH_PAYMENT_METHOD_REQUEST__INIT;
    Minbill__V1__SetDefaultPaymentMethodRequest set_default =
        MINBILL__V1__SET_DEFAULT_PAYMENT_METHOD_REQUEST__INIT;
    detach.token = set_default.token = (char *)token;
    const ProtobufCMessage *req = strcmp(method, DETACH) == 0 ? &detach.base : &set_default.base;
    uint8_t buf[64];
    size_t len = protobuf_c_message_pack(req, buf);
    mb_error st;
    return mbt_call(srv.ch, method, platform, buf, len, &st);
}

static char tokens[3][PM_TOKEN_LEN + 1];

static void test_whole_token_only(void)
{
    for (int i = 0; i < 3; i++)
        attach(CARDS[i], tokens[i]);
    CHECK(strcmp(tokens[0], tokens[1]) != 0 && strcmp(tokens[1], tokens[2]) != 0);
    char pan[32];
    CHECK(reveal(tokens[1], pan, sizeof pan) == GRPC_STATUS_OK && strcmp(pan, CARDS[1]) == 0);
    /* One letter changed, in the nonce or in the id: nothing. */
    const int positions[] = {3, 10, 15, 16, 20, 26};
    for (size_t p = 0; p < sizeof positions / sizeof positions[0]; p++) {
        char t[PM_TOKEN_LEN + 1];
        memcpy(t, tokens[1], sizeof t);
        t[positions[p]] = t[positions[p]] == 'a' ? 'b' : 'a';
        int code = reveal(t, pan, sizeof pan);
        if (code != GRPC_STATUS_NOT_FOUND)
            fprintf(stderr, "   letter %d changed: status %d\n", positions[p], code);
        CHECK(code == GRPC_STATUS_NOT_FOUND && pan[0] == '\0');
    }
}

static const char BASE62[] = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/* token with its last letter moved `by` places along the base62 alphabet. */
static void shift_last(const char *token, int by, char out[PM_TOKEN_LEN + 1])
{
    memcpy(out, token, PM_TOKEN_LEN + 1);
    int v = (int)(strchr(BASE62, token[PM_TOKEN_LEN - 1]) - BASE62);
    out[PM_TOKEN_LEN - 1] = BASE62[(v + by + 62) % 62];
}

static void test_forged_and_reused(void)
{
    /* tokens[0..2] are rows 1..3: tokens[1] shifted by one carries row 3's
     * id (its last digit is 2, no carry), tokens[2] shifted back row 2's. */
    char forged[2][PM_TOKEN_LEN + 1], pan[32];
    shift_last(tokens[1], 1, forged[0]);
    shift_last(tokens[2], -1, forged[1]);
    for (int i = 0; i < 2; i++) {
        CHECK(reveal(forged[i], pan, sizeof pan) == GRPC_STATUS_NOT_FOUND && pan[0] == '\0');
        CHECK(by_token(SET_DEFAULT, forged[i]) == GRPC_STATUS_NOT_FOUND);
        CHECK(by_token(DETACH, forged[i]) == GRPC_STATUS_NOT_FOUND);
    }
    CHECK(mbt_db_long(srv.d.db, "SELECT count(*) FROM accounts WHERE account_id = 'acc-t'"
                                " AND default_payment_method IS NOT NULL") == 0);
    for (int i = 1; i < 3; i++)
        CHECK(reveal(tokens[i], pan, sizeof pan) == GRPC_STATUS_OK && strcmp(pan, CARDS[i]) == 0);

    /* Row 3 detached, the next attach gets id 3 again: the old token carries
     * that id but is not the new row's token. */
    CHECK(by_token(DETACH, tokens[2]) == GRPC_STATUS_OK);
    char reused[PM_TOKEN_LEN + 1];
    attach(CARDS[2], reused);
    CHECK(mbt_db_long(srv.d.db, "SELECT max(method_id) FROM payment_methods") == 3);
    CHECK(strcmp(reused, tokens[2]) != 0);
    CHECK(reveal(tokens[2], pan, sizeof pan) == GRPC_STATUS_NOT_FOUND);
    CHECK(by_token(DETACH, tokens[2]) == GRPC_STATUS_NOT_FOUND);
    CHECK(reveal(reused, pan, sizeof pan) == GRPC_STATUS_OK && strcmp(pan, CARDS[2]) == 0);
    memcpy(tokens[2], reused, sizeof reused);
}

/* Rewrites the payment method of `token` as migration 0006 leaves one
 * issued before it; legacy receives the new (random) token. */
static int make_legacy(const char *token, char legacy[PM_TOKEN_LEN + 1])
{
    store_conn_t *c = NULL;
    keyring_t *kr = NULL;
    mb_arena_t *ar = mb_arena_new(1 << 16);
    dek key = {0};
    mb_error err;
    mb_error_clear(&err);
    int ret = -1;
    sqlite3_stmt *st = NULL;
    pm_token_new(legacy);
    if (ar == NULL || store_conn_open(srv.d.db, false, false, &c, &err) != 0 ||
        keyring_load(srv.d.key_file, &kr, &err) != 0 ||
        store_conn_exec(c, "BEGIN IMMEDIATE", &err) != 0 || keyring_attach(kr, c, &err) != 0)
        goto out;
    sqlite3 *db = store_conn_db_borrow(c);
    if (sqlite3_prepare_v2(db,
                           "SELECT m.method_id, m.dek_id, v.number_ct, v.holder_ct"
                           " FROM payment_methods m JOIN payment_vault v USING (method_id)"
                           " WHERE m.token = ?1",
                           -1, &st, NULL) != SQLITE_OK)
        goto out;
    sqlite3_bind_text(st, 1, token, -1, SQLITE_STATIC);
    char *number, *holder;
    if (sqlite3_step(st) != SQLITE_ROW ||
        dek_load(c, kr, sqlite3_column_int64(st, 1), &key, &err) != 0 ||
        dek_column_open(st, 2, &key, "payment_vault", "number_ct", token, ar, &number, &err) != 0 ||
        dek_column_open(st, 3, &key, "payment_vault", "holder_ct", token, ar, &holder, &err) != 0)
        goto out;
    int64_t id = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    st = NULL;
    char sql[256];
    snprintf(sql, sizeof sql,
             "UPDATE payment_methods SET token = '%s' WHERE method_id = %lld;"
             "INSERT INTO payment_token_legacy(token, method_id) VALUES ('%s', %lld);",
             legacy, (long long)id, legacy, (long long)id);
    if (store_conn_exec(c, sql, &err) != 0 ||
        sqlite3_prepare_v2(db,
                           "UPDATE payment_vault SET number_ct = ?1, holder_ct = ?2"
                           " WHERE method_id = ?3",
                           -1, &st, NULL) != SQLITE_OK ||
        dek_bind_sealed(st, 1, &key, "payment_vault", "number_ct", legacy, number, &err) != 0 ||
        dek_bind_sealed(st, 2, &key, "payment_vault", "holder_ct", legacy, holder, &err) != 0)
        goto out;
    sqlite3_bind_int64(st, 3, id);
    if (sqlite3_step(st) != SQLITE_DONE || store_conn_exec(c, "COMMIT", &err) != 0)
        goto out;
    ret = 0;
out:
    if (ret != 0)
        fprintf(stderr, "   make_legacy: %s %s\n", err.msg,
                c ? sqlite3_errmsg(store_conn_db_borrow(c)) : "");
    sqlite3_finalize(st);
    dek_release(&key);
    store_conn_close(c); /* rolls back what is not committed */
    keyring_free(kr);
    mb_arena_free(ar);
    return ret;
}

static void test_legacy_token(void)
{
    char legacy[PM_TOKEN_LEN + 1], pan[32];
    CHECK(mbt_stop(&srv, SIGTERM) == 0);
    CHECK(make_legacy(tokens[0], legacy) == 0);
    CHECK(mbt_serve(&srv, NULL) == 0);
    CHECK(mbt_db_long(srv.d.db, "SELECT count(*) FROM payment_token_legacy") == 1);

    CHECK(reveal(legacy, pan, sizeof pan) == GRPC_STATUS_OK && strcmp(pan, CARDS[0]) == 0);
    /* The token the row had before carries the same id, but is not the
     * row's token any more: the id alone finds nothing. */
    CHECK(reveal(tokens[0], pan, sizeof pan) == GRPC_STATUS_NOT_FOUND);

    Minbill__V1__ListPaymentMethodsRequest lr = MINBILL__V1__LIST_PAYMENT_METHODS_REQUEST__INIT;
    lr.account_id = "acc-t";
    ProtobufCMessage *resp = NULL;
    mb_error st;
    mbc_unary(srv.ch, LIST, support, &lr.base,
              &minbill__v1__list_payment_methods_response__descriptor, 10000, &resp, &st);
    CHECK_STATUS(st, GRPC_STATUS_OK);
    Minbill__V1__ListPaymentMethodsResponse *l = (void *)resp;
    int listed = 0;
    for (size_t i = 0; l != NULL && i < l->n_payment_methods; i++)
        listed += strcmp(l->payment_methods[i]->token, legacy) == 0;
    CHECK(listed == 1);
    free_msg(resp);

    CHECK(by_token(SET_DEFAULT, legacy) == GRPC_STATUS_OK);
    CHECK(mbt_db_long(srv.d.db, "SELECT count(*) FROM accounts WHERE account_id = 'acc-t'"
                                " AND default_payment_method IS NOT NULL") == 1);
    CHECK(by_token(DETACH, legacy) == GRPC_STATUS_OK);
    CHECK(mbt_db_long(srv.d.db, "SELECT count(*) FROM payment_token_legacy") == 0);
    CHECK(mbt_db_long(srv.d.db, "SELECT count(*) FROM accounts WHERE account_id = 'acc-t'"
                                " AND default_payment_method IS NOT NULL") == 0);
    CHECK(reveal(legacy, pan, sizeof pan) == GRPC_STATUS_NOT_FOUND);
    CHECK(by_token(DETACH, legacy) == GRPC_STATUS_NOT_FOUND);

    /* Today's tokens are untouched, and new ones keep coming. */
    CHECK(reveal(tokens[2], pan, sizeof pan) == GRPC_STATUS_OK && strcmp(pan, CARDS[2]) == 0);
    char again[PM_TOKEN_LEN + 1];
    attach(CARDS[0], again);
    CHECK(strcmp(again, legacy) != 0 && strcmp(again, tokens[0]) != 0);
    CHECK(reveal(again, pan, sizeof pan) == GRPC_STATUS_OK && strcmp(pan, CARDS[0]) == 0);
}

int main(void)
{
    if (sodium_init() < 0 || mbt_up(&srv, NULL) != 0)
        return 1;
    mbt_key(&srv, "platform", platform);
    mbt_key(&srv, "payments", payments);
    mbt_key(&srv, "support", support);
    mb_error st;
    mbt_upsert_account(srv.ch, platform, "acc-t", "Autohaus Token GmbH", NULL, NULL, 0, 10000, &st);
    CHECK_STATUS(st, GRPC_STATUS_OK);
    RUN(test_whole_token_only);
    RUN(test_forged_and_reused);
    RUN(test_legacy_token);
    CHECK(mbt_down(&srv) == 0);
    return check_summary();
}
