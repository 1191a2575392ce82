/*
 * test_accounts.c - Accounts.UpsertAccount / GetAccount / RemoveContact /
 * CloseAccount against the real daemon: masking by role, audited reveal,
 * contact merge, validation errors that name the field and never echo the
 * value, crypto-shredding on removal, no personal data in clear on disk or in
 * the log, and the audit chain's tamper evidence.
 */
#include <sqlite3.h>

#include <unistd.h>

#include "check.h"
#include "common.h"
#include "minbill/v1/accounts.pb-c.h"
#include "minbill/v1/audit.pb-c.h"

#define UPSERT "/minbill.v1.Accounts/UpsertAccount"
#define GET "/minbill.v1.Accounts/GetAccount"
#define REMOVE "/minbill.v1.Accounts/RemoveContact"
#define CLOSE "/minbill.v1.Accounts/CloseAccount"
#define VERIFY "/minbill.v1.Audit/VerifyAuditChain"
#define LIST_AUDIT "/minbill.v1.Audit/ListAuditEvents"

/* Personal data that must never appear in clear anywhere. */
static const char *const SECRETS[] = {"jane.doe@autohaus-example.de", "+4915112345667",
                                      "Jane Doe", "max.mustermann@autohaus-example.de",
                                      "+4930123456789", "Max Mustermann", "DE136695976"};

static mbt_server srv;
static char platform[MBT_KEY_MAX], support[MBT_KEY_MAX], finance[MBT_KEY_MAX],
    privacy[MBT_KEY_MAX];

typedef struct contact_spec {
    const char *id, *name, *email, *phone;
    Minbill__V1__ContactRole role;
} contact_spec;

/* UpsertAccount for account_id with the given contacts; returns the status
 * code, *out the response (caller frees) when OK. */
static int upsert(const char *key, const char *account_id, const char *legal_name,
                  const char *vat_id, const contact_spec *cs, size_t n,
                  Minbill__V1__Account **out, mb_error *st)
{
    Minbill__V1__PostalAddress addr = MINBILL__V1__POSTAL_ADDRESS__INIT;
    addr.line1 = "Hauptstrasse 1";
    addr.postal_code = "10115";
    addr.city = "Berlin";
    addr.country_code = "DE";
    Minbill__V1__Contact cbuf[8], *cp[8];
    for (size_t i = 0; i < n && i < 8; i++) {
        minbill__v1__contact__init(&cbuf[i]);
        cbuf[i].contact_id = (char *)cs[i].id;
        cbuf[i].name = (char *)cs[i].name;
        cbuf[i].email = (char *)cs[i].email;
        cbuf[i].phone = (char *)cs[i].phone;
        cbuf[i].role = cs[i].role;
        cp[i] = &cbuf[i];
    }
    Minbill__V1__Account acc = MINBILL__V1__ACCOUNT__INIT;
    acc.account_id = (char *)account_id;
    acc.legal_name = (char *)legal_name;
    acc.billing_address = &addr;
    acc.vat_id = (char *)vat_id;
    acc.currency = "EUR";
    acc.n_contacts = n;
    acc.contacts = cp;
    Minbill__V1__UpsertAccountRequest req = MINBILL__V1__UPSERT_ACCOUNT_REQUEST__INIT;
    req.account = &acc;
    ProtobufCMessage *resp = NULL;
    mbc_unary(srv.ch, UPSERT, key, &req.base, &minbill__v1__account__descriptor, 10000, &resp, st);
    if (out != NULL)
        *out = (Minbill__V1__Account *)resp;
    else if (resp != NULL)
        protobuf_c_message_free_unpacked(resp, NULL);
    return st->code;
}

static Minbill__V1__Account *get(const char *key, const char *account_id, int reveal,
                                 mb_error *st)
{
    Minbill__V1__GetAccountRequest req = MINBILL__V1__GET_ACCOUNT_REQUEST__INIT;
    req.account_id = (char *)account_id;
    req.reveal = reveal;
    ProtobufCMessage *resp = NULL;
    mbc_unary(srv.ch, GET, key, &req.base, &minbill__v1__account__descriptor, 10000, &resp, st);
    return (Minbill__V1__Account *)resp;
}

