/*
 * test_export.c - ExportSubjectData against the real daemon.
 *
 * The completeness proof: a randomly generated world (several accounts,
 * random names, e-mails, phones, addresses, VAT ids, card holders, mandate
 * references; one e-mail shared by contacts on two accounts), and for each
 * kind of subject every personal value stored for it appears in the
 * exported document and no value of another subject does (byte search).
 * Also: the account's own fields, payment metadata, usage and invoices by
 * account, never a card number or IBAN; the "no data" answer for an e-mail
 * that matches nothing; the document is valid JSON of the documented
 * schema; wrong kind, closed request, unknown request, support role; the
 * audit event committed with the request id; a slow reader gets bounded
 * chunks; the retention stated is the stored setting (a daemon started with
 * --closed-account-grace-days 45 exports 45 days, not the default 30).
 *
 * MINBILL_TEST_SEED=N replays a world.
 */
#include <signal.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/check.h"
#include "check.h"
#include "priv_util.h"
#include "common.h"
#include "fixtures.h"
#include "inv_util.h"
#include "minbill/v1/privacy.pb-c.h"

#define COMPLETE "/minbill.v1.Privacy/CompleteSubjectRequest"
#define KIND(k) MINBILL__V1__SUBJECT_REQUEST_KIND__SUBJECT_REQUEST_KIND_##k

#define N_ACCOUNTS 4
#define MAX_CONTACTS 3
#define VAL 64
/* The daemon's chunk size (EXPORT_CHUNK_BYTES). */
#define EXPORT_CHUNK_TEST (32 * 1024)

static mbt_server srv;
static iu_keys keys;
static char privacy[MBT_KEY_MAX];

/* --- The random world ----------------------------------------------------- */

typedef struct person {
    char id[16], name[VAL], email[VAL], phone[VAL];
} person;

typedef struct dealer {
    char id[16], legal_name[VAL], line1[VAL], city[VAL], postal[8], vat[16];
    char holder[VAL], pan[20], last4[5], token[64];
    char mandate[VAL], sepa_holder[VAL], iban[40];
    person c[MAX_CONTACTS];
    int n;
} dealer;

static dealer world[N_ACCOUNTS];
static char invoice_number[32];

static void rnd_word(char *out, int len)
{
    out[0] = (char)('A' + rand() % 26);
    for (int i = 1; i < len; i++)
        out[i] = (char)('a' + rand() % 26);
    out[len] = '\0';
}

static void rnd_digits(char *out, int len)
{
    for (int i = 0; i < len; i++)
        out[i] = (char)('0' + rand() % 10);
    out[len] = '\0';
}

/* A German VAT id: random digits until the check digit is right. */
static void rnd_vat_de(char out[16])
{
    char candidate[16], digits[10];
    mb_error err;
    do {
        rnd_digits(digits, 9);
        snprintf(candidate, sizeof candidate, "DE%s", digits);
    } while (digits[0] == '0' ||
             check_vat_id("vat_id", candidate, "DE", "country_code", out, 16, &err) != 0);
}

/* A German IBAN: random account, check digits by ISO 7064 MOD 97-10. */
static void rnd_iban(char out[40])
{
    char bban[19];
    rnd_digits(bban, 18);
    char num[40];
    snprintf(num, sizeof num, "%s131400", bban); /* "DE00" moved to the end */
    int mod = 0;
    for (const char *p = num; *p; p++)
        mod = (mod * 10 + (*p - '0')) % 97;
    snprintf(out, 40, "DE%02d%s", 98 - mod, bban);
}

