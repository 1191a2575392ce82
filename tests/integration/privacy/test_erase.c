/*
 * test_erase.c - Privacy.EraseSubject against the real daemon.
 *
 * The proof of an erasure: afterwards a byte scan of the database file,
 * its WAL and the daemon's log finds none of the erased values - neither
 * the clear ones (names, e-mails, phones, holder names, card number, IBAN,
 * mandate reference) nor the ciphertexts, keyed hashes, masks and wrapped
 * data keys read from the database while they existed (shown to be there
 * before, so the scan can fail). The account shows no contacts and no
 * payment methods; its issued invoice is kept, restricted (support no
 * longer sees it), still renders and validates, and is reported with its
 * legal basis and retention date; an export then reports that invoice and
 * nothing else of the subject; the audit chain is intact; the request
 * is closed, so erasing again is refused. An erasure by e-mail takes
 * exactly the contacts with that e-mail. A large account is erased in
 * chunks that other writers' commits come between: a reader watching the
 * contacts disappear sees them go ERASE_CHUNK at a time. Usage of an
 * erased account is never invoiced: billing runs name it as not invoiced
 * and why (without its data), and take no number for it.
 */
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>

#include "check.h"
#include "fixtures.h"
#include "inv_util.h"
#include "priv_util.h"

#define ACC "acc-erase"
#define KEEP "acc-keep"
#define CHUNK 64 /* ERASE_CHUNK */
#define BIG_CONTACTS 2000
#define BIG_CARDS 100

static mbt_server srv;
static iu_keys k;
static char privacy[MBT_KEY_MAX], wal[MBT_PATH + 40];
static char p1[8];
static int64_t t1;
static pu_blobs sealed; /* read from the database before the erasure */
static pu_blobs clear;  /* the values themselves */

static const char *const C1_NAME = "Quirin Erasmus-Vogt",
                         *const C1_EMAIL = "quirin.vogt@erase-test.de",
                         *const C1_PHONE = "+4917012345671";
static const char *const C2_NAME = "Wilhelmine Oberholz",
                         *const C2_EMAIL = "w.oberholz@erase-test.de",
                         *const C2_PHONE = "+4917012345672";
static const char *const LEGAL_NAME = "Quirin Erasmus-Vogt e.K.";
static const char *const PAN = "4242424242424242", *const IBAN = "DE89370400440532013000",
                         *const MANDATE = "MANDATE-ERASE-0001";

static Minbill__V1__ErasureReport *erase(mbt_server *s, const char *request_id, int timeout_ms,
                                         mb_error *st)
{
    Minbill__V1__EraseSubjectRequest req = MINBILL__V1__ERASE_SUBJECT_REQUEST__INIT;
    req.request_id = (char *)request_id;
    return (void *)pu_call(s, privacy, PU_ERASE, &req.base,
                           &minbill__v1__erasure_report__descriptor, timeout_ms, st);
}

static int erased_count(const Minbill__V1__ErasureReport *r, const char *category)
{
    int n = 0;
    for (size_t i = 0; r != NULL && i < r->n_erased; i++)
        if (strcmp(r->erased[i]->category, category) == 0)
            n += (int)r->erased[i]->count;
    return n;
}

static bool erased_has(const Minbill__V1__ErasureReport *r, const char *category, const char *id)
{
    for (size_t i = 0; r != NULL && i < r->n_erased; i++)
        if (strcmp(r->erased[i]->category, category) == 0 && strcmp(r->erased[i]->id, id) == 0)
            return true;
    return false;
}

/* Rows of table that belong to account. */
static long rows_of(const char *table, const char *account)
{
    char sql[256];
    snprintf(sql, sizeof sql, "SELECT count(*) FROM %s WHERE account_id = '%s'", table, account);
    return mbt_db_long(srv.d.db, sql);
}