static const Minbill__V1__Contact *find_contact(const Minbill__V1__Account *a, const char *id)
{
    for (size_t i = 0; a != NULL && i < a->n_contacts; i++)
        if (strcmp(a->contacts[i]->contact_id, id) == 0)
            return a->contacts[i];
    return NULL;
}

static const contact_spec JANE = {"c-jane", "Jane Doe", "Jane.Doe@Autohaus-Example.de",
                                  "+49 151 1234 5667", MINBILL__V1__CONTACT_ROLE__CONTACT_ROLE_BILLING};
static const contact_spec MAX = {"c-max", "Max Mustermann", "max.mustermann@autohaus-example.de",
                                 "+49 30 123456789", MINBILL__V1__CONTACT_ROLE__CONTACT_ROLE_OWNER};

static void test_upsert_and_masked_reads(void)
{
    mb_error st;
    Minbill__V1__Account *a = NULL;
    contact_spec both[] = {JANE, MAX};
    CHECK(upsert(platform, "acc-1", "Autohaus Example GmbH", "DE 136 695 976", both, 2, &a, &st) ==
          GRPC_STATUS_OK);
    const Minbill__V1__Contact *j = find_contact(a, "c-jane");
    CHECK(j != NULL);
    if (j != NULL) {
        CHECK(strcmp(j->email, "j***@a***.de") == 0);
        CHECK(strcmp(j->phone, "+49 *** *** 67") == 0);
        CHECK(strcmp(j->name, "J. D.") == 0);
        CHECK(j->role == MINBILL__V1__CONTACT_ROLE__CONTACT_ROLE_BILLING);
    }
    CHECK(a != NULL && strcmp(a->legal_name, "Autohaus Example GmbH") == 0);
    CHECK(a != NULL && a->state == MINBILL__V1__ACCOUNT_STATE__ACCOUNT_STATE_ACTIVE);
    if (a != NULL)
        protobuf_c_message_free_unpacked(&a->base, NULL);

    const char *const readers[] = {support, finance, privacy};
    for (int r = 0; r < 3; r++) {
        a = get(readers[r], "acc-1", 0, &st);
        CHECK_STATUS(st, GRPC_STATUS_OK);
        CHECK(a != NULL && a->n_contacts == 2);
        j = find_contact(a, "c-max");
        CHECK(j != NULL && strcmp(j->email, "m***@a***.de") == 0 && strcmp(j->name, "M. M.") == 0);
        /* The support view has neither the address nor the VAT id. */
        CHECK(a != NULL && a->billing_address == NULL && a->vat_id[0] == '\0');
        if (a != NULL)
            protobuf_c_message_free_unpacked(&a->base, NULL);
    }
    a = get(platform, "acc-1", 0, &st);
    CHECK_STATUS(st, GRPC_STATUS_PERMISSION_DENIED);
    /* Support and finance asking for a reveal get the masked account (the
     * contract), and nothing is audited: nothing was revealed. */
    long audited = mbt_db_long(srv.d.db, "SELECT count(*) FROM audit_events");
    const char *const maskers[] = {support, finance};
    for (int r = 0; r < 2; r++) {
        a = get(maskers[r], "acc-1", 1, &st);
        CHECK_STATUS(st, GRPC_STATUS_OK);
        j = find_contact(a, "c-jane");
        CHECK(j != NULL && strcmp(j->email, "j***@a***.de") == 0 && strcmp(j->name, "J. D.") == 0);
        CHECK(a != NULL && a->billing_address == NULL && a->vat_id[0] == '\0');
        if (a != NULL)
            protobuf_c_message_free_unpacked(&a->base, NULL);
    }
    CHECK(mbt_db_long(srv.d.db, "SELECT count(*) FROM audit_events") == audited);
    a = get(support, "no-such-account", 0, &st);
    CHECK_STATUS(st, GRPC_STATUS_NOT_FOUND);
}