static void make_world(void)
{
    for (int a = 0; a < N_ACCOUNTS; a++) {
        dealer *d = &world[a];
        char w1[12], w2[12];
        snprintf(d->id, sizeof d->id, "dealer-%d", a);
        rnd_word(w1, 9);
        snprintf(d->legal_name, sizeof d->legal_name, "Autohaus %s", w1);
        rnd_word(w1, 10);
        snprintf(d->line1, sizeof d->line1, "%sstrasse %d", w1, 1 + rand() % 200);
        rnd_word(d->city, 11);
        rnd_digits(d->postal, 5);
        rnd_vat_de(d->vat);
        rnd_word(w1, 8);
        rnd_word(w2, 9);
        snprintf(d->holder, sizeof d->holder, "%s %s", w1, w2);
        char body[16];
        rnd_digits(body, 15);
        body[0] = '4';
        mbt_luhn_pan(body, d->pan);
        memcpy(d->last4, d->pan + 12, 4);
        d->last4[4] = '\0';
        rnd_word(w1, 10);
        snprintf(d->mandate, sizeof d->mandate, "MNDT-%s", w1);
        rnd_word(w1, 8);
        snprintf(d->sepa_holder, sizeof d->sepa_holder, "%s SEPA GmbH", w1);
        rnd_iban(d->iban);
        d->n = 1 + rand() % MAX_CONTACTS;
        if (a < 2 && d->n < 2)
            d->n = 2;
        for (int i = 0; i < d->n; i++) {
            person *p = &d->c[i];
            snprintf(p->id, sizeof p->id, "c%d", i + 1);
            rnd_word(w1, 7);
            rnd_word(w2, 10);
            snprintf(p->name, sizeof p->name, "%s %s", w1, w2);
            rnd_word(w1, 9);
            rnd_word(w2, 8);
            snprintf(p->email, sizeof p->email, "%s.%s@example.com", w1, w2);
            for (char *c = p->email; *c; c++)
                if (*c >= 'A' && *c <= 'Z')
                    *c = (char)(*c - 'A' + 'a');
            char digits[12];
            rnd_digits(digits, 9);
            snprintf(p->phone, sizeof p->phone, "+49151%s", digits);
        }
    }
    /* One person, contact of two dealers under different ids. */
    snprintf(world[1].c[1].email, VAL, "%s", world[0].c[1].email);
}

static int upsert(const dealer *d)
{
    Minbill__V1__Contact c[MAX_CONTACTS], *pc[MAX_CONTACTS];
    for (int i = 0; i < d->n; i++) {
        minbill__v1__contact__init(&c[i]);
        c[i].contact_id = (char *)d->c[i].id;
        c[i].role = MINBILL__V1__CONTACT_ROLE__CONTACT_ROLE_BILLING;
        c[i].name = (char *)d->c[i].name;
        c[i].email = (char *)d->c[i].email;
        c[i].phone = (char *)d->c[i].phone;
        pc[i] = &c[i];
    }
    Minbill__V1__PostalAddress addr = MINBILL__V1__POSTAL_ADDRESS__INIT;
    addr.line1 = (char *)d->line1;
    addr.postal_code = (char *)d->postal;
    addr.city = (char *)d->city;
    addr.country_code = "DE";
    Minbill__V1__Account acc = MINBILL__V1__ACCOUNT__INIT;
    acc.account_id = (char *)d->id;
    acc.legal_name = (char *)d->legal_name;
    acc.billing_address = &addr;
    acc.vat_id = (char *)d->vat;
    acc.currency = "EUR";
    acc.plan_id = "pro";
    acc.n_contacts = (size_t)d->n;
    acc.contacts = pc;
    Minbill__V1__UpsertAccountRequest req = MINBILL__V1__UPSERT_ACCOUNT_REQUEST__INIT;
    req.account = &acc;
    ProtobufCMessage *resp = NULL;
    mb_error st;
    mbc_unary(srv.ch, "/minbill.v1.Accounts/UpsertAccount", keys.platform, &req.base,
              &minbill__v1__account__descriptor, mbt_ms(10000), &resp, &st);
    if (resp != NULL)
        protobuf_c_message_free_unpacked(resp, NULL);
    if (st.code != GRPC_STATUS_OK)
        fprintf(stderr, "UpsertAccount %s: %s\n", d->id, st.msg);
    return st.code;
}