static void setup_subject(char *card, char *sepa, char *number)
{
    Minbill__V1__Contact c[2], *cp[2] = {&c[0], &c[1]};
    pu_contact_init(&c[0], "c1", C1_NAME, C1_EMAIL, C1_PHONE);
    pu_contact_init(&c[1], "c2", C2_NAME, C2_EMAIL, C2_PHONE);
    CHECK(mbt_upsert_account(srv.ch, k.platform, ACC, LEGAL_NAME, "pro", cp, 2, mbt_ms(10000),
                             NULL) == GRPC_STATUS_OK);
    CHECK(mbt_attach_card(srv.ch, k.platform, ACC, PAN, C1_NAME, card, 64, mbt_ms(10000)) ==
          GRPC_STATUS_OK);
    mb_error st;
    Minbill__V1__PaymentMethod *m =
        mbt_attach_sepa(srv.ch, k.platform, ACC, IBAN, "COBADEFFXXX", MANDATE, t1, &st);
    CHECK_STATUS(st, GRPC_STATUS_OK);
    snprintf(sepa, 64, "%s", m != NULL ? m->token : "");
    pu_free(m);
    CHECK(iu_set_default(&srv, &k, card) == GRPC_STATUS_OK);
    /* Usage of last month, billed: an issued invoice the law keeps. */
    CHECK(iu_usage(&srv, &k, "erase-u1", ACC, "messages", 5000, t1) == GRPC_STATUS_OK);
    iu_run run;
    iu_billing(&srv, &k, p1, false, mbt_ms(60000), &run);
    CHECK_STATUS(run.st, GRPC_STATUS_OK);
    iu_run_free(&run);
    iu_number_of(&srv, &k, ACC, p1, number);
    CHECK(number[0] != '\0');

    /* Someone else's data, which must survive. */
    Minbill__V1__Contact other, *op = &other;
    pu_contact_init(&other, "c1", "Konstantin Bleibtreu", "k.bleibtreu@keep.example",
                    "+4917099999999");
    CHECK(mbt_upsert_account(srv.ch, k.platform, KEEP, "Bleibtreu Autohaus GmbH", "pro", &op, 1,
                             mbt_ms(10000), NULL) == GRPC_STATUS_OK);
}

static void collect_values(void)
{
    CHECK(pu_blobs_read(srv.d.db,
                        "SELECT d.wrapped, c.name_ct, c.email_ct, c.phone_ct, c.email_bidx,"
                        " c.email_masked, c.phone_masked FROM contacts c"
                        " JOIN data_keys d USING (dek_id) WHERE c.account_id = ?1",
                        ACC, &sealed) == 0);
    CHECK(pu_blobs_read(srv.d.db,
                        "SELECT d.wrapped, m.fingerprint, m.mandate_reference, v.number_ct,"
                        " v.holder_ct FROM payment_methods m JOIN data_keys d USING (dek_id)"
                        " JOIN payment_vault v USING (method_id) WHERE m.account_id = ?1",
                        ACC, &sealed) == 0);
    CHECK(pu_blobs_read(srv.d.db,
                        "SELECT d.wrapped, a.legal_name_ct, a.address_ct FROM accounts a"
                        " JOIN data_keys d USING (dek_id) WHERE a.account_id = ?1",
                        ACC, &sealed) == 0);
    /* Contacts 7 each; the card 4 (no mandate), the SEPA debit 5; the account 3. */
    CHECK(sealed.n == 2 * 7 + 4 + 5 + 3);
    const char *const values[] = {C1_NAME,  C1_EMAIL,   C1_PHONE, C2_NAME, C2_EMAIL,
                                  C2_PHONE, LEGAL_NAME, PAN,      IBAN,    MANDATE};
    for (size_t i = 0; i < sizeof values / sizeof values[0]; i++)
        pu_blobs_add(&clear, values[i]);
}

static void check_report(const Minbill__V1__ErasureReport *r, const char *card, const char *sepa,
                         const char *number, const char *request_id)
{
    CHECK(strcmp(r->request_id, request_id) == 0);
    CHECK(erased_has(r, "contact", "c1") && erased_has(r, "contact", "c2"));
    CHECK(erased_count(r, "contact") == 2);
    CHECK(erased_has(r, "payment_method", card) && erased_has(r, "payment_method", sepa));
    CHECK(erased_count(r, "payment_method") == 2);
    CHECK(erased_has(r, "account", ACC));
    CHECK(r->n_retained == 1);
    if (r->n_retained != 1)
        return;
    const Minbill__V1__RetainedItem *kept = r->retained[0];
    CHECK(strcmp(kept->category, "invoice") == 0);
    CHECK(strcmp(kept->id, number) == 0);
    CHECK_CONTAINS(kept->legal_basis, "UStG");
    /* Kept for years after the end of the year of issue. */
    CHECK(kept->retain_until != NULL &&
          kept->retain_until->seconds > time(NULL) + 5 * 365 * 86400L);
}