static void test_reveal_is_audited(void)
{
    mb_error st;
    Minbill__V1__Account *a = get(privacy, "acc-1", 1, &st);
    CHECK_STATUS(st, GRPC_STATUS_OK);
    const Minbill__V1__Contact *j = find_contact(a, "c-jane");
    CHECK(j != NULL && strcmp(j->email, "jane.doe@autohaus-example.de") == 0);
    CHECK(j != NULL && strcmp(j->phone, "+4915112345667") == 0);
    CHECK(j != NULL && strcmp(j->name, "Jane Doe") == 0);
    CHECK(a != NULL && strcmp(a->vat_id, "DE136695976") == 0);
    CHECK(a != NULL && a->billing_address != NULL &&
          strcmp(a->billing_address->city, "Berlin") == 0 &&
          strcmp(a->billing_address->country_code, "DE") == 0);
    if (a != NULL)
        protobuf_c_message_free_unpacked(&a->base, NULL);

    Minbill__V1__ListAuditEventsRequest req = MINBILL__V1__LIST_AUDIT_EVENTS_REQUEST__INIT;
    req.account_id = "acc-1";
    ProtobufCMessage *resp = NULL;
    mbc_unary(srv.ch, LIST_AUDIT, privacy, &req.base,
              &minbill__v1__list_audit_events_response__descriptor, 10000, &resp, &st);
    CHECK_STATUS(st, GRPC_STATUS_OK);
    Minbill__V1__ListAuditEventsResponse *l = (void *)resp;
    int reveals = 0;
    for (size_t i = 0; l != NULL && i < l->n_events; i++) {
        if (strcmp(l->events[i]->action, "account.reveal") == 0) {
            reveals++;
            CHECK(l->events[i]->actor_role == MINBILL__V1__ROLE__ROLE_PRIVACY);
            CHECK(strncmp(privacy + 4, l->events[i]->actor_key_id, 12) == 0);
        }
    }
    CHECK(reveals == 1);
    if (resp != NULL)
        protobuf_c_message_free_unpacked(resp, NULL);
    /* Audit is for the privacy role only. */
    mbc_unary(srv.ch, LIST_AUDIT, support, &req.base,
              &minbill__v1__list_audit_events_response__descriptor, 10000, &resp, &st);
    CHECK_STATUS(st, GRPC_STATUS_PERMISSION_DENIED);
}

static void test_merge_by_contact_id(void)
{
    mb_error st;
    contact_spec jane2 = JANE;
    jane2.phone = "+49 151 9999 0042";
    Minbill__V1__Account *a = NULL;
    /* Only Jane is listed: Max stays, Jane's phone changes. */
    CHECK(upsert(platform, "acc-1", "Autohaus Example GmbH", "", &jane2, 1, &a, &st) ==
          GRPC_STATUS_OK);
    CHECK(a != NULL && a->n_contacts == 2);
    const Minbill__V1__Contact *j = find_contact(a, "c-jane");
    CHECK(j != NULL && strcmp(j->phone, "+49 *** *** 42") == 0);
    CHECK(find_contact(a, "c-max") != NULL);
    if (a != NULL)
        protobuf_c_message_free_unpacked(&a->base, NULL);
    /* Idempotent: the same upsert again changes nothing visible. */
    CHECK(upsert(platform, "acc-1", "Autohaus Example GmbH", "", &jane2, 1, &a, &st) ==
          GRPC_STATUS_OK);
    CHECK(a != NULL && a->n_contacts == 2);
    if (a != NULL)
        protobuf_c_message_free_unpacked(&a->base, NULL);
    CHECK(upsert(platform, "acc-1", "Autohaus Example GmbH", "", &JANE, 1, NULL, &st) ==
          GRPC_STATUS_OK);
}

/* An invalid upsert must name the field, hide the value, write nothing. */
static void expect_invalid(const char *account_id, const char *legal_name, const char *vat,
                           const contact_spec *c, const char *field, const char *value)
{
    mb_error st;
    upsert(platform, account_id, legal_name, vat, c, c ? 1 : 0, NULL, &st);
    CHECK_STATUS(st, GRPC_STATUS_INVALID_ARGUMENT);
    CHECK_CONTAINS(st.msg, field);
    if (value != NULL && value[0] != '\0')
        CHECK(strstr(st.msg, value) == NULL);
    /* Nothing was written (an invalid id cannot even be looked up). */
    Minbill__V1__Account *a = get(support, account_id, 0, &st);
    CHECK(st.code == GRPC_STATUS_NOT_FOUND || st.code == GRPC_STATUS_INVALID_ARGUMENT);
    if (a != NULL)
        protobuf_c_message_free_unpacked(&a->base, NULL);
}