static void setup_world(void)
{
    make_world();
    CHECK(iu_plan(&srv, &keys) == 0);
    for (int a = 0; a < N_ACCOUNTS; a++) {
        dealer *d = &world[a];
        CHECK(upsert(d) == 0);
        CHECK(mbt_attach_card(srv.ch, keys.platform, d->id, d->pan, d->holder, d->token,
                              sizeof d->token, mbt_ms(10000)) == 0);
        mb_error st;
        Minbill__V1__SepaDebitDetails sepa = MINBILL__V1__SEPA_DEBIT_DETAILS__INIT;
        Google__Protobuf__Timestamp signed_at = GOOGLE__PROTOBUF__TIMESTAMP__INIT;
        signed_at.seconds = (int64_t)time(NULL) - 86400;
        sepa.iban = d->iban;
        sepa.account_holder = d->sepa_holder;
        sepa.mandate_reference = d->mandate;
        sepa.mandate_signed_at = &signed_at;
        Minbill__V1__PaymentMethod *pm = mbt_attach(srv.ch, keys.platform, d->id, NULL, &sepa, &st);
        if (pm == NULL)
            fprintf(stderr, "attach SEPA %s: %s\n", d->id, st.msg);
        CHECK(pm != NULL);
        if (pm != NULL)
            protobuf_c_message_free_unpacked(&pm->base, NULL);
    }
    /* Last month's usage and invoice of dealer-0 (and dealer-1). */
    char period[8];
    int64_t when = iu_month_ago(1, period);
    CHECK(iu_usage(&srv, &keys, "u-0", world[0].id, "messages", 4321, when) == 0);
    CHECK(iu_usage(&srv, &keys, "u-1", world[1].id, "messages", 1234, when) == 0);
    iu_run run;
    iu_billing(&srv, &keys, period, false, mbt_ms(60000), &run);
    CHECK_STATUS(run.st, GRPC_STATUS_OK);
    iu_run_free(&run);
    iu_number_of(&srv, &keys, world[0].id, period, invoice_number);
    CHECK(invoice_number[0] != '\0');
}

/* --- Requests and exports ---------------------------------------------- */

static bool in_doc(const pu_export_result *r, const char *value)
{
    return r->doc != NULL && strstr(r->doc, value) != NULL;
}

/* The JSON the document holds at path (SQLite's JSON functions): its text,
 * "" if absent or invalid. */
static void json_at(const pu_export_result *r, const char *path, char *out, size_t size)
{
    sqlite3 *db;
    out[0] = '\0';
    if (sqlite3_open(":memory:", &db) != SQLITE_OK)
        return;
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(db, "SELECT CASE WHEN json_valid(?1) THEN json_extract(?1, ?2) END", -1,
                           &st, NULL) == SQLITE_OK) {
        sqlite3_bind_text(st, 1, r->doc != NULL ? r->doc : "", -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 2, path, -1, SQLITE_STATIC);
        if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_text(st, 0) != NULL)
            snprintf(out, size, "%s", sqlite3_column_text(st, 0));
        sqlite3_finalize(st);
    }
    sqlite3_close(db);
}

static long json_long(const pu_export_result *r, const char *path)
{
    char buf[64];
    json_at(r, path, buf, sizeof buf);
    return buf[0] != '\0' ? atol(buf) : -1;
}

/* Every value of a contact. */
static const char *person_value(const person *p, int i)
{
    return i == 0 ? p->name : i == 1 ? p->email : p->phone;
}

/* Every value of a dealer's own (account, payment) fields. */
static const char *dealer_value(const dealer *d, int i)
{
    const char *v[] = {d->legal_name, d->line1,   d->city,       d->vat,
                       d->holder,     d->mandate, d->sepa_holder};
    return i < (int)(sizeof v / sizeof v[0]) ? v[i] : NULL;
}