/* The account without its subject's data; someone else's untouched. */
static void check_account_after(void)
{
    mb_error st;
    Minbill__V1__Account *a = pu_account(&srv, k.support, ACC, false, &st);
    CHECK_STATUS(st, GRPC_STATUS_OK);
    CHECK(a != NULL && a->n_contacts == 0 && a->restricted);
    pu_free(a);
    a = pu_account(&srv, privacy, ACC, true, &st);
    CHECK_STATUS(st, GRPC_STATUS_OK);
    CHECK(a != NULL && a->n_contacts == 0 && a->legal_name[0] == '\0' &&
          a->billing_address == NULL && a->default_payment_method[0] == '\0');
    pu_free(a);
    CHECK(rows_of("contacts", ACC) == 0);
    CHECK(rows_of("payment_methods", ACC) == 0);
    CHECK(mbt_db_long(srv.d.db, "SELECT count(*) FROM payment_vault") == 0);
    a = pu_account(&srv, privacy, KEEP, true, &st);
    const Minbill__V1__Contact *c = pu_contact(a, "c1");
    CHECK(c != NULL && strcmp(c->email, "k.bleibtreu@keep.example") == 0);
    CHECK(a != NULL && strcmp(a->legal_name, "Bleibtreu Autohaus GmbH") == 0);
    pu_free(a);
}

/* The kept invoice: restricted for support, rendered for finance (a legal
 * duty), and valid. */
static void check_invoice_after(const char *number)
{
    Minbill__V1__Invoice *inv = NULL;
    mb_error st;
    iu_get(&srv, k.support, number, &inv, &st);
    CHECK_STATUS(st, GRPC_STATUS_NOT_FOUND);
    pu_free(inv);
    iu_get(&srv, k.finance, number, &inv, &st);
    CHECK_STATUS(st, GRPC_STATUS_OK);
    CHECK(inv != NULL && strstr(inv->buyer->name, "Erasmus") != NULL);
    pu_free(inv);
    char dir[] = "/tmp/minbill-erase-XXXXXX", path[96], cmd[256];
    if (mkdtemp(dir) == NULL) {
        CHECK(false);
        return;
    }
    snprintf(path, sizeof path, "%s/%s.xml", dir, number);
    CHECK(iu_render(&srv, &k, number, true, path, &st) == GRPC_STATUS_OK);
    CHECK(iu_validate_ubl(dir) != -1);
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    CHECK(system(cmd) == 0);
}

/* An access request about the erased account: the export reports the
 * retained invoice (with its recipient snapshot, kept by law) and nothing
 * else of the subject: no contact, payment method or account field. */