static void test_validation(void)
{
    contact_spec c = JANE;
    c.email = "jane.doe@";
    expect_invalid("acc-bad", "X GmbH", "", &c, "account.contacts[0].email", "jane.doe");
    c = JANE;
    c.phone = "0151 12345";
    expect_invalid("acc-bad", "X GmbH", "", &c, "account.contacts[0].phone", "12345");
    c = JANE;
    c.role = MINBILL__V1__CONTACT_ROLE__CONTACT_ROLE_UNSPECIFIED;
    expect_invalid("acc-bad", "X GmbH", "", &c, "account.contacts[0].role", NULL);
    c = JANE;
    c.id = "bad id with spaces";
    expect_invalid("acc-bad", "X GmbH", "", &c, "account.contacts[0].contact_id", NULL);
    expect_invalid("acc-bad", "X GmbH", "DE123", NULL, "account.vat_id", "DE123");
    expect_invalid("acc-bad", "X GmbH", "NL123456789B01", NULL, "account.vat_id", "123456789");
    expect_invalid("acc-bad", "", "", NULL, "account.legal_name", NULL);
    char long_name[300];
    memset(long_name, 'a', sizeof long_name - 1);
    long_name[sizeof long_name - 1] = '\0';
    expect_invalid("acc-bad", long_name, "", NULL, "account.legal_name", NULL);
    expect_invalid("acc-bad", "Tab\there", "", NULL, "account.legal_name", NULL);
    expect_invalid("acc/bad", "X GmbH", "", NULL, "account.account_id", NULL);
    /* Invalid UTF-8 is caught on the wire, named by its path. */
    expect_invalid("acc-bad", "Autohaus \xff GmbH", "", NULL, "account.legal_name", NULL);
    contact_spec dup[] = {JANE, JANE};
    mb_error st;
    upsert(platform, "acc-bad", "X GmbH", "", dup, 2, NULL, &st);
    CHECK_STATUS(st, GRPC_STATUS_INVALID_ARGUMENT);
    CHECK_CONTAINS(st.msg, "account.contacts[1].contact_id");
}

static void test_remove_contact_shreds(void)
{
    mb_error st;
    int keys_before = mbt_db_long(srv.d.db, "SELECT count(*) FROM data_keys");
    Minbill__V1__RemoveContactRequest req = MINBILL__V1__REMOVE_CONTACT_REQUEST__INIT;
    req.account_id = "acc-1";
    req.contact_id = "c-max";
    ProtobufCMessage *resp = NULL;
    mbc_unary(srv.ch, REMOVE, platform, &req.base, &minbill__v1__account__descriptor, 10000, &resp,
              &st);
    CHECK_STATUS(st, GRPC_STATUS_OK);
    Minbill__V1__Account *a = (void *)resp;
    CHECK(a != NULL && a->n_contacts == 1 && find_contact(a, "c-max") == NULL);
    if (resp != NULL)
        protobuf_c_message_free_unpacked(resp, NULL);
    CHECK(mbt_db_long(srv.d.db, "SELECT count(*) FROM data_keys") == keys_before - 1);
    CHECK(mbt_db_long(srv.d.db, "SELECT count(*) FROM contacts WHERE contact_id = 'c-max'") == 0);
    mbc_unary(srv.ch, REMOVE, platform, &req.base, &minbill__v1__account__descriptor, 10000, &resp,
              &st);
    CHECK_STATUS(st, GRPC_STATUS_NOT_FOUND);
}