static bool is_subject_contact(const person *const *subject, int n, const char *value)
{
    for (int i = 0; i < n; i++)
        for (int k = 0; k < 3; k++)
            if (strcmp(person_value(subject[i], k), value) == 0)
                return true;
    return false;
}

/* The proof: every value of the subject's contacts (and, if whole, of the
 * subject dealer's own fields) is in the document; no value of anyone
 * else, and never a card number or IBAN. */
static void check_complete(const pu_export_result *r, const person *const *subject, int n,
                           const dealer *whole)
{
    for (int i = 0; i < n; i++)
        for (int k = 0; k < 3; k++) {
            if (!in_doc(r, person_value(subject[i], k)))
                fprintf(stderr, "   missing: contact %s value %d\n", subject[i]->id, k);
            CHECK(in_doc(r, person_value(subject[i], k)));
        }
    for (int a = 0; a < N_ACCOUNTS; a++) {
        const dealer *d = &world[a];
        CHECK(!in_doc(r, d->pan));
        CHECK(!in_doc(r, d->iban));
        for (int k = 0; dealer_value(d, k) != NULL; k++) {
            bool want = d == whole;
            if (in_doc(r, dealer_value(d, k)) != want)
                fprintf(stderr, "   %s: %s value %d\n", want ? "missing" : "leaked", d->id, k);
            CHECK(in_doc(r, dealer_value(d, k)) == want);
        }
        for (int c = 0; c < d->n; c++)
            for (int k = 0; k < 3; k++) {
                const char *v = person_value(&d->c[c], k);
                if (is_subject_contact(subject, n, v))
                    continue;
                if (in_doc(r, v))
                    fprintf(stderr, "   leaked: %s/%s value %d\n", d->id, d->c[c].id, k);
                CHECK(!in_doc(r, v));
            }
    }
}

static void export_ok(const char *request_id, pu_export_result *r)
{
    pu_export(&srv, privacy, request_id, 0, r);
    CHECK_STATUS(r->st, GRPC_STATUS_OK);
    char buf[64];
    json_at(r, "$.schema_version", buf, sizeof buf);
    CHECK(strcmp(buf, "1") == 0);
    json_at(r, "$.request.request_id", buf, sizeof buf);
    CHECK(strcmp(buf, request_id) == 0);
}

/* --- Tests --------------------------------------------------------------- */

static void test_by_shared_email(void)
{
    char id[64];
    CHECK(pu_open(&srv, privacy, KIND(ACCESS), world[0].c[1].email, NULL, NULL, id) == 0);
    pu_export_result r;
    export_ok(id, &r);
    const person *subject[] = {&world[0].c[1], &world[1].c[1]};
    check_complete(&r, subject, 2, NULL);
    CHECK(json_long(&r, "$.found") == 1);
    CHECK(json_long(&r, "$.accounts[#-1].whole_account") == 0);
    /* One part per account, each with its one contact's record. */
    char buf[256];
    json_at(&r, "$.accounts", buf, sizeof buf);
    CHECK(json_long(&r, "$.accounts[1].records[0].fields[0].portable") == 1);
    json_at(&r, "$.accounts[0].records[0].table", buf, sizeof buf);
    CHECK(strcmp(buf, "contacts") == 0);
    CHECK(json_long(&r, "$.accounts[2].account_id") == -1);
    /* Invoices, usage and payment data are the account's, not the contact's. */
    CHECK(!in_doc(&r, invoice_number));
    CHECK(!in_doc(&r, "\"usage_counters\""));
    /* The export is in the trail of both accounts, with its request id. */
    char sql[256];
    snprintf(sql, sizeof sql,
             "SELECT count(DISTINCT account_id) FROM audit_events WHERE action = 'subject.export'"
             " AND request_id = '%s' AND actor_role = 'privacy'",
             id);
    CHECK(mbt_db_long(srv.d.db, sql) == 2);
    pu_export_free(&r);
}