static void check_export_after(const char *number)
{
    char id[PU_ID_MAX], want[64];
    CHECK(pu_open(&srv, privacy, MINBILL__V1__SUBJECT_REQUEST_KIND__SUBJECT_REQUEST_KIND_ACCESS,
                  NULL, NULL, ACC, id) == GRPC_STATUS_OK);
    pu_export_result r;
    pu_export(&srv, privacy, id, 0, &r);
    CHECK_STATUS(r.st, GRPC_STATUS_OK);
    snprintf(want, sizeof want, "\"invoice_number\":\"%s\"", number);
    CHECK(pu_occurrences(r.doc, want) == 1);
    CHECK(pu_occurrences(r.doc, "\"invoice_number\":") == 1);
    /* The subject's part (the Art. 15 information after it names every
     * table): the account row with its fields gone, no other record. */
    char *info = r.doc != NULL ? strstr(r.doc, "\"information\":") : NULL;
    CHECK(info != NULL);
    if (info != NULL)
        *info = '\0';
    CHECK(pu_occurrences(r.doc, "\"record\":") == 1);
    CHECK(pu_occurrences(r.doc, "\"table\":\"accounts\"") == 1);
    CHECK(pu_occurrences(r.doc, "\"value\":null") == 3);
    /* Nothing erased; the legal name (of which C1_NAME is a part) only in
     * the invoice's recipient snapshot, the card's last 4 digits only as
     * its payment means: both kept by law with it. */
    const char *const gone[] = {C1_EMAIL, C1_PHONE, C2_NAME, C2_EMAIL, C2_PHONE,
                                PAN,      IBAN,     MANDATE};
    for (size_t i = 0; i < sizeof gone / sizeof gone[0]; i++)
        CHECK(r.doc != NULL && strstr(r.doc, gone[i]) == NULL);
    CHECK(pu_occurrences(r.doc, LEGAL_NAME) == 1);
    CHECK(pu_occurrences(r.doc, "\"card_last4\":\"4242\"") == 1 &&
          pu_occurrences(r.doc, "4242") == 1);
    pu_export_free(&r);
}

static void test_erase_account(void)
{
    char card[64], sepa[64], number[32], id[PU_ID_MAX];
    setup_subject(card, sepa, number);
    collect_values();
    const char *const files[] = {srv.d.db, wal, srv.d.log, NULL};
    CHECK(pu_blobs_found(&sealed, files) == sealed.n); /* the scan can find them */

    /* Only an open erasure request erases. */
    CHECK(pu_open(&srv, privacy, MINBILL__V1__SUBJECT_REQUEST_KIND__SUBJECT_REQUEST_KIND_ACCESS,
                  NULL, NULL, ACC, id) == GRPC_STATUS_OK);
    mb_error st;
    Minbill__V1__ErasureReport *r = erase(&srv, id, mbt_ms(60000), &st);
    CHECK_STATUS(st, GRPC_STATUS_FAILED_PRECONDITION);
    pu_free(r);
    r = erase(&srv, "sr_no_such_request", mbt_ms(60000), &st);
    CHECK_STATUS(st, GRPC_STATUS_NOT_FOUND);
    pu_free(r);
    CHECK(rows_of("contacts", ACC) == 2);

    CHECK(pu_open(&srv, privacy, MINBILL__V1__SUBJECT_REQUEST_KIND__SUBJECT_REQUEST_KIND_ERASURE,
                  NULL, NULL, ACC, id) == GRPC_STATUS_OK);
    r = erase(&srv, id, mbt_ms(60000), &st);
    CHECK_STATUS(st, GRPC_STATUS_OK);
    if (r != NULL)
        check_report(r, card, sepa, number, id);
    pu_free(r);

    check_account_after();
    check_invoice_after(number);

    /* Closed, with its audit event and the recipients to tell. */
    r = erase(&srv, id, mbt_ms(60000), &st);
    CHECK_STATUS(st, GRPC_STATUS_FAILED_PRECONDITION);
    CHECK_CONTAINS(st.msg, "completed");
    pu_free(r);
    Minbill__V1__SubjectRequest *sr = pu_request(&srv, privacy, id, &st);
    CHECK(sr != NULL &&
          sr->state == MINBILL__V1__SUBJECT_REQUEST_STATE__SUBJECT_REQUEST_STATE_COMPLETED);
    CHECK(sr != NULL && sr->n_notify_recipients >= 2);
    pu_free(sr);
    char sql[160];
    snprintf(sql, sizeof sql,
             "SELECT count(*) FROM audit_events WHERE action = 'subject.erase'"
             " AND request_id = '%s'",
             id);
    CHECK(mbt_db_long(srv.d.db, sql) == 1);
    CHECK(pu_audit_intact(&srv, privacy));

    CHECK(pu_blobs_gone(&sealed, files, "erased values in the database, WAL and log"));
    CHECK(pu_blobs_found(&clear, files) == 0);
    check_export_after(number);

    /* The account can be given data again: under a new key. */
    CHECK(mbt_upsert_account(srv.ch, k.platform, ACC, "Neuer Name GmbH", "pro", NULL, 0,
                             mbt_ms(10000), NULL) == GRPC_STATUS_OK);
    Minbill__V1__Account *a = pu_account(&srv, privacy, ACC, true, &st);
    CHECK_STATUS(st, GRPC_STATUS_OK);
    CHECK(a != NULL && strcmp(a->legal_name, "Neuer Name GmbH") == 0);
    pu_free(a);
}

