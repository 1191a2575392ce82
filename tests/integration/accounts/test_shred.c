/*
 * test_shred.c - destroyed keys do not linger in the WAL.
 *
 * Detaching a payment method and removing a contact destroy their data
 * keys; secure_delete overwrites the rows in the database file, but the WAL
 * kept the frames that wrote them until enough later writes restarted it.
 * The daemon must checkpoint and truncate the WAL within 5 s of such a
 * shred: a byte scan of the database and its -wal then finds neither the
 * wrapped data key nor the ciphertext (taken from the database while they
 * existed, and shown to be in the WAL before the shred, so the scan can
 * fail).
 */
#include <signal.h>
#include <sqlite3.h>
#include <string.h>

#include "check.h"
#include "common.h"
#include "fixtures.h"
#include "minbill/v1/accounts.pb-c.h"

#define SCRUB_SECONDS 5.0
#define MAX_BLOBS 4
#define BLOB_MAX 256

static mbt_server srv;
static char platform[MBT_KEY_MAX];
static char wal[MBT_PATH + 40];

typedef struct blobs {
    int n;
    size_t len[MAX_BLOBS];
    unsigned char data[MAX_BLOBS][BLOB_MAX];
} blobs;

/* Every column of sql's one row, as bytes (the row must exist). */
static int read_blobs(const char *sql, const char *arg, blobs *out)
{
    sqlite3 *db = NULL;
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_open_v2(srv.d.db, &db, SQLITE_OPEN_READONLY, NULL);
    if (rc == SQLITE_OK)
        rc = sqlite3_prepare_v2(db, sql, -1, &st, NULL);
    if (rc == SQLITE_OK) {
        sqlite3_bind_text(st, 1, arg, -1, SQLITE_STATIC);
        rc = sqlite3_step(st);
    }
    out->n = 0;
    if (rc == SQLITE_ROW) {
        for (int i = 0; i < sqlite3_column_count(st) && i < MAX_BLOBS; i++) {
            size_t len = (size_t)sqlite3_column_bytes(st, i);
            if (len == 0 || len > BLOB_MAX)
                continue;
            memcpy(out->data[out->n], sqlite3_column_blob(st, i), len);
            out->len[out->n++] = len;
        }
    } else {
        fprintf(stderr, "  %s: %s\n", sql, db != NULL ? sqlite3_errmsg(db) : "cannot open");
    }
    sqlite3_finalize(st);
    sqlite3_close(db); /* a reader left open would hold the WAL */
    return rc == SQLITE_ROW && out->n > 0 ? 0 : -1;
}

/* How many of b are in the database file or its WAL. */
static int found(const blobs *b)
{
    int n = 0;
    for (int i = 0; i < b->n; i++)
        n += mbt_file_contains_bytes(srv.d.db, b->data[i], b->len[i]) ||
             mbt_file_contains_bytes(wal, b->data[i], b->len[i]);
    return n;
}

/* Waits up to SCRUB_SECONDS (stretched under valgrind) for none of b to
 * be left; says how long it took. */
static bool scrubbed(const blobs *b, const char *what)
{
    double t0 = mbt_now(), limit = mbt_ms((int)(SCRUB_SECONDS * 1000)) / 1000.0;
    while (found(b) > 0 && mbt_now() - t0 < limit)
        mbt_sleep_ms(50);
    int left = found(b);
    fprintf(stderr, "  %s: %d of %d byte strings left after %.2f s\n", what, left, b->n,
            mbt_now() - t0);
    return left == 0;
}

static int call(const char *method, const ProtobufCMessage *req)
{
    ProtobufCMessage *resp = NULL;
    mb_error st;
    mbc_unary(srv.ch, method, platform, req, &minbill__v1__account__descriptor, 20000, &resp, &st);
    if (resp != NULL)
        protobuf_c_message_free_unpacked(resp, NULL);
    return st.code;
}

static void test_detach_scrubs_wal(void)
{
    char token[32];
    CHECK(mbt_upsert_account(srv.ch, platform, "acc-shred-1", "Autohaus Shred GmbH", NULL, NULL, 0,
                             20000, NULL) == GRPC_STATUS_OK);
    CHECK(mbt_attach_card(srv.ch, platform, "acc-shred-1", "4242424242424242", "Jane Doe", token,
                          sizeof token, 20000) == GRPC_STATUS_OK);
    blobs b;
    CHECK(read_blobs("SELECT d.wrapped, v.number_ct, v.holder_ct FROM payment_methods m"
                     " JOIN data_keys d USING (dek_id) JOIN payment_vault v USING (method_id)"
                     " WHERE m.account_id = ?1",
                     "acc-shred-1", &b) == 0);
    CHECK(b.n == 3);
    CHECK(found(&b) == b.n);
    CHECK(mbt_file_contains_bytes(wal, b.data[0], b.len[0]));

    Minbill__V1__DetachPaymentMethodRequest req = MINBILL__V1__DETACH_PAYMENT_METHOD_REQUEST__INIT;
    req.token = token;
    ProtobufCMessage *resp = NULL;
    mb_error st;
    mbc_unary(srv.ch, "/minbill.v1.Accounts/DetachPaymentMethod", platform, &req.base,
              &minbill__v1__detach_payment_method_response__descriptor, 20000, &resp, &st);
    if (resp != NULL)
        protobuf_c_message_free_unpacked(resp, NULL);
    CHECK_STATUS(st, GRPC_STATUS_OK);
    CHECK(scrubbed(&b, "detach"));
}

static void test_contact_removal_scrubs_wal(void)
{
    Minbill__V1__Contact c = MINBILL__V1__CONTACT__INIT, *cp = &c;
    c.contact_id = "c-shred";
    c.role = MINBILL__V1__CONTACT_ROLE__CONTACT_ROLE_BILLING;
    c.name = "Erika Mustermann";
    c.email = "erika.mustermann@example.de";
    c.phone = "+4930123456789";
    CHECK(mbt_upsert_account(srv.ch, platform, "acc-shred-2", "Autohaus Zwei GmbH", NULL, &cp, 1,
                             20000, NULL) == GRPC_STATUS_OK);
    blobs b;
    CHECK(read_blobs("SELECT d.wrapped, c.name_ct, c.email_ct, c.phone_ct FROM contacts c"
                     " JOIN data_keys d USING (dek_id) WHERE c.account_id = ?1",
                     "acc-shred-2", &b) == 0);
    CHECK(b.n == 4);
    CHECK(found(&b) == b.n);

    Minbill__V1__RemoveContactRequest req = MINBILL__V1__REMOVE_CONTACT_REQUEST__INIT;
    req.account_id = "acc-shred-2";
    req.contact_id = "c-shred";
    CHECK(call("/minbill.v1.Accounts/RemoveContact", &req.base) == GRPC_STATUS_OK);
    CHECK(scrubbed(&b, "contact removal"));
}

int main(void)
{
    if (mbt_up(&srv, NULL) != 0)
        return 1;
    snprintf(wal, sizeof wal, "%s-wal", srv.d.db);
    mbt_key(&srv, "platform", platform);
    RUN(test_detach_scrubs_wal);
    RUN(test_contact_removal_scrubs_wal);
    CHECK(mbt_down(&srv) == 0);
    return check_summary();
}