static void test_by_contact(void)
{
    for (int a = 0; a < N_ACCOUNTS; a++) {
        const dealer *d = &world[a];
        const person *p = &d->c[rand() % d->n];
        char cid[2 * sizeof p->id + 8], id[64];
        snprintf(cid, sizeof cid, "%.15s/%.15s", d->id, p->id);
        CHECK(pu_open(&srv, privacy, KIND(PORTABILITY), NULL, cid, NULL, id) == 0);
        /* The last one objected to marketing first: the export says so. */
        bool objected = a == N_ACCOUNTS - 1;
        char objection[64];
        if (objected)
            CHECK(pu_open(&srv, privacy, KIND(OBJECTION), NULL, cid, NULL, objection) == 0);
        pu_export_result r;
        export_ok(id, &r);
        const person *subject[] = {p};
        check_complete(&r, subject, 1, NULL);
        CHECK(json_long(&r, "$.accounts[0].records[0].marketing_objection") == objected);
        CHECK(json_long(&r, "$.accounts[0].records[0].restricted") == 0);
        pu_export_free(&r);
    }
}

static void test_by_account(void)
{
    const dealer *d = &world[0];
    char id[64];
    CHECK(pu_open(&srv, privacy, KIND(ACCESS), NULL, NULL, d->id, id) == 0);
    Minbill__V1__GetAccountRequest get = MINBILL__V1__GET_ACCOUNT_REQUEST__INIT;
    get.account_id = (char *)d->id;
    get.reveal = true;
    ProtobufCMessage *acc = NULL;
    mb_error st;
    mbc_unary(srv.ch, "/minbill.v1.Accounts/GetAccount", privacy, &get.base,
              &minbill__v1__account__descriptor, mbt_ms(10000), &acc, &st);
    CHECK_STATUS(st, GRPC_STATUS_OK);
    if (acc != NULL)
        protobuf_c_message_free_unpacked(acc, NULL);
    pu_export_result r;
    export_ok(id, &r);
    const person *subject[MAX_CONTACTS];
    for (int i = 0; i < d->n; i++)
        subject[i] = &d->c[i];
    /* Every contact of the account, its own fields, payment data. */
    check_complete(&r, subject, d->n, d);
    CHECK(json_long(&r, "$.accounts[0].whole_account") == 1);
    char buf[128];
    snprintf(buf, sizeof buf, "\"%s\"", d->last4);
    CHECK(in_doc(&r, buf));
    CHECK(in_doc(&r, "\"exp_year\":2031"));
    CHECK(in_doc(&r, "\"brand\":"));
    /* The full numbers are named, never shown. */
    CHECK(in_doc(&r, "\"column\":\"number_ct\""));
    /* Usage, invoices with the recipient snapshot. */
    CHECK(in_doc(&r, "\"quantity\":4321"));
    snprintf(buf, sizeof buf, "\"invoice_number\":\"%s\"", invoice_number);
    CHECK(in_doc(&r, buf));
    json_at(&r, "$.accounts[0].invoices[0].recipient.vat_id", buf, sizeof buf);
    CHECK(strcmp(buf, d->vat) == 0);
    json_at(&r, "$.accounts[0].invoices[0].recipient.address.city", buf, sizeof buf);
    CHECK(strcmp(buf, d->city) == 0);
    /* The billing address decodes into its parts. */
    CHECK(strstr(r.doc != NULL ? r.doc : "", "\"postal_code\":\"") != NULL);
    CHECK(in_doc(&r, d->postal));
    /* Earlier requests about the account's contacts (the shared e-mail's
     * covered one of them), and the trail: the reveal before, this export. */
    json_at(&r, "$.accounts[0].earlier_requests[0].kind", buf, sizeof buf);
    CHECK(strcmp(buf, "access") == 0);
    json_at(&r, "$.accounts[0].access_log[#-1].action", buf, sizeof buf);
    CHECK(strcmp(buf, "subject.export") == 0);
    json_at(&r, "$.accounts[0].access_log[#-1].request_id", buf, sizeof buf);
    CHECK(strcmp(buf, id) == 0);
    json_at(&r, "$.accounts[0].access_log[#-2].action", buf, sizeof buf);
    CHECK(strcmp(buf, "account.reveal") == 0);
    json_at(&r, "$.accounts[0].access_log[#-2].actor_role", buf, sizeof buf);
    CHECK(strcmp(buf, "privacy") == 0);
    /* Art. 15 information and the rights. */
    CHECK(in_doc(&r, "\"right\":\"complaint\""));
    CHECK(in_doc(&r, "\"right\":\"objection\""));
    CHECK(in_doc(&r, "tax authorities"));
    CHECK(in_doc(&r, "\"retention_rule\":{\"trigger\":"));
    pu_export_free(&r);
}