static void test_erase_by_email(void)
{
    Minbill__V1__Contact a[2], b[1], *pa[2] = {&a[0], &a[1]}, *pb[1] = {&b[0]};
    pu_contact_init(&a[0], "c1", "Mara Loeschke", "Mara.Loeschke@erase-test.de", "");
    pu_contact_init(&a[1], "c2", "Otto Bleibt", "otto.bleibt@erase-test.de", "");
    pu_contact_init(&b[0], "c9", "Mara Loeschke", "mara.loeschke@erase-test.de", "");
    CHECK(mbt_upsert_account(srv.ch, k.platform, "acc-e1", "Dealer E1 GmbH", NULL, pa, 2,
                             mbt_ms(10000), NULL) == GRPC_STATUS_OK);
    CHECK(mbt_upsert_account(srv.ch, k.platform, "acc-e2", "Dealer E2 GmbH", NULL, pb, 1,
                             mbt_ms(10000), NULL) == GRPC_STATUS_OK);
    char id[PU_ID_MAX];
    CHECK(pu_open(&srv, privacy, MINBILL__V1__SUBJECT_REQUEST_KIND__SUBJECT_REQUEST_KIND_ERASURE,
                  "mara.loeschke@erase-test.de", NULL, NULL, id) == GRPC_STATUS_OK);
    mb_error st;
    Minbill__V1__ErasureReport *r = erase(&srv, id, mbt_ms(60000), &st);
    CHECK_STATUS(st, GRPC_STATUS_OK);
    CHECK(erased_count(r, "contact") == 2 && erased_has(r, "contact", "c1") &&
          erased_has(r, "contact", "c9"));
    CHECK(r != NULL && r->n_erased == 2 && r->n_retained == 0);
    pu_free(r);
    Minbill__V1__Account *acc = pu_account(&srv, privacy, "acc-e1", true, &st);
    CHECK(acc != NULL && acc->n_contacts == 1 && pu_contact(acc, "c2") != NULL);
    CHECK(acc != NULL && strcmp(acc->legal_name, "Dealer E1 GmbH") == 0 && !acc->restricted);
    pu_free(acc);
    acc = pu_account(&srv, privacy, "acc-e2", true, &st);
    CHECK(acc != NULL && acc->n_contacts == 0 && strcmp(acc->legal_name, "Dealer E2 GmbH") == 0);
    pu_free(acc);
}

/* A valid card number of 16 digits: prefix, i, Luhn check digit. */
static void card_number(int i, char out[17])
{
    snprintf(out, 17, "400000%09d", i);
    int sum = 0;
    for (int d = 14; d >= 0; d--) {
        int v = out[d] - '0';
        if ((14 - d) % 2 == 0)
            v = v * 2 > 9 ? v * 2 - 9 : v * 2;
        sum += v;
    }
    out[15] = (char)('0' + (10 - sum % 10) % 10);
    out[16] = '\0';
}

typedef struct big_erase {
    char id[PU_ID_MAX];
    mb_error st;
    Minbill__V1__ErasureReport *r;
    volatile int done;
} big_erase;

static void *big_erase_main(void *arg)
{
    big_erase *b = arg;
    b->r = erase(&srv, b->id, mbt_deadline_ms(300000), &b->st);
    __atomic_store_n(&b->done, 1, __ATOMIC_RELEASE);
    return NULL;
}