static void test_close(void)
{
    mb_error st;
    Minbill__V1__CloseAccountRequest req = MINBILL__V1__CLOSE_ACCOUNT_REQUEST__INIT;
    req.account_id = "acc-1";
    ProtobufCMessage *resp = NULL;
    mbc_unary(srv.ch, CLOSE, platform, &req.base, &minbill__v1__account__descriptor, 10000, &resp,
              &st);
    CHECK_STATUS(st, GRPC_STATUS_OK);
    CHECK(resp != NULL &&
          ((Minbill__V1__Account *)resp)->state == MINBILL__V1__ACCOUNT_STATE__ACCOUNT_STATE_CLOSED);
    if (resp != NULL)
        protobuf_c_message_free_unpacked(resp, NULL);
    CHECK(upsert(platform, "acc-1", "Autohaus Example GmbH", "", &JANE, 1, NULL, &st) ==
          GRPC_STATUS_FAILED_PRECONDITION);
    req.account_id = "nope";
    mbc_unary(srv.ch, CLOSE, platform, &req.base, &minbill__v1__account__descriptor, 10000, &resp,
              &st);
    CHECK_STATUS(st, GRPC_STATUS_NOT_FOUND);
}

/* No clear personal data in the database file, its WAL or the log. */
static void scan_files(void)
{
    char wal[MBT_PATH + 64];
    snprintf(wal, sizeof wal, "%s-wal", srv.d.db);
    const char *paths[] = {srv.d.db, wal, srv.d.log};
    CHECK(access(srv.d.log, R_OK) == 0);
    for (size_t p = 0; p < sizeof paths / sizeof paths[0]; p++) {
        for (size_t s = 0; s < sizeof SECRETS / sizeof SECRETS[0]; s++) {
            bool found = mbt_file_contains(paths[p], SECRETS[s]);
            if (found)
                fprintf(stderr, "   %s contains a secret (#%zu)\n", paths[p], s);
            CHECK(!found);
        }
    }
}

static int verify(Minbill__V1__VerifyAuditChainResponse **out, mb_error *st)
{
    Minbill__V1__VerifyAuditChainRequest req = MINBILL__V1__VERIFY_AUDIT_CHAIN_REQUEST__INIT;
    return mbc_unary(srv.ch, VERIFY, privacy, &req.base,
                     &minbill__v1__verify_audit_chain_response__descriptor, 10000,
                     (ProtobufCMessage **)out, st);
}

static void test_audit_chain_tamper_evident(void)
{
    mb_error st;
    Minbill__V1__VerifyAuditChainResponse *v = NULL;
    CHECK(verify(&v, &st) == 0);
    CHECK(v != NULL && v->intact && v->events >= 3 && v->head_hash.len == 32);
    if (v != NULL)
        protobuf_c_message_free_unpacked(&v->base, NULL);

    sqlite3 *db;
    CHECK(sqlite3_open(srv.d.db, &db) == SQLITE_OK);
    sqlite3_busy_timeout(db, 5000);
    /* The trigger refuses edits... */
    CHECK(sqlite3_exec(db, "UPDATE audit_events SET purpose = 'x' WHERE seq = 2", NULL, NULL,
                       NULL) != SQLITE_OK);
    CHECK(sqlite3_exec(db, "DELETE FROM audit_events WHERE seq = 2", NULL, NULL, NULL) !=
          SQLITE_OK);
    /* ...so an attacker with file access drops it first. */
    CHECK(sqlite3_exec(db,
                       "DROP TRIGGER audit_events_no_update;"
                       "UPDATE audit_events SET purpose = 'nothing to see' WHERE seq = 2;",
                       NULL, NULL, NULL) == SQLITE_OK);
    sqlite3_close(db);
    CHECK(verify(&v, &st) == 0);
    CHECK(v != NULL && !v->intact);
    CHECK(v != NULL && strcmp(v->first_broken_event, "ae_2") == 0);
    if (v != NULL)
        protobuf_c_message_free_unpacked(&v->base, NULL);
}

int main(void)
{
    if (mbt_up(&srv, NULL) != 0)
        return 1;
    mbt_key(&srv, "platform", platform);
    mbt_key(&srv, "support", support);
    mbt_key(&srv, "finance", finance);
    mbt_key(&srv, "privacy", privacy);
    RUN(test_upsert_and_masked_reads);
    RUN(test_reveal_is_audited);
    RUN(test_merge_by_contact_id);
    RUN(test_validation);
    RUN(test_remove_contact_shreds);
    RUN(test_close);
    RUN(scan_files);
    RUN(test_audit_chain_tamper_evident);
    CHECK(mbt_down(&srv) == 0);
    return check_summary();
}