static void test_no_data(void)
{
    char id[64];
    CHECK(pu_open(&srv, privacy, KIND(ACCESS), "nobody.at.all@example.org", NULL, NULL, id) == 0);
    pu_export_result r;
    export_ok(id, &r);
    CHECK(json_long(&r, "$.found") == 0);
    char buf[512];
    json_at(&r, "$.notice", buf, sizeof buf);
    CHECK(strstr(buf, "holds no data") != NULL && strstr(buf, "controller") != NULL);
    json_at(&r, "$.accounts", buf, sizeof buf);
    CHECK(strcmp(buf, "[]") == 0);
    /* Nobody's data, and the e-mail is not echoed either. */
    CHECK(!in_doc(&r, "nobody.at.all"));
    check_complete(&r, NULL, 0, NULL);
    pu_export_free(&r);
}

static void test_refusals(void)
{
    char id[64], sql[256];
    pu_export_result r;
    /* Another kind of request. */
    CHECK(pu_open(&srv, privacy, KIND(ERASURE), NULL, NULL, world[2].id, id) == 0);
    pu_export(&srv, privacy, id, 0, &r);
    CHECK_STATUS(r.st, GRPC_STATUS_FAILED_PRECONDITION);
    CHECK(r.doc == NULL);
    snprintf(sql, sizeof sql,
             "SELECT count(*) FROM audit_events WHERE action = 'subject.export'"
             " AND request_id = '%s'",
             id);
    CHECK(mbt_db_long(srv.d.db, sql) == 0);
    pu_export_free(&r);
    /* A closed one. */
    CHECK(pu_open(&srv, privacy, KIND(ACCESS), NULL, NULL, world[2].id, id) == 0);
    Minbill__V1__CompleteSubjectRequestRequest c =
        MINBILL__V1__COMPLETE_SUBJECT_REQUEST_REQUEST__INIT;
    c.request_id = id;
    ProtobufCMessage *resp = NULL;
    mb_error st;
    mbc_unary(srv.ch, COMPLETE, privacy, &c.base, &minbill__v1__subject_request__descriptor,
              mbt_ms(10000), &resp, &st);
    CHECK_STATUS(st, GRPC_STATUS_OK);
    if (resp != NULL)
        protobuf_c_message_free_unpacked(resp, NULL);
    pu_export(&srv, privacy, id, 0, &r);
    CHECK_STATUS(r.st, GRPC_STATUS_FAILED_PRECONDITION);
    CHECK(r.doc == NULL);
    pu_export_free(&r);
    /* Unknown, missing. */
    pu_export(&srv, privacy, "sr_nonexistent", 0, &r);
    CHECK_STATUS(r.st, GRPC_STATUS_NOT_FOUND);
    pu_export_free(&r);
    pu_export(&srv, privacy, "", 0, &r);
    CHECK_STATUS(r.st, GRPC_STATUS_INVALID_ARGUMENT);
    CHECK(strstr(r.st.msg, "request_id") != NULL);
    pu_export_free(&r);
    /* Support may open requests but not export. */
    CHECK(pu_open(&srv, privacy, KIND(ACCESS), NULL, NULL, world[3].id, id) == 0);
    pu_export(&srv, keys.support, id, 0, &r);
    CHECK_STATUS(r.st, GRPC_STATUS_PERMISSION_DENIED);
    CHECK(r.doc == NULL);
    pu_export_free(&r);
}