static void setup_big(void)
{
    static Minbill__V1__Contact c[50];
    static Minbill__V1__Contact *cp[50];
    static char names[50][32], emails[50][48];
    for (int at = 0; at < BIG_CONTACTS; at += 50) {
        for (int i = 0; i < 50; i++) {
            char cid[16];
            snprintf(cid, sizeof cid, "b%04d", at + i);
            snprintf(names[i], sizeof names[i], "Bulk Person %d", at + i);
            snprintf(emails[i], sizeof emails[i], "bulk-%04d@big-erase.example", at + i);
            pu_contact_init(&c[i], strdup(cid), names[i], emails[i], "");
            cp[i] = &c[i];
        }
        mb_error st;
        CHECK(mbt_upsert_account(srv.ch, k.platform, "acc-big", "Big Dealer GmbH", "pro", cp, 50,
                                 mbt_ms(30000), &st) == GRPC_STATUS_OK);
        for (int i = 0; i < 50; i++)
            free(c[i].contact_id);
    }
    for (int i = 0; i < BIG_CARDS; i++) {
        char pan[17], token[64];
        card_number(i, pan);
        CHECK(mbt_attach_card(srv.ch, k.platform, "acc-big", pan, "Big Holder", token, sizeof token,
                              mbt_ms(10000)) == GRPC_STATUS_OK);
    }
    CHECK(rows_of("contacts", "acc-big") == BIG_CONTACTS);
}

/* The erasure of an account with thousands of records goes in chunks:
 * ingest keeps committing meanwhile, and a reader sees the contacts go
 * ERASE_CHUNK at a time, never all at once. */
static void test_erase_in_chunks(void)
{
    setup_big();
    big_erase b = {0};
    CHECK(pu_open(&srv, privacy, MINBILL__V1__SUBJECT_REQUEST_KIND__SUBJECT_REQUEST_KIND_ERASURE,
                  NULL, NULL, "acc-big", b.id) == GRPC_STATUS_OK);
    mbt_server ingest = srv;
    ingest.ch = mbc_channel_new(srv.d.target);
    pthread_t th;
    CHECK(pthread_create(&th, NULL, big_erase_main, &b) == 0);
    int between = 0, misaligned = 0, recorded = 0;
    double worst = 0;
    while (!__atomic_load_n(&b.done, __ATOMIC_ACQUIRE)) {
        long left = rows_of("contacts", "acc-big");
        if (left > 0 && left < BIG_CONTACTS) {
            between++;
            misaligned += (BIG_CONTACTS - left) % CHUNK != 0;
        }
        char idem[32];
        snprintf(idem, sizeof idem, "during-erase-%d", recorded);
        double t0 = mbt_now();
        if (iu_usage(&ingest, &k, idem, KEEP, "messages", 1, time(NULL)) == GRPC_STATUS_OK)
            recorded++;
        worst = mbt_now() - t0 > worst ? mbt_now() - t0 : worst;
    }
    pthread_join(th, NULL);
    mbc_channel_free(ingest.ch);
    fprintf(stderr,
            "  erasure of %d contacts and %d cards: %d intermediate states seen, %d usage"
            " events recorded meanwhile (slowest %.1f ms, not asserted)\n",
            BIG_CONTACTS, BIG_CARDS, between, recorded, worst * 1000);
    CHECK_STATUS(b.st, GRPC_STATUS_OK);
    CHECK(erased_count(b.r, "contact") == BIG_CONTACTS);
    CHECK(erased_count(b.r, "payment_method") == BIG_CARDS);
    CHECK(between > 0 && misaligned == 0);
    CHECK(recorded > 0);
    pu_free(b.r);
    CHECK(rows_of("contacts", "acc-big") == 0);
    CHECK(rows_of("payment_methods", "acc-big") == 0);
    CHECK(pu_audit_intact(&srv, privacy));
}

/* Usage of an account erased before its period is billed: no run, dry or
 * real, invoices it (an invoice must name its buyer); each reports the
 * account as not invoiced and why, with none of its data, counts it apart,
 * and takes no number; the others are billed as usual. */