/* A long export read slowly: it arrives in chunks of at most
 * EXPORT_CHUNK_BYTES, the daemon waiting for the reader (a window of two
 * chunks) rather than buffering the document, and whole. */
static void test_slow_reader(void)
{
    const dealer *d = &world[0];
    char id[64], first[64] = "";
    for (int i = 0; i < 300; i++) {
        CHECK(pu_open(&srv, privacy, KIND(ACCESS), NULL, NULL, d->id, id) == 0);
        if (i == 0)
            snprintf(first, sizeof first, "%s", id);
    }
    pu_export_result slow;
    pu_export(&srv, privacy, id, mbt_instrumented() ? 50 : 20, &slow);
    CHECK_STATUS(slow.st, GRPC_STATUS_OK);
    CHECK(slow.len > 2 * EXPORT_CHUNK_TEST);
    CHECK(slow.chunks >= 3 && slow.max_chunk <= EXPORT_CHUNK_TEST);
    CHECK(json_long(&slow, "$.found") == 1);
    CHECK(in_doc(&slow, first));
    pu_export_free(&slow);
}

/* The retention the export states is the one stored, which the purges use:
 * the default at first, then what the daemon was started with. */
static void check_grace(const char *account_id, int days)
{
    char id[64], rule[128], text[64];
    snprintf(rule, sizeof rule, "\"amount\":%d,\"setting\":\"closed_account_grace_days\"", days);
    snprintf(text, sizeof text, "the period is %d days", days);
    CHECK(pu_open(&srv, privacy, KIND(ACCESS), NULL, NULL, account_id, id) == 0);
    pu_export_result r;
    export_ok(id, &r);
    CHECK(in_doc(&r, rule) && in_doc(&r, text));
    /* No category states another figure for the same rule. */
    int n = pu_occurrences(r.doc, "\"setting\":\"closed_account_grace_days\"");
    CHECK(n > 0 && n == pu_occurrences(r.doc, rule));
    pu_export_free(&r);
}

static void test_stored_retention(void)
{
    check_grace(world[1].id, 30);
    CHECK(mbt_stop(&srv, SIGTERM) == 0);
    char conf[MBT_PATH + 32];
    CHECK(iu_write_seller(&srv, conf) == 0);
    const char *args[] = {"--seller-config", conf, "--acceptance-window-days", "120",
                          "--closed-account-grace-days", "45", NULL};
    CHECK(mbt_serve(&srv, args) == 0);
    CHECK(mbt_db_long(srv.d.db, "SELECT value FROM settings"
                                " WHERE name = 'closed_account_grace_days'") == 45);
    check_grace(world[1].id, 45);
}

int main(void)
{
    const char *seed_env = getenv("MINBILL_TEST_SEED");
    unsigned seed = seed_env != NULL ? (unsigned)strtoul(seed_env, NULL, 10) : (unsigned)time(NULL);
    fprintf(stderr, "MINBILL_TEST_SEED=%u\n", seed);
    srand(seed);
    if (iu_up(&srv, &keys) != 0)
        return 1;
    mbt_key(&srv, "privacy", privacy);
    RUN(setup_world);
    RUN(test_by_shared_email);
    RUN(test_by_contact);
    RUN(test_by_account);
    RUN(test_no_data);
    RUN(test_refusals);
    RUN(test_slow_reader);
    RUN(test_stored_retention);
    CHECK(mbt_down(&srv) == 0);
    return check_summary();
}