static void test_billing_after_erasure(void)
{
    static const char *const GONE = "acc-gone", *const GONE_NAME = "Erna Entfernt e.K.";
    char p2[8], id[PU_ID_MAX], sql[256];
    int64_t t2 = iu_month_ago(2, p2);
    Minbill__V1__Contact c, *cp = &c;
    pu_contact_init(&c, "c1", "Erna Entfernt", "erna.entfernt@erase-test.de", "");
    CHECK(mbt_upsert_account(srv.ch, k.platform, GONE, GONE_NAME, "pro", &cp, 1, mbt_ms(10000),
                             NULL) == GRPC_STATUS_OK);
    CHECK(iu_usage(&srv, &k, "gone-u1", GONE, "messages", 7000, t2) == GRPC_STATUS_OK);
    CHECK(iu_usage(&srv, &k, "keep-u2", KEEP, "messages", 3000, t2) == GRPC_STATUS_OK);
    CHECK(pu_open(&srv, privacy, MINBILL__V1__SUBJECT_REQUEST_KIND__SUBJECT_REQUEST_KIND_ERASURE,
                  NULL, NULL, GONE, id) == GRPC_STATUS_OK);
    mb_error st;
    Minbill__V1__ErasureReport *r = erase(&srv, id, mbt_ms(60000), &st);
    CHECK_STATUS(st, GRPC_STATUS_OK);
    CHECK(r != NULL && r->n_retained == 0); /* nothing invoiced yet: nothing kept */
    pu_free(r);

    for (int dry = 1; dry >= 0; dry--) {
        iu_run run;
        iu_billing(&srv, &k, p2, dry, mbt_ms(60000), &run);
        CHECK_STATUS(run.st, GRPC_STATUS_OK);
        const char *why = iu_run_reason(&run, GONE);
        CHECK_CONTAINS(why, "not invoiced");
        CHECK_CONTAINS(why, "erased");
        CHECK(strstr(why, "Erna") == NULL && strstr(why, "erase-test") == NULL);
        CHECK(run.summary != NULL && run.summary->accounts_erased == 1);
        CHECK(run.summary != NULL && run.summary->invoices_failed == 0);
        /* KEEP's usage is billed (would be, in the dry run). */
        CHECK(run.summary != NULL && run.summary->invoices_issued >= 1);
        CHECK(iu_run_reason(&run, KEEP)[0] == '\0');
        iu_run_free(&run);
    }
    char number[32];
    iu_number_of(&srv, &k, GONE, p2, number);
    CHECK(number[0] == '\0');
    snprintf(sql, sizeof sql, "SELECT count(*) FROM invoices WHERE account_id = '%s'", GONE);
    CHECK(mbt_db_long(srv.d.db, sql) == 0);
    iu_number_of(&srv, &k, KEEP, p2, number);
    CHECK(number[0] != '\0');
    CHECK(mbt_db_long(srv.d.db, "SELECT count(*) FROM audit_events WHERE action = 'billing.run'"
                                " AND purpose LIKE '%erased=1%'") >= 1);
    /* A run again says the same: the account stays unbilled. */
    iu_run again;
    iu_billing(&srv, &k, p2, false, mbt_ms(60000), &again);
    CHECK_STATUS(again.st, GRPC_STATUS_OK);
    CHECK_CONTAINS(iu_run_reason(&again, GONE), "erased");
    CHECK(again.summary != NULL && again.summary->accounts_erased == 1 &&
          again.summary->invoices_issued == 0);
    iu_run_free(&again);
}

int main(void)
{
    t1 = iu_month_ago(1, p1);
    if (iu_up(&srv, &k) != 0 || iu_plan(&srv, &k) != 0)
        return 1;
    mbt_key(&srv, "privacy", privacy);
    snprintf(wal, sizeof wal, "%s-wal", srv.d.db);
    RUN(test_erase_account);
    RUN(test_erase_by_email);
    RUN(test_erase_in_chunks);
    RUN(test_billing_after_erasure);
    /* Nothing erased came back with the final checkpoint either. */
    CHECK(mbt_stop(&srv, SIGTERM) == 0);
    const char *const files[] = {srv.d.db, wal, srv.d.log, NULL};
    CHECK(pu_blobs_found(&sealed, files) == 0);
    CHECK(pu_blobs_found(&clear, files) == 0);
    pu_blobs_free(&sealed);
    pu_blobs_free(&clear);
    mbt_daemon_cleanup(&srv.d);
    return check_summary();
}
